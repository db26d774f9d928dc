// JWT access tokens (RFC 9068) for the oauth2 plugin, verified with the authorization server's keys from
// its jwks_uri (jose fetches and caches them). A verified token is cached until its exp, so the crypto runs once.
import { createRemoteJWKSet, errors, jwtVerify } from 'jose'
import type { Logger } from '../logger.js'
import { INVALID, TokenCache, UNAVAILABLE, tokenInfoOf, type Verdict } from './oauth2-token-cache.js'
import { FAIL_FAST_MS, MAX_INSTANCES } from './oauth2-introspection.js'

/** Asymmetric algorithms only: a JWKS never holds the shared secret an HS* token would need. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']
/** Keys are fetched again at most this often for a token with an unknown kid (as the jwt plugin's jwks_uri). */
const COOLDOWN_MS = 10_000
/** And at least this often. */
const MAX_AGE_MS = 300_000

/** jose's codes for a token that is simply not valid (anything else means the keys could not be had). */
const INVALID_CODES = new Set([
  'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'ERR_JWT_EXPIRED', 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'ERR_JWS_INVALID',
  'ERR_JWT_INVALID', 'ERR_JWKS_NO_MATCHING_KEY', 'ERR_JWKS_MULTIPLE_MATCHING_KEYS', 'ERR_JOSE_ALG_NOT_ALLOWED',
  'ERR_JOSE_NOT_SUPPORTED',
])

const TIMED_OUT = Symbol('timed out')

export interface JwksOptions {
  uri: string
  timeoutMs: number
  log: Logger
}

export class JwksVerifier {
  readonly uri: string
  private readonly keys: ReturnType<typeof createRemoteJWKSet>
  private readonly timeoutMs: number
  private readonly log: Logger
  private readonly cache = new TokenCache()
  private downUntil = 0

  constructor(o: JwksOptions) {
    this.uri = o.uri
    this.timeoutMs = o.timeoutMs
    this.log = o.log
    this.keys = createRemoteJWKSet(new URL(o.uri), { timeoutDuration: o.timeoutMs, cooldownDuration: COOLDOWN_MS, cacheMaxAge: MAX_AGE_MS })
  }

  check(token: string, now = Date.now()): Verdict | Promise<Verdict> {
    const cached = this.cache.get(token, now)
    if (cached !== undefined) return cached
    if (now < this.downUntil) return UNAVAILABLE
    return this.verify(token)
  }

  private async verify(token: string): Promise<Verdict> {
    let timer: NodeJS.Timeout | undefined
    try {
      // jose's own timeout covers the wait for the response head only; this bounds the whole check.
      const timeout = new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(resolve, this.timeoutMs, TIMED_OUT)))
      const result = await Promise.race([jwtVerify(token, this.keys, { algorithms: ALGORITHMS }), timeout])
      if (result === TIMED_OUT) return this.failed(`no keys within ${this.timeoutMs} ms`)
      const info = tokenInfoOf(result.payload)
      const now = Date.now()
      if (info === null) {
        this.cache.keepInvalid(token, now)
        return INVALID
      }
      this.cache.keepValid(token, info, now)
      return info
    } catch (err) {
      if (err instanceof errors.JOSEError && INVALID_CODES.has(err.code)) {
        this.cache.keepInvalid(token, Date.now())
        return INVALID
      }
      return this.failed(String((err as Error).message ?? err))
    } finally {
      clearTimeout(timer)
    }
  }

  private failed(why: string): typeof UNAVAILABLE {
    const now = Date.now()
    if (now >= this.downUntil) this.log.warn({ jwks_uri: this.uri, reason: why }, 'oauth2: cannot get the keys to verify an access token')
    this.downUntil = now + FAIL_FAST_MS
    return UNAVAILABLE
  }
}

/** This worker's verifiers by jwks_uri: a reload keeps the keys and the verified tokens. */
const verifiers = new Map<string, JwksVerifier>()

export function jwksVerifierFor(o: JwksOptions): JwksVerifier {
  const key = `${o.uri}\n${o.timeoutMs}`
  let v = verifiers.get(key)
  if (v === undefined) {
    if (verifiers.size >= MAX_INSTANCES) verifiers.delete(verifiers.keys().next().value!)
    v = new JwksVerifier(o)
    verifiers.set(key, v)
  }
  return v
}

/** True when `token` has the shape of a JWS compact serialisation (three base64url parts, a JSON header). */
export function looksLikeJwt(token: string): boolean {
  if (!token.startsWith('eyJ')) return false
  const first = token.indexOf('.')
  const second = token.indexOf('.', first + 1)
  return second > first + 1 && token.indexOf('.', second + 1) === -1
}
