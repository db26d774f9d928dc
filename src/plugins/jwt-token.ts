// The jwt plugin's pure parts, as Kong's handler and jwt_parser.lua do them: finding the token in a request,
// splitting and decoding it, and the registered-claim checks. No keys and no I/O here (unit-tested alone).
import { decodeFormComponent } from './query-string.js'
import { isAlgorithm, type JwtAlgorithm } from './jwt-keys.js'

/** Where retrieveToken looks, in Kong's order: query parameters, then cookies, then headers (lower-case). */
export interface TokenSources {
  readonly uriParamNames: readonly string[]
  readonly cookieNames: readonly string[]
  readonly headerNames: readonly string[]
}

/** retrieveToken's answer when the request carries more than one distinct token. */
export const MULTIPLE_TOKENS: unique symbol = Symbol('multiple tokens')

/** Kong's `\s*[Bb]earer\s+(.+)`, unanchored as ngx.re.gmatch runs it. */
const BEARER = /[Bb]earer\s+(.+)/

/**
 * The token of a request (Kong 3.x retrieve_tokens): every non-empty value of the `uri_param_names` query
 * parameters, the first cookie of each `cookie_names`, and the `Bearer` value of each `header_names` header.
 * The same token found in several places counts once; two different ones are MULTIPLE_TOKENS. A query
 * parameter without `=` carries no token.
 */
export function retrieveToken(query: string, headers: ReadonlyMap<string, string>, src: TokenSources): string | null | typeof MULTIPLE_TOKENS {
  let found: string | null = null
  if (query !== '' && src.uriParamNames.length > 0) {
    let start = 0
    const n = query.length
    while (start < n) {
      let end = query.indexOf('&', start)
      if (end === -1) end = n
      const eq = query.indexOf('=', start)
      if (eq !== -1 && eq < end && end - eq > 1) {
        const name = decodeFormComponent(query.slice(start, eq))
        if (name !== null && src.uriParamNames.includes(name)) {
          const value = decodeFormComponent(query.slice(eq + 1, end))
          if (value !== null && value !== '') {
            if (found === null) found = value
            else if (found !== value) return MULTIPLE_TOKENS
          }
        }
      }
      start = end + 1
    }
  }
  if (src.cookieNames.length > 0) {
    const cookie = headers.get('cookie')
    if (cookie !== undefined) {
      for (const name of src.cookieNames) {
        const value = cookieValue(cookie, name)
        if (value === null || value === '') continue
        if (found === null) found = value
        else if (found !== value) return MULTIPLE_TOKENS
      }
    }
  }
  for (const name of src.headerNames) {
    const value = headers.get(name)
    if (value === undefined) continue
    let token: string
    // The common shape first: `Bearer <token>` with one space, no regex.
    if (value.length > 7 && value.charCodeAt(6) === 32 && (value.startsWith('Bearer') || value.startsWith('bearer'))
      && value.charCodeAt(7) > 32) {
      token = value.slice(7)
    } else {
      const m = BEARER.exec(value)
      if (m === null) continue
      token = m[1]!
    }
    if (found === null) found = token
    else if (found !== token) return MULTIPLE_TOKENS
  }
  return found
}

/** The first cookie called `name` in a Cookie header (NGINX's $cookie_<name>), or null. */
export function cookieValue(header: string, name: string): string | null {
  let start = 0
  const n = header.length
  while (start < n) {
    let end = header.indexOf(';', start)
    if (end === -1) end = n
    while (start < end && (header.charCodeAt(start) === 32 || header.charCodeAt(start) === 9)) start++
    if (end - start > name.length && header.charCodeAt(start + name.length) === 61 && header.startsWith(name, start)) {
      let valueEnd = end
      while (valueEnd > start && (header.charCodeAt(valueEnd - 1) === 32 || header.charCodeAt(valueEnd - 1) === 9)) valueEnd--
      return header.slice(start + name.length + 1, valueEnd)
    }
    start = end + 1
  }
  return null
}

/** A token split and decoded; `claims` and `header` are JSON objects (read-only: verified tokens are cached). */
export interface DecodedToken {
  readonly header: Readonly<Record<string, unknown>>
  readonly claims: Readonly<Record<string, unknown>>
  readonly alg: JwtAlgorithm
  /** `base64url(header) "." base64url(payload)`: what the signature covers. */
  readonly signingInput: string
  readonly signature: Buffer
}

/** JWS compact segments are unpadded base64url (RFC 7515 §2); Kong also takes them padded. */
const SEGMENT = /^[A-Za-z0-9_-]*={0,2}$/

function decodeJsonSegment(segment: string): unknown {
  if (!SEGMENT.test(segment)) return undefined
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * The last header decoded, by its segment: one issuer's tokens share one header (`{"alg":…,"kid":…}`),
 * so most requests skip its base64 and JSON. Shared objects: decoded tokens are read-only.
 */
/** Starts as '.', which no segment can be. */
let lastHeaderSegment = '.'
let lastHeader: Record<string, unknown> = {}

/**
 * Splits and decodes a compact JWS (Kong's jwt_parser decode_token), or returns Kong's reason, which the
 * plugin answers as "Bad token; <reason>": `invalid JSON` (not three segments, or a segment that is not
 * base64url JSON), `invalid alg` (missing, not a string, `none`, or not one we verify), `invalid claims`
 * (the payload is not a JSON object) and `invalid signature` (the signature is not base64url).
 */
export function decodeToken(token: string): DecodedToken | string {
  const dot1 = token.indexOf('.')
  const dot2 = dot1 === -1 ? -1 : token.indexOf('.', dot1 + 1)
  if (dot2 === -1) return 'invalid JSON'
  const headerSegment = token.slice(0, dot1)
  let header: unknown
  if (headerSegment === lastHeaderSegment) header = lastHeader
  else {
    header = decodeJsonSegment(headerSegment)
    if (isObject(header)) {
      lastHeaderSegment = headerSegment
      lastHeader = header
    }
  }
  const claims = decodeJsonSegment(token.slice(dot1 + 1, dot2))
  if (!isObject(header) || claims === undefined) return 'invalid JSON'
  if (!isAlgorithm(header.alg)) return 'invalid alg'
  if (!isObject(claims)) return 'invalid claims'
  const sig = token.slice(dot2 + 1)
  if (!SEGMENT.test(sig)) return 'invalid signature'
  return { header, claims, alg: header.alg, signingInput: token.slice(0, dot2), signature: Buffer.from(sig, 'base64url') }
}

/** An own property of a decoded JSON object (never one inherited from Object.prototype). */
export function own(o: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(o, name) ? o[name] : undefined
}

export type RegisteredClaim = 'exp' | 'nbf'

/** What Kong answers for failed claims: claim name → message, as the 401 body (`{"exp":"token expired"}`). */
export type ClaimErrors = Record<string, string>

/**
 * Kong's verify_registered_claims: each claim in `toVerify` must be a number (`must be a number`, also when
 * missing); `exp` must be after `now` (`token expired`) and `nbf` not after it (`token not valid yet`).
 * `now` is in whole seconds, as ngx.time(). Returns null when every claim passed.
 */
export function verifyClaims(claims: Readonly<Record<string, unknown>>, toVerify: readonly RegisteredClaim[], now: number): ClaimErrors | null {
  let errors: ClaimErrors | null = null
  for (const name of toVerify) {
    const v = own(claims, name)
    let problem: string | null = null
    if (typeof v !== 'number') problem = 'must be a number'
    else if (name === 'exp' ? v <= now : v > now) problem = name === 'exp' ? 'token expired' : 'token not valid yet'
    if (problem !== null) (errors ??= {})[name] = problem
  }
  return errors
}

/**
 * Kong's check_maximum_expiration: with a limit above 0, a token must have an `exp` at most `max` seconds
 * after `now` (`exceeds maximum allowed expiration`). Returns null when it passes.
 */
export function checkMaximumExpiration(claims: Readonly<Record<string, unknown>>, max: number, now: number): ClaimErrors | null {
  if (max <= 0) return null
  const exp = own(claims, 'exp')
  if (typeof exp !== 'number' || exp - now > max) return { exp: 'exceeds maximum allowed expiration' }
  return null
}

/** One line for the `message` field next to Kong's claim → error map ("token expired", "'exp' must be a number"). */
export function claimErrorsMessage(errors: ClaimErrors): string {
  let out = ''
  for (const name of Object.keys(errors)) {
    const text = errors[name]!
    out += (out === '' ? '' : ', ') + (text === 'must be a number' ? `'${name}' ${text}` : text)
  }
  return out
}
