// Kong's cors: preflights (OPTIONS with Origin and Access-Control-Request-Method) are answered here with
// 200 and the Access-Control-* headers; other requests get their CORS headers added to whatever answers them.
// Kong adds those in header_filter; the contract has no such phase, so they are queued in access
// (ctx.addResponseHeader reaches upstream, plugin and error answers alike).
import { arrayOf, bool, num, oneOf, record, str } from '../config/schema.js'
import { translatePcre } from '../config/regex.js'
import { CONTINUE, DONE, definePlugin, type PhaseResult, type PluginRequest } from './types.js'

/** Kong's METHODS: the schema's choices and the default Access-Control-Allow-Methods. */
const METHODS = ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'] as const
/** An origin entry made only of these is a plain origin; anything else makes it a regex (Kong's test). */
const PLAIN_ORIGIN = /^[A-Za-z0-9.:/-]+$/
/** Request origins normalised so far (per worker), emptied when full: Kong keeps an LRU of 10 000. */
const ORIGIN_CACHE_LIMIT = 10_000
const EMPTY = ''

/** A config value written into a response header: CR, LF and other controls would split or corrupt it. */
function headerTextError(v: string): string | null {
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x08\x0a-\x1f\x7f]/.test(v) ? 'must not contain control characters' : null
}

/** Kong's validate_asterisk_or_regex: every entry is '*' or compiles as a regex (plain origins do). */
function originError(v: string): string | null {
  if (v === '*') return null
  const text = headerTextError(v)
  if (text !== null) return text
  try {
    originRegex(v)
    return null
  } catch {
    return `'${v}' is not a valid regex`
  }
}

/**
 * Kong's regex handling: 0.x did not anchor origin regexes, so a `$` is appended unless present, a
 * leading `^` dropped, and the match anchored at the start (PCRE "a" flag).
 */
function originRegex(entry: string): RegExp {
  let source = entry
  if (!source.endsWith('$')) source += '$'
  if (source.startsWith('^')) source = source.slice(1)
  const t = translatePcre(source)
  return new RegExp(`^(?:${t.source})`, t.flags)
}

interface Origin {
  /** `scheme://host[:port]` with the scheme's default port dropped; the text itself when it has no host. */
  domain: string
  host: string
}

/**
 * Kong's normalize_origin (LuaSocket's url.parse): `scheme://[userinfo@]host[:port]` becomes
 * `scheme://host[:port]`, ports 80 (http) and 443 (https) dropped; a value without `//` has no host
 * and stands for itself (e.g. `null`).
 */
export function normalizeOrigin(text: string): Origin {
  const m = /^(?:([A-Za-z][A-Za-z0-9+.-]*):)?\/\/([^/?#]*)/.exec(text)
  if (m === null) return { domain: text, host: text }
  const scheme = m[1]
  let authority = m[2]!
  const at = authority.lastIndexOf('@')
  if (at !== -1) authority = authority.slice(at + 1)
  let host = authority
  let port: string | undefined
  const p = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(authority)
  if (p !== null) {
    host = p[1]!
    port = p[2]
  }
  if (host === '') return { domain: text, host: text }
  if (port === '' || (scheme === 'http' && port === '80') || (scheme === 'https' && port === '443')) port = undefined
  return { domain: (scheme !== undefined ? scheme + '://' : '') + host + (port !== undefined ? ':' + port : ''), host }
}

const originCache = new Map<string, Origin>()

function normalizedRequestOrigin(origin: string): Origin {
  let o = originCache.get(origin)
  if (o === undefined) {
    if (originCache.size >= ORIGIN_CACHE_LIMIT) originCache.clear()
    o = normalizeOrigin(origin)
    originCache.set(origin, o)
  }
  return o
}

interface OriginMatcher {
  /** Plain entries compare normalised domains; regex entries test the host, or the domain when they mention a port (':'). */
  regex: RegExp | null
  domain: string
  byHost: boolean
}

export interface CorsConfig {
  /** origins unset, [] or ['*']: `Access-Control-Allow-Origin: *` for everyone, no Vary. */
  readonly allowAll: boolean
  /** One plain origin: always sent as is (Kong does not compare it with the request's). */
  readonly fixedOrigin: string | null
  /** '*' among several origins: any request with an Origin is allowed ('*'). */
  readonly starAmongMany: boolean
  readonly matchers: readonly OriginMatcher[]
  readonly credentials: boolean
  readonly preflightContinue: boolean
  readonly privateNetwork: boolean
  readonly allowOriginAbsent: boolean
  /** conf.headers joined, or null to echo Access-Control-Request-Headers. */
  readonly allowHeaders: string | null
  readonly allowMethods: string
  readonly maxAge: string | null
  /** `Access-Control-Expose-Headers: …\r\n` or ''. */
  readonly exposeLine: string
  /** Every non-preflight answer's lines when they never depend on the request (allow-all without credentials), else null. */
  readonly fixedLines: string | null
}

function compile(c: Record<string, unknown>): CorsConfig {
  const origins = (c.origins as string[] | null) ?? []
  const allowAll = origins.length === 0 || (origins.length === 1 && origins[0] === '*')
  const fixedOrigin = origins.length === 1 && PLAIN_ORIGIN.test(origins[0]!) ? origins[0]! : null
  const matchers: OriginMatcher[] = []
  for (const entry of origins) {
    if (entry === '*') continue
    const byHost = !entry.includes(':')
    if (PLAIN_ORIGIN.test(entry)) matchers.push({ regex: null, domain: normalizeOrigin(entry).domain, byHost })
    else matchers.push({ regex: originRegex(entry), domain: EMPTY, byHost })
  }
  const headers = (c.headers as string[] | null) ?? []
  const exposed = (c.exposed_headers as string[] | null) ?? []
  const maxAge = c.max_age as number | null
  const exposeLine = exposed.length > 0 ? `Access-Control-Expose-Headers: ${exposed.join(',')}\r\n` : EMPTY
  return {
    allowAll,
    fixedOrigin,
    starAmongMany: !allowAll && origins.includes('*'),
    matchers,
    credentials: c.credentials as boolean,
    preflightContinue: c.preflight_continue as boolean,
    privateNetwork: c.private_network as boolean,
    allowOriginAbsent: c.allow_origin_absent as boolean,
    allowHeaders: headers.length > 0 ? headers.join(',') : null,
    allowMethods: ((c.methods as string[] | null) ?? METHODS).join(','),
    maxAge: maxAge === null ? null : String(maxAge),
    exposeLine,
    fixedLines: allowAll && c.credentials !== true ? 'Access-Control-Allow-Origin: *\r\n' + exposeLine : null,
  }
}

/** The CORS answer for one request: what Kong's configure_origin and configure_credentials set. */
export interface OriginHeaders {
  /** Access-Control-Allow-Origin, or null for none. */
  allowOrigin: string | null
  vary: boolean
  allowCredentials: boolean
}

export function originHeaders(c: CorsConfig, origin: string | undefined): OriginHeaders {
  let allowOrigin: string | null = null
  let allowAll = false
  let vary = false
  if (c.allowAll) {
    allowOrigin = '*'
    allowAll = true
  } else {
    // Always varies, even when the answer is fixed: caches key on it (rs/cors#10, cited by Kong).
    vary = true
    if (c.fixedOrigin !== null) {
      allowOrigin = c.fixedOrigin
    } else if (origin !== undefined) {
      if (c.starAmongMany) {
        allowOrigin = '*'
        allowAll = true
      } else {
        const o = normalizedRequestOrigin(origin)
        for (let i = 0; i < c.matchers.length; i++) {
          const m = c.matchers[i]!
          const found = m.regex === null ? o.domain === m.domain : m.regex.test(m.byHost ? o.host : o.domain)
          if (found) {
            allowOrigin = o.domain
            break
          }
        }
      }
    }
  }
  let allowCredentials = false
  if (c.credentials) {
    if (!allowAll) {
      allowCredentials = true
    } else if (origin !== undefined) {
      // A credentialed answer may not say '*' (Fetch standard, CORS protocol): echo the origin instead.
      vary = true
      allowOrigin = origin
      allowCredentials = true
    }
  }
  return { allowOrigin, vary, allowCredentials }
}

function preflight(ctx: PluginRequest, c: CorsConfig, origin: string): typeof DONE {
  const o = originHeaders(c, origin)
  const headers: Array<readonly [string, string]> = []
  if (o.allowOrigin !== null) headers.push(['Access-Control-Allow-Origin', o.allowOrigin])
  if (o.vary) headers.push(['Vary', 'Origin'])
  if (o.allowCredentials) headers.push(['Access-Control-Allow-Credentials', 'true'])
  const allowHeaders = c.allowHeaders ?? ctx.headers.get('access-control-request-headers')
  if (allowHeaders !== undefined) headers.push(['Access-Control-Allow-Headers', allowHeaders])
  headers.push(['Access-Control-Allow-Methods', c.allowMethods])
  if (c.maxAge !== null) headers.push(['Access-Control-Max-Age', c.maxAge])
  if (c.privateNetwork && ctx.headers.get('access-control-request-private-network') === 'true') {
    headers.push(['Access-Control-Allow-Private-Network', 'true'])
  }
  ctx.reply(200, EMPTY, headers)
  return DONE
}

function access(ctx: PluginRequest, c: CorsConfig): PhaseResult {
  const origin = ctx.headers.get('origin')
  if (ctx.method === 'OPTIONS' && origin !== undefined && ctx.headers.has('access-control-request-method')) {
    // preflight_continue: the upstream answers the preflight, and Kong adds no CORS header to that answer.
    return c.preflightContinue ? CONTINUE : preflight(ctx, c, origin)
  }
  if (origin === undefined && !c.allowOriginAbsent) return CONTINUE
  if (c.fixedLines !== null) {
    ctx.addResponseLines(c.fixedLines)
    return CONTINUE
  }
  const o = originHeaders(c, origin)
  // allowOrigin may be the client's Origin: addResponseHeader drops a value with CR/LF (uWS refuses those anyway).
  if (o.allowOrigin !== null) ctx.addResponseHeader('Access-Control-Allow-Origin', o.allowOrigin)
  let lines = c.exposeLine
  if (o.vary) lines = 'Vary: Origin\r\n' + lines
  if (o.allowCredentials) lines += 'Access-Control-Allow-Credentials: true\r\n'
  if (lines !== EMPTY) ctx.addResponseLines(lines)
  return CONTINUE
}

const headerText = () => str({ custom: headerTextError })

export default definePlugin<CorsConfig>({
  name: 'cors',
  priority: 2000,
  noConsumer: true,
  schema: record({
    origins: arrayOf(str({ custom: originError })),
    headers: arrayOf(headerText()),
    exposed_headers: arrayOf(headerText()),
    methods: arrayOf(oneOf(METHODS), { default: [...METHODS] }),
    max_age: num(),
    credentials: bool({ default: false, required: true }),
    private_network: bool({ default: false, required: true }),
    preflight_continue: bool({ default: false, required: true }),
    allow_origin_absent: bool({ default: true, required: true }),
  }),
  compile,
  phases: { access },
})
