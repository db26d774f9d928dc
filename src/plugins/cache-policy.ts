// proxy-cache's rules as pure functions: the cache key (Kong's parts plus host), request and response
// Cache-Control (RFC 9111 basics), the freshness lifetime, Vary, and content-type matching.
import { createHash } from 'node:crypto'

/** Cache-Control directives, lower-cased names → value ('' when the directive has none). */
export function parseCacheControl(value: string | undefined): Map<string, string> {
  const out = new Map<string, string>()
  if (value === undefined || value === '') return out
  for (const part of value.split(',')) {
    const eq = part.indexOf('=')
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase()
    if (name === '') continue
    let arg = eq < 0 ? '' : part.slice(eq + 1).trim()
    if (arg.startsWith('"') && arg.endsWith('"') && arg.length >= 2) arg = arg.slice(1, -1)
    if (!out.has(name)) out.set(name, arg)
  }
  return out
}

/** Delta-seconds (RFC 9111 §1.2.2): a non-negative integer, else null. */
function seconds(arg: string | undefined): number | null {
  if (arg === undefined || !/^\d+$/.test(arg)) return null
  return Number(arg)
}

/** What the client's Cache-Control asks of the cache. */
export interface RequestDirectives {
  /** no-store: neither answer from nor store in the cache (Bypass). */
  noStore: boolean
  /** no-cache, or max-age=0: go to the upstream and store the answer (Refresh). */
  refresh: boolean
  /** max-age=N: a cached answer older than N seconds must not be used; null when not given. */
  maxAgeS: number | null
}

export function requestDirectives(cacheControl: string | undefined, pragma: string | undefined): RequestDirectives {
  const cc = parseCacheControl(cacheControl)
  const maxAge = seconds(cc.get('max-age'))
  // RFC 9111 §5.4: Pragma: no-cache counts only when there is no Cache-Control.
  const pragmaNoCache = cacheControl === undefined && pragma !== undefined && /(^|,)\s*no-cache\s*(,|$)/i.test(pragma)
  return {
    noStore: cc.has('no-store'),
    refresh: cc.has('no-cache') || maxAge === 0 || pragmaNoCache,
    maxAgeS: maxAge,
  }
}

/**
 * How long a response may be served from the cache, in ms, or -1 when it must not be stored.
 * With `honour` (cache_control: true): no-store, private and no-cache refuse; then s-maxage, max-age,
 * Expires − Date; without any of them the configured TTL. Without `honour` the configured TTL always.
 */
export function freshnessMs(headers: readonly string[], honour: boolean, defaultTtlS: number, nowMs: number): number {
  if (!honour) return defaultTtlS * 1000
  const cc = parseCacheControl(headerValue(headers, 'cache-control'))
  if (cc.has('no-store') || cc.has('private') || cc.has('no-cache')) return -1
  const sMaxAge = seconds(cc.get('s-maxage'))
  if (sMaxAge !== null) return sMaxAge * 1000
  const maxAge = seconds(cc.get('max-age'))
  if (maxAge !== null) return maxAge * 1000
  const expires = headerValue(headers, 'expires')
  if (expires !== undefined) {
    const at = httpDate(expires)
    if (at === null) return -1 // RFC 9111 §5.3: an invalid Expires (notably "0") means already expired
    const date = httpDate(headerValue(headers, 'date') ?? '')
    return Math.max(0, at - (date === null ? nowMs : date))
  }
  return defaultTtlS * 1000
}

const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec'
const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/
const RFC_850 = /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/
const ASCTIME = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ( \d|\d{2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/

/**
 * An HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime forms) in epoch ms, or null.
 * Strict on purpose: Date.parse reads "0" as the year 2000 and "3600" as the year 3600, which would turn a
 * malformed `Expires: 3600` into a centuries-long lifetime.
 */
export function httpDate(value: string): number | null {
  // Each form's captures, reordered to [day, month, year, hour, minute, second].
  let parts: string[]
  let g = IMF_FIXDATE.exec(value)
  if (g !== null) parts = g.slice(1)
  else if ((g = RFC_850.exec(value)) !== null) parts = g.slice(1)
  else if ((g = ASCTIME.exec(value)) !== null) parts = [g[2]!, g[1]!, g[6]!, g[3]!, g[4]!, g[5]!]
  else return null
  const month = MONTHS.indexOf(parts[1]!)
  if (month < 0 || month % 3 !== 0) return null
  let year = Number(parts[2])
  if (parts[2]!.length === 2) {
    // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is in the past century.
    year += 2000
    if (year > new Date().getUTCFullYear() + 50) year -= 100
  }
  const n = parts.map(Number)
  const ms = Date.UTC(year, month / 3, n[0], n[3], n[4], n[5])
  return Number.isNaN(ms) ? null : ms
}

/** The value of a header in a flat [name, value, …] list (names compared case-insensitively; duplicates joined). */
export function headerValue(headers: readonly string[], lowerName: string): string | undefined {
  let out: string | undefined
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.length === lowerName.length && headers[i]!.toLowerCase() === lowerName) {
      out = out === undefined ? headers[i + 1]! : `${out}, ${headers[i + 1]!}`
    }
  }
  return out
}

/** Vary's field names, lower-cased and sorted; null for `Vary: *` (never cacheable); [] when absent. */
export function varyNames(headers: readonly string[]): string[] | null {
  const vary = headerValue(headers, 'vary')
  if (vary === undefined) return []
  const names = new Set<string>()
  for (const part of vary.split(',')) {
    const name = part.trim().toLowerCase()
    if (name === '*') return null
    if (name !== '') names.add(name)
  }
  return [...names].sort()
}

/**
 * Compiled `content_type` list: `type/subtype` matches that media type whatever its parameters; a value
 * with parameters must match exactly (Kong); `type/*` and `*\/*` match by wildcard.
 */
export class ContentTypes {
  private readonly any: boolean
  private readonly exact = new Set<string>()
  private readonly bare = new Set<string>()
  private readonly types = new Set<string>()

  constructor(values: readonly string[]) {
    let any = false
    for (const raw of values) {
      const v = raw.trim().toLowerCase()
      if (v === '*/*') any = true
      else if (v.endsWith('/*')) this.types.add(v.slice(0, -2))
      else if (v.includes(';')) this.exact.add(v.replace(/\s*;\s*/g, ';'))
      else this.bare.add(v)
    }
    this.any = any
  }

  matches(contentType: string | undefined): boolean {
    if (this.any) return true
    if (contentType === undefined) return false
    const v = contentType.trim().toLowerCase()
    const semi = v.indexOf(';')
    const media = (semi < 0 ? v : v.slice(0, semi)).trim()
    if (this.bare.has(media) || this.exact.has(v.replace(/\s*;\s*/g, ';'))) return true
    const slash = media.indexOf('/')
    return slash > 0 && this.types.has(media.slice(0, slash))
  }
}

/** The query string with its parameters sorted (only `keep` names when given), so order never splits the cache. */
export function normalisedQuery(query: string, keep: ReadonlySet<string> | null): string {
  if (query === '') return ''
  const params = query.split('&').filter((p) => p !== '' && (keep === null || keep.has(decodeName(p))))
  return params.sort().join('&')
}

function decodeName(param: string): string {
  const eq = param.indexOf('=')
  const name = eq < 0 ? param : param.slice(0, eq)
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '))
  } catch {
    return name
  }
}

/** The parts Kong keys on (route, consumer, method, path, query, vary_headers) plus the host. */
export interface KeyParts {
  instance: string
  route: string
  consumer: string
  method: string
  host: string
  path: string
  query: string
  /** `name=value` of each vary_headers entry, in configuration order. */
  headers: string
}

/** The X-Cache-Key: sha256 hex of every part, as Kong's key is. */
export function cacheKey(p: KeyParts): string {
  return sha256(`${p.instance}|${p.route}|${p.consumer}|${p.method}|${p.host}|${p.path}?${p.query}|${p.headers}`)
}

/** The key of one Vary variant of `base`: the request's values of the response's Vary names. */
export function variantKey(base: string, names: readonly string[], requestHeader: (lowerName: string) => string | undefined): string {
  let material = base
  for (const name of names) material += `|${name}=${requestHeader(name) ?? ''}`
  return sha256(material)
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}
