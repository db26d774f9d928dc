// rate-limiting (Kong's plugin): schema checks and messages, the identifier per limit_by, Kong's headers
// and 429, per-instance buckets, fixed and sliding windows, and the Redis verdict / fault_tolerant paths.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { validateConfig } from '../../src/config/validate.js'
import plugin, { identifierOf, type RateLimitingConfig } from '../../src/plugins/rate-limiting.js'
import { CONTINUE, DONE, type PluginRequest } from '../../src/plugins/types.js'
import type { Decision, RateWindow, RedisRateLimiter, WindowType } from '../../src/redis/rate-limit-script.js'
import { RateTable } from '../../src/shared/rate-table.js'
import { STAT } from '../../src/shared/worker-stats.js'
import { compilePlugin, fakeRequest, testEnv, type FakeRequest, type TestEnv } from '../helpers/plugins.js'

type Doc = Record<string, unknown>

/** 12:00:10 UTC: 10 s into a minute, 10 s into an hour. */
const T0 = Date.UTC(2026, 0, 15, 12, 0, 10)

function problems(config: Doc, env: Record<string, string | undefined> = {}): string[] {
  const r = validateConfig({ _format_version: '3.0', plugins: [{ name: 'rate-limiting', config }] }, { env })
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)
}

function validated(config: Doc, env: Record<string, string | undefined> = {}): { config: Doc; warnings: string[] } {
  const r = validateConfig({ _format_version: '3.0', plugins: [{ name: 'rate-limiting', config }] }, { env })
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'))
  return { config: r.config.plugins[0]!.config, warnings: r.warnings.map((w) => `${w.path}: ${w.message}`) }
}

function run(c: RateLimitingConfig, ctx: PluginRequest): ReturnType<NonNullable<typeof plugin.phases.access>> {
  return plugin.phases.access!(ctx, c)
}

/** Response headers the request got from the plugin (added ones and those of its own reply), by lower-case name. */
function headersOf(ctx: FakeRequest): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [n, v] of ctx.responseHeaders) out[n.toLowerCase()] = v
  for (const r of ctx.replies) for (const [n, v] of r.headers) out[n.toLowerCase()] = v
  return out
}

/** Sends `n` requests (synchronous local policy) and returns their statuses (200 = let through). */
function send(c: RateLimitingConfig, n: number, over: Partial<PluginRequest> = {}): number[] {
  const statuses: number[] = []
  for (let i = 0; i < n; i++) {
    const ctx = fakeRequest(over)
    const r = run(c, ctx)
    statuses.push(r === CONTINUE ? 200 : ctx.replies[0]!.status)
  }
  return statuses
}

const ok = (n: number): number[] => Array<number>(n).fill(200)
const limited = (n: number, status = 429): number[] => Array<number>(n).fill(status)

describe('rate-limiting schema', () => {
  it('requires a limit for at least one period', () => {
    expect(problems({})).toEqual([
      "plugins[0].config: at least one of these fields must be non-empty: 'second', 'minute', 'hour', 'day', 'month', 'year'",
    ])
    expect(problems({ limit_by: 'ip' })).toHaveLength(1)
    expect(problems({ year: 1 })).toEqual([])
  })

  it("refuses a longer period with a lower limit, in Kong's words", () => {
    expect(problems({ second: 2, minute: 1 })).toEqual(['plugins[0].config: The limit for minute(1.0) cannot be lower than the limit for second(2.0)'])
    expect(problems({ minute: 100, hour: 50, day: 20 })).toEqual([
      'plugins[0].config: The limit for hour(50.0) cannot be lower than the limit for minute(100.0)',
      'plugins[0].config: The limit for day(20.0) cannot be lower than the limit for minute(100.0)',
      'plugins[0].config: The limit for day(20.0) cannot be lower than the limit for hour(50.0)',
    ])
    expect(problems({ second: 5, minute: 5, hour: 5, day: 6, month: 6, year: 7 })).toEqual([])
  })

  it('refuses limits that are not positive integers within what the table can count', () => {
    expect(problems({ minute: 0 })).toEqual(['plugins[0].config.minute: must be between 1 and 262143'])
    expect(problems({ minute: 1.5 })).toEqual(['plugins[0].config.minute: expected an integer'])
    expect(problems({ second: 65536 })).toEqual(['plugins[0].config.second: must be between 1 and 65535'])
    expect(problems({ minute: '10' })).toEqual(['plugins[0].config.minute: expected an integer'])
  })

  it('requires header_name for limit_by header and path for limit_by path', () => {
    expect(problems({ minute: 1, limit_by: 'header' })).toEqual([
      "plugins[0].config.header_name: required field missing (because 'limit_by' is 'header')",
    ])
    expect(problems({ minute: 1, limit_by: 'path' })).toEqual([
      "plugins[0].config.path: required field missing (because 'limit_by' is 'path')",
    ])
    expect(problems({ minute: 1, limit_by: 'header', header_name: 'X-Api-User' })).toEqual([])
    expect(problems({ minute: 1, limit_by: 'path', path: '/v1/orders' })).toEqual([])
    expect(problems({ minute: 1, limit_by: 'header', header_name: 'bad header' })[0]).toMatch(/^plugins\[0\]\.config\.header_name: bad header name/)
    expect(problems({ minute: 1, limit_by: 'path', path: 'no-slash' })).toEqual(['plugins[0].config.path: must start with "/"'])
    expect(problems({ minute: 1, limit_by: 'nobody' })).toEqual([
      'plugins[0].config.limit_by: expected one of: consumer, credential, ip, service, header, path, consumer-group',
    ])
  })

  it('refuses policy cluster and limit_by consumer-group with a message that says what to use', () => {
    const cluster = problems({ minute: 1, policy: 'cluster' })
    expect(cluster).toHaveLength(1)
    expect(cluster[0]).toMatch(/^plugins\[0\]\.config\.policy: 'cluster' keeps counters in Kong's database/)
    expect(cluster[0]).toContain("use 'local'")
    expect(cluster[0]).toContain("'redis'")
    expect(problems({ minute: 1, limit_by: 'consumer-group' })).toEqual([
      "plugins[0].config.limit_by: 'consumer-group' is a Kong Enterprise feature and is not supported",
    ])
  })

  it('makes policy redis without a redis block or GATEWAY_REDIS_URL a config error', () => {
    expect(problems({ minute: 1, policy: 'redis' })).toEqual([
      'plugins[0].config.redis: set redis.host or redis.cluster_nodes, or GATEWAY_REDIS_URL',
    ])
    expect(problems({ minute: 1, policy: 'redis' }, { GATEWAY_REDIS_URL: '  ' })).toHaveLength(1)
  })

  it('accepts policy redis with GATEWAY_REDIS_URL, a redis block, or the pre-3.6 redis_host', () => {
    expect(problems({ minute: 1, policy: 'redis' }, { GATEWAY_REDIS_URL: 'redis://127.0.0.1:6379' })).toEqual([])
    expect(problems({ minute: 1, policy: 'redis', redis: { host: '127.0.0.1', port: 6380, timeout: 300 } })).toEqual([])
    expect(problems({ minute: 1, policy: 'redis', redis: { cluster_nodes: [{ ip: '127.0.0.1', port: 7000 }] } })).toEqual([])
    const legacy = validated({ minute: 1, policy: 'redis', redis_host: '127.0.0.1' })
    expect(legacy.warnings).toEqual(['plugins[0].config.redis_host: deprecated (Kong 3.6): use redis.host'])
    expect(problems({ minute: 1, policy: 'redis' }, { GATEWAY_REDIS_URL: 'http://x' })).toEqual([
      'plugins[0].config.redis: GATEWAY_REDIS_URL="http://x": scheme must be redis:// or rediss://',
    ])
  })

  it("fills Kong's defaults, and accepts sync_rate with a warning", () => {
    const { config, warnings } = validated({ minute: 5, sync_rate: -1 })
    expect(config).toMatchObject({
      minute: 5, second: null, limit_by: 'consumer', policy: 'local', fault_tolerant: true, hide_client_headers: false,
      error_code: 429, error_message: 'API rate limit exceeded', window_type: 'sliding',
    })
    expect(warnings).toEqual(['plugins[0].config.sync_rate: accepted for Kong compatibility; counters are exact and shared at once (no sync interval)'])
    expect(problems({ minute: 5, window_type: 'leaky' })).toEqual(['plugins[0].config.window_type: expected one of: sliding, fixed'])
  })
})

describe('rate-limiting identifier', () => {
  const conf = (config: Doc): RateLimitingConfig => compilePlugin(plugin, { minute: 10, ...config })
  const consumer = { id: 'c-1', username: 'alice', customId: null, groups: [] }

  it('limit_by consumer: the consumer, else its credential, else the client IP', () => {
    const c = conf({ limit_by: 'consumer' })
    expect(identifierOf(fakeRequest({ consumer, credentialId: 'cred-1' }), c)).toBe('consumer:c-1')
    expect(identifierOf(fakeRequest({ credentialId: 'cred-1' }), c)).toBe('credential:cred-1')
    expect(identifierOf(fakeRequest({ clientIp: '10.0.0.7' }), c)).toBe('ip:10.0.0.7')
  })

  it('limit_by credential: the credential, else the client IP', () => {
    const c = conf({ limit_by: 'credential' })
    expect(identifierOf(fakeRequest({ consumer, credentialId: 'cred-1' }), c)).toBe('credential:cred-1')
    expect(identifierOf(fakeRequest({ consumer, clientIp: '10.0.0.7' }), c)).toBe('ip:10.0.0.7')
  })

  it('limit_by ip: the client IP even for a consumer', () => {
    expect(identifierOf(fakeRequest({ consumer, clientIp: '::1' }), conf({ limit_by: 'ip' }))).toBe('ip:::1')
  })

  it('limit_by header: the header value (name case-insensitive), else the client IP', () => {
    const c = conf({ limit_by: 'header', header_name: 'X-Api-User' })
    expect(identifierOf(fakeRequest({ headers: new Map([['x-api-user', 'bob']]) }), c)).toBe('header:bob')
    expect(identifierOf(fakeRequest({ headers: new Map([['x-other', 'bob']]), clientIp: '10.0.0.8' }), c)).toBe('ip:10.0.0.8')
  })

  it('limit_by path: the path only when it is the configured one, else the client IP', () => {
    const c = conf({ limit_by: 'path', path: '/v1/orders' })
    expect(identifierOf(fakeRequest({ path: '/v1/orders' }), c)).toBe('path:/v1/orders')
    expect(identifierOf(fakeRequest({ path: '/v1/orders/1', clientIp: '10.0.0.9' }), c)).toBe('ip:10.0.0.9')
  })

  it('limit_by service: the service id, else the client IP', () => {
    const c = conf({ limit_by: 'service' })
    expect(identifierOf(fakeRequest({ serviceId: 'svc-1' }), c)).toBe('service:svc-1')
    expect(identifierOf(fakeRequest({ serviceId: '', clientIp: '10.0.0.10' }), c)).toBe('ip:10.0.0.10')
  })

  it('keeps kinds apart: a header equal to an IP does not share its bucket', () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 })
    try {
      const c = compilePlugin(plugin, { hour: 1, limit_by: 'header', header_name: 'x-k' })
      expect(send(c, 1, { headers: new Map([['x-k', '127.0.0.1']]) })).toEqual([200])
      expect(send(c, 1, { clientIp: '127.0.0.1' })).toEqual([200])
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('rate-limiting, local policy', () => {
  let env: TestEnv
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 })
    env = testEnv()
  })
  afterEach(() => {
    vi.useRealTimers()
  })
  const conf = (config: Doc, id = 'rl-1'): RateLimitingConfig => compilePlugin(plugin, config, env, id)

  it('admits N requests, then rejects request N+1 and every one after it', () => {
    const c = conf({ minute: 5 })
    expect(send(c, 8)).toEqual([...ok(5), ...limited(3)])
    expect(env.stats.get(0, STAT.RATE_LIMITED)).toBe(3)
  })

  it('sets RateLimit-* and X-RateLimit-*-Minute on admitted requests', () => {
    const c = conf({ minute: 5, window_type: 'fixed' })
    const remaining: string[] = []
    for (let i = 0; i < 5; i++) {
      const ctx = fakeRequest()
      expect(run(c, ctx)).toBe(CONTINUE)
      expect(ctx.replies).toEqual([])
      const h = headersOf(ctx)
      expect(h['ratelimit-limit']).toBe('5')
      expect(h['x-ratelimit-limit-minute']).toBe('5')
      expect(h['ratelimit-remaining']).toBe(h['x-ratelimit-remaining-minute'])
      expect(h['ratelimit-reset']).toBe('50') // 12:00:10 → the minute ends in 50 s
      remaining.push(h['ratelimit-remaining']!)
    }
    expect(remaining).toEqual(['4', '3', '2', '1', '0'])
    expect(fakeRequest().responseHeaders).toEqual([])
  })

  it("answers 429 with Kong's JSON body, Retry-After and the headers at 0", () => {
    const c = conf({ minute: 1, window_type: 'fixed' })
    send(c, 1)
    const ctx = fakeRequest({ requestId: 'req-42' })
    expect(run(c, ctx)).toBe(DONE)
    expect(ctx.replies).toHaveLength(1)
    const reply = ctx.replies[0]!
    expect(reply.status).toBe(429)
    expect(JSON.parse(reply.body)).toEqual({ message: 'API rate limit exceeded', request_id: 'req-42' })
    expect(reply.headers).toEqual([['Content-Type', 'application/json; charset=utf-8'], ['Retry-After', '50']])
    expect(headersOf(ctx)).toMatchObject({ 'ratelimit-limit': '1', 'ratelimit-remaining': '0', 'ratelimit-reset': '50', 'x-ratelimit-limit-minute': '1', 'x-ratelimit-remaining-minute': '0' })
  })

  it('sliding: RateLimit-Reset and Retry-After wait until the previous window has decayed enough', () => {
    const c = conf({ minute: 5 })
    const resets: string[] = []
    for (let i = 0; i < 6; i++) {
      const ctx = fakeRequest()
      run(c, ctx)
      resets.push(headersOf(ctx)['ratelimit-reset']!)
    }
    // Room left: the minute's end (50 s). Full: the next minute, once 5 × (60 - t) / 60 <= 4 (t = 12 s).
    expect(resets).toEqual(['50', '50', '50', '50', '62', '62'])
    const one = conf({ minute: 1 }, 'one')
    send(one, 1)
    const ctx = fakeRequest()
    run(one, ctx)
    expect(headersOf(ctx)['retry-after']).toBe('110') // a limit of 1 waits for the previous request to weigh 0
  })

  it('uses the configured error_code and error_message', () => {
    const c = conf({ minute: 1, error_code: 503, error_message: 'Slow down, please' })
    send(c, 1)
    const ctx = fakeRequest()
    run(c, ctx)
    expect(ctx.replies[0]!.status).toBe(503)
    expect(JSON.parse(ctx.replies[0]!.body).message).toBe('Slow down, please')
  })

  it('hide_client_headers: no RateLimit-*, X-RateLimit-* or Retry-After, still limited', () => {
    const c = conf({ minute: 1, hide_client_headers: true })
    const first = fakeRequest()
    expect(run(c, first)).toBe(CONTINUE)
    expect(first.responseHeaders).toEqual([])
    const second = fakeRequest()
    expect(run(c, second)).toBe(DONE)
    expect(second.responseHeaders).toEqual([])
    expect(second.replies[0]!.status).toBe(429)
    expect(second.replies[0]!.headers).toEqual([['Content-Type', 'application/json; charset=utf-8']])
  })

  it('reports every window; RateLimit-* follows the window with the least left', () => {
    const c = conf({ second: 3, minute: 5, hour: 5 })
    const ctx = fakeRequest()
    run(c, ctx)
    expect(ctx.responseHeaders).toEqual([
      ['RateLimit-Limit', '3'], ['RateLimit-Remaining', '2'], ['RateLimit-Reset', '1'],
      ['X-RateLimit-Limit-Second', '3'], ['X-RateLimit-Remaining-Second', '2'],
      ['X-RateLimit-Limit-Minute', '5'], ['X-RateLimit-Remaining-Minute', '4'],
      ['X-RateLimit-Limit-Hour', '5'], ['X-RateLimit-Remaining-Hour', '4'],
    ])
  })

  it('RateLimit-* follows the longer window when two have as much left (Kong)', () => {
    const ctx = fakeRequest()
    run(conf({ minute: 5, hour: 5 }), ctx)
    expect(headersOf(ctx)).toMatchObject({ 'ratelimit-limit': '5', 'ratelimit-remaining': '4', 'ratelimit-reset': String(3600 - 10) })
  })

  it('on a rejection by a short window, reports the longer windows as they are, not as another decision left them', () => {
    const a = conf({ second: 1, hour: 1000, window_type: 'fixed' }, 'a')
    const b = conf({ second: 1, hour: 50, window_type: 'fixed' }, 'b')
    expect(send(b, 1)).toEqual([200])
    expect(send(a, 2)).toEqual([200, 429]) // leaves the table's decision object with a's hour window
    const ctx = fakeRequest()
    expect(run(b, ctx)).toBe(DONE)
    const h = headersOf(ctx)
    expect(h['x-ratelimit-limit-second']).toBe('1')
    expect(h['x-ratelimit-remaining-second']).toBe('0')
    expect(h['x-ratelimit-limit-hour']).toBe('50')
    expect(h['x-ratelimit-remaining-hour']).toBe('49')
    expect(h['ratelimit-limit']).toBe('1')
    expect(h['retry-after']).toBe('1')
  })

  it('Retry-After is the longer window’s reset when that window is used up too', () => {
    const c = conf({ minute: 2, hour: 2, window_type: 'fixed' })
    expect(send(c, 2)).toEqual(ok(2))
    const ctx = fakeRequest()
    expect(run(c, ctx)).toBe(DONE)
    const h = headersOf(ctx)
    expect(h['ratelimit-limit']).toBe('2')
    expect(h['x-ratelimit-remaining-minute']).toBe('0')
    expect(h['x-ratelimit-remaining-hour']).toBe('0')
    expect(h['ratelimit-reset']).toBe(String(3600 - 10))
    expect(h['retry-after']).toBe(String(3600 - 10))
  })

  it('counts each plugin instance in its own buckets', () => {
    const a = conf({ minute: 2 }, 'instance-a')
    const b = conf({ minute: 2 }, 'instance-b')
    expect(send(a, 3)).toEqual([200, 200, 429])
    expect(send(b, 3)).toEqual([200, 200, 429])
  })

  it('shares one instance’s buckets between workers (one table, two envs)', () => {
    const other = testEnv({ rateTable: env.rateTable })
    const w1 = conf({ minute: 4 }, 'shared')
    const w2 = compilePlugin(plugin, { minute: 4 }, other, 'shared')
    expect([...send(w1, 2), ...send(w2, 2), ...send(w1, 1), ...send(w2, 1)]).toEqual([...ok(4), 429, 429])
  })

  it('keeps separate buckets per header value, and per consumer', () => {
    const byHeader = conf({ hour: 2, limit_by: 'header', header_name: 'x-api-user' }, 'h')
    const alice = { headers: new Map([['x-api-user', 'alice']]) }
    const bob = { headers: new Map([['x-api-user', 'bob']]) }
    expect([...send(byHeader, 3, alice), ...send(byHeader, 3, bob)]).toEqual([200, 200, 429, 200, 200, 429])
    const byConsumer = conf({ hour: 1 }, 'c')
    expect(send(byConsumer, 2, { consumer: { id: 'c1', username: null, customId: null, groups: [] } })).toEqual([200, 429])
    expect(send(byConsumer, 2, { consumer: { id: 'c2', username: null, customId: null, groups: [] } })).toEqual([200, 429])
    expect(send(byConsumer, 2)).toEqual([200, 429]) // anonymous: by IP
  })

  it('limit_by path only limits the configured path; other paths are limited by IP', () => {
    const c = conf({ hour: 1, limit_by: 'path', path: '/v1/orders' })
    expect(send(c, 2, { path: '/v1/orders' })).toEqual([200, 429])
    expect(send(c, 2, { path: '/v1/other', clientIp: '10.1.1.1' })).toEqual([200, 429])
  })

  it('counts only admitted requests: rejections never use up a longer window', () => {
    const c = conf({ minute: 3, hour: 5, window_type: 'fixed' })
    expect(send(c, 13)).toEqual([...ok(3), ...limited(10)])
    vi.setSystemTime(T0 + 60_000) // 12:01:10, same hour
    expect(send(c, 4)).toEqual([200, 200, 429, 429]) // hour: 3 + 2 = 5
    const ctx = fakeRequest()
    run(c, ctx)
    expect(headersOf(ctx)['x-ratelimit-remaining-hour']).toBe('0')
  })

  it('fixed windows start again at the calendar minute', () => {
    const c = conf({ minute: 10, window_type: 'fixed' })
    vi.setSystemTime(Date.UTC(2026, 0, 15, 12, 0, 59, 500))
    expect(send(c, 11)).toEqual([...ok(10), 429])
    vi.setSystemTime(Date.UTC(2026, 0, 15, 12, 1, 0, 100))
    expect(send(c, 11)).toEqual([...ok(10), 429])
  })

  it('sliding windows weigh the previous minute, so a burst at the boundary cannot double the rate', () => {
    const c = conf({ minute: 10 })
    vi.setSystemTime(Date.UTC(2026, 0, 15, 12, 0, 59, 500))
    expect(send(c, 11)).toEqual([...ok(10), 429])
    vi.setSystemTime(Date.UTC(2026, 0, 15, 12, 1, 0, 100)) // the previous 10 still weigh 59.9/60
    const ctx = fakeRequest()
    expect(run(c, ctx)).toBe(DONE)
    // Room for one more once 10 × (60 - t) / 60 <= 9, i.e. at t = 6 s: 5.9 s from now.
    expect(headersOf(ctx)['retry-after']).toBe('6')
    vi.setSystemTime(Date.UTC(2026, 0, 15, 12, 1, 30)) // weight 0.5: 5 used, room for 5
    expect(send(c, 6)).toEqual([...ok(5), 429])
    vi.setSystemTime(Date.UTC(2026, 0, 15, 12, 2, 30)) // previous (5) weighs 0.5 → 2.5: room for 7
    expect(send(c, 8)).toEqual([...ok(7), 429])
  })

  it('admits, uncounted, when the shared table has no room (fail-open, counted in a metric)', () => {
    const tiny = testEnv({ rateTable: RateTable.allocate(1) })
    const c = compilePlugin(plugin, { hour: 1, limit_by: 'header', header_name: 'x-k' }, tiny, 'tiny')
    expect(send(c, 2, { headers: new Map([['x-k', 'a']]) })).toEqual([200, 429])
    expect(send(c, 3, { headers: new Map([['x-k', 'b']]) })).toEqual(ok(3))
    expect(tiny.stats.get(0, STAT.RATE_TABLE_FULL)).toBe(3)
  })
})

/** A stand-in RedisRateLimiter: answers with `answer` and records what it was asked. */
function fakeRedis(answer: Decision | ((n: number) => Decision)): { limiter: RedisRateLimiter; calls: Array<{ id: string; windows: readonly RateWindow[]; type: WindowType }> } {
  const calls: Array<{ id: string; windows: readonly RateWindow[]; type: WindowType }> = []
  const limiter = {
    decide: (id: string, windows: readonly RateWindow[], type: WindowType) => {
      calls.push({ id, windows, type })
      return Promise.resolve(typeof answer === 'function' ? answer(calls.length) : answer)
    },
  } as unknown as RedisRateLimiter
  return { limiter, calls }
}

describe('rate-limiting, redis policy', () => {
  let env: TestEnv
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 })
    env = testEnv()
  })
  afterEach(() => {
    vi.useRealTimers()
  })
  /** Compiled as local (no client is made), then given the fake limiter, as compile does for policy redis. */
  const conf = (config: Doc, limiter: RedisRateLimiter): RateLimitingConfig => ({ ...compilePlugin(plugin, config, env, 'redis-rl'), redis: limiter })

  it('asks Redis with the instance-prefixed identifier and every window, and relays its counts', async () => {
    const { limiter, calls } = fakeRedis({
      error: null, admitted: true,
      windows: [{ period: 'minute', limit: 10, remaining: 7, reset: 50 }, { period: 'hour', limit: 100, remaining: 7, reset: 3590 }],
    })
    const c = conf({ minute: 10, hour: 100, window_type: 'fixed', limit_by: 'header', header_name: 'x-u' }, limiter)
    const ctx = fakeRequest({ headers: new Map([['x-u', 'ann']]) })
    expect(await run(c, ctx)).toBe(CONTINUE)
    expect(calls).toEqual([{ id: 'redis-rl|header:ann', windows: [{ period: 'minute', limit: 10 }, { period: 'hour', limit: 100 }], type: 'fixed' }])
    expect(ctx.responseHeaders).toEqual([
      ['RateLimit-Limit', '100'], ['RateLimit-Remaining', '7'], ['RateLimit-Reset', '3590'],
      ['X-RateLimit-Limit-Minute', '10'], ['X-RateLimit-Remaining-Minute', '7'],
      ['X-RateLimit-Limit-Hour', '100'], ['X-RateLimit-Remaining-Hour', '7'],
    ])
    expect(env.rateTable.locate('redis-rl|header:ann', 'minute')).toBe(-1) // nothing counted locally
  })

  it('answers 429 with Retry-After from the window Redis rejected', async () => {
    const { limiter } = fakeRedis({
      error: null, admitted: false,
      windows: [{ period: 'second', limit: 2, remaining: 0, reset: 1 }, { period: 'minute', limit: 10, remaining: 4, reset: 50 }],
    })
    const ctx = fakeRequest()
    expect(await run(conf({ second: 2, minute: 10 }, limiter), ctx)).toBe(DONE)
    expect(ctx.replies[0]!.status).toBe(429)
    expect(JSON.parse(ctx.replies[0]!.body).message).toBe('API rate limit exceeded')
    expect(headersOf(ctx)).toMatchObject({ 'retry-after': '1', 'ratelimit-limit': '2', 'ratelimit-remaining': '0', 'x-ratelimit-remaining-minute': '4' })
    expect(env.stats.get(0, STAT.RATE_LIMITED)).toBe(1)
  })

  it('takes the longer window for Retry-After when Redis says both are used up', async () => {
    const { limiter } = fakeRedis({
      error: null, admitted: false,
      windows: [{ period: 'minute', limit: 5, remaining: 0, reset: 50 }, { period: 'hour', limit: 5, remaining: 0, reset: 3590 }],
    })
    const ctx = fakeRequest()
    await run(conf({ minute: 5, hour: 5 }, limiter), ctx)
    expect(headersOf(ctx)['retry-after']).toBe('3590')
  })

  it('fault_tolerant: on a Redis fault, decides with the local table (limit still enforced) and counts the fallback', async () => {
    const { limiter } = fakeRedis({ error: 'unavailable', cause: 'failed' })
    const c = conf({ minute: 2 }, limiter)
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) {
      const ctx = fakeRequest()
      const r = await run(c, ctx)
      statuses.push(r === CONTINUE ? 200 : ctx.replies[0]!.status)
      expect(headersOf(ctx)['x-ratelimit-limit-minute']).toBe('2')
    }
    expect(statuses).toEqual([200, 200, 429])
    expect(env.stats.get(0, STAT.REDIS_FALLBACK)).toBe(3)
  })

  it('fault_tolerant false: answers 500 on a Redis fault, without counting anything', async () => {
    const { limiter } = fakeRedis({ error: 'unavailable', cause: 'timeout' })
    const c = conf({ minute: 2, fault_tolerant: false }, limiter)
    const ctx = fakeRequest({ requestId: 'r-500' })
    expect(await run(c, ctx)).toBe(DONE)
    expect(ctx.replies).toEqual([{ status: 500, body: '{"message":"An unexpected error occurred","request_id":"r-500"}', headers: [['Content-Type', 'application/json; charset=utf-8']] }])
    expect(ctx.responseHeaders).toEqual([])
    expect(env.stats.get(0, STAT.REDIS_FALLBACK)).toBe(0)
    expect(env.rateTable.locate('redis-rl|ip:127.0.0.1', 'minute')).toBe(-1)
  })

  it('hide_client_headers applies to Redis verdicts too', async () => {
    const { limiter } = fakeRedis({ error: null, admitted: false, windows: [{ period: 'minute', limit: 1, remaining: 0, reset: 50 }] })
    const ctx = fakeRequest()
    await run(conf({ minute: 1, hide_client_headers: true }, limiter), ctx)
    expect(ctx.responseHeaders).toEqual([])
    expect(ctx.replies[0]!.headers).toEqual([['Content-Type', 'application/json; charset=utf-8']])
  })
})
