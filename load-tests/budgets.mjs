// Checks load-test results against budgets.json: every scenario relative to the direct baseline of the
// same run, the reload scenario relative to the plain proxy's p99, so the gate holds on any machine.
import { percentiles } from './measure.mjs'

/** One verdict per checked figure: { scenario, check, value, limit, pass }. */
/** Results that are baselines, not scenarios. */
export const BASELINES = ['direct', 'ws-direct']

export function checkBudgets(results, budgets) {
  const verdicts = []
  const add = (scenario, check, value, limit, pass) => verdicts.push({ scenario, check, value, limit, pass })
  for (const [id, r] of Object.entries(results)) {
    if (BASELINES.includes(id)) continue
    const budget = budgets[id]
    if (budget === undefined) throw new Error(`budgets file has no entry for scenario "${id}"`)
    // Each scenario is judged against the direct run of its own protocol (HTTP, or the WebSocket echo).
    const baselineId = budget.baseline ?? 'direct'
    const direct = results[baselineId]
    if (direct === undefined) throw new Error(`scenario "${id}" needs the "${baselineId}" baseline in the same run`)
    const base = percentiles(direct.hist)
    const p = percentiles(r.hist)
    add(id, 'errors', r.errors, budget.maxErrors ?? 0, r.errors <= (budget.maxErrors ?? 0))
    if (budget.minRps !== undefined) add(id, `req/s ÷ ${baselineId}`, r.rps / direct.rps, budget.minRps, r.rps / direct.rps >= budget.minRps)
    if (budget.maxP50 !== undefined) add(id, `p50 ÷ ${baselineId}`, p.p50 / base.p50, budget.maxP50, p.p50 / base.p50 <= budget.maxP50)
    if (budget.maxP99 !== undefined) add(id, `p99 ÷ ${baselineId}`, p.p99 / base.p99, budget.maxP99, p.p99 / base.p99 <= budget.maxP99)
    if (budget.maxP99VsPlain !== undefined) {
      if (results.plain === undefined) throw new Error(`scenario "${id}" is judged against the plain proxy: run it with plain`)
      const plainP99 = percentiles(results.plain.hist).p99
      add(id, 'p99 ÷ plain', p.p99 / plainP99, budget.maxP99VsPlain, p.p99 / plainP99 <= budget.maxP99VsPlain)
    }
    if (r.reloadsSent !== undefined) add(id, 'reloads applied', r.reloads, r.reloadsSent, r.reloads === r.reloadsSent && r.reloadsFailed === 0)
  }
  return verdicts
}
