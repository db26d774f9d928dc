// A JSON Web Key Set fetched from `jwks_uri` and kept per worker: keys by kid, refreshed in the background
// when stale and at once (at most once per 10 s) for an unknown kid. A failed fetch keeps the keys it had.
import { importJWK, type JWK } from 'jose'
import type { KeyObject } from 'node:crypto'
import type { Logger } from '../logger.js'
import { JWT_ALGORITHMS, isAlgorithm, isHmac, publicVerifier, type JwtAlgorithm, type Verifier } from './jwt-keys.js'

/** SPEC §3: a token with an unknown kid refreshes the set at once, but at most once per this long. */
export const UNKNOWN_KID_REFRESH_MS = 10_000
/** How long one fetch may take; a request waiting on a refresh waits at most this long. */
export const JWKS_FETCH_TIMEOUT_MS = 2_000
/** A set larger than this is refused (a JWKS is a few KiB). */
const MAX_JWKS_BYTES = 1024 * 1024

/** One usable key of the set: the algorithms it may verify, each with its ready verifier. */
export interface JwksKey {
  readonly kid: string | null
  readonly verifiers: ReadonlyMap<JwtAlgorithm, Verifier>
}

export type JwksFetch = (uri: string, signal: AbortSignal) => Promise<{ status: number; maxAge: number | null; body: string }>

/** The default fetcher: undici's fetch, the body read whole, Cache-Control max-age read. */
const httpFetch: JwksFetch = async (uri, signal) => {
  const res = await fetch(uri, { signal, headers: { accept: 'application/json, application/jwk-set+json' }, redirect: 'follow' })
  const length = Number(res.headers.get('content-length') ?? '0')
  if (length > MAX_JWKS_BYTES) throw new Error(`JWKS of ${length} bytes is larger than ${MAX_JWKS_BYTES}`)
  const body = await res.text()
  return { status: res.status, maxAge: maxAgeOf(res.headers.get('cache-control')), body }
}

/** Cache-Control max-age in seconds, or null (also for no-store / no-cache: refresh at the floor). */
export function maxAgeOf(cacheControl: string | null): number | null {
  if (cacheControl === null) return null
  if (/(?:^|,)\s*no-(?:store|cache)\b/i.test(cacheControl)) return 0
  const m = /(?:^|,)\s*max-age\s*=\s*"?(\d+)/i.exec(cacheControl)
  return m === null ? null : Number(m[1])
}

/**
 * The algorithms a JWK may verify. Its own `alg` when it has one (and that alg fits the key); otherwise
 * every asymmetric algorithm of its type (the verifier rejects what does not fit, e.g. ES384 on a P-256
 * key). Symmetric (`oct`) keys are never taken from a URL, so an HMAC token can never be checked
 * against a published key: that is the algorithm-confusion attack.
 */
async function importKey(jwk: Record<string, unknown>): Promise<JwksKey | string> {
  const kid = typeof jwk.kid === 'string' ? jwk.kid : null
  if (jwk.kty === 'oct') return 'symmetric keys are not accepted from a JWKS'
  if (jwk.use !== undefined && jwk.use !== 'sig') return `"use" is ${String(jwk.use)}`
  if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes('verify')) return '"key_ops" does not include verify'
  if (jwk.alg !== undefined && (!isAlgorithm(jwk.alg) || isHmac(jwk.alg))) return `unsupported "alg" ${String(jwk.alg)}`
  // importJWK reads only the public members: a set that leaks "d" still yields the public key.
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, ...pub } = jwk
  const key = await importJWK(pub as unknown as JWK, typeof jwk.alg === 'string' ? jwk.alg : undefined) as KeyObject
  const verifiers = new Map<JwtAlgorithm, Verifier>()
  const algs: readonly JwtAlgorithm[] = typeof jwk.alg === 'string' ? [jwk.alg as JwtAlgorithm] : JWT_ALGORITHMS.filter((a) => !isHmac(a))
  for (const alg of algs) {
    const v = publicVerifier(alg, key)
    if (typeof v !== 'string') verifiers.set(alg, v)
  }
  if (verifiers.size === 0) return `key of type ${key.asymmetricKeyType} fits no supported algorithm`
  return { kid, verifiers }
}

export interface JwksCacheOptions {
  /** jwks_refresh_interval in seconds: the longest keys are used before a background refresh. */
  refreshIntervalS: number
  log: Logger
  fetch?: JwksFetch
  timeoutMs?: number
  unknownKidRefreshMs?: number
  now?: () => number
}

/**
 * Keys of one jwks_uri for this worker. Lookups are synchronous; only a request whose kid is unknown waits,
 * and then only for one rate-limited refresh bounded by the fetch timeout. Stale keys keep serving while the
 * background refresh runs; a fetch that fails (down, timeout, non-200, bad JSON) keeps the old keys and is
 * retried no sooner than the unknown-kid interval.
 */
export class JwksCache {
  readonly uri: string
  /** kid → key; keys without a kid are in `unnamed`. */
  private keys = new Map<string, JwksKey>()
  private unnamed: JwksKey[] = []
  private refreshIntervalMs: number
  private readonly log: Logger
  private readonly fetcher: JwksFetch
  private readonly timeoutMs: number
  private readonly kidRefreshMs: number
  private readonly now: () => number
  /** When the current keys are due for a background refresh (0: never fetched). */
  private staleAt = 0
  private lastKidRefresh = -Infinity
  private inflight: Promise<void> | null = null
  /** Fetches started and how they ended, for tests and logs. */
  fetches = 0
  failures = 0

  constructor(uri: string, o: JwksCacheOptions) {
    this.uri = uri
    this.refreshIntervalMs = o.refreshIntervalS * 1000
    this.log = o.log
    this.fetcher = o.fetch ?? httpFetch
    this.timeoutMs = o.timeoutMs ?? JWKS_FETCH_TIMEOUT_MS
    this.kidRefreshMs = o.unknownKidRefreshMs ?? UNKNOWN_KID_REFRESH_MS
    this.now = o.now ?? Date.now
  }

  /** A later compile with another jwks_refresh_interval for the same URI (reloads keep the keys). */
  setRefreshInterval(seconds: number): void {
    this.refreshIntervalMs = seconds * 1000
  }

  /** The key for `kid`, or for a token without kid the set's only key; undefined when there is none. */
  lookup(kid: string | null): JwksKey | undefined {
    this.refreshIfStale()
    if (kid !== null) return this.keys.get(kid)
    if (this.unnamed.length + this.keys.size !== 1) return undefined
    return this.unnamed.length === 1 ? this.unnamed[0] : this.keys.values().next().value
  }

  /** How many keys the set holds (a token without kid needs exactly one). */
  get size(): number {
    return this.keys.size + this.unnamed.length
  }

  /** Starts a background refresh when the keys are past their time; never waits. */
  refreshIfStale(): void {
    if (this.inflight === null && this.now() >= this.staleAt) void this.refresh()
  }

  /**
   * For an unknown kid: the refresh to wait for (one already running, or a new one when the last kid-driven
   * refresh is at least 10 s old), or null when it is too soon (the caller rejects at once).
   */
  refreshForUnknownKid(): Promise<void> | null {
    if (this.inflight !== null) return this.inflight
    const now = this.now()
    if (now - this.lastKidRefresh < this.kidRefreshMs) return null
    this.lastKidRefresh = now
    return this.refresh()
  }

  /** Fetches the set now (at compile, for the first keys). Resolves when done, never rejects. */
  refresh(): Promise<void> {
    if (this.inflight !== null) return this.inflight
    this.fetches++
    this.inflight = this.load().finally(() => {
      this.inflight = null
    })
    return this.inflight
  }

  private async load(): Promise<void> {
    const signal = AbortSignal.timeout(this.timeoutMs)
    try {
      const res = await this.fetcher(this.uri, signal)
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`)
      const doc = JSON.parse(res.body) as unknown
      const list = typeof doc === 'object' && doc !== null ? (doc as { keys?: unknown }).keys : undefined
      if (!Array.isArray(list)) throw new Error('no "keys" array')
      const keys = new Map<string, JwksKey>()
      const unnamed: JwksKey[] = []
      for (const jwk of list) {
        if (typeof jwk !== 'object' || jwk === null) continue
        let k: JwksKey | string
        try {
          k = await importKey(jwk as Record<string, unknown>)
        } catch (err) {
          k = (err as Error).message
        }
        if (typeof k === 'string') {
          this.log.debug({ jwks_uri: this.uri, kid: (jwk as { kid?: unknown }).kid, reason: k }, 'JWKS key skipped')
          continue
        }
        if (k.kid === null) unnamed.push(k)
        else if (!keys.has(k.kid)) keys.set(k.kid, k)
      }
      this.keys = keys
      this.unnamed = unnamed
      const ttl = res.maxAge === null ? this.refreshIntervalMs : Math.min(res.maxAge * 1000, this.refreshIntervalMs)
      this.staleAt = this.now() + Math.max(ttl, this.kidRefreshMs)
    } catch (err) {
      // Keep whatever keys we had; try again no sooner than the unknown-kid interval.
      this.failures++
      this.staleAt = this.now() + this.kidRefreshMs
      const reason = signal.aborted ? `timed out after ${this.timeoutMs} ms` : (err as Error).message
      this.log.warn({ jwks_uri: this.uri, keys: this.size, reason }, 'JWKS fetch failed; keeping the keys already loaded')
    }
  }
}

/** This worker's caches by URI: plugin instances and reloads naming the same jwks_uri share one. */
const caches = new Map<string, JwksCache>()

/** The worker's cache for `uri`, created (and its first fetch started) on first use. */
export function jwksCacheFor(uri: string, refreshIntervalS: number, log: Logger): JwksCache {
  let cache = caches.get(uri)
  if (cache === undefined) {
    cache = new JwksCache(uri, { refreshIntervalS, log })
    caches.set(uri, cache)
    void cache.refresh()
  } else {
    cache.setRefreshInterval(refreshIntervalS)
  }
  return cache
}
