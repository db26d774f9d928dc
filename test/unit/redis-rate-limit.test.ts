// RedisRateLimiter against Redis (test/helpers/redis.ts): exact admission under concurrency, all-or-nothing windows,
// sliding weights and calendar windows on GATEWAY_TEST_REDIS_URL or a private redis-server (every key names a random
// id); a lost script and outages (stopped and hung Redis) with recovery on private redis-servers of their own.
import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CircuitBreaker } from '../../src/redis/circuit-breaker.js'
import { createRedisClient, redisTargetFromUrl, type RedisClient } from '../../src/redis/connection.js'
import { RedisRateLimiter, type Decision, type RateWindow, type Verdict } from '../../src/redis/rate-limit-script.js'
import { startRedis, startTestRedis, type TestRedis } from '../helpers/redis.js'

let server: TestRedis
const clients: RedisClient[] = []

beforeAll(async () => {
  server = await startTestRedis()
})

afterAll(async () => {
  for (const c of clients) c.disconnect()
  await server?.close()
})

interface Setup {
  client: RedisClient
  breaker: CircuitBreaker
  rl: RedisRateLimiter
}

function setup(opts: { url?: string; timeoutMs?: number; now?: () => number; breaker?: CircuitBreaker } = {}): Setup {
  const target = { ...redisTargetFromUrl(opts.url ?? server.url), timeoutMs: opts.timeoutMs ?? 2000 }
  const client = createRedisClient(target)
  clients.push(client)
  const breaker = opts.breaker ?? new CircuitBreaker()
  return { client, breaker, rl: new RedisRateLimiter(client, breaker, { timeoutMs: target.timeoutMs, now: opts.now }) }
}

/** A clock the test moves; starts at `iso`. */
function clockAt(iso: string): { t: number; now: () => number } {
  const clock = { t: Date.parse(iso), now: () => clock.t }
  return clock
}

function verdict(d: Decision): Verdict {
  if (d.error !== null) throw new Error(`expected a verdict, got unavailable (${d.cause})`)
  return d
}

const minute = (limit: number): RateWindow[] => [{ period: 'minute', limit }]

describe('RedisRateLimiter admission', () => {
  it.each(['fixed', 'sliding'] as const)('admits exactly 100 of 500 concurrent decisions from two clients (%s)', async (type) => {
    const clock = clockAt('2026-03-10T10:00:30Z')
    const a = setup({ now: clock.now })
    const b = setup({ now: clock.now })
    const id = randomUUID()
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => (i % 2 ? a : b).rl.decide(id, minute(100), type)))
    expect(results.filter((d) => verdict(d).admitted).length).toBe(100)
    expect(Math.min(...results.map((d) => verdict(d).windows[0]!.remaining))).toBe(0)
  })

  it('admits N, rejects N+1, and reports remaining and reset', async () => {
    const clock = clockAt('2026-03-10T10:00:20Z')
    const { rl } = setup({ now: clock.now })
    const id = randomUUID()
    const seen: Array<[boolean, number, number]> = []
    for (let i = 0; i < 6; i++) {
      const d = verdict(await rl.decide(id, minute(5), 'fixed'))
      seen.push([d.admitted, d.windows[0]!.remaining, d.windows[0]!.reset])
    }
    expect(seen).toEqual([[true, 4, 40], [true, 3, 40], [true, 2, 40], [true, 1, 40], [true, 0, 40], [false, 0, 40]])
  })

  it('does not count rejected requests', async () => {
    const clock = clockAt('2026-03-10T10:00:00Z')
    const { rl, client } = setup({ now: clock.now })
    const id = randomUUID()
    for (let i = 0; i < 8; i++) await rl.decide(id, minute(3), 'fixed')
    expect(await client.hget(`ratelimit:{${id}}:minute`, 'c')).toBe('3')
  })

  it('counts in every window only when every window admits', async () => {
    const clock = clockAt('2026-03-10T10:00:00Z')
    const { rl, client } = setup({ now: clock.now })
    const id = randomUUID()
    const windows: RateWindow[] = [{ period: 'second', limit: 2 }, { period: 'minute', limit: 3 }]
    const first = await Promise.all([0, 1, 2].map(() => rl.decide(id, windows, 'fixed')))
    expect(first.map((d) => verdict(d).admitted)).toEqual([true, true, false])
    expect(verdict(first[2]!).windows.map((w) => w.remaining)).toEqual([0, 1])
    clock.t += 1000
    expect(verdict(await rl.decide(id, windows, 'fixed')).admitted).toBe(true)
    const blocked = verdict(await rl.decide(id, windows, 'fixed'))
    expect(blocked.admitted).toBe(false)
    expect(blocked.windows.map((w) => [w.period, w.limit, w.remaining])).toEqual([['second', 2, 1], ['minute', 3, 0]])
    expect(await client.hget(`ratelimit:{${id}}:second`, 'c')).toBe('1')
    expect(await client.hget(`ratelimit:{${id}}:minute`, 'c')).toBe('3')
  })

  it('counts the cost of a request in units', async () => {
    const clock = clockAt('2026-03-10T10:00:00Z')
    const { rl } = setup({ now: clock.now })
    const id = randomUUID()
    const costly = await Promise.all([0, 1, 2, 3].map(() => rl.decide(id, minute(10), 'fixed', 3)))
    expect(costly.map((d) => verdict(d).admitted)).toEqual([true, true, true, false])
    expect(verdict(costly[3]!).windows[0]!.remaining).toBe(1)
    expect(verdict(await rl.decide(id, minute(10), 'fixed', 1)).admitted).toBe(true)
  })

  it('starts a fresh fixed window at the calendar boundary', async () => {
    const clock = clockAt('2026-03-10T10:00:59.900Z')
    const { rl } = setup({ now: clock.now })
    const id = randomUUID()
    for (let i = 0; i < 5; i++) await rl.decide(id, minute(5), 'fixed')
    expect(verdict(await rl.decide(id, minute(5), 'fixed'))).toMatchObject({ admitted: false, windows: [{ remaining: 0, reset: 1 }] })
    clock.t += 100
    expect(verdict(await rl.decide(id, minute(5), 'fixed'))).toMatchObject({ admitted: true, windows: [{ remaining: 4, reset: 60 }] })
  })
})

describe('RedisRateLimiter sliding windows', () => {
  it('weights the previous window by the part of it still inside the sliding window', async () => {
    const clock = clockAt('2026-03-10T10:00:30Z')
    const { rl } = setup({ now: clock.now })
    const id = randomUUID()
    for (let i = 0; i < 10; i++) expect(verdict(await rl.decide(id, minute(10), 'sliding')).admitted).toBe(true)
    expect(verdict(await rl.decide(id, minute(10), 'sliding')).admitted).toBe(false)
    clock.t = Date.parse('2026-03-10T10:01:15Z') // 45 s of the previous minute still inside: 10 × 0.75 = 7.5 used
    const next = await Promise.all([0, 1, 2].map(() => rl.decide(id, minute(10), 'sliding')))
    expect(next.map((d) => [verdict(d).admitted, verdict(d).windows[0]!.remaining])).toEqual([[true, 1], [true, 0], [false, 0]])
    clock.t = Date.parse('2026-03-10T10:01:45Z') // 2 + 10 × 0.25 = 4.5 used
    expect(verdict(await rl.decide(id, minute(10), 'sliding')).windows[0]!.remaining).toBe(4)
  })

  it('does not let a burst at the boundary double the rate, unlike fixed windows', async () => {
    const clock = clockAt('2026-03-10T10:00:59.500Z')
    const { rl } = setup({ now: clock.now })
    const admittedAcrossBoundary = async (type: 'fixed' | 'sliding'): Promise<number> => {
      const id = randomUUID()
      clock.t = Date.parse('2026-03-10T10:00:59.500Z')
      let admitted = 0
      for (let i = 0; i < 20; i++) admitted += verdict(await rl.decide(id, minute(10), type)).admitted ? 1 : 0
      clock.t = Date.parse('2026-03-10T10:01:00.500Z')
      for (let i = 0; i < 20; i++) admitted += verdict(await rl.decide(id, minute(10), type)).admitted ? 1 : 0
      return admitted
    }
    expect(await admittedAcrossBoundary('fixed')).toBe(20)
    expect(await admittedAcrossBoundary('sliding')).toBe(10)
  })

  it('forgets a window once it is older than the previous one', async () => {
    const clock = clockAt('2026-03-10T10:00:10Z')
    const { rl } = setup({ now: clock.now })
    const id = randomUUID()
    for (let i = 0; i < 10; i++) await rl.decide(id, minute(10), 'sliding')
    clock.t += 120_000
    expect(verdict(await rl.decide(id, minute(10), 'sliding')).windows[0]!.remaining).toBe(9)
  })
})

describe('RedisRateLimiter calendar windows (UTC)', () => {
  it('starts months on the 1st and years on 1 January', async () => {
    const clock = clockAt('2024-01-31T23:59:59.500Z')
    const { rl } = setup({ now: clock.now })
    const id = randomUUID()
    const windows: RateWindow[] = [{ period: 'month', limit: 1 }, { period: 'year', limit: 5 }]
    expect(verdict(await rl.decide(id, windows, 'fixed')).windows.map((w) => w.reset)).toEqual([1, 335 * 86400 + 1])
    expect(verdict(await rl.decide(id, windows, 'fixed')).admitted).toBe(false)
    clock.t = Date.parse('2024-02-01T00:00:00Z')
    const feb = verdict(await rl.decide(id, windows, 'fixed'))
    expect(feb.admitted).toBe(true)
    expect(feb.windows.map((w) => [w.remaining, w.reset])).toEqual([[0, 29 * 86400], [3, 335 * 86400]]) // 2024 is a leap year
    clock.t = Date.parse('2024-12-31T23:59:59Z')
    expect(verdict(await rl.decide(id, windows, 'fixed')).windows.map((w) => [w.remaining, w.reset])).toEqual([[0, 1], [2, 1]])
    clock.t = Date.parse('2025-01-01T00:00:00Z')
    expect(verdict(await rl.decide(id, windows, 'fixed')).windows.map((w) => [w.remaining, w.reset])).toEqual([[0, 31 * 86400], [4, 365 * 86400]])
  })

  it('weights the previous month by the part of the current month still to come', async () => {
    const clock = clockAt('2024-01-20T00:00:00Z')
    const { rl } = setup({ now: clock.now })
    const id = randomUUID()
    for (let i = 0; i < 10; i++) await rl.decide(id, [{ period: 'month', limit: 10 }], 'sliding')
    clock.t = Date.parse('2024-02-15T12:00:00Z') // 14.5 of February's 29 days left: 10 × 0.5 = 5 used
    expect(verdict(await rl.decide(id, [{ period: 'month', limit: 10 }], 'sliding')).windows[0]!.remaining).toBe(4)
  })
})

describe('RedisRateLimiter keys and clock', () => {
  it('keeps one hash-tagged key per window, expiring when it no longer matters', async () => {
    const clock = clockAt('2026-03-10T10:00:15Z')
    const { rl, client } = setup({ now: clock.now })
    const id = randomUUID()
    await rl.decide(id, [{ period: 'second', limit: 5 }, { period: 'minute', limit: 5 }], 'fixed')
    expect((await client.keys(`ratelimit:{${id}}:*`)).sort()).toEqual([`ratelimit:{${id}}:minute`, `ratelimit:{${id}}:second`])
    expect(await client.hgetall(`ratelimit:{${id}}:minute`)).toEqual({ w: String(Date.parse('2026-03-10T10:00:00Z') / 1000), c: '1', p: '0' })
    expect(await client.ttl(`ratelimit:{${id}}:minute`)).toBe(45)
    expect(await client.ttl(`ratelimit:{${id}}:second`)).toBe(1)
    const sliding = randomUUID()
    await rl.decide(sliding, minute(5), 'sliding')
    expect(await client.ttl(`ratelimit:{${sliding}}:minute`)).toBe(105)
  })

  it('reads the time from Redis TIME when no clock is injected', async () => {
    const { rl } = setup()
    const id = randomUUID()
    const hour = verdict(await rl.decide(id, [{ period: 'hour', limit: 1 }], 'fixed')).windows[0]!
    expect(Math.abs(hour.reset - (3600 - Math.floor((Date.now() / 1000) % 3600)))).toBeLessThanOrEqual(2)
    const burst = await Promise.all([0, 1, 2, 3].map(() => rl.decide(id, [{ period: 'second', limit: 3 }], 'fixed')))
    expect(burst.filter((d) => verdict(d).admitted).length).toBeGreaterThanOrEqual(3)
    const until = verdict(burst[3]!).windows[0]!.reset
    await new Promise((r) => setTimeout(r, until * 1000 + 50))
    expect(verdict(await rl.decide(id, [{ period: 'second', limit: 3 }], 'fixed')).windows[0]!.remaining).toBe(2)
  })

  it('reloads the script with EVAL after Redis lost it', async () => {
    const own = await startRedis() // SCRIPT FLUSH is server-wide: not on a shared GATEWAY_TEST_REDIS_URL
    try {
      const { rl, client } = setup({ url: own.url })
      const id = randomUUID()
      await rl.decide(id, minute(5), 'fixed')
      await client.script('FLUSH')
      expect(verdict(await rl.decide(id, minute(5), 'fixed')).windows[0]!.remaining).toBe(3)
      expect(verdict(await rl.decide(id, minute(5), 'fixed')).windows[0]!.remaining).toBe(2)
    } finally {
      await own.close()
    }
  })

  it('waits for the first connection of a new client instead of failing', async () => {
    const { rl } = setup()
    expect(verdict(await rl.decide(randomUUID(), minute(5), 'fixed')).admitted).toBe(true)
  })
})

describe('RedisRateLimiter outages', () => {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason)
  }
  beforeAll(() => {
    process.on('unhandledRejection', onUnhandled)
  })
  afterEach(() => {
    expect(unhandled).toEqual([])
  })
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled)
  })

  async function timed(p: Promise<Decision>): Promise<[Decision, number]> {
    const t0 = performance.now()
    const d = await p
    return [d, performance.now() - t0]
  }

  async function untilAdmitted(rl: RedisRateLimiter, ms: number): Promise<number> {
    const t0 = performance.now()
    while (performance.now() - t0 < ms) {
      const d = await rl.decide(randomUUID(), minute(5), 'fixed')
      if (d.error === null) return performance.now() - t0
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`not recovered within ${ms} ms`)
  }

  it('answers unavailable at once when Redis is unreachable from the start', async () => {
    const down = await startRedis()
    const url = down.url
    await down.close()
    const { rl } = setup({ url })
    const [d, ms] = await timed(rl.decide(randomUUID(), minute(5), 'fixed'))
    expect(d).toEqual({ error: 'unavailable', cause: 'failed' })
    expect(ms).toBeLessThan(500)
  })

  it('answers unavailable when Redis stops, opens the breaker, and recovers after a restart', async () => {
    const own = await startRedis()
    try {
      const { rl, breaker } = setup({ url: own.url, timeoutMs: 300, breaker: new CircuitBreaker({ cooldownMs: 100, maxCooldownMs: 400 }) })
      expect(verdict(await rl.decide(randomUUID(), minute(5), 'fixed')).admitted).toBe(true)
      await own.stop()
      const during = await Promise.all(Array.from({ length: 200 }, () => timed(rl.decide(randomUUID(), minute(5), 'fixed'))))
      expect(during.every(([d]) => d.error === 'unavailable')).toBe(true)
      expect(Math.max(...during.map(([, ms]) => ms))).toBeLessThan(300 + 100)
      expect(breaker.state).toBe('open')
      const [open, openMs] = await timed(rl.decide(randomUUID(), minute(5), 'fixed'))
      expect(open).toEqual({ error: 'unavailable', cause: 'open' })
      expect(openMs).toBeLessThan(20)
      await own.restart()
      expect(await untilAdmitted(rl, 5000)).toBeLessThan(5000)
      expect(breaker.state).toBe('closed')
    } finally {
      await own.close()
    }
  })

  it('answers unavailable within the timeout when Redis hangs, and recovers when it answers again', async () => {
    const own = await startRedis()
    try {
      const { rl, breaker } = setup({ url: own.url, timeoutMs: 200, breaker: new CircuitBreaker({ cooldownMs: 100, maxCooldownMs: 400 }) })
      expect(verdict(await rl.decide(randomUUID(), minute(5), 'fixed')).admitted).toBe(true)
      own.pause()
      const hung = await Promise.all([0, 1, 2].map(() => timed(rl.decide(randomUUID(), minute(5), 'fixed'))))
      for (const [d, ms] of hung) {
        expect(d).toEqual({ error: 'unavailable', cause: 'timeout' })
        expect(ms).toBeGreaterThanOrEqual(190)
        expect(ms).toBeLessThan(200 + 100)
      }
      expect(breaker.state).toBe('open')
      own.resume()
      expect(await untilAdmitted(rl, 3000)).toBeLessThan(3000)
    } finally {
      await own.close()
    }
  })
})
