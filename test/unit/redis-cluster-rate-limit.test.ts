// RedisRateLimiter against a real 3-master Redis Cluster (test/helpers/redis.ts): exact limits across clients,
// each identifier's keys in one slot (hash tags), identifiers spread over the masters, and the URL's cluster form.
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { CircuitBreaker } from '../../src/redis/circuit-breaker.js'
import { resolveRedisTarget } from '../../src/redis/connection.js'
import { RedisRateLimiter, type Decision, type RateWindow, type Verdict } from '../../src/redis/rate-limit-script.js'
import { useRedisCluster } from '../helpers/redis.js'

const fx = useRedisCluster()

function limiter(): RedisRateLimiter {
  const { client, target } = fx.client()
  return new RedisRateLimiter(client, new CircuitBreaker(), { timeoutMs: target.timeoutMs })
}

function verdict(d: Decision): Verdict {
  if (d.error !== null) throw new Error(`expected a verdict, got unavailable (${d.cause})`)
  return d
}

const WINDOWS: RateWindow[] = [{ period: 'second', limit: 1000 }, { period: 'hour', limit: 100 }]

describe('RedisRateLimiter on Redis Cluster', () => {
  it.each(['fixed', 'sliding'] as const)('admits exactly 100 of 500 concurrent decisions from two clients (%s)', async (type) => {
    const a = limiter()
    const b = limiter()
    const id = randomUUID()
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => (i % 2 ? a : b).decide(id, WINDOWS, type)))
    expect(results.filter((d) => verdict(d).admitted).length).toBe(100)
  })

  it("keeps each identifier's keys in one slot and spreads identifiers over the masters", async () => {
    const rl = limiter()
    const ids = Array.from({ length: 30 }, () => randomUUID())
    for (const id of ids) expect(verdict(await rl.decide(id, WINDOWS, 'fixed')).admitted).toBe(true)
    const holders = new Set<number>()
    for (const id of ids) {
      const slots = await Promise.all(WINDOWS.map((w) => fx.masters()[0]!.cluster('KEYSLOT', `ratelimit:{${id}}:${w.period}`)))
      expect(new Set(slots).size).toBe(1)
      // Only this identifier's keys: another random id may share the slot (32 ids over 16384 slots).
      const keys = await Promise.all(fx.masters().map((m) => m.cluster('GETKEYSINSLOT', slots[0]!, 100) as Promise<string[]>))
      const counts = keys.map((list) => list.filter((k) => k.includes(`{${id}}`)).length)
      expect(counts.filter((x) => x !== 0)).toEqual([2])
      holders.add(counts.findIndex((x) => x !== 0))
    }
    expect(holders.size).toBeGreaterThan(1)
  })

  it('keeps an empty identifier in one slot', async () => {
    const rl = limiter()
    const first = verdict(await rl.decide('', WINDOWS, 'fixed'))
    expect(first.admitted).toBe(true)
  })

  it("connects from GATEWAY_REDIS_URL's comma-separated form", async () => {
    const target = resolveRedisTarget(null, fx.server().url)
    expect(target.cluster).toBe(true)
    const rl = new RedisRateLimiter(fx.client(target).client, new CircuitBreaker())
    const id = randomUUID()
    const results = await Promise.all(Array.from({ length: 10 }, () => rl.decide(id, [{ period: 'minute', limit: 7 }], 'sliding')))
    expect(results.filter((d) => verdict(d).admitted).length).toBe(7)
  })
})
