// One worker's request metrics (SPEC §10): plain counters and hdr histograms per {service, route} row,
// touched only by this thread, snapshotted as plain data when the primary scrapes.
import { LatencyCounts } from './latency-histogram.js'

/** Methods with their own label value; any other method is counted as OTHER (bounded series). */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT', 'OTHER'] as const
const OTHER = METHODS.length - 1

/** proxy-cache outcomes, the `status` label of api_gateway_cache_total (and X-Cache-Status). */
export const CACHE_STATUSES = ['Hit', 'Miss', 'Bypass', 'Refresh', 'Stale'] as const
export type CacheOutcome = 0 | 1 | 2 | 3 | 4

/** Rows a worker keeps at most; further {service, route} pairs share one row labelled OVERFLOW_LABEL. */
export const MAX_ROWS = 500
export const OVERFLOW_LABEL = '_other_'

function methodIndex(method: string): number {
  for (let i = 0; i < OTHER; i++) if (METHODS[i] === method) return i
  return OTHER
}

/** The counters of one {service, route} label pair; routes without labels share the ('', '') row. */
export class MetricsRow {
  readonly service: string
  readonly route: string
  /** methodIndex * 1000 + status → count. */
  readonly requests = new Map<number, number>()
  readonly duration = new LatencyCounts()
  durationSumMs = 0
  readonly upstream = new LatencyCounts()
  upstreamSumMs = 0
  bytesIn = 0
  bytesOut = 0
  rateLimited = 0
  readonly cache = [0, 0, 0, 0, 0]

  constructor(service: string, route: string) {
    this.service = service
    this.route = route
  }
}

/**
 * Where one route's requests are counted, per metric family: the route's own {service, route} row where
 * the prometheus plugin turned that family's labels on, else the unlabelled '' row (bounded series).
 */
export interface RouteRows {
  readonly status: MetricsRow
  readonly latency: MetricsRow
  readonly bandwidth: MetricsRow
}

/**
 * Counts one finished request. `upstreamMs` < 0 when no upstream answered (a plugin or an error did);
 * `cache` < 0 when proxy-cache did not decide, else a CACHE_STATUSES index.
 */
export function recordRequest(rows: RouteRows, method: string, status: number, durationMs: number, upstreamMs: number, bytesIn: number, bytesOut: number, rateLimited: boolean, cache: number): void {
  const counted = rows.status
  const key = methodIndex(method) * 1000 + status
  counted.requests.set(key, (counted.requests.get(key) ?? 0) + 1)
  if (rateLimited) counted.rateLimited++
  if (cache >= 0) counted.cache[cache]!++
  const timed = rows.latency
  timed.duration.record(durationMs)
  timed.durationSumMs += durationMs
  if (upstreamMs >= 0) {
    timed.upstream.record(upstreamMs)
    timed.upstreamSumMs += upstreamMs
  }
  rows.bandwidth.bytesIn += bytesIn
  rows.bandwidth.bytesOut += bytesOut
}

/** Plain data of one row, as posted to the primary. */
export interface RowSnapshot {
  service: string
  route: string
  /** [method, status, count] */
  requests: [string, number, number][]
  /** LatencyCounts.sparse(): [value µs, count, …] */
  duration: number[]
  durationSumMs: number
  upstream: number[]
  upstreamSumMs: number
  bytesIn: number
  bytesOut: number
  rateLimited: number
  cache: number[]
}

export class WorkerMetrics {
  private readonly rows = new Map<string, MetricsRow>()
  private overflow: MetricsRow | null = null

  /** The row for a label pair (made once per route per Snapshot, never per request). */
  row(service: string, route: string): MetricsRow {
    const key = service + '\0' + route
    let row = this.rows.get(key)
    if (row !== undefined) return row
    if (this.rows.size >= MAX_ROWS) return (this.overflow ??= new MetricsRow(OVERFLOW_LABEL, OVERFLOW_LABEL))
    row = new MetricsRow(service, route)
    this.rows.set(key, row)
    return row
  }

  snapshot(): RowSnapshot[] {
    const rows = [...this.rows.values()]
    if (this.overflow !== null) rows.push(this.overflow)
    return rows.map((r) => ({
      service: r.service,
      route: r.route,
      requests: [...r.requests].map(([key, count]) => [METHODS[Math.floor(key / 1000)]!, key % 1000, count]),
      duration: r.duration.sparse(),
      durationSumMs: r.durationSumMs,
      upstream: r.upstream.sparse(),
      upstreamSumMs: r.upstreamSumMs,
      bytesIn: r.bytesIn,
      bytesOut: r.bytesOut,
      rateLimited: r.rateLimited,
      cache: [...r.cache],
    }))
  }
}
