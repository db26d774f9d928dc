// What the oauth2 plugin knows about one access token, however it was validated (introspection, JWKS,
// or our own signature), and the per-worker cache that keeps verdicts so a token costs one check.
import { isPlainObject } from '../config/schema.js'

/** A validated token's claims, normalised from an RFC 7662 introspection response or a JWT (RFC 9068). */
export interface TokenInfo {
  /** `client_id` (else `azp`), or null. */
  readonly clientId: string | null
  /** `sub`, or null. */
  readonly subject: string | null
  /** The scopes as one space-separated string ('' when none), as X-Authenticated-Scope carries them. */
  readonly scope: string
  readonly scopes: readonly string[]
  /** `aud` as a list (empty when the token has none). */
  readonly audience: readonly string[]
  /** Expiry and not-before in epoch seconds; 0 = none. */
  readonly exp: number
  readonly nbf: number
  /**
   * Tokens this gateway issued (enable_client_credentials): the service id they are bound to, '' for a
   * global token (global_credentials); null for tokens from an authorization server.
   */
  readonly boundService: string | null
  /** The resource owner the token speaks for (X-Authenticated-Userid), or null. */
  readonly authenticatedUserid: string | null
}

/** The token is not valid (inactive, expired, bad signature, malformed): 401. */
export const INVALID = 0
/** It could not be checked (the authorization server is down, slow or answers nonsense): 503. */
export const UNAVAILABLE = 1
export type Verdict = TokenInfo | typeof INVALID | typeof UNAVAILABLE

/** How long an `active: false` (or otherwise invalid) verdict is kept: a token may become valid only rarely. */
export const NEGATIVE_TTL_MS = 5_000
/** How long a valid verdict without `exp` is kept, so that revoking such a token takes effect eventually. */
export const NO_EXP_TTL_MS = 60_000
/** Verdicts kept per validator per worker; past it the oldest go first. */
export const CACHE_ENTRIES = 10_000

const EMPTY: readonly string[] = Object.freeze([])

function stringOrNull(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null
}

function numberOrZero(v: unknown): number | null {
  if (v === undefined || v === null) return 0
  return typeof v === 'number' && Number.isFinite(v) ? v : null
}

/** Splits a space-separated scope string (RFC 6749 §3.3). */
export function splitScope(scope: string): string[] {
  return scope.split(' ').filter((s) => s !== '')
}

/**
 * Normalises the claims of an active introspection response or a verified JWT. `scope` is RFC 7662's
 * space-separated string; `scp` (an array or a string, as some servers write it) is read when it is absent.
 * Returns null when a registered claim has the wrong type (the token is then treated as invalid).
 */
export function tokenInfoOf(claims: unknown): TokenInfo | null {
  if (!isPlainObject(claims)) return null
  const exp = numberOrZero(claims.exp)
  const nbf = numberOrZero(claims.nbf)
  if (exp === null || nbf === null) return null
  let scopes: string[] = []
  if (typeof claims.scope === 'string') scopes = splitScope(claims.scope)
  else if (typeof claims.scp === 'string') scopes = splitScope(claims.scp)
  else if (Array.isArray(claims.scp)) scopes = claims.scp.filter((s): s is string => typeof s === 'string' && s !== '')
  const aud = claims.aud
  const audience = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : EMPTY
  const clientId = stringOrNull(claims.client_id) ?? stringOrNull(claims.azp)
  const subject = stringOrNull(claims.sub)
  return {
    clientId,
    subject,
    scope: scopes.join(' '),
    scopes,
    audience,
    exp,
    nbf,
    boundService: null,
    // RFC 9068 §2.2: for a client credentials token `sub` is the client itself, not a resource owner.
    authenticatedUserid: subject !== null && subject !== clientId ? subject : null,
  }
}

interface Entry {
  readonly verdict: TokenInfo | typeof INVALID
  /** Epoch ms after which the entry is stale. */
  readonly until: number
}

/**
 * Verdicts by token string, per worker. Bounded: when full, the oldest entry is dropped (a Map iterates in
 * insertion order), so a flood of random tokens costs memory only up to CACHE_ENTRIES.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>()
  private readonly max: number

  constructor(max = CACHE_ENTRIES) {
    this.max = max
  }

  get size(): number {
    return this.entries.size
  }

  /** The cached verdict, or undefined when there is none or it went stale. */
  get(token: string, now: number): TokenInfo | typeof INVALID | undefined {
    const e = this.entries.get(token)
    if (e === undefined) return undefined
    if (e.until <= now) {
      this.entries.delete(token)
      return undefined
    }
    return e.verdict
  }

  /** Keeps a valid verdict until the token expires (NO_EXP_TTL_MS when it never does). */
  keepValid(token: string, info: TokenInfo, now: number): void {
    this.put(token, info, info.exp === 0 ? now + NO_EXP_TTL_MS : info.exp * 1000)
  }

  keepInvalid(token: string, now: number): void {
    this.put(token, INVALID, now + NEGATIVE_TTL_MS)
  }

  private put(token: string, verdict: TokenInfo | typeof INVALID, until: number): void {
    this.entries.delete(token)
    if (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next()
      if (oldest.done !== true) this.entries.delete(oldest.value)
    }
    this.entries.set(token, { verdict, until })
  }
}
