// Worker metrics rows, their merge in the primary and the Prometheus text they become (SPEC §10).
import { describe, expect, it } from 'vitest'
import { addSparse, bucketCounts, createHistogram, LatencyCounts, percentileMs, sparseOf } from '../../src/observability/latency-histogram.js'
import { mergeRows, toSnapshots, totalHistogram } from '../../src/observability/metrics-merge.js'
import { renderFamilies } from '../../src/observability/prometheus-text.js'
import { MAX_ROWS, OVERFLOW_LABEL, WorkerMetrics, recordRequest, type RouteRows } from '../../src/observability/worker-metrics.js'

function rowsOf(metrics: WorkerMetrics, service: string, route: string): RouteRows {
  const own = metrics.row(service, route)
  return { status: own, latency: own, bandwidth: own }
}

/** What the primary makes of a worker's counts of these durations. */
function histogramOf(durationsMs: readonly number[]) {
  const counts = new LatencyCounts()
  for (const ms of durationsMs) counts.record(ms)
  return addSparse(createHistogram(), counts.sparse())
}

describe('latency histograms', () => {
  it('puts each duration in the first bucket at or above it, cumulatively', () => {
    const counts = bucketCounts(histogramOf([0.2, 0.9, 1.5, 4, 4, 250, 70_000]))
    expect(counts[0]).toBe(2) // le=1
    expect(counts[1]).toBe(3) // le=2
    expect(counts[2]).toBe(5) // le=5
    expect(counts[counts.length - 2]).toBe(6) // le=60000
    expect(counts[counts.length - 1]).toBe(7) // +Inf
  })

  it('keeps percentiles within the bucket precision (1/64) through the trip to the primary and back', () => {
    const durations = Array.from({ length: 1000 }, (_, i) => (i + 1) / 10)
    const h = histogramOf(durations)
    expect(h.totalCount).toBe(1000)
    for (const [p, exact] of [[50, 50], [90, 90], [99, 99]] as const) {
      expect(Math.abs(percentileMs(h, p) - exact) / exact).toBeLessThan(1 / 64)
    }
    const again = addSparse(createHistogram(), sparseOf(h))
    expect(again.totalCount).toBe(1000)
    expect(percentileMs(again, 50)).toBe(percentileMs(h, 50))
  })

  it('records every magnitude from 1 µs to an hour, clamping outside it', () => {
    const h = histogramOf([-5, 0, 0.0004, 0.127, 0.128, 1, 1000, 3_600_000, 10_000_000])
    expect(h.totalCount).toBe(9)
    expect(h.minNonZeroValue).toBe(1)
    expect(Math.abs(h.maxValue - 3_600_000_000) / 3_600_000_000).toBeLessThan(1 / 64)
  })
})

describe('worker rows and their merge', () => {
  it('sums two workers row by row, histograms included', () => {
    const a = new WorkerMetrics()
    const b = new WorkerMetrics()
    recordRequest(rowsOf(a, 's', 'r'), 'GET', 200, 10, 8, 0, 100, false, 0)
    recordRequest(rowsOf(a, 's', 'r'), 'GET', 200, 20, 15, 5, 100, false, 1)
    recordRequest(rowsOf(b, 's', 'r'), 'GET', 200, 30, -1, 0, 50, true, -1)
    recordRequest(rowsOf(b, 's', 'r'), 'BREW', 418, 1, -1, 0, 0, false, -1)
    const merged = mergeRows(mergeRows(new Map(), a.snapshot()), b.snapshot())
    const row = merged.get('s\0r')!
    expect(row.requests.get('GET\0' + 200)).toBe(3)
    expect(row.requests.get('OTHER\0' + 418)).toBe(1)
    expect(row.duration.totalCount).toBe(4)
    expect(row.upstream.totalCount).toBe(2)
    expect(row.durationSumMs).toBe(61)
    expect([row.bytesIn, row.bytesOut, row.rateLimited]).toEqual([5, 250, 1])
    expect(row.cache).toEqual([1, 1, 0, 0, 0])
    expect(totalHistogram(merged, (r) => r.duration).totalCount).toBe(4)
    // The retired form (a dead worker's totals) merges to the same numbers again.
    const again = mergeRows(new Map(), toSnapshots(merged)).get('s\0r')!
    expect(again.requests).toEqual(row.requests)
    expect(again.duration.totalCount).toBe(4)
  })

  it('bounds the series: rows past MAX_ROWS share one overflow row', () => {
    const m = new WorkerMetrics()
    for (let i = 0; i < MAX_ROWS; i++) m.row('s', `r${i}`)
    const extra = m.row('s', 'one-too-many')
    expect(extra.route).toBe(OVERFLOW_LABEL)
    expect(m.row('s', 'another')).toBe(extra)
    expect(m.snapshot().length).toBe(MAX_ROWS + 1)
  })
})

describe('Prometheus text', () => {
  it('writes HELP/TYPE, escaped labels and histogram series', () => {
    const text = renderFamilies([
      { name: 'x_total', help: 'a\\b\nc', type: 'counter', samples: [{ labels: { route: 'q"\\\n' }, value: 3 }] },
      { name: 'y_ms', help: 'y', type: 'histogram', samples: [{ labels: { route: 'r' }, bounds: [1, 5], cumulative: [1, 2, 4], sum: 12.5 }] },
    ])
    expect(text).toBe(
      '# HELP x_total a\\\\b\\nc\n# TYPE x_total counter\nx_total{route="q\\"\\\\\\n"} 3\n' +
        '# HELP y_ms y\n# TYPE y_ms histogram\ny_ms_bucket{route="r",le="1"} 1\ny_ms_bucket{route="r",le="5"} 2\n' +
        'y_ms_bucket{route="r",le="+Inf"} 4\ny_ms_sum{route="r"} 12.5\ny_ms_count{route="r"} 4\n',
    )
  })
})
