// Kong's rate-limiting: exact limits per second … year, per plugin instance and client identity, counted
// in the shared rate table (policy local) or in Redis (policy redis) with Kong's headers and 429.
import { atLeastOneOf, bool, int, noop, num, oneOf, record, requiredWhen, str, type EntityCheck } from '../config/schema.js'
import { headerName, path } from '../config/typedefs.js'
import { errorBody } from '../errors.js'
import { CircuitBreaker } from '../redis/circuit-breaker.js'
import { getRedisClient, type RedisClient } from '../redis/connection.js'
import { RedisRateLimiter, type Decision as RedisDecision, type RateWindow } from '../redis/rate-limit-script.js'
import { MAX_RATE_LIMIT, PERIODS, RateDecision, RateLimits, type Period, type RateTable } from '../shared/rate-table.js'
import { STAT } from '../shared/worker-stats.js'
import { checkRedisConfigured, redisBlock, redisShorthands, redisTargetOf } from './redis-config.js'
import { CONTINUE, DONE, definePlugin, type PhaseResult, type PluginEnv, type PluginRequest, type PluginScope } from './types.js'

const LIMIT_BY = ['consumer', 'credential', 'ip', 'service', 'header', 'path', 'consumer-group'] as const
type LimitBy = (typeof LIMIT_BY)[number]
const JSON_TYPE = 'application/json; charset=utf-8'
const INTERNAL_ERROR = 'An unexpected error occurred'

/**
 * Kong's validate_periods_order: a longer period may not have a lower limit than a shorter one. The message
 * is Kong's, limits printed with %.1f ("The limit for minute(1.0) cannot be lower than the limit for second(2.0)").
 */
const periodsInOrder: EntityCheck = (c) => {
  const problems: string[] = []
  for (let i = 0; i < PERIODS.length; i++) {
    const shorter = c[PERIODS[i]!] as number | null | undefined
    if (shorter === null || shorter === undefined) continue
    for (let j = i + 1; j < PERIODS.length; j++) {
      const longer = c[PERIODS[j]!] as number | null | undefined
      if (longer !== null && longer !== undefined && longer < shorter) {
        problems.push(`The limit for ${PERIODS[j]}(${longer.toFixed(1)}) cannot be lower than the limit for ${PERIODS[i]}(${shorter.toFixed(1)})`)
      }
    }
  }
  return problems
}

const supported: EntityCheck = (c) => {
  if (c.policy === 'cluster') return { field: 'policy', message: "'cluster' keeps counters in Kong's database, which this gateway has not; use 'local' (exact across workers) or 'redis' (across hosts)" }
  if (c.limit_by === 'consumer-group') return { field: 'limit_by', message: "'consumer-group' is a Kong Enterprise feature and is not supported" }
  return null
}

const limitField = (period: Period) => int({ between: [1, MAX_RATE_LIMIT[period]] })

const schema = record({
  second: limitField('second'),
  minute: limitField('minute'),
  hour: limitField('hour'),
  day: limitField('day'),
  month: limitField('month'),
  year: limitField('year'),
  limit_by: oneOf(LIMIT_BY, 'consumer'),
  header_name: headerName(),
  path: path(),
  policy: oneOf(['local', 'cluster', 'redis'], 'local'),
  fault_tolerant: bool({ default: true }),
  redis: redisBlock(),
  ...redisShorthands(),
  hide_client_headers: bool({ default: false }),
  error_code: int({ between: [100, 599], default: 429 }),
  error_message: str({ default: 'API rate limit exceeded' }),
  sync_rate: noop(num(), 'accepted for Kong compatibility; counters are exact and shared at once (no sync interval)'),
  window_type: oneOf(['sliding', 'fixed'], 'sliding'),
}, {
  checks: [
    atLeastOneOf(...PERIODS),
    periodsInOrder,
    requiredWhen('limit_by', (v) => v === 'header', 'header_name'),
    requiredWhen('limit_by', (v) => v === 'path', 'path'),
    supported,
  ],
})

export interface RateLimitingConfig {
  readonly limits: RateLimits
  /** The same limits for the Redis script. */
  readonly windows: readonly RateWindow[]
  readonly limitBy: LimitBy
  /** Lower-case header name for limit_by header. */
  readonly headerName: string
  readonly path: string
  /** Bucket key prefix: the plugin instance, so two instances never share counters. */
  readonly prefix: string
  readonly table: RateTable
  /** Redis limiter for policy redis (one per Redis per worker), else null. */
  readonly redis: RedisRateLimiter | null
  readonly faultTolerant: boolean
  readonly hideHeaders: boolean
  readonly errorCode: number
  readonly errorMessage: string
  /** Per window (in `limits` order): X-RateLimit-Limit-<Period> and X-RateLimit-Remaining-<Period>. */
  readonly limitLines: readonly string[]
  /** Per window, when it is the binding one: `RateLimit-Limit: <limit>\r\n`. */
  readonly bindingLimitLines: readonly string[]
  /** Per window: `X-RateLimit-Remaining-<Period>: ` (the count follows). */
  readonly remainingPrefixes: readonly string[]
  readonly count: PluginEnv['count']
  readonly log: PluginEnv['log']
}

const capitalized = (p: string): string => p[0]!.toUpperCase() + p.slice(1)

/** This worker's Redis limiters, one per client (shared by every plugin instance using that Redis). */
const redisLimiters = new Map<RedisClient, RedisRateLimiter>()

function redisLimiterFor(config: Record<string, unknown>, env: PluginEnv): RedisRateLimiter {
  const target = redisTargetOf(config, env.settings.redisUrl)
  const client = getRedisClient(target, env.log)
  let limiter = redisLimiters.get(client)
  if (limiter === undefined) {
    limiter = new RedisRateLimiter(client, new CircuitBreaker(), { timeoutMs: target.timeoutMs, logger: env.log })
    redisLimiters.set(client, limiter)
  }
  return limiter
}

function compile(c: Record<string, unknown>, env: PluginEnv, scope: PluginScope): RateLimitingConfig {
  const given: Partial<Record<Period, number>> = {}
  for (const p of PERIODS) if (typeof c[p] === 'number') given[p] = c[p] as number
  const limits = new RateLimits(given, c.window_type as 'sliding' | 'fixed')
  return {
    limits,
    windows: limits.periods.map((period, i) => ({ period, limit: limits.limits[i]! })),
    limitBy: c.limit_by as LimitBy,
    headerName: ((c.header_name as string | null) ?? '').toLowerCase(),
    path: (c.path as string | null) ?? '',
    prefix: `${scope.id}|`,
    table: env.rateTable,
    redis: c.policy === 'redis' ? redisLimiterFor(c, env) : null,
    faultTolerant: c.fault_tolerant as boolean,
    hideHeaders: c.hide_client_headers as boolean,
    errorCode: c.error_code as number,
    errorMessage: c.error_message as string,
    limitLines: limits.periods.map((p, i) => `X-RateLimit-Limit-${capitalized(p)}: ${limits.limits[i]}\r\n`),
    bindingLimitLines: limits.periods.map((_, i) => `RateLimit-Limit: ${limits.limits[i]}\r\n`),
    remainingPrefixes: limits.periods.map((p) => `X-RateLimit-Remaining-${capitalized(p)}: `),
    count: env.count,
    log: env.log,
  }
}

/**
 * Kong's identifier: the consumer (else its credential), the credential, the service, a header or the
 * configured path; whenever that is missing, the client IP. Prefixed by kind, so values never collide.
 */
/** The bucket key of a consumer's requests under one plugin instance (limit_by consumer; the usage endpoint reads it). */
export function consumerBucket(instanceId: string, consumerId: string): string {
  return `${instanceId}|consumer:${consumerId}`
}

export function identifierOf(ctx: PluginRequest, c: RateLimitingConfig): string {
  switch (c.limitBy) {
    case 'consumer':
      if (ctx.consumer !== null) return 'consumer:' + ctx.consumer.id
      if (ctx.credentialId !== null) return 'credential:' + ctx.credentialId
      break
    case 'credential':
      if (ctx.credentialId !== null) return 'credential:' + ctx.credentialId
      break
    case 'service':
      if (ctx.serviceId !== '') return 'service:' + ctx.serviceId
      break
    case 'header': {
      const value = ctx.headers.get(c.headerName)
      if (value !== undefined) return 'header:' + value
      break
    }
    case 'path':
      if (ctx.path === c.path) return 'path:' + ctx.path
      break
  }
  return 'ip:' + ctx.clientIp
}

function resetSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000))
}

function reject(ctx: PluginRequest, c: RateLimitingConfig, retryAfter: number): typeof DONE {
  c.count(STAT.RATE_LIMITED)
  ctx.rateLimited = true
  const headers: Array<[string, string]> = [['Content-Type', JSON_TYPE]]
  if (!c.hideHeaders) headers.push(['Retry-After', String(retryAfter)])
  ctx.reply(c.errorCode, errorBody(c.errorMessage, ctx.requestId), headers)
  return DONE
}

/** Applies a shared-table decision: headers (unless hidden), then 429 or on. */
function applyLocal(ctx: PluginRequest, c: RateLimitingConfig, d: RateDecision): typeof CONTINUE | typeof DONE {
  if (d.degraded) c.count(STAT.RATE_TABLE_FULL)
  const reset = resetSeconds(d.resetMs)
  if (!c.hideHeaders) {
    // One string, numbers as small integers: this runs on every request (native-bench's cost row).
    let lines = c.bindingLimitLines[d.binding]! + 'RateLimit-Remaining: ' + (d.remaining | 0) + '\r\nRateLimit-Reset: ' + reset + '\r\n'
    for (let i = 0; i < d.windows; i++) lines += c.limitLines[i]! + c.remainingPrefixes[i]! + (d.remainingOf[i]! | 0) + '\r\n'
    ctx.addResponseLines(lines)
  }
  return d.admitted ? CONTINUE : reject(ctx, c, reset)
}

function decideLocal(ctx: PluginRequest, c: RateLimitingConfig, key: string): typeof CONTINUE | typeof DONE {
  const now = Date.now()
  const d = c.table.consumeAll(key, c.limits, now)
  if (!d.admitted) readLongerWindows(c, key, now, d)
  return applyLocal(ctx, c, d)
}

/** Scratch for readLongerWindows (one per worker; filled and read synchronously). */
const peeked = new RateDecision()

/**
 * consumeAll stops at the window that rejects, so the longer windows after it are left as the previous
 * decision had them. Reads them (without counting) for their X-RateLimit-*-<Window> headers, and takes as
 * binding window the longest one with nothing left, as Kong does (least remaining, ties to the longer
 * window): when the hour is used up too, Retry-After is the hour's reset, not the minute's.
 */
function readLongerWindows(c: RateLimitingConfig, key: string, now: number, d: RateDecision): void {
  for (let i = d.binding + 1; i < d.windows; i++) {
    c.table.peek(key, c.limits.limits[i]!, c.limits.periods[i]!, c.limits.windowType, now, peeked)
    d.limitOf[i] = peeked.limitOf[0]!
    d.remainingOf[i] = peeked.remainingOf[0]!
    d.resetMsOf[i] = peeked.resetMsOf[0]!
    if (d.remainingOf[i] === 0) {
      d.binding = i
      d.limit = d.limitOf[i]!
      d.remaining = 0
      d.resetMs = d.resetMsOf[i]!
    }
  }
}

/**
 * Applies Redis's verdict the same way. The binding window is the one with the least remaining, ties to the
 * longer one (Kong); on a rejection that is a window with 0 left (the script reports what the rejecting
 * windows had before this request: less than one request's room, floored to 0).
 */
function applyRedis(ctx: PluginRequest, c: RateLimitingConfig, d: RedisDecision & { error: null }): typeof CONTINUE | typeof DONE {
  let binding = 0
  for (let i = 1; i < d.windows.length; i++) if (d.windows[i]!.remaining <= d.windows[binding]!.remaining) binding = i
  const w = d.windows[binding]!
  if (!c.hideHeaders) {
    let lines = c.bindingLimitLines[binding]! + 'RateLimit-Remaining: ' + w.remaining + '\r\nRateLimit-Reset: ' + w.reset + '\r\n'
    for (let i = 0; i < d.windows.length; i++) lines += c.limitLines[i]! + c.remainingPrefixes[i]! + d.windows[i]!.remaining + '\r\n'
    ctx.addResponseLines(lines)
  }
  return d.admitted ? CONTINUE : reject(ctx, c, w.reset)
}

function access(ctx: PluginRequest, c: RateLimitingConfig): PhaseResult {
  const key = c.prefix + identifierOf(ctx, c)
  if (c.redis === null) return decideLocal(ctx, c, key)
  return c.redis.decide(key, c.windows, c.limits.windowType).then((d) => {
    if (d.error === null) return applyRedis(ctx, c, d)
    if (c.faultTolerant) {
      // SPEC §5: fall back to this host's exact shared table and count it.
      c.count(STAT.REDIS_FALLBACK)
      return decideLocal(ctx, c, key)
    }
    ctx.reply(500, errorBody(INTERNAL_ERROR, ctx.requestId), [['Content-Type', JSON_TYPE]])
    return DONE
  })
}

export default definePlugin<RateLimitingConfig>({
  name: 'rate-limiting',
  priority: 910,
  schema,
  checkEnv: (c, env) => checkRedisConfigured(c, c.policy === 'redis', env),
  compile,
  phases: { access },
})
