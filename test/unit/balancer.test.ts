// Unit tests for upstream/balancer: distribution per algorithm, health and retry exclusion, hash keys.
// Balancers run over a real HealthTable on a local SharedArrayBuffer.

import { describe, expect, it } from 'vitest'
import type { BalancerAlgorithm, TargetRecord, UpstreamRecord } from '../../src/config/types.js'
import { HealthTable } from '../../src/shared/health-table.js'
import { cookieValue, createBalancer, createTargetBalancer, hash32, hashKeyFor, triedBit, type Balancer } from '../../src/upstream/balancer.js'

function target(i: number, weight = 100): TargetRecord {
  return { target: `10.0.0.${i + 1}:8080`, host: `10.0.0.${i + 1}`, port: 8080, weight, healthSlot: i }
}

function upstream(algorithm: BalancerAlgorithm, targets: TargetRecord[], extra: Partial<UpstreamRecord> = {}): UpstreamRecord {
  return {
    name: 'up', id: 'up-id', algorithm,
    hashOn: 'none', hashOnHeader: null, hashOnCookie: null,
    hashFallback: 'none', hashFallbackHeader: null,
    hostHeader: null, slots: 10000, targets, healthchecks: {}, activeChecks: null, passiveChecks: null,
    ...extra,
  }
}

function counts(b: Balancer, picks: number, key: (i: number) => string | null = () => null): Map<string, number> {
  const seen = new Map<string, number>()
  for (let i = 0; i < picks; i++) {
    const t = b.pick(key(i), 0)
    const name = t === null ? 'null' : t.target
    seen.set(name, (seen.get(name) ?? 0) + 1)
  }
  return seen
}

describe('round-robin', () => {
  it('gives each target exactly its weight share over sum(weights) picks', () => {
    const ts = [target(0, 5), target(1, 1), target(2, 1)]
    const b = createBalancer(upstream('round-robin', ts), HealthTable.create(8))
    const order: string[] = []
    for (let i = 0; i < 7; i++) order.push(b.pick(null, 0)!.host)
    // NGINX smooth weighted round-robin interleaves: a a b a c a a
    expect(order).toEqual(['10.0.0.1', '10.0.0.1', '10.0.0.2', '10.0.0.1', '10.0.0.3', '10.0.0.1', '10.0.0.1'])
    const c = counts(b, 700)
    expect(c.get(ts[0].target)).toBe(500)
    expect(c.get(ts[1].target)).toBe(100)
    expect(c.get(ts[2].target)).toBe(100)
  })

  it('never picks a weight-0 target', () => {
    const ts = [target(0, 10), target(1, 0), target(2, 10)]
    const c = counts(createBalancer(upstream('round-robin', ts), HealthTable.create(8)), 1000)
    expect(c.get(ts[1].target)).toBeUndefined()
    expect(c.get(ts[0].target)).toBe(500)
    expect(c.get(ts[2].target)).toBe(500)
  })

  it('skips unhealthy targets and returns null when all are down', () => {
    const health = HealthTable.create(8)
    const ts = [target(0), target(1), target(2)]
    const b = createBalancer(upstream('round-robin', ts), health)
    health.markDown(1)
    const c = counts(b, 100)
    expect(c.get(ts[1].target)).toBeUndefined()
    expect(c.get(ts[0].target)).toBe(50)
    health.markDown(0)
    health.markDown(2)
    expect(b.pick(null, 0)).toBeNull()
    health.markUp(2)
    expect(b.pick(null, 0)).toBe(ts[2])
  })

  it('returns null for an upstream without usable targets', () => {
    expect(createBalancer(upstream('round-robin', []), HealthTable.create(8)).pick(null, 0)).toBeNull()
    expect(createBalancer(upstream('round-robin', [target(0, 0)]), HealthTable.create(8)).pick(null, 0)).toBeNull()
  })
})

describe('retries (exclude mask)', () => {
  for (const algorithm of ['round-robin', 'least-connections', 'latency', 'consistent-hashing'] as const) {
    it(`${algorithm}: avoids every target already tried while another is healthy`, () => {
      const health = HealthTable.create(8)
      const ts = [target(0), target(1), target(2)]
      const b = createBalancer(upstream(algorithm, ts), health)
      const key = algorithm === 'consistent-hashing' ? 'client-42' : null
      let tried = 0
      const seen = new Set<TargetRecord>()
      for (let attempt = 0; attempt < 3; attempt++) {
        const t = b.pick(key, tried)!
        expect(seen.has(t)).toBe(false)
        seen.add(t)
        tried |= triedBit(t)
      }
      // Everything tried: retrying a healthy target beats a 503.
      expect(b.pick(key, tried)).not.toBeNull()
      health.markDown(0)
      health.markDown(1)
      health.markDown(2)
      expect(b.pick(key, tried)).toBeNull()
      expect(b.pick(key, 0)).toBeNull()
    })
  }

  it('a tried target is picked again only when it is the last healthy one', () => {
    const health = HealthTable.create(8)
    const ts = [target(0), target(1)]
    const b = createBalancer(upstream('round-robin', ts), health)
    health.markDown(1)
    expect(b.pick(null, triedBit(ts[0]))).toBe(ts[0])
  })
})

describe('least-connections', () => {
  it('prefers the idle target', () => {
    const ts = [target(0), target(1), target(2)]
    const b = createBalancer(upstream('least-connections', ts), HealthTable.create(8))
    b.onStart(ts[0])
    b.onStart(ts[0])
    b.onStart(ts[2])
    expect(b.pick(null, 0)).toBe(ts[1])
    b.onStart(ts[1])
    b.onStart(ts[1])
    expect(b.pick(null, 0)).toBe(ts[2])
    expect(b.activeOf(ts[0])).toBe(2)
    b.onEnd(ts[0], 5, true)
    b.onEnd(ts[0], 5, true)
    expect(b.activeOf(ts[0])).toBe(0)
    expect(b.pick(null, 0)).toBe(ts[0])
  })

  it('breaks ties round-robin', () => {
    const ts = [target(0), target(1), target(2)]
    const c = counts(createBalancer(upstream('least-connections', ts), HealthTable.create(8)), 300)
    expect([...c.values()]).toEqual([100, 100, 100])
  })

  it('weights the load: a weight-3 target carries three times the connections', () => {
    const ts = [target(0, 3), target(1, 1)]
    const b = createBalancer(upstream('least-connections', ts), HealthTable.create(8))
    // Open 400 connections that all stay open: the split follows the weights.
    for (let i = 0; i < 400; i++) b.onStart(b.pick(null, 0)!)
    expect(b.activeOf(ts[0])).toBe(300)
    expect(b.activeOf(ts[1])).toBe(100)
  })

  it('skips unhealthy and weight-0 targets', () => {
    const health = HealthTable.create(8)
    const ts = [target(0), target(1, 0), target(2)]
    const b = createBalancer(upstream('least-connections', ts), health)
    health.markDown(0)
    b.onStart(ts[2])
    b.onStart(ts[2])
    expect(b.pick(null, 0)).toBe(ts[2])
  })
})

describe('consistent-hashing', () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `client-${i}`)

  function mapping(b: Balancer): Map<string, string> {
    const m = new Map<string, string>()
    for (const k of keys) m.set(k, b.pick(k, 0)!.target)
    return m
  }

  it('sends a key to the same target every time, and spreads keys over all targets', () => {
    const ts = [target(0), target(1), target(2), target(3)]
    const b = createBalancer(upstream('consistent-hashing', ts), HealthTable.create(8))
    const first = mapping(b)
    expect(mapping(b)).toEqual(first)
    // Another worker building the same Snapshot agrees, whatever the target order.
    const other = createBalancer(upstream('consistent-hashing', [ts[2], ts[0], ts[3], ts[1]]), HealthTable.create(8))
    expect(mapping(other)).toEqual(first)
    const share = new Map<string, number>()
    for (const t of first.values()) share.set(t, (share.get(t) ?? 0) + 1)
    expect(share.size).toBe(4)
    for (const n of share.values()) expect(n).toBeGreaterThan(keys.length / 4 * 0.6)
  })

  it('moves only the removed target\'s keys when a target goes away', () => {
    const ts = [target(0), target(1), target(2), target(3), target(4)]
    const before = mapping(createBalancer(upstream('consistent-hashing', ts), HealthTable.create(8)))
    const after = mapping(createBalancer(upstream('consistent-hashing', ts.slice(0, 4)), HealthTable.create(8)))
    let moved = 0
    for (const k of keys) {
      if (before.get(k) !== after.get(k)) {
        moved++
        // Only keys that lived on the removed target may move.
        expect(before.get(k)).toBe(ts[4].target)
      }
    }
    expect(moved).toBeLessThanOrEqual(keys.length / 5 * 1.4)
  })

  it('walks past an unhealthy target, and its keys come back when it recovers', () => {
    const health = HealthTable.create(8)
    const ts = [target(0), target(1), target(2)]
    const b = createBalancer(upstream('consistent-hashing', ts), health)
    const before = mapping(b)
    health.markDown(1)
    const during = mapping(b)
    for (const k of keys) {
      expect(during.get(k)).not.toBe(ts[1].target)
      if (before.get(k) !== ts[1].target) expect(during.get(k)).toBe(before.get(k))
    }
    health.markUp(1)
    expect(mapping(b)).toEqual(before)
  })

  it('gives weighted targets a proportional share of keys', () => {
    const ts = [target(0, 300), target(1, 100)]
    const c = counts(createBalancer(upstream('consistent-hashing', ts), HealthTable.create(8)), keys.length, (i) => keys[i])
    const heavy = c.get(ts[0].target)! / keys.length
    expect(heavy).toBeGreaterThan(0.65)
    expect(heavy).toBeLessThan(0.85)
  })

  it('falls back to round-robin without a hash key', () => {
    const ts = [target(0), target(1)]
    const c = counts(createBalancer(upstream('consistent-hashing', ts), HealthTable.create(8)), 10)
    expect(c.get(ts[0].target)).toBe(5)
    expect(c.get(ts[1].target)).toBe(5)
  })
})

describe('latency', () => {
  it('tries unmeasured targets first, then prefers the fast one', () => {
    let now = 1000
    const ts = [target(0), target(1), target(2)]
    const b = createBalancer(upstream('latency', ts), HealthTable.create(8), { now: () => now })
    const firstRound = new Set<TargetRecord>()
    for (let i = 0; i < 3; i++) {
      const t = b.pick(null, 0)!
      firstRound.add(t)
      b.onStart(t)
      now += 1
      b.onEnd(t, t === ts[1] ? 5 : 80, true)
    }
    expect(firstRound.size).toBe(3)
    const c = counts(b, 100)
    expect(c.get(ts[1].target)).toBe(100)
  })

  it('weighs EWMA by in-flight requests', () => {
    const ts = [target(0), target(1)]
    const b = createBalancer(upstream('latency', ts), HealthTable.create(8), { now: () => 1000 })
    b.onStart(ts[0]); b.onEnd(ts[0], 10, true)
    b.onStart(ts[1]); b.onEnd(ts[1], 25, true)
    expect(b.pick(null, 0)).toBe(ts[0])
    // 10 ms × (2 + 1) in flight > 25 ms × 1
    b.onStart(ts[0])
    b.onStart(ts[0])
    expect(b.pick(null, 0)).toBe(ts[1])
  })

  it('moves the EWMA towards new samples over time, and counts a failure as slow', () => {
    let now = 0
    const ts = [target(0), target(1)]
    const b = createBalancer(upstream('latency', ts), HealthTable.create(8), { now: () => now })
    b.onStart(ts[0]); b.onEnd(ts[0], 10, true)
    b.onStart(ts[1]); b.onEnd(ts[1], 30, true)
    expect(b.pick(null, 0)).toBe(ts[0])
    // ts[0] starts failing fast: failures count double the larger of their time and the EWMA.
    for (let i = 0; i < 20; i++) {
      now += 1000
      b.onStart(ts[0]); b.onEnd(ts[0], 1, false)
      b.onStart(ts[1]); b.onEnd(ts[1], 30, true)
    }
    expect(b.pick(null, 0)).toBe(ts[1])
  })

  it('skips unhealthy targets even when they are the fastest', () => {
    const health = HealthTable.create(8)
    const ts = [target(0), target(1)]
    const b = createBalancer(upstream('latency', ts), health, { now: () => 0 })
    b.onStart(ts[0]); b.onEnd(ts[0], 1, true)
    b.onStart(ts[1]); b.onEnd(ts[1], 100, true)
    health.markDown(0)
    expect(b.pick(null, 0)).toBe(ts[1])
    health.markDown(1)
    expect(b.pick(null, 0)).toBeNull()
  })
})

describe('single-target services', () => {
  it('returns the target while healthy and null while ejected', () => {
    const health = HealthTable.create(8)
    const t = target(6)
    const b = createTargetBalancer(t, health)
    expect(b.pick(null, 0)).toBe(t)
    expect(b.pick(null, triedBit(t))).toBe(t)
    health.markDown(6)
    expect(b.pick(null, 0)).toBeNull()
  })
})

describe('hash32', () => {
  it('is xxHash32 (seed 0) of the UTF-8 bytes', () => {
    expect(hash32('')).toBe(0x02cc5d05)
    expect(hash32('a')).toBe(0x550d7456)
    expect(hash32('abc')).toBe(0x32d153ff)
    expect(hash32('Nobody inspects the spammish repetition')).toBe(0xe2293b2f)
    expect(hash32('héllo wörld'.repeat(50))).toBe(hash32('héllo wörld'.repeat(50)))
  })
})

describe('hashKeyFor', () => {
  const ctx = {
    clientIp: '192.0.2.7',
    headers: new Map([['x-user', 'alice'], ['cookie', 'theme=dark; SESSION=abc123 ; empty=']]),
    consumerId: null as string | null,
    path: '/orders/1',
  }

  it('reads ip, header, cookie, consumer and path as Kong does', () => {
    const u = (extra: Partial<UpstreamRecord>) => upstream('consistent-hashing', [], extra)
    expect(hashKeyFor(u({ hashOn: 'ip' }), ctx)).toBe('192.0.2.7')
    expect(hashKeyFor(u({ hashOn: 'header', hashOnHeader: 'X-User' }), ctx)).toBe('alice')
    expect(hashKeyFor(u({ hashOn: 'cookie', hashOnCookie: 'session' }), ctx)).toBe('abc123')
    expect(hashKeyFor(u({ hashOn: 'cookie', hashOnCookie: 'empty' }), ctx)).toBe('')
    expect(hashKeyFor(u({ hashOn: 'consumer' }), { ...ctx, consumerId: 'c-1' })).toBe('c-1')
    expect(hashKeyFor(u({ hashOn: 'path' }), ctx)).toBe('/orders/1')
    expect(hashKeyFor(u({ hashOn: 'none', hashFallback: 'ip' }), ctx)).toBeNull()
  })

  it('uses hash_fallback when hash_on yields nothing', () => {
    const u = upstream('consistent-hashing', [], { hashOn: 'consumer', hashFallback: 'header', hashFallbackHeader: 'x-user' })
    expect(hashKeyFor(u, ctx)).toBe('alice')
    const v = upstream('consistent-hashing', [], { hashOn: 'header', hashOnHeader: 'x-missing', hashFallback: 'ip' })
    expect(hashKeyFor(v, ctx)).toBe('192.0.2.7')
    const w = upstream('consistent-hashing', [], { hashOn: 'header', hashOnHeader: 'x-missing', hashFallback: 'none' })
    expect(hashKeyFor(w, ctx)).toBeNull()
  })

  it('parses cookie headers without splitting', () => {
    expect(cookieValue('a=1; b=2', 'b')).toBe('2')
    expect(cookieValue('a=1;b=2', 'b')).toBe('2')
    expect(cookieValue('ab=1; b=2', 'b')).toBe('2')
    expect(cookieValue('ab=1', 'a')).toBeNull()
    expect(cookieValue('a=x=y', 'a')).toBe('x=y')
    expect(cookieValue('a="q"', 'a')).toBe('"q"')
    expect(cookieValue('', 'a')).toBeNull()
  })
})
