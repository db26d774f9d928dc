// The primary's sum of every worker's metrics rows: counters added, hdr histograms merged, so what is
// exported counts all workers (SPEC §10), including workers that died since (their last snapshot).
import { addSparse, createHistogram, sparseOf, type Histogram } from './latency-histogram.js'
import type { RowSnapshot } from './worker-metrics.js'

export interface MergedRow {
  service: string
  route: string
  /** `method\0status` → count */
  requests: Map<string, number>
  duration: Histogram
  durationSumMs: number
  upstream: Histogram
  upstreamSumMs: number
  bytesIn: number
  bytesOut: number
  rateLimited: number
  cache: number[]
}

export type MergedMetrics = Map<string, MergedRow>

function emptyRow(service: string, route: string): MergedRow {
  return { service, route, requests: new Map(), duration: createHistogram(), durationSumMs: 0, upstream: createHistogram(), upstreamSumMs: 0, bytesIn: 0, bytesOut: 0, rateLimited: 0, cache: [0, 0, 0, 0, 0] }
}

/** Adds one worker's rows into `into` (rows are matched by their labels). */
export function mergeRows(into: MergedMetrics, rows: readonly RowSnapshot[]): MergedMetrics {
  for (const r of rows) {
    const key = r.service + '\0' + r.route
    let m = into.get(key)
    if (m === undefined) into.set(key, (m = emptyRow(r.service, r.route)))
    for (const [method, status, count] of r.requests) {
      const k = method + '\0' + status
      m.requests.set(k, (m.requests.get(k) ?? 0) + count)
    }
    addSparse(m.duration, r.duration)
    m.durationSumMs += r.durationSumMs
    addSparse(m.upstream, r.upstream)
    m.upstreamSumMs += r.upstreamSumMs
    m.bytesIn += r.bytesIn
    m.bytesOut += r.bytesOut
    m.rateLimited += r.rateLimited
    for (let i = 0; i < m.cache.length; i++) m.cache[i]! += r.cache[i] ?? 0
  }
  return into
}

/** Every row's latency histogram summed: the whole gateway's percentiles for /status. */
export function totalHistogram(merged: MergedMetrics, pick: (row: MergedRow) => Histogram): Histogram {
  const total = createHistogram()
  for (const row of merged.values()) total.add(pick(row))
  return total
}

/** Merged rows back in the form workers send (the primary keeps dead workers' totals this way). */
export function toSnapshots(merged: MergedMetrics): RowSnapshot[] {
  return [...merged.values()].map((m) => ({
    service: m.service,
    route: m.route,
    requests: [...m.requests].map(([k, count]) => {
      const [method, status] = k.split('\0') as [string, string]
      return [method, Number(status), count]
    }),
    duration: sparseOf(m.duration),
    durationSumMs: m.durationSumMs,
    upstream: sparseOf(m.upstream),
    upstreamSumMs: m.upstreamSumMs,
    bytesIn: m.bytesIn,
    bytesOut: m.bytesOut,
    rateLimited: m.rateLimited,
    cache: [...m.cache],
  }))
}
