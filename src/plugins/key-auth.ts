// Kong's key-auth (PRIORITY 1250): an API key from a header, the query string or the body, looked up in
// a Map built once per Snapshot from every consumer's keyauth_credentials, so a lookup is one hash probe.
//
// Where it differs from Kong, and why:
// - hide_credentials removes the header and the query argument, but never rewrites a body: a key sent in
//   the body still reaches the upstream (the body streams through unchanged).
// - key_in_body reads at most BODY_LIMIT bytes (and never more than GATEWAY_MAX_BODY_SIZE). A body with a
//   larger Content-Length is not searched, as Kong skips a body that did not fit its buffer; a chunked body
//   that turns out larger gets 413, since it was consumed and can no longer be forwarded whole.
// - Credential `ttl` is accepted and ignored: keys in a declarative file do not expire.
// - A header sent twice arrives joined by ", " (one value), so it is an invalid key rather than Kong's
//   "Duplicate API key found"; duplicates in the query string or body are detected as Kong does.
import { decodeFormComponent, parseFormArgs } from './query-string.js'
import { Buffer } from 'node:buffer'
import { arrayOf, bool, str } from '../config/schema.js'
import { headerName } from '../config/typedefs.js'
import type { Snapshot } from '../config/types.js'
import { alreadyAuthenticated, authenticate, consumerRef } from './consumer.js'
import { challengeHeaders, compileAnonymous, fail, hasBody, realmField, useAnonymous, type Anonymous } from './auth-common.js'
import { CONTINUE, DONE, definePlugin, type ConsumerRef, type PhaseResult, type PluginEnv, type PluginRequest, type PluginScope } from './types.js'

// Kong 3.x handler's messages (kong/plugins/key-auth/handler.lua), all 401 with WWW-Authenticate.
const ERR_DUPLICATE_API_KEY = 'Duplicate API key found'
const ERR_NO_API_KEY = 'No API key found in request'
const ERR_INVALID_AUTH_CRED = 'Unauthorized'

/** The most of a request body key_in_body reads. */
export const BODY_LIMIT = 1024 * 1024

/** search() outcomes besides a key. */
const MISSING = 0
const DUPLICATE = 1
type Found = string | typeof MISSING | typeof DUPLICATE

/** A parsed body: name → value; a repeated form field is an array (Kong's table, i.e. a duplicate). */
type Body = Readonly<Record<string, unknown>>
const EMPTY: Body = Object.freeze(Object.create(null) as Record<string, unknown>)

export interface KeyCredential {
  readonly consumer: ConsumerRef
  /** The credential id (X-Credential-Identifier, rate-limiting's limit_by credential). */
  readonly id: string
}

export interface KeyAuthConfig {
  /** key_names as written: query and body names are case-sensitive. */
  readonly names: readonly string[]
  /** Per name, the header to read: lower-cased, and `_` as `-` (a Kong header lookup does the same). */
  readonly headers: readonly string[]
  /** Per name, the header as written lower-cased, when it differs from `headers` (has `_`), else null. */
  readonly rawHeaders: readonly (string | null)[]
  readonly hideCredentials: boolean
  readonly inHeader: boolean
  readonly inQuery: boolean
  readonly inBody: boolean
  readonly runOnPreflight: boolean
  readonly bodyLimit: number
  readonly keys: ReadonlyMap<string, KeyCredential>
  readonly anonymous: Anonymous | null
  /** Headers of the 401: JSON type and `WWW-Authenticate: Key[ realm="…"]`. */
  readonly challenge: ReadonlyArray<readonly [string, string]>
}

/** Every key of the Snapshot → its credential; one table per Snapshot, shared by every key-auth instance. */
const keyTables = new WeakMap<Snapshot, Map<string, KeyCredential>>()

export function keyTable(snapshot: Snapshot): Map<string, KeyCredential> {
  let table = keyTables.get(snapshot)
  if (table !== undefined) return table
  table = new Map()
  for (const c of snapshot.consumers) {
    if (c.keyauth.length === 0) continue
    const consumer = consumerRef(c)
    // Keys are unique across consumers (validated at load); `{vault://env/X}` keys were resolved then.
    for (const cred of c.keyauth) if (typeof cred.key === 'string') table.set(cred.key, { consumer, id: cred.id })
  }
  keyTables.set(snapshot, table)
  return table
}

function compile(c: Record<string, unknown>, env: PluginEnv, scope: PluginScope): KeyAuthConfig {
  const names = c.key_names as string[]
  const realm = c.realm as string | null
  return {
    names,
    headers: names.map((n) => n.toLowerCase().replace(/_/g, '-')),
    rawHeaders: names.map((n) => (n.includes('_') ? n.toLowerCase() : null)),
    hideCredentials: c.hide_credentials as boolean,
    inHeader: c.key_in_header as boolean,
    inQuery: c.key_in_query as boolean,
    inBody: c.key_in_body as boolean,
    runOnPreflight: c.run_on_preflight as boolean,
    bodyLimit: Math.min(BODY_LIMIT, env.settings.maxBodySize),
    keys: keyTable(scope.snapshot),
    anonymous: compileAnonymous(c.anonymous, 'key-auth', env, scope),
    challenge: challengeHeaders(realm === null ? 'Key' : `Key realm="${realm}"`),
  }
}

function decode(s: string): string {
  return decodeFormComponent(s) ?? s
}

/**
 * Kong's kong.request.get_query()[name] on a raw query string: undefined when absent, the decoded value,
 * true for a bare `name`, or an array when the name is repeated (Kong's table: a duplicate).
 */
export function queryArg(query: string, name: string): string | true | Array<string | true> | undefined {
  if (query === '') return undefined
  let found: string | true | Array<string | true> | undefined
  let start = 0
  const n = query.length
  while (start < n) {
    let end = query.indexOf('&', start)
    if (end === -1) end = n
    const eq = query.indexOf('=', start)
    const keyEnd = eq === -1 || eq > end ? end : eq
    if (keyEnd > start && decode(query.slice(start, keyEnd)) === name) {
      const value = keyEnd === end ? true : decode(query.slice(keyEnd + 1, end))
      found = found === undefined ? value : Array.isArray(found) ? [...found, value] : [found, value]
    }
    start = end + 1
  }
  return found
}

/** The query string without any `name` argument (the rest kept byte for byte). */
export function stripQueryArg(query: string, name: string): string {
  if (query === '') return query
  const kept: string[] = []
  for (const part of query.split('&')) {
    const eq = part.indexOf('=')
    if (decode(eq === -1 ? part : part.slice(0, eq)) !== name) kept.push(part)
  }
  return kept.join('&')
}

function parseJson(raw: Buffer): Body {
  try {
    const v: unknown = JSON.parse(raw.toString('utf8'))
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Body) : EMPTY
  } catch {
    return EMPTY
  }
}

const CRLF2 = Buffer.from('\r\n\r\n')
const PART_NAME = /;\s*name="([^"]*)"/i

/** multipart/form-data fields (RFC 7578): name → value (text), repeats become arrays. */
export function parseMultipart(raw: Buffer, contentType: string): Body {
  const m = /boundary=(?:"([^"]+)"|([^;,\s]+))/i.exec(contentType)
  if (m === null) return EMPTY
  const delimiter = Buffer.from('--' + (m[1] ?? m[2]))
  const out: Record<string, unknown> = Object.create(null)
  let at = raw.indexOf(delimiter)
  while (at !== -1) {
    const partStart = at + delimiter.length
    // `--boundary--` closes the body.
    if (raw[partStart] === 0x2d && raw[partStart + 1] === 0x2d) break
    const headEnd = raw.indexOf(CRLF2, partStart)
    if (headEnd === -1) break
    const next = raw.indexOf(delimiter, headEnd + 4)
    if (next === -1) break
    const head = raw.toString('latin1', partStart, headEnd)
    const name = PART_NAME.exec(head)
    if (name !== null) {
      // The value ends with the CRLF that precedes the next delimiter.
      const value = raw.toString('utf8', headEnd + 4, Math.max(headEnd + 4, next - 2))
      const key = name[1]!
      const prev = out[key]
      out[key] = prev === undefined ? value : Array.isArray(prev) ? [...(prev as unknown[]), value] : [prev, value]
    }
    at = next
  }
  return out
}

type BodyKind = 'form' | 'json' | 'multipart' | null

/** Kong's kong.request.get_body() types (a substring match on Content-Type, as Kong does). */
function bodyKind(contentType: string | undefined): BodyKind {
  if (contentType === undefined) return null
  const t = contentType.toLowerCase()
  if (t.includes('application/x-www-form-urlencoded')) return 'form'
  if (t.includes('application/json')) return 'json'
  if (t.includes('multipart/form-data')) return 'multipart'
  return null
}

/** Reads and parses the body for key_in_body; EMPTY when there is none, it is too large or of another type. */
function readKeyBody(ctx: PluginRequest, c: KeyAuthConfig): Body | Promise<Body> {
  if (!hasBody(ctx)) return EMPTY
  const contentType = ctx.headers.get('content-type')
  const kind = bodyKind(contentType)
  if (kind === null) return EMPTY
  const len = ctx.headers.get('content-length')
  if (len !== undefined && Number(len) > c.bodyLimit) return EMPTY
  return ctx.readBody(c.bodyLimit).then((raw) => {
    if (kind === 'json') return parseJson(raw)
    if (kind === 'form') return parseFormArgs(raw.toString('utf8'))
    return parseMultipart(raw, contentType as string)
  })
}

function hide(ctx: PluginRequest, c: KeyAuthConfig, i: number): void {
  const name = c.names[i]!
  ctx.setUpstreamHeader(c.headers[i]!, null)
  const raw = c.rawHeaders[i]
  if (raw !== null) ctx.setUpstreamHeader(raw, null)
  if (ctx.query !== '') {
    const stripped = stripQueryArg(ctx.query, name)
    if (stripped !== ctx.query) ctx.setUpstreamQuery(stripped)
  }
}

/**
 * Kong's do_authentication search: for each key name in order, the header, then the query string, then
 * the body. A string is the key; a repeated value is a duplicate; anything else moves to the next name.
 * Goes asynchronous only when a name is still unfound and the body has to be read.
 */
function search(ctx: PluginRequest, c: KeyAuthConfig, from: number, body: Body | null): Found | Promise<Found> {
  for (let i = from; i < c.names.length; i++) {
    let v: unknown
    if (c.inHeader) {
      v = ctx.headers.get(c.headers[i]!)
      const raw = c.rawHeaders[i]
      if (v === undefined && raw !== null) v = ctx.headers.get(raw)
    }
    if (v === undefined && c.inQuery) v = queryArg(ctx.query, c.names[i]!)
    if (v === undefined && c.inBody) {
      if (body === null) {
        const read = readKeyBody(ctx, c)
        if (read instanceof Promise) return read.then((b) => search(ctx, c, i, b))
        body = read
      }
      const name = c.names[i]!
      v = Object.hasOwn(body, name) ? body[name] : undefined
    }
    if (typeof v === 'string') {
      if (c.hideCredentials) hide(ctx, c, i)
      return v
    }
    if (typeof v === 'object' && v !== null) return DUPLICATE
  }
  return MISSING
}

/** Authenticates with the key found, or fails: anonymous (logical OR) or Kong's 401. */
function conclude(ctx: PluginRequest, c: KeyAuthConfig, found: Found): typeof CONTINUE | typeof DONE {
  let message = ERR_NO_API_KEY
  if (typeof found === 'string') {
    if (found !== '') {
      const cred = c.keys.get(found)
      if (cred !== undefined) {
        authenticate(ctx, cred.consumer, cred.id)
        return CONTINUE
      }
      message = ERR_INVALID_AUTH_CRED
    }
  } else if (found === DUPLICATE) {
    message = ERR_DUPLICATE_API_KEY
  }
  if (c.anonymous !== null) return useAnonymous(ctx, c.anonymous)
  return fail(ctx, 401, message, c.challenge)
}

function access(ctx: PluginRequest, c: KeyAuthConfig): PhaseResult {
  if (!c.runOnPreflight && ctx.method === 'OPTIONS') return CONTINUE
  // With anonymous set, stacked auth plugins are a logical OR: a real credential already won.
  if (c.anonymous !== null && alreadyAuthenticated(ctx)) return CONTINUE
  const found = search(ctx, c, 0, null)
  if (found instanceof Promise) return found.then((f) => conclude(ctx, c, f))
  return conclude(ctx, c, found)
}

export default definePlugin<KeyAuthConfig>({
  name: 'key-auth',
  priority: 1250,
  noConsumer: true,
  schema: {
    key_names: arrayOf(headerName(), { default: ['apikey'] }),
    hide_credentials: bool({ default: false }),
    anonymous: str(),
    key_in_header: bool({ default: true }),
    key_in_query: bool({ default: true }),
    key_in_body: bool({ default: false }),
    run_on_preflight: bool({ default: true }),
    realm: realmField(),
  },
  compile,
  phases: { access },
})
