// The dashboard's live traffic: while someone watches, every 2 s the gateway's cumulative totals are read and the
// difference from the previous read becomes one sample (rates, window percentiles) in a ring of the last 150.
import { createHistogram, percentileMs, type Histogram } from '../observability/latency-histogram.js'
import { totalHistogram } from '../observability/metrics-merge.js'
import { STAT } from '../shared/worker-stats.js'
import { mergedMetrics } from './metrics-export.js'
import type { Gateway } from './gateway.js'

/** Cumulative figures since start, summed over workers, as read at one moment. */
export interface TrafficTotals {
  /** Epoch ms of the read. */
  at: number
  requests: number
  errors: number
  rateLimited: number
  cacheHit: number
  cacheStale: number
  cacheMiss: number
  inFlight: number
  /** Worker respawns so far: a respawn loses what the dead worker recorded since its last scrape. */
  restarts: number
  /** Every request's duration (request_ms), merged over workers. */
  latency: Histogram
}

/** One window between two reads. Rates are per second of the window; null = nothing to measure in it. */
export interface TrafficSample {
  /** Epoch ms at the end of the window. */
  t: number
  interval_s: number
  requests: number
  errors: number
  rate_limited: number
  requests_per_s: number
  errors_per_s: number
  rate_limited_per_s: number
  cache_hits: number
  cache_misses: number
  /** (Hit + Stale) / (Hit + Stale + Miss) of the window; Bypass is not a lookup. */
  cache_hit_ratio: number | null
  in_flight: number
  /** Requests whose duration was recorded in the window, and their percentiles in ms. */
  latency_count: number
  p50_ms: number | null
  p95_ms: number | null
  p99_ms: number | null
}

const SAMPLE_INTERVAL_MS = 2000
const RING_CAPACITY = 150
/** The sampler stops this long after the last dashboard data call. */
const WATCH_TIMEOUT_MS = 60_000

/** A counter's growth; a counter never shrinks, so a drop (none expected) reads as no growth. */
function delta(current: number, previous: number): number {
  return current > previous ? current - previous : 0
}

/** Rounds to 3 decimals so the JSON stays short (ms percentiles are µs-precise anyway). */
function round3(n: number): number {
  return Math.round(n * 1000) / 1000
}

/**
 * The durations recorded between two reads: the current total minus the previous one (hdr counts per bucket).
 * Empty when a worker was respawned in between, since the total may then have lost counts the previous had.
 */
export function windowHistogram(previous: TrafficTotals, current: TrafficTotals): Histogram {
  const window = createHistogram()
  if (current.restarts !== previous.restarts || current.latency.totalCount < previous.latency.totalCount) return window
  window.add(current.latency)
  window.subtract(previous.latency)
  return window
}

/** The sample for the window between two reads. */
export function windowSample(previous: TrafficTotals, current: TrafficTotals): TrafficSample {
  const seconds = Math.max(current.at - previous.at, 1) / 1000
  const requests = delta(current.requests, previous.requests)
  const errors = delta(current.errors, previous.errors)
  const rateLimited = delta(current.rateLimited, previous.rateLimited)
  const hits = delta(current.cacheHit, previous.cacheHit) + delta(current.cacheStale, previous.cacheStale)
  const misses = delta(current.cacheMiss, previous.cacheMiss)
  const latency = windowHistogram(previous, current)
  const timed = latency.totalCount > 0
  return {
    t: current.at,
    interval_s: round3(seconds),
    requests,
    errors,
    rate_limited: rateLimited,
    requests_per_s: round3(requests / seconds),
    errors_per_s: round3(errors / seconds),
    rate_limited_per_s: round3(rateLimited / seconds),
    cache_hits: hits,
    cache_misses: misses,
    cache_hit_ratio: hits + misses === 0 ? null : round3(hits / (hits + misses)),
    in_flight: current.inFlight,
    latency_count: latency.totalCount,
    p50_ms: timed ? percentileMs(latency, 50) : null,
    p95_ms: timed ? percentileMs(latency, 95) : null,
    p99_ms: timed ? percentileMs(latency, 99) : null,
  }
}

/** The gateway's totals now: counters from the shared stats rows, durations from a metrics scrape. */
export async function gatewayTotals(gw: Gateway): Promise<TrafficTotals> {
  const latency = totalHistogram(await mergedMetrics(gw), (row) => row.duration)
  const s = gw.stats
  return {
    at: Date.now(),
    requests: s.sum(STAT.REQUESTS),
    errors: s.sum(STAT.ERRORS),
    rateLimited: s.sum(STAT.RATE_LIMITED),
    cacheHit: s.sum(STAT.CACHE_HIT),
    cacheStale: s.sum(STAT.CACHE_STALE),
    cacheMiss: s.sum(STAT.CACHE_MISS),
    inFlight: s.sum(STAT.IN_FLIGHT),
    restarts: gw.workers.restarts,
    latency,
  }
}

export interface SamplerOptions {
  intervalMs?: number
  capacity?: number
  watchTimeoutMs?: number
  now?: () => number
  /** Told about a read that failed (that tick records nothing). */
  onError?: (err: unknown) => void
}

/**
 * Samples only while watched: `watched()` (each dashboard data call) starts the timer, which stops itself
 * once no call came for a minute. The timer is unref'd, so it never keeps the process alive.
 */
export class TrafficSampler {
  readonly intervalMs: number
  readonly capacity: number
  private readonly watchTimeoutMs: number
  private readonly now: () => number
  private readonly onError: (err: unknown) => void
  private readonly ring: TrafficSample[] = []
  /** Index of the oldest sample once the ring is full. */
  private head = 0
  private previous: TrafficTotals | null = null
  private timer: NodeJS.Timeout | null = null
  private reading = false
  private lastWatchedAt = 0

  constructor(private readonly read: () => Promise<TrafficTotals>, options: SamplerOptions = {}) {
    this.intervalMs = options.intervalMs ?? SAMPLE_INTERVAL_MS
    this.capacity = options.capacity ?? RING_CAPACITY
    this.watchTimeoutMs = options.watchTimeoutMs ?? WATCH_TIMEOUT_MS
    this.now = options.now ?? Date.now
    this.onError = options.onError ?? (() => {})
  }

  /** Someone looks at the dashboard: keep sampling (the first call takes the baseline at once). */
  watched(): void {
    this.lastWatchedAt = this.now()
    if (this.timer !== null) return
    this.timer = setInterval(() => void this.tick(), this.intervalMs)
    this.timer.unref()
    void this.tick()
  }

  get running(): boolean {
    return this.timer !== null
  }

  /** Samples oldest first. */
  samples(): TrafficSample[] {
    return this.ring.length < this.capacity ? this.ring.slice() : [...this.ring.slice(this.head), ...this.ring.slice(0, this.head)]
  }

  /** Stops the timer; the next watch starts from a fresh baseline (the samples so far are kept). */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    this.previous = null
  }

  /** One read; a read still pending (a slow scrape) makes this tick a no-op rather than a second read. Never rejects. */
  async tick(): Promise<void> {
    if (this.now() - this.lastWatchedAt > this.watchTimeoutMs) return this.stop()
    if (this.reading) return
    this.reading = true
    let current: TrafficTotals
    try {
      current = await this.read()
    } catch (err) {
      this.onError(err)
      return
    } finally {
      this.reading = false
    }
    if (this.timer === null) return
    if (this.previous !== null) this.push(windowSample(this.previous, current))
    this.previous = current
  }

  private push(sample: TrafficSample): void {
    if (this.ring.length < this.capacity) {
      this.ring.push(sample)
      return
    }
    this.ring[this.head] = sample
    this.head = (this.head + 1) % this.capacity
  }
}
