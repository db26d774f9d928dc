// RFC 7662 token introspection for the oauth2 plugin: one POST per token per worker, cached until the
// token's exp (invalid ones briefly), concurrent checks of one token sharing a call, and a bounded wait.
import type { Logger } from '../logger.js'
import { isPlainObject } from '../config/schema.js'
import { INVALID, TokenCache, UNAVAILABLE, tokenInfoOf, type Verdict } from './oauth2-token-cache.js'

/** After a failed call, uncached tokens get UNAVAILABLE at once for this long (no pile-up on a dead server). */
export const FAIL_FAST_MS = 1_000
/** The largest introspection response read. */
const MAX_RESPONSE_BYTES = 1024 * 1024

export interface IntrospectorOptions {
  endpoint: string
  clientId: string
  clientSecret: string
  timeoutMs: number
  log: Logger
}

/** RFC 6749 §2.3.1: client_secret_basic encodes id and secret as form values before base64. */
function formEncode(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+')
}

export class Introspector {
  readonly endpoint: string
  private readonly authorization: string
  private readonly timeoutMs: number
  private readonly log: Logger
  private readonly cache = new TokenCache()
  /** Calls under way, by token: a burst with one new token makes one call. */
  private readonly pending = new Map<string, Promise<Verdict>>()
  /** Epoch ms until which the server counts as down. */
  private downUntil = 0

  constructor(o: IntrospectorOptions) {
    this.endpoint = o.endpoint
    this.authorization = 'Basic ' + Buffer.from(`${formEncode(o.clientId)}:${formEncode(o.clientSecret)}`).toString('base64')
    this.timeoutMs = o.timeoutMs
    this.log = o.log
  }

  /** The verdict for `token`: synchronous when cached, else a promise settled within the timeout. */
  check(token: string, now = Date.now()): Verdict | Promise<Verdict> {
    const cached = this.cache.get(token, now)
    if (cached !== undefined) return cached
    const pending = this.pending.get(token)
    if (pending !== undefined) return pending
    if (now < this.downUntil) return UNAVAILABLE
    const call = this.introspect(token).finally(() => this.pending.delete(token))
    this.pending.set(token, call)
    return call
  }

  private async introspect(token: string): Promise<Verdict> {
    let res: Response
    let body: string
    try {
      res = await fetch(this.endpoint, {
        method: 'POST',
        headers: { authorization: this.authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: `token=${formEncode(token)}&token_type_hint=access_token`,
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      })
      if (Number(res.headers.get('content-length') ?? 0) > MAX_RESPONSE_BYTES) {
        await res.body?.cancel()
        return this.failed(`response larger than ${MAX_RESPONSE_BYTES} bytes`)
      }
      body = await res.text()
    } catch (err) {
      const e = err as Error
      return this.failed(e.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : String(e.cause ?? e.message))
    }
    if (res.status !== 200) return this.failed(`status ${res.status}: ${body.slice(0, 200)}`)
    let json: unknown
    try {
      json = JSON.parse(body)
    } catch {
      return this.failed('response is not JSON')
    }
    if (!isPlainObject(json) || typeof json.active !== 'boolean') return this.failed('response has no boolean "active"')
    const now = Date.now()
    const info = json.active ? tokenInfoOf(json) : null
    if (info === null) {
      this.cache.keepInvalid(token, now)
      return INVALID
    }
    this.cache.keepValid(token, info, now)
    return info
  }

  private failed(why: string): typeof UNAVAILABLE {
    const now = Date.now()
    if (now >= this.downUntil) this.log.warn({ endpoint: this.endpoint, reason: why }, 'oauth2: token introspection failed')
    this.downUntil = now + FAIL_FAST_MS
    return UNAVAILABLE
  }
}

/** Validators kept for reuse across reloads per worker; past it the oldest is forgotten (its users keep it). */
export const MAX_INSTANCES = 64

/** This worker's introspectors by endpoint and credentials: a reload keeps their caches. */
const introspectors = new Map<string, Introspector>()

export function introspectorFor(o: IntrospectorOptions): Introspector {
  const key = `${o.endpoint}\n${o.clientId}\n${o.clientSecret}\n${o.timeoutMs}`
  let i = introspectors.get(key)
  if (i === undefined) {
    if (introspectors.size >= MAX_INSTANCES) introspectors.delete(introspectors.keys().next().value!)
    i = new Introspector(o)
    introspectors.set(key, i)
  }
  return i
}
