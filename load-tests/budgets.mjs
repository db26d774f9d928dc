// Checks load-test results against budgets.json: every scenario relative to a baseline measured just
// before it in the same run (the upstream directly, or the steady plain proxy for reloads), so the gate
// holds on any machine.
import { percentiles } from './measure.mjs'

/** Results that are baselines, not scenarios. */
export const BASELINES = ['direct', 'ws-direct']

/**
 * One verdict per checked figure: { scenario, check, value, limit, pass }. Every scenario carries the
 * baseline run it is judged against (`baseline`, named by `baselineId`), measured just before it.
 */
export function checkBudgets(results, budgets) {
  const verdicts = []
  const add = (scenario, check, value, limit, pass) => verdicts.push({ scenario, check, value, limit, pass })
  for (const [id, r] of Object.entries(results)) {
    if (BASELINES.includes(id)) continue
    const budget = budgets[id]
    if (budget === undefined) throw new Error(`budgets file has no entry for scenario "${id}"`)
    const base = percentiles(r.baseline.hist)
    const p = percentiles(r.hist)
    const vs = r.baselineId
    add(id, 'errors', r.errors, budget.maxErrors ?? 0, r.errors <= (budget.maxErrors ?? 0))
    if (budget.minRps !== undefined) add(id, `req/s ÷ ${vs}`, r.rps / r.baseline.rps, budget.minRps, r.rps / r.baseline.rps >= budget.minRps)
    if (budget.maxP50 !== undefined) add(id, `p50 ÷ ${vs}`, p.p50 / base.p50, budget.maxP50, p.p50 / base.p50 <= budget.maxP50)
    if (budget.maxP99 !== undefined) add(id, `p99 ÷ ${vs}`, p.p99 / base.p99, budget.maxP99, p.p99 / base.p99 <= budget.maxP99)
    if (r.reloadsSent !== undefined) add(id, 'reloads applied', r.reloads, r.reloadsSent, r.reloads === r.reloadsSent && r.reloadsFailed === 0)
  }
  return verdicts
}
