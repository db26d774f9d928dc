// Kong's response-transformer: response headers and the top-level keys of a JSON body edited in Kong's order
// (remove, rename, replace, add, append); a JSON body is buffered up to a limit, anything else streams untouched.
import { parseJsonObject } from './json-object.js'
import { arrayOf, oneOf, record, str, type Field } from '../config/schema.js'
import { findHeader, getHeader, removeHeader, setHeader } from './response-head.js'
import { prototypeName, splitEntry } from './request-transformer.js'
import { CONTINUE, definePlugin, type FilterSink, type PhaseResult, type PluginRequest, type ResponseFilter, type ResponseHead } from './types.js'

/** The largest JSON body transformed; a larger one passes through unchanged (README "response-transformer"). */
export const JSON_LIMIT = 1024 * 1024

type JsonType = 'string' | 'number' | 'boolean'

interface Entry {
  readonly name: string
  readonly lower: string
  /** undefined when the entry has no value after the colon. */
  readonly value: string | undefined
}

interface JsonEntry {
  readonly name: string
  /** Already cast with json_types; undefined = skipped (Kong's `v ~= nil` check failed). */
  readonly value: unknown
}

export interface ResponseTransformerConfig {
  readonly headers: { remove: readonly string[]; rename: readonly Entry[]; replace: readonly Entry[]; add: readonly Entry[]; append: readonly Entry[] }
  readonly json: { remove: readonly string[]; rename: readonly Entry[]; replace: readonly JsonEntry[]; add: readonly JsonEntry[]; append: readonly JsonEntry[] }
  /** Some json operation is configured. */
  readonly transformsJson: boolean
  /** Some header operation is configured. */
  readonly transformsHeaders: boolean
}

const HEADER_NAME = /^[A-Za-z0-9_-]+$/
// eslint-disable-next-line no-control-regex
const BAD_HEADER_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/

function colonEntry(entry: string): string | null {
  return /^[^:]+:/.test(entry) ? null : `invalid value: ${entry}`
}

function jsonEntry(entry: string): string | null {
  return colonEntry(entry) ?? prototypeName(splitEntry(entry).name)
}

/** A response header line is written as it is: refuse what would split or corrupt it. */
function headerPair(entry: string): string | null {
  const bad = colonEntry(entry)
  if (bad !== null) return bad
  const { name, value } = splitEntry(entry)
  if (!HEADER_NAME.test(name)) return `'${name}' is not a valid header`
  return BAD_HEADER_VALUE.test(value) ? `'${value}' is not a valid header` : null
}

function headerRename(entry: string): string | null {
  const bad = colonEntry(entry)
  if (bad !== null) return bad
  const { name, value } = splitEntry(entry)
  if (!HEADER_NAME.test(name)) return `'${name}' is not a valid header`
  return HEADER_NAME.test(value) ? null : `'${value}' is not a valid header`
}

function headerOnly(name: string): string | null {
  return HEADER_NAME.test(name) ? null : `'${name}' is not a valid header`
}

const list = (custom?: (s: string) => string | null): Field => arrayOf(str(custom === undefined ? {} : { custom }), { default: [] })
const jsonTypes = (): Field => arrayOf(oneOf(['boolean', 'number', 'string']), { default: [] })
const valued = (): Field => record({ json: list(jsonEntry), json_types: jsonTypes(), headers: list(headerPair) })

const schema = record({
  remove: record({ json: list(prototypeName), headers: list(headerOnly) }),
  rename: record({ headers: list(headerRename), json: list(jsonEntry) }),
  replace: valued(),
  add: valued(),
  append: valued(),
})

function entries(raw: unknown): Entry[] {
  return (raw as string[]).map((e) => {
    const { name, value } = splitEntry(e)
    return { name, lower: name.toLowerCase(), value: value === '' ? undefined : value }
  })
}

/**
 * Kong's cast_value on the configured text: `number` is tonumber (not a number → the entry is skipped),
 * `boolean` is `value == "true"`. An entry without a value is cjson.encode(nil), the text "null".
 */
export function castJson(value: string | undefined, type: JsonType | undefined): unknown {
  const text = value ?? 'null'
  if (type === 'number') {
    const n = text.trim() === '' ? NaN : Number(text)
    return Number.isFinite(n) ? n : undefined
  }
  if (type === 'boolean') return text === 'true'
  return text
}

function jsonEntries(section: Record<string, unknown>): JsonEntry[] {
  const types = section.json_types as JsonType[]
  return entries(section.json).map((e, i) => ({ name: e.name, value: castJson(e.value, types[i]) }))
}

function compile(c: Record<string, unknown>): ResponseTransformerConfig {
  const section = (op: string): Record<string, unknown> => c[op] as Record<string, unknown>
  const headers = {
    remove: (section('remove').headers as string[]).map((n) => n.toLowerCase()),
    rename: entries(section('rename').headers),
    replace: entries(section('replace').headers),
    add: entries(section('add').headers),
    append: entries(section('append').headers),
  }
  const json = {
    remove: section('remove').json as string[],
    rename: entries(section('rename').json),
    replace: jsonEntries(section('replace')),
    add: jsonEntries(section('add')),
    append: jsonEntries(section('append')),
  }
  return {
    headers, json,
    transformsJson: json.remove.length + json.rename.length + json.replace.length + json.add.length + json.append.length > 0,
    transformsHeaders: headers.remove.length + headers.rename.length + headers.replace.length + headers.add.length + headers.append.length > 0,
  }
}

/** Kong's transform_headers on a response head (kong.response.set_header / add_header / clear_header). */
export function transformHeaders(c: ResponseTransformerConfig, headers: string[]): void {
  const h = c.headers
  for (const name of h.remove) removeHeader(headers, name)
  for (const e of h.rename) {
    const at = findHeader(headers, e.lower)
    if (at === -1 || e.value === undefined) continue
    // Every value moves: set_header with the table of values Kong read.
    const values: string[] = []
    for (let i = at; i !== -1; i = findHeader(headers, e.lower, i + 2)) values.push(headers[i + 1]!)
    removeHeader(headers, e.lower)
    removeHeader(headers, e.value.toLowerCase())
    for (const v of values) headers.push(e.value, v)
  }
  for (const e of h.replace) if (e.value !== undefined && findHeader(headers, e.lower) !== -1) setHeader(headers, e.name, e.value)
  for (const e of h.add) if (e.value !== undefined && findHeader(headers, e.lower) === -1) setHeader(headers, e.name, e.value)
  for (const e of h.append) if (e.value !== undefined) headers.push(e.name, e.value)
}

/** Kong's is_json_body: the lower-cased Content-Type contains application/json. */
function isJson(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.toLowerCase().includes('application/json')
}

/** Lua truthiness of a decoded JSON value (cjson's null is a truthy userdata). */
function isSet(v: unknown): boolean {
  return v !== undefined && v !== false
}

/** Kong's transform_json_body: top-level keys of an object; null when the body is not a JSON object. */
export function transformJson(c: ResponseTransformerConfig, body: Buffer): Buffer | null {
  const o = parseJsonObject(body)
  if (o === null) return null
  const j = c.json
  for (const name of j.remove) delete o[name]
  for (const e of j.rename) {
    if (e.value === undefined || e.value === e.name || e.value === '__proto__' || !Object.hasOwn(o, e.name)) continue
    o[e.value] = o[e.name]
    delete o[e.name]
  }
  for (const e of j.replace) if (e.value !== undefined && isSet(o[e.name])) o[e.name] = e.value
  for (const e of j.add) if (e.value !== undefined && !isSet(o[e.name])) o[e.name] = e.value
  for (const e of j.append) {
    if (e.value === undefined) continue
    const cur = o[e.name]
    if (typeof cur === 'string') o[e.name] = [cur, e.value]
    else if (Array.isArray(cur)) cur.push(e.value)
    else o[e.name] = [e.value]
  }
  return Buffer.from(JSON.stringify(o))
}

/** One response's header_filter and body_filter. */
class Transform implements ResponseFilter {
  private readonly c: ResponseTransformerConfig
  private chunks: Buffer[] = []
  private size = 0
  /** Past JSON_LIMIT: what was held went on, the rest passes through. */
  private passing = false

  constructor(c: ResponseTransformerConfig) {
    this.c = c
  }

  onHead(head: ResponseHead): boolean {
    const c = this.c
    if (c.transformsHeaders) transformHeaders(c, head.headers)
    if (!c.transformsJson || head.bodyless || !isJson(getHeader(head.headers, 'content-type'))) return false
    // A body known to be over the limit is never transformed: it keeps its Content-Length and streams.
    return head.contentLength <= JSON_LIMIT
  }

  onChunk(chunk: Buffer, sink: FilterSink): void {
    if (this.passing) return sink.write(chunk)
    this.size += chunk.length
    this.chunks.push(Buffer.from(chunk))
    if (this.size <= JSON_LIMIT) return
    this.passing = true
    for (const held of this.chunks) sink.write(held)
    this.chunks = []
  }

  onEnd(sink: FilterSink): void {
    if (!this.passing) {
      const body = Buffer.concat(this.chunks, this.size)
      this.chunks = []
      sink.write(transformJson(this.c, body) ?? body)
    }
    sink.end()
  }

  onAbort(): void {
    this.chunks = []
  }
}

function access(ctx: PluginRequest, c: ResponseTransformerConfig): PhaseResult {
  if (c.transformsHeaders || c.transformsJson) ctx.filterResponse(new Transform(c))
  return CONTINUE
}

export default definePlugin<ResponseTransformerConfig>({
  name: 'response-transformer',
  priority: 800,
  schema,
  compile,
  phases: { access },
})
