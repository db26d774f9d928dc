// `policy: redis` rate limiting: one Lua script checks every window of an identifier and counts in all only if all admit.
// Atomic in Redis (no read-then-increment race across gateway hosts) and timed by Redis TIME, one clock for every host.
import { createHash } from 'node:crypto'
import type { CircuitBreaker } from './circuit-breaker.js'
import { DEFAULT_REDIS_TIMEOUT_MS, type RedisClient, type RedisLogger } from './connection.js'
import { EMPTY_ID, timedOut, whenReady, withDeadline } from './deadline.js'

/*
 * Script contract
 *   KEYS[i]  ratelimit:{<identifier>}:<period_i>, one hash per window. The hash tag {<identifier>} puts
 *            every key of one identifier in one cluster slot, as a multi-key script requires.
 *   ARGV[1]  now in epoch ms, or '' to read Redis TIME (production always sends ''; tests pin the time)
 *   ARGV[2]  cost (≥ 1)           ARGV[3]  '1' sliding, '0' fixed
 *   ARGV[2+2i], ARGV[3+2i]        period name and limit of KEYS[i]
 *   returns  { admitted (1|0), limit_1, remaining_1, reset_1, … limit_n, remaining_n, reset_n }
 *            remaining = what is left after this request (after counting it only when admitted);
 *            reset = whole seconds until the current window ends (≥ 1); for a sliding window that
 *            rejected, until a request of this cost would fit as the previous count decays (Retry-After).
 *
 * Each hash holds w (start of the window it counts, epoch s), c (count in w) and p (count in the window
 * before w). Keys are not named by window start, as Kong OSS names its keys, because the script reads the
 * clock itself: a key whose name depends on the time could not be declared in KEYS, and Redis Cluster
 * needs every key a script touches declared. Rolling over from w to the next window moves c into p.
 *
 * Windows are calendar windows in UTC: second/minute/hour/day are aligned on the Unix epoch, month and
 * year start on the 1st / 1 January at 00:00 UTC (computed in Lua; Unix time has no leap seconds).
 *   fixed    admits while c + cost ≤ limit (Kong OSS)
 *   sliding  admits while c + p × (time left in the current window ÷ its length) + cost ≤ limit, i.e. the
 *            previous window weighted by the part of it still inside a sliding window of one period
 *            (Kong's advanced limiter). For month and year the current window's length is the period.
 * Both types keep the same state, so switching `window_type` keeps the counts. A rejected request is not
 * counted anywhere (Kong counts only what it lets through). A key expires when the state in it can no
 * longer matter: at the end of the window (fixed) or of the next one (sliding, which still reads p).
 *
 * Time: Redis TIME, not the gateway's clock: every gateway host then agrees on window boundaries, and
 * host clock skew cannot stretch or split a window. Redis 5+ replicates scripts by effects, so a script
 * that reads TIME and then writes is allowed (Redis 7 always does; replicate_commands covers 3.2–4).
 */
const LUA = `
if redis.replicate_commands then redis.replicate_commands() end
local now_ms
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now_ms = tonumber(ARGV[1])
end
local now_s = math.floor(now_ms / 1000)
local cost = tonumber(ARGV[2])
local sliding = ARGV[3] == '1'
local floor = math.floor
local FIXED = { second = 1, minute = 60, hour = 3600, day = 86400 }

-- days since 1970-01-01 of the first day of month m (1-12) of year y (H. Hinnant's days_from_civil)
local function first_day(y, m)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * ((m + 9) % 12) + 2) / 5)
  return era * 146097 + yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy - 719468
end

-- year and month of a day number (civil_from_days)
local function civil(days)
  local z = days + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m
end

-- start and end (epoch s) of the window of \`period\` that contains second s
local function bounds(period, s)
  local len = FIXED[period]
  if len then
    local start = s - s % len
    return start, start + len
  end
  local y, m = civil(floor(s / 86400))
  if period == 'month' then
    if m == 12 then return first_day(y, 12) * 86400, first_day(y + 1, 1) * 86400 end
    return first_day(y, m) * 86400, first_day(y, m + 1) * 86400
  end
  return first_day(y, 1) * 86400, first_day(y + 1, 1) * 86400
end

local n = #KEYS
local out = { 1 }
local starts, counts, prevs, ttls = {}, {}, {}, {}
for i = 1, n do
  local period, limit = ARGV[2 + 2 * i], tonumber(ARGV[3 + 2 * i])
  local start, stop = bounds(period, now_s)
  local st = redis.call('HMGET', KEYS[i], 'w', 'c', 'p')
  local w, c, p = tonumber(st[1]), tonumber(st[2]) or 0, tonumber(st[3]) or 0
  if w ~= start then
    if w ~= nil and w == bounds(period, start - 1) then p = c else p = 0 end
    c = 0
  end
  local used = c
  local len, rem = (stop - start) * 1000, stop * 1000 - now_ms
  if sliding then used = c + p * rem / len end
  local wait = rem
  if used + cost > limit then
    out[1] = 0
    -- Sliding: the previous window's weight decays; wait until this cost fits (in the next window when
    -- the current count alone is too much, where this window's count becomes the decaying one).
    if sliding and c + cost <= limit then
      wait = rem - (limit - cost - c) * len / p
    elseif sliding and c > 0 then
      wait = rem + len - math.max(0, limit - cost) * len / c
    end
  end
  starts[i], counts[i], prevs[i] = start, c, p
  ttls[i] = (sliding and select(2, bounds(period, stop)) or stop) - now_s
  out[3 * i - 1], out[3 * i], out[3 * i + 1] = limit, limit - used, math.max(1, floor((wait + 999) / 1000))
end
for i = 1, n do
  if out[1] == 1 then
    redis.call('HSET', KEYS[i], 'w', starts[i], 'c', counts[i] + cost, 'p', prevs[i])
    redis.call('EXPIRE', KEYS[i], ttls[i])
    out[3 * i] = out[3 * i] - cost
  end
  local left = floor(out[3 * i])
  out[3 * i] = left > 0 and left or 0
end
return out
`

const SHA = createHash('sha1').update(LUA).digest('hex')

export type RatePeriod = 'second' | 'minute' | 'hour' | 'day' | 'month' | 'year'
export type WindowType = 'fixed' | 'sliding'

export interface RateWindow {
  readonly period: RatePeriod
  readonly limit: number
}

export interface WindowUsage {
  readonly period: RatePeriod
  readonly limit: number
  /** Left after this request (0 when rejected by this window). */
  readonly remaining: number
  /** Whole seconds until this window ends. */
  readonly reset: number
}

/** Redis answered: admitted or not, with every window's usage (for RateLimit-* / X-RateLimit-* headers). */
export interface Verdict {
  readonly error: null
  readonly admitted: boolean
  readonly windows: WindowUsage[]
}

/**
 * Redis did not answer; the caller applies `fault_tolerant`. cause:
 *   open     the breaker is open: Redis was not tried
 *   timeout  no answer within the timeout
 *   failed   connection down or Redis returned an error
 */
export interface Unavailable {
  readonly error: 'unavailable'
  readonly cause: 'open' | 'timeout' | 'failed'
}

export type Decision = Verdict | Unavailable

export interface RedisRateLimiterOptions {
  /** Upper bound on one decide() in ms; use the redis block's `timeout` (default 2000). */
  timeoutMs?: number
  /** Tests only: the clock (epoch ms) sent to the script. Leave unset in production so Redis TIME is used. */
  now?: () => number
  /** Logs the breaker opening and closing (once per transition, never per request). */
  logger?: RedisLogger | null
}

const OPEN: Unavailable = Object.freeze({ error: 'unavailable', cause: 'open' })
const TIMEOUT: Unavailable = Object.freeze({ error: 'unavailable', cause: 'timeout' })
const FAILED: Unavailable = Object.freeze({ error: 'unavailable', cause: 'failed' })

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT')
}

/** One per Redis client per worker, shared by every `policy: redis` plugin instance that uses that client. */
export class RedisRateLimiter {
  private readonly client: RedisClient
  private readonly breaker: CircuitBreaker
  private readonly timeoutMs: number
  private readonly now: (() => number) | null
  private readonly logger: RedisLogger | null

  constructor(client: RedisClient, breaker: CircuitBreaker, opts: RedisRateLimiterOptions = {}) {
    this.client = client
    this.breaker = breaker
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS
    this.now = opts.now ?? null
    this.logger = opts.logger ?? null
  }

  /**
   * Checks `windows` (validated: known periods, whole limits ≥ 0, distinct periods) for `identifier` and,
   * only if every one admits, counts `cost` in all of them. Never rejects and settles within the timeout.
   */
  async decide(identifier: string, windows: readonly RateWindow[], windowType: WindowType, cost = 1): Promise<Decision> {
    if (!this.breaker.tryAcquire()) return OPEN
    const n = windows.length
    const base = `ratelimit:{${identifier === '' ? EMPTY_ID : identifier}}:`
    const args: Array<string | number> = new Array(4 + 3 * n)
    args[0] = SHA
    args[1] = n
    args[2 + n] = this.now === null ? '' : this.now()
    args[3 + n] = cost
    args[4 + n] = windowType === 'sliding' ? '1' : '0'
    for (let i = 0; i < n; i++) {
      const w = windows[i]!
      args[2 + i] = base + w.period
      args[5 + n + 2 * i] = w.period
      args[6 + n + 2 * i] = w.limit
    }
    let reply: number[]
    try {
      reply = await withDeadline(this.run(args), this.timeoutMs)
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      if (this.breaker.onFailure()) {
        this.logger?.warn({ err: message, cooldownMs: this.breaker.cooldownMs }, 'redis rate limiting unavailable, circuit open')
      }
      return timedOut(err) ? TIMEOUT : FAILED
    }
    if (this.breaker.onSuccess()) this.logger?.info({}, 'redis rate limiting recovered, circuit closed')
    const usage: WindowUsage[] = new Array(n)
    for (let i = 0; i < n; i++) {
      usage[i] = { period: windows[i]!.period, limit: reply[1 + 3 * i]!, remaining: reply[2 + 3 * i]!, reset: reply[3 + 3 * i]! }
    }
    return { error: null, admitted: reply[0] === 1, windows: usage }
  }

  /** EVALSHA, falling back to EVAL once when Redis lost the script (restart, SCRIPT FLUSH, new node). */
  private async run(args: Array<string | number>): Promise<number[]> {
    await whenReady(this.client)
    try {
      return (await this.client.call('EVALSHA', args)) as number[]
    } catch (err) {
      if (!isNoScript(err)) throw err
      args[0] = LUA
      return (await this.client.call('EVAL', args)) as number[]
    }
  }
}
