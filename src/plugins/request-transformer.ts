// Kong's request-transformer: the upstream request's uri, method, headers, JSON / url-encoded body and query
// string edited in Kong's order (remove, rename, replace, add, append), with `$(…)` lookup templates in values.
import { parseJsonObject } from './json-object.js'
import { arrayOf, record, str, type Field } from '../config/schema.js'
import { compilePathRegex } from '../config/regex.js'
import { httpMethod } from '../config/typedefs.js'
import { normalizePath } from '../config/uri.js'
import { GW, GatewayError } from '../errors.js'
import { appendArg, encodeArgs, renameArg, type Args } from './form-args.js'
import { parseFormArgs } from './query-string.js'
import { parseTemplate, render, type Template, type TemplateEnv } from './request-template.js'
import { CONTINUE, definePlugin, type PhaseResult, type PluginRequest, type PluginScope } from './types.js'

/** The most of a body read to transform it; a larger body goes upstream untouched (README "request-transformer"). */
export const BODY_LIMIT = 1024 * 1024

/** One `name:value` entry: Kong's `^([^:]+):*(.-)$` split, the value parsed as a template (null when empty). */
export interface Entry {
  readonly name: string
  readonly lower: string
  readonly value: Template | null
}

export interface Ops {
  readonly remove: readonly Entry[]
  readonly rename: readonly Entry[]
  readonly replace: readonly Entry[]
  readonly add: readonly Entry[]
  readonly append: readonly Entry[]
  /** Any of the five is non-empty. */
  readonly any: boolean
}

export interface RequestTransformerConfig {
  readonly method: string | null
  /** Kong only turns a url-encoded body into query arguments for these upstream methods. */
  readonly methodTakesForm: boolean
  readonly uri: Template | null
  readonly headers: Ops
  readonly query: Ops
  readonly body: Ops
  /** Route id → its regex paths, when a template reads uri_captures; else null. */
  readonly captureRegexes: ReadonlyMap<string, readonly RegExp[]> | null
  /** Some template reads the request's headers (they are copied before any change, as Kong reads them). */
  readonly readsHeaders: boolean
  /** Some template reads anything at all (else values render without a per-request environment). */
  readonly readsRequest: boolean
}

const ENTRY = /^([^:]+):*([\s\S]*)$/
/** Kong's validate_header_name. */
const HEADER_NAME = /^[A-Za-z0-9_-]+$/
// eslint-disable-next-line no-control-regex
const BAD_HEADER_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/

export function splitEntry(entry: string): { name: string; value: string } {
  const m = ENTRY.exec(entry)
  return m === null ? { name: entry, value: '' } : { name: m[1]!, value: m[2]! }
}

// ---------------------------------------------------------------------------------------------
// Schema: Kong 3.x's, with its messages; templates are parsed at load so a bad one is a config error.

function templateError(value: string): string | null {
  const t = parseTemplate(value)
  return typeof t === 'string' ? t : null
}

/** An argument name that would reach an object's prototype instead of a key of the body. */
export function prototypeName(name: string): string | null {
  return name === '__proto__' ? `'${name}' is not a usable name` : null
}

/** check_for_value: `name:value` with a value, which must be a template we can render. */
function colonValue(entry: string): string | null {
  const { name, value } = splitEntry(entry)
  if (!entry.includes(':') || value === '') return `key '${name}' has no value`
  return prototypeName(name) ?? templateError(value)
}

function headerOnly(entry: string): string | null {
  const { name } = splitEntry(entry)
  return HEADER_NAME.test(name) ? null : `'${name}' is not a valid header`
}

function headerValuePair(entry: string): string | null {
  if (!/^[^:]+:/.test(entry)) return `invalid value: ${entry}`
  const { name, value } = splitEntry(entry)
  if (!HEADER_NAME.test(name)) return `'${name}' is not a valid header`
  if (BAD_HEADER_VALUE.test(value)) return `'${value}' is not a valid header`
  return templateError(value)
}

function headerRenamePair(entry: string): string | null {
  if (!/^[^:]+:/.test(entry)) return `invalid value: ${entry}`
  const { name, value } = splitEntry(entry)
  if (!HEADER_NAME.test(name)) return `'${name}' is not a valid header`
  if (!HEADER_NAME.test(value)) return `'${value}' is not a valid header`
  return null
}

const list = (custom?: (s: string) => string | null): Field => arrayOf(str(custom === undefined ? {} : { custom }), { default: [] })

const schema = record({
  http_method: httpMethod(),
  remove: record({ body: list(prototypeName), headers: list(headerOnly), querystring: list() }),
  rename: record({ body: list(colonValue), headers: list(headerRenamePair), querystring: list(colonValue) }),
  replace: record({ body: list(colonValue), headers: list(headerValuePair), querystring: list(colonValue), uri: str({ custom: templateError }) }),
  add: record({ body: list(colonValue), headers: list(headerValuePair), querystring: list(colonValue) }),
  append: record({ body: list(colonValue), headers: list(headerValuePair), querystring: list(colonValue) }),
})

// ---------------------------------------------------------------------------------------------
// Compile

function entries(raw: unknown): Entry[] {
  return (raw as string[]).map((e) => {
    const { name, value } = splitEntry(e)
    const t = value === '' ? null : parseTemplate(value)
    return { name, lower: name.toLowerCase(), value: typeof t === 'string' ? null : t }
  })
}

type Section = 'headers' | 'querystring' | 'body'

function ops(c: Record<string, unknown>, section: Section): Ops {
  const of = (op: string): Entry[] => entries((c[op] as Record<string, unknown>)[section])
  const o = { remove: of('remove'), rename: of('rename'), replace: of('replace'), add: of('add'), append: of('append') }
  return { ...o, any: o.remove.length + o.rename.length + o.replace.length + o.add.length + o.append.length > 0 }
}

function compile(c: Record<string, unknown>, _env: unknown, scope: PluginScope): RequestTransformerConfig {
  const uriText = (c.replace as Record<string, unknown>).uri as string | null
  const uri = uriText === null ? null : (parseTemplate(uriText) as Template)
  const headers = ops(c, 'headers')
  const query = ops(c, 'querystring')
  const body = ops(c, 'body')
  const templates: Template[] = []
  if (uri !== null) templates.push(uri)
  for (const o of [headers, query, body]) {
    for (const e of [...o.remove, ...o.rename, ...o.replace, ...o.add, ...o.append]) if (e.value !== null) templates.push(e.value)
  }
  const reads = (s: 'headers' | 'uri_captures'): boolean => templates.some((t) => t.sources.has(s))
  const method = c.http_method as string | null
  return {
    method,
    methodTakesForm: method === 'GET' || method === 'HEAD' || method === 'TRACE',
    uri, headers, query, body,
    captureRegexes: reads('uri_captures') ? routeRegexes(scope) : null,
    readsHeaders: reads('headers'),
    readsRequest: templates.some((t) => t.sources.size > 0),
  }
}

/** Every route's regex paths (Kong's uri_captures come from the regex that matched the request). */
function routeRegexes(scope: PluginScope): Map<string, RegExp[]> {
  const out = new Map<string, RegExp[]>()
  for (const route of scope.snapshot.routes) {
    const regexes = route.paths.filter((p) => p.startsWith('~')).map((p) => compilePathRegex(p.slice(1)))
    if (regexes.length > 0) out.set(route.id, regexes)
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Access

/** What templates read: the request as the client sent it (headers copied before the plugin changes them). */
class RequestEnv implements TemplateEnv {
  private readonly ctx: PluginRequest
  private readonly c: RequestTransformerConfig
  private readonly headers: Map<string, string> | null
  private query: Args | null = null
  private captures: RegExpExecArray | null | undefined = undefined

  constructor(ctx: PluginRequest, c: RequestTransformerConfig) {
    this.ctx = ctx
    this.c = c
    this.headers = c.readsHeaders ? new Map(ctx.headers) : null
  }

  header(lower: string): string | undefined {
    return this.headers!.get(lower)
  }

  queryParam(name: string): string | undefined {
    this.query ??= parseFormArgs(this.ctx.query)
    const v = this.query[name]
    if (v === undefined) return undefined
    return Array.isArray(v) ? v.join(', ') : String(v)
  }

  capture(key: string): string | undefined {
    if (this.captures === undefined) this.captures = matchCaptures(this.c, this.ctx)
    const m = this.captures
    if (m === null) return undefined
    const v = /^\d+$/.test(key) ? m[Number(key)] : m.groups?.[key]
    return v === undefined ? undefined : v
  }
}

function matchCaptures(c: RequestTransformerConfig, ctx: PluginRequest): RegExpExecArray | null {
  const regexes = c.captureRegexes?.get(ctx.routeId)
  if (regexes === undefined) return null
  const path = normalizePath(ctx.path)
  for (const re of regexes) {
    re.lastIndex = 0
    const m = re.exec(path)
    if (m !== null) return m
  }
  return null
}

const NO_ENV: TemplateEnv = { header: () => undefined, queryParam: () => undefined, capture: () => undefined }

/** An entry's value rendered, or undefined when it has none (Kong's iter returns only the name then). */
function valueOf(e: Entry, env: TemplateEnv): string | undefined {
  return e.value === null ? undefined : render(e.value, env)
}

/** RFC 3986 path characters stay, the rest is %-escaped (Kong's set_path accepts any text). */
function encodePath(path: string): string {
  return path.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/gu, (ch) => encodeURIComponent(ch))
}

/** transform_headers: Host is not among the headers read (Kong drops it), but `replace` may set it. */
function transformHeaders(ctx: PluginRequest, o: Ops, env: TemplateEnv): void {
  const h = ctx.headers
  for (const e of o.remove) if (e.lower !== 'host' && h.has(e.lower)) ctx.setUpstreamHeader(e.lower, null, e.lower)
  for (const e of o.rename) {
    const to = valueOf(e, env)
    if (to === undefined || e.lower === 'host') continue
    const toLower = to.toLowerCase()
    const value = h.get(e.lower)
    // A change of case only: upstream names go out as the client's (lower-case) ones anyway.
    if (value === undefined || toLower === e.lower) continue
    ctx.setUpstreamHeader(e.lower, null, e.lower)
    ctx.setUpstreamHeader(to, value, toLower)
  }
  for (const e of o.replace) {
    const value = valueOf(e, env)
    if (value !== undefined && (e.lower === 'host' || h.has(e.lower))) ctx.setUpstreamHeader(e.name, value, e.lower)
  }
  for (const e of o.add) {
    const value = valueOf(e, env)
    if (value !== undefined && e.lower !== 'host' && !h.has(e.lower)) ctx.setUpstreamHeader(e.name, value, e.lower)
  }
  for (const e of o.append) {
    const value = valueOf(e, env)
    if (value === undefined || e.lower === 'host') continue
    // Kong sends an appended header as one more line; joined with ', ' it means the same (RFC 9110 §5.3).
    const prev = h.get(e.lower)
    ctx.setUpstreamHeader(e.name, prev === undefined ? value : prev + ', ' + value, e.lower)
  }
}

/**
 * Kong's five steps on an argument table (query, url-encoded body, JSON object). `present` is Kong's `if
 * args[name]` for replace/add (a JSON `false` counts as absent); `hasContent` false skips remove, rename and
 * replace, as Kong does for an empty body. Returns true when anything was done (the table is re-encoded).
 */
export function applyOps(args: Args, o: Ops, env: TemplateEnv, hasContent: boolean, addIfNil = false): boolean {
  let changed = false
  if (hasContent) {
    for (const e of o.remove) {
      delete args[e.name]
      changed = true
    }
    for (const e of o.rename) {
      const to = valueOf(e, env)
      if (to !== undefined && renameArg(args, e.name, to)) changed = true
    }
    for (const e of o.replace) {
      const value = valueOf(e, env)
      if (value !== undefined && isSet(args[e.name])) {
        args[e.name] = value
        changed = true
      }
    }
  }
  for (const e of o.add) {
    const value = valueOf(e, env)
    if (value === undefined || (addIfNil ? args[e.name] !== undefined : isSet(args[e.name]))) continue
    args[e.name] = value
    changed = true
  }
  for (const e of o.append) {
    const value = valueOf(e, env)
    if (value === undefined) continue
    args[e.name] = appendArg(args[e.name], value)
    changed = true
  }
  return changed
}

/** Lua truthiness of a decoded value (nil and false are not set; JSON null is cjson.null, which is). */
function isSet(v: unknown): boolean {
  return v !== undefined && v !== false
}

/** Kong's query steps: remove only names present, everything else as on a body. */
function transformQuery(ctx: PluginRequest, o: Ops, env: TemplateEnv, merged: Args | null): void {
  if (!o.any && merged === null) return
  const args = merged ?? parseFormArgs(ctx.query)
  if (o.any) applyOps(args, o, env, true)
  // kong.service.request.set_query encodes the arguments sorted by name.
  ctx.setUpstreamQuery(encodeArgs(args, true))
}

const enum BodyType { NONE, JSON, FORM, MULTIPART }

/** Kong's get_content_type: a substring test on the lower-cased Content-Type. */
function bodyType(contentType: string | undefined): BodyType {
  if (contentType === undefined) return BodyType.NONE
  const t = contentType.toLowerCase()
  if (t.includes('application/json')) return BodyType.JSON
  if (t.includes('application/x-www-form-urlencoded')) return BodyType.FORM
  if (t.includes('multipart/form-data')) return BodyType.MULTIPART
  return BodyType.NONE
}

/** transform_json_body: an object is edited (values are strings); anything unparsable is left alone. */
export function transformJson(raw: Buffer, o: Ops, env: TemplateEnv): Buffer | null {
  let args: Args = {}
  if (raw.length > 0) {
    const parsed = parseJsonObject(raw)
    if (parsed === null) return null
    args = parsed as Args
  }
  return applyOps(args, o, env, raw.length > 0) ? Buffer.from(JSON.stringify(args)) : null
}

/** transform_url_encoded_body: decoded as ngx.decode_args, re-encoded in the same order. */
export function transformForm(raw: Buffer, o: Ops, env: TemplateEnv): Buffer | null {
  const args = parseFormArgs(raw.toString('latin1'))
  return applyOps(args, o, env, raw.length > 0, true) ? Buffer.from(encodeArgs(args), 'latin1') : null
}

/** transform_method with GET/HEAD/TRACE: a url-encoded body's arguments join the query arguments. */
function mergeForm(query: string, raw: Buffer): Args | null {
  const form = parseFormArgs(raw.toString('latin1'))
  const names = Object.keys(form)
  if (names.length === 0) return null
  const args = parseFormArgs(query)
  for (const name of names) {
    const prev = args[name]
    const value = form[name]
    if (prev === undefined) args[name] = value
    else args[name] = (Array.isArray(prev) ? prev : [prev]).concat(value)
  }
  return args
}

function access(ctx: PluginRequest, c: RequestTransformerConfig): PhaseResult {
  const env: TemplateEnv = c.readsRequest ? new RequestEnv(ctx, c) : NO_ENV
  if (c.uri !== null) {
    const path = render(c.uri, env)
    // kong.service.request.set_path refuses a path without the leading '/': the request fails, as in Kong.
    if (!path.startsWith('/')) return Promise.reject(new GatewayError(GW.INTERNAL, false, `request-transformer: uri '${path}' must start with '/'`))
    ctx.setUpstreamPath(encodePath(path))
  }
  if (c.method !== null) ctx.setUpstreamMethod(c.method)
  if (c.headers.any) transformHeaders(ctx, c.headers, env)
  const type = bodyType(ctx.headers.get('content-type'))
  const bodyOps = c.body.any && (type === BodyType.JSON || type === BodyType.FORM)
  const merges = c.methodTakesForm && type === BodyType.FORM
  if (!bodyOps && !merges) {
    transformQuery(ctx, c.query, env, null)
    return CONTINUE
  }
  return ctx.readBodyWithin(BODY_LIMIT).then((raw) => {
    // Past BODY_LIMIT the body streams upstream untouched, and no body argument reaches the query.
    const merged = raw !== null && merges ? mergeForm(ctx.query, raw) : null
    if (raw !== null && bodyOps) {
      const out = type === BodyType.JSON ? transformJson(raw, c.body, env) : transformForm(raw, c.body, env)
      if (out !== null) ctx.replaceBody(out)
    }
    transformQuery(ctx, c.query, env, merged)
    return CONTINUE
  })
}

export default definePlugin<RequestTransformerConfig>({
  name: 'request-transformer',
  priority: 801,
  schema,
  compile,
  phases: { access },
})
