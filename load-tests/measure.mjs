// One load phase against a URL: autocannon in this process for a fixed duration, every response's
// latency recorded in microseconds into an hdr-histogram-js histogram (autocannon's own is whole ms).
import { createRequire } from 'node:module'
import hdr from 'hdr-histogram-js'

const require = createRequire(import.meta.url)
const autocannon = require('autocannon')

/** A histogram for latencies in µs, 1 µs to 60 s, 3 significant digits. */
export function latencyHistogram() {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 })
}

/**
 * Runs autocannon for `durationS` seconds (after `warmupS` seconds not counted) and resolves
 * { rps, requests, errors, non2xx, hist }. `during(elapsedMs)` is polled every 100 ms while the
 * measured phase runs (the reload scenario sends its reloads from there).
 */
export async function measureHttp(url, { connections, durationS, warmupS = 1, headers = {}, during = null }) {
  if (warmupS > 0) await autocannon({ url, connections, duration: warmupS, headers })
  const hist = latencyHistogram()
  let ticker = null
  const started = Date.now()
  const instance = autocannon({ url, connections, duration: durationS, headers })
  instance.on('response', (_client, _status, _bytes, ms) => hist.recordValue(Math.max(1, Math.round(ms * 1000))))
  if (during !== null) ticker = setInterval(() => during(Date.now() - started), 100)
  const result = await instance
  if (ticker !== null) clearInterval(ticker)
  const non2xx = result.non2xx ?? 0
  return {
    rps: result.requests.total / (result.duration || durationS),
    requests: result.requests.total,
    errors: (result.errors ?? 0) + (result.timeouts ?? 0) + non2xx,
    non2xx,
    hist,
  }
}

/** Several runs of one target as one result: requests, errors and latencies summed, req/s the mean. */
export function combineRuns(runs) {
  const hist = latencyHistogram()
  for (const r of runs) hist.add(r.hist)
  const sum = (key) => runs.reduce((total, r) => total + r[key], 0)
  return { rps: sum('rps') / runs.length, requests: sum('requests'), errors: sum('errors'), non2xx: sum('non2xx'), hist }
}

/** The percentiles the report and the budgets use, in ms. */
export function percentiles(hist) {
  const at = (p) => hist.getValueAtPercentile(p) / 1000
  return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: hist.maxValue / 1000 }
}
