// A consecutive-failure circuit breaker for one Redis connection, so an outage costs a request nothing.
// Pure and single-threaded (one per client per worker); time is injected so tests need no real clock.

/*
 * States, as `tryAcquire` sees them:
 *   closed     every call goes through; `failureThreshold` consecutive failures open the breaker
 *   open       calls fail at once (never touching Redis) until the cooldown has passed
 *   half-open  the cooldown passed: exactly one call (the probe) goes through. Its success closes the
 *              breaker and resets the cooldown; its failure re-opens it with the cooldown doubled, up to
 *              `maxCooldownMs`. A probe that never reports (a caller bug) is replaced after one cooldown.
 * Successes reported while open are late answers to calls made before it opened and are ignored: they
 * prove nothing about Redis now (a slow Redis would otherwise flap the breaker).
 */

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker (default 3). */
  failureThreshold?: number
  /** First open period in ms (default 1000); doubles on each failed probe. */
  cooldownMs?: number
  /** Longest open period in ms (default 30000). */
  maxCooldownMs?: number
  /** Clock in ms (default Date.now). */
  now?: () => number
}

export type BreakerState = 'closed' | 'open' | 'half-open'

const CLOSED = 0
const OPEN = 1
const HALF_OPEN = 2

export class CircuitBreaker {
  private readonly threshold: number
  private readonly baseCooldownMs: number
  private readonly maxCooldownMs: number
  private readonly now: () => number
  private phase = CLOSED
  private failures = 0
  private cooldown: number
  /** OPEN: when the cooldown ends; HALF_OPEN: when the probe was let through. */
  private at = 0

  constructor(opts: CircuitBreakerOptions = {}) {
    this.threshold = opts.failureThreshold ?? 3
    this.baseCooldownMs = opts.cooldownMs ?? 1000
    this.maxCooldownMs = opts.maxCooldownMs ?? 30_000
    this.now = opts.now ?? Date.now
    this.cooldown = this.baseCooldownMs
  }

  get state(): BreakerState {
    if (this.phase === CLOSED) return 'closed'
    return this.phase === OPEN && this.now() < this.at ? 'open' : 'half-open'
  }

  /** The current (or next) open period in ms. */
  get cooldownMs(): number {
    return this.cooldown
  }

  /** May a call go to Redis now? False means: answer "unavailable" without trying. */
  tryAcquire(): boolean {
    if (this.phase === CLOSED) return true
    const t = this.now()
    if (this.phase === OPEN) {
      if (t < this.at) return false
      this.phase = HALF_OPEN
      this.at = t
      return true
    }
    if (t - this.at < this.cooldown) return false
    this.at = t
    return true
  }

  /** Reports a successful call. Returns true only when it closed the breaker (a probe succeeded). */
  onSuccess(): boolean {
    if (this.phase === CLOSED) {
      this.failures = 0
      return false
    }
    if (this.phase === OPEN) return false
    this.phase = CLOSED
    this.failures = 0
    this.cooldown = this.baseCooldownMs
    return true
  }

  /** Reports a failed call. Returns true only when it opened the breaker (to log the transition once). */
  onFailure(): boolean {
    if (this.phase === CLOSED) {
      if (++this.failures < this.threshold) return false
    } else if (this.phase === HALF_OPEN) {
      this.cooldown = Math.min(this.cooldown * 2, this.maxCooldownMs)
    } else {
      return false
    }
    this.phase = OPEN
    this.at = this.now() + this.cooldown
    return true
  }
}
