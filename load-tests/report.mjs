// Prints the load-test table (req/s, hdr percentiles, errors per scenario) and the budget verdicts.
import { percentiles } from './measure.mjs'

const fmt = (n, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : String(n))

function pad(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)))
  return rows.map((r) => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')).join('\n')
}

export function printReport(results, verdicts, opts) {
  console.log(`\nload-tests: ${opts.connections} connections, ${opts.durationS} s per scenario, gateway with ${opts.workers} workers\n`)
  const rows = [['scenario', 'req/s', 'requests', 'errors', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms']]
  for (const [id, r] of Object.entries(results)) {
    const p = percentiles(r.hist)
    rows.push([id, fmt(r.rps, 0), r.requests, r.errors, fmt(p.p50, 3), fmt(p.p90, 3), fmt(p.p99, 3), fmt(p.p999, 3), fmt(p.max, 1)])
  }
  console.log(`${pad(rows)}\n`)
  const checks = [['scenario', 'check', 'value', 'budget', '']]
  for (const v of verdicts) checks.push([v.scenario, v.check, fmt(v.value), fmt(v.limit), v.pass ? 'ok' : 'MISSED'])
  console.log(`${pad(checks)}\n`)
  const missed = verdicts.filter((v) => !v.pass).length
  console.log(missed === 0 ? 'every budget met' : `${missed} budget(s) missed`)
}
