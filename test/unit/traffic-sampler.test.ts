// The dashboard's traffic windows: rates and cache ratio from counter deltas, latency percentiles of the
// window alone (hdr subtract), and a sampler that reads only while watched and keeps the last N samples.
import { afterEach, describe, expect, it } from 'vitest'
import { createHistogram, type Histogram } from '../../src/observability/latency-histogram.js'
import { TrafficSampler, windowHistogram, windowSample, type TrafficTotals } from '../../src/primary/traffic-sampler.js'

function histogram(durationsMs: number[]): Histogram {
  const h = createHistogram()
  for (const ms of durationsMs) h.recordValue(Math.round(ms * 1000))
  return h
}

function totals(at: number, fields: Partial<TrafficTotals> = {}): TrafficTotals {
  return { at, requests: 0, errors: 0, rateLimited: 0, cacheHit: 0, cacheStale: 0, cacheMiss: 0, inFlight: 0, restarts: 0, latency: createHistogram(), ...fields }
}

/** Within hdr's 2-significant-digit precision (1 %). */
function expectMs(actual: number | null, expected: number): void {
  expect(actual).not.toBeNull()
  expect(Math.abs(actual! - expected) / expected).toBeLessThan(0.01)
}

describe('windowSample', () => {
  it('turns counter growth into per-second rates over the real elapsed time', () => {
    const before = totals(10_000, { requests: 100, errors: 4, rateLimited: 10, inFlight: 3 })
    const after = totals(12_500, { requests: 150, errors: 9, rateLimited: 15, inFlight: 7 })
    const s = windowSample(before, after)
    expect(s).toMatchObject({ t: 12_500, interval_s: 2.5, requests: 50, errors: 5, rate_limited: 5, in_flight: 7 })
    expect(s.requests_per_s).toBe(20)
    expect(s.errors_per_s).toBe(2)
    expect(s.rate_limited_per_s).toBe(2)
  })

  it('counts Hit and Stale as served from cache, Miss as a lookup that was not, and has no ratio without lookups', () => {
    const before = totals(0, { cacheHit: 10, cacheStale: 1, cacheMiss: 5 })
    const after = totals(2000, { cacheHit: 16, cacheStale: 2, cacheMiss: 6 })
    const s = windowSample(before, after)
    expect(s).toMatchObject({ cache_hits: 7, cache_misses: 1, cache_hit_ratio: 0.875 })
    expect(windowSample(after, { ...after, at: 4000 }).cache_hit_ratio).toBeNull()
  })

  it('has null percentiles for a window in which no request finished', () => {
    const h = histogram([5, 6, 7])
    const s = windowSample(totals(0, { latency: h }), totals(2000, { latency: histogram([5, 6, 7]) }))
    expect(s).toMatchObject({ latency_count: 0, p50_ms: null, p95_ms: null, p99_ms: null })
  })

  it('reads a shrinking counter as no growth', () => {
    const s = windowSample(totals(0, { requests: 10 }), totals(2000, { requests: 4 }))
    expect(s.requests).toBe(0)
    expect(s.requests_per_s).toBe(0)
  })
})

describe('windowHistogram', () => {
  it('holds only the durations recorded since the previous read', () => {
    const early = Array.from({ length: 1000 }, () => 1)
    const recent = [...Array.from({ length: 90 }, () => 40), ...Array.from({ length: 10 }, () => 200)]
    const previous = totals(0, { latency: histogram(early) })
    const current = totals(2000, { latency: histogram([...early, ...recent]) })
    const window = windowHistogram(previous, current)
    expect(window.totalCount).toBe(100)
    const s = windowSample(previous, current)
    expect(s.latency_count).toBe(100)
    expectMs(s.p50_ms, 40)
    expectMs(s.p95_ms, 200)
    expectMs(s.p99_ms, 200)
    // The cumulative histogram would say 1 ms: the window is what the chart shows.
    expectMs(current.latency.getValueAtPercentile(50) / 1000, 1)
  })

  it('is empty when a worker was respawned in between (its unscraped durations are gone from the total)', () => {
    const previous = totals(0, { latency: histogram([1, 2, 3]), restarts: 0 })
    const current = totals(2000, { latency: histogram([1, 2, 3, 4, 5]), restarts: 1 })
    expect(windowHistogram(previous, current).totalCount).toBe(0)
    expect(windowHistogram(totals(0, { latency: histogram([1, 2, 3]) }), totals(2000, { latency: histogram([1]) })).totalCount).toBe(0)
  })

  it('leaves both reads untouched', () => {
    const previous = totals(0, { latency: histogram([1, 2]) })
    const current = totals(2000, { latency: histogram([1, 2, 3]) })
    windowHistogram(previous, current)
    expect(previous.latency.totalCount).toBe(2)
    expect(current.latency.totalCount).toBe(3)
  })
})

describe('TrafficSampler', () => {
  const samplers: TrafficSampler[] = []
  afterEach(() => {
    for (const s of samplers.splice(0)) s.stop()
  })

  /** A sampler over a scripted series of reads; its own timer is an hour long, so ticks happen only when called. */
  function scripted(options: { capacity?: number; watchTimeoutMs?: number } = {}) {
    const clock = { now: 0 }
    let requests = 0
    const reads: number[] = []
    const sampler = new TrafficSampler(
      async () => {
        reads.push(clock.now)
        return totals(clock.now, { requests })
      },
      { intervalMs: 3_600_000, now: () => clock.now, ...options },
    )
    samplers.push(sampler)
    return { sampler, clock, reads, add: (n: number) => (requests += n) }
  }

  const settle = () => new Promise((r) => setImmediate(r))

  it('takes a baseline on the first watch, then one sample per tick from counter growth', async () => {
    const { sampler, clock, add } = scripted()
    sampler.watched()
    await settle()
    expect(sampler.running).toBe(true)
    expect(sampler.samples()).toEqual([])
    add(10)
    clock.now = 2000
    await sampler.tick()
    add(4)
    clock.now = 4000
    await sampler.tick()
    expect(sampler.samples().map((s) => [s.t, s.requests, s.requests_per_s])).toEqual([[2000, 10, 5], [4000, 4, 2]])
  })

  it('keeps the newest `capacity` samples, oldest first', async () => {
    const { sampler, clock, add } = scripted({ capacity: 3 })
    sampler.watched()
    await settle()
    for (let i = 1; i <= 5; i++) {
      add(i)
      clock.now = i * 2000
      await sampler.tick()
    }
    expect(sampler.samples().map((s) => s.requests)).toEqual([3, 4, 5])
  })

  it('stops reading once nobody watched for the timeout, and restarts from a fresh baseline', async () => {
    const { sampler, clock, reads, add } = scripted({ watchTimeoutMs: 60_000 })
    sampler.watched()
    await settle()
    clock.now = 60_001
    await sampler.tick()
    expect(sampler.running).toBe(false)
    expect(reads).toEqual([0])
    add(50)
    clock.now = 100_000
    sampler.watched()
    await settle()
    add(6)
    clock.now = 102_000
    await sampler.tick()
    // The 50 requests made while nobody watched belong to no window.
    expect(sampler.samples().map((s) => s.requests)).toEqual([6])
  })

  it('drops a read that finishes after stop(): it is no baseline for the next watch', async () => {
    const pending: ((t: TrafficTotals) => void)[] = []
    const sampler = new TrafficSampler(() => new Promise((resolve) => pending.push(resolve)), { intervalMs: 3_600_000 })
    samplers.push(sampler)
    sampler.watched()
    sampler.stop()
    pending[0]!(totals(0, { requests: 100 }))
    await settle()
    sampler.watched()
    pending[1]!(totals(2000, { requests: 200 }))
    await settle()
    // Had the late read become the baseline, the fresh one would have made a 100-request window.
    expect(sampler.samples()).toEqual([])
  })

  it('reports a failed read and keeps going', async () => {
    const errors: unknown[] = []
    let fail = true
    let n = 0
    const sampler = new TrafficSampler(
      async () => {
        if (fail) throw new Error('scrape failed')
        return totals(++n * 2000, { requests: n * 10 })
      },
      { intervalMs: 3_600_000, onError: (err) => errors.push(err) },
    )
    samplers.push(sampler)
    sampler.watched()
    await settle()
    expect(errors).toHaveLength(1)
    fail = false
    await sampler.tick()
    await sampler.tick()
    expect(sampler.samples().map((s) => s.requests)).toEqual([10])
  })
})
