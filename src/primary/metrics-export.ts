// GET /metrics (SPEC §10): every worker's rows merged at scrape time plus the primary's own figures
// (target health, connections, restarts, reloads, Redis fallbacks), as Prometheus text.
import { BUCKETS_MS, bucketCounts, percentileMs, type Histogram } from '../observability/latency-histogram.js'
import { mergeRows, totalHistogram, type MergedMetrics, type MergedRow } from '../observability/metrics-merge.js'
import { renderFamilies, type Family, type HistogramSample, type Sample } from '../observability/prometheus-text.js'
import { CACHE_STATUSES } from '../observability/worker-metrics.js'
import { STAT } from '../shared/worker-stats.js'
import type { Gateway } from './gateway.js'

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

export async function mergedMetrics(gw: Gateway): Promise<MergedMetrics> {
  const merged: MergedMetrics = new Map()
  for (const rows of await gw.workers.scrapeMetrics()) mergeRows(merged, rows)
  return merged
}

/** /status latency figures: the whole gateway's percentiles in ms. */
export function latencySummary(merged: MergedMetrics): Record<string, Record<string, number>> {
  const summary = (h: Histogram) => ({ count: h.totalCount, p50: percentileMs(h, 50), p95: percentileMs(h, 95), p99: percentileMs(h, 99) })
  return { request_ms: summary(totalHistogram(merged, (r) => r.duration)), upstream_ms: summary(totalHistogram(merged, (r) => r.upstream)) }
}

function histogramSample(row: MergedRow, h: Histogram, sum: number): HistogramSample {
  return { labels: { service: row.service, route: row.route }, bounds: BUCKETS_MS, cumulative: bucketCounts(h), sum }
}

export async function renderMetrics(gw: Gateway): Promise<string> {
  const merged = [...(await mergedMetrics(gw)).values()]
  const requests: Sample[] = []
  const rateLimited: Sample[] = []
  const cache: Sample[] = []
  const bandwidth: Sample[] = []
  for (const row of merged) {
    for (const [key, count] of row.requests) {
      const [method, status] = key.split('\0') as [string, string]
      requests.push({ labels: { service: row.service, route: row.route, method, status }, value: count })
    }
    if (row.rateLimited > 0) rateLimited.push({ labels: { route: row.route }, value: row.rateLimited })
    row.cache.forEach((n, i) => n > 0 && cache.push({ labels: { route: row.route, status: CACHE_STATUSES[i]! }, value: n }))
    if (row.bytesIn > 0 || row.bytesOut > 0) {
      bandwidth.push({ labels: { direction: 'ingress', route: row.route }, value: row.bytesIn }, { labels: { direction: 'egress', route: row.route }, value: row.bytesOut })
    }
  }
  const timed = merged.filter((r) => r.duration.totalCount > 0)
  const upstreamTimed = merged.filter((r) => r.upstream.totalCount > 0)
  const s = gw.stats
  const families: Family[] = [
    { name: 'api_gateway_requests_total', help: 'Requests answered, by service, route, method and status.', type: 'counter', samples: requests },
    { name: 'api_gateway_request_duration_ms', help: 'Time from the request reaching the gateway to its last response byte, in ms.', type: 'histogram', samples: timed.map((r) => histogramSample(r, r.duration, r.durationSumMs)) },
    { name: 'api_gateway_upstream_duration_ms', help: 'Time from the request written upstream to the first response byte, in ms.', type: 'histogram', samples: upstreamTimed.map((r) => histogramSample(r, r.upstream, r.upstreamSumMs)) },
    { name: 'api_gateway_rate_limit_exceeded_total', help: 'Requests refused by rate-limiting.', type: 'counter', samples: rateLimited },
    { name: 'api_gateway_cache_total', help: 'proxy-cache decisions by X-Cache-Status.', type: 'counter', samples: cache },
    { name: 'api_gateway_bandwidth_bytes_total', help: 'Body bytes received from clients (ingress) and sent to them (egress).', type: 'counter', samples: bandwidth },
    { name: 'api_gateway_upstream_target_health', help: 'Whether the balancer may pick the target: 1 healthy, half-open or unchecked; 0 ejected.', type: 'gauge', samples: targetHealth(gw) },
    {
      name: 'api_gateway_connections',
      help: 'Requests in flight and upstream connections (upstream_open = every live upstream socket, idle ones included; upstream_idle = those kept alive in the pools).',
      type: 'gauge',
      samples: [
        { labels: { state: 'in_flight' }, value: s.sum(STAT.IN_FLIGHT) },
        { labels: { state: 'upstream_open' }, value: s.sum(STAT.UPSTREAM_OPEN) },
        { labels: { state: 'upstream_idle' }, value: s.sum(STAT.UPSTREAM_IDLE) },
      ],
    },
    { name: 'api_gateway_worker_restarts_total', help: 'Worker threads respawned after dying.', type: 'counter', samples: [{ labels: {}, value: gw.workers.restarts }] },
    {
      name: 'api_gateway_config_reloads_total',
      help: 'Config reloads (SIGHUP or POST /config) by result.',
      type: 'counter',
      samples: [{ labels: { result: 'success' }, value: gw.reloads.ok }, { labels: { result: 'failure' }, value: gw.reloads.failed }],
    },
    { name: 'api_gateway_redis_fallback_total', help: 'rate-limiting decisions taken locally because Redis was unavailable.', type: 'counter', samples: [{ labels: {}, value: s.sum(STAT.REDIS_FALLBACK) }] },
  ]
  return renderFamilies(families)
}

function targetHealth(gw: Gateway): Sample[] {
  const samples: Sample[] = []
  for (const u of gw.snapshot.upstreams) {
    for (const t of u.targets) samples.push({ labels: { upstream: u.name, target: t.target }, value: gw.health.isHealthy(t.healthSlot) ? 1 : 0 })
  }
  return samples
}
