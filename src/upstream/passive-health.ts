// Passive health checks (Kong `healthchecks.passive`): each worker counts its upstream attempts' outcomes
// into the shared health table, so a target ejected by one worker is ejected for all of them.
import type { PassiveChecks } from '../config/types.js'
import type { FailureKind, HealthTable } from '../shared/health-table.js'

/**
 * How one upstream attempt ended:
 *   status    a response head arrived; 0 = the response was not valid HTTP (Kong: status nil, an HTTP failure)
 *   tcp       connect failed or the connection broke before a response (Kong report_tcp_failure)
 *   timeout   connect/read/write timed out (Kong reports 504s this way)
 */
export type UpstreamOutcome = { kind: 'status'; status: number } | { kind: 'tcp' } | { kind: 'timeout' }

/** recordOutcome results (for logs and metrics; at most one worker sees EJECTED / RESTORED per transition). */
export const PASSIVE_UNCHANGED = 0
/** Closed → open: the target crossed a failure threshold. */
export const PASSIVE_EJECTED = 1
/** Half-open → closed: `successes` consecutive successes. */
export const PASSIVE_RESTORED = 2
/** Half-open → open again: one failure while on probation. */
export const PASSIVE_REOPENED = 3

/**
 * Counts one outcome for the target in `slot` (call it after every attempt, retries included, when
 * `upstream.passiveChecks` is not null). The circuit breaker, on top of Kong's counting:
 *   closed     failures of a kind count up to its threshold (0 = that kind is not counted), then the
 *              target is ejected for `checks.ejectMs`; a success clears the failure counts.
 *   open       skipped by every balancer; a failure of a request already in flight changes nothing,
 *              while successes count towards closing it, as in half-open.
 *   half-open  the ejection expired: routable again. One counted failure re-opens it for another
 *              `ejectMs`; `checks.successes` consecutive successes close it (0 = never by itself).
 * An ejection by the active checker or the admin has no expiry, so it never turns half-open here.
 * Statuses in neither list are ignored, as in Kong; with `type: tcp` every response is a success.
 * The clock is read only when ejecting.
 */
export function recordOutcome(table: HealthTable, slot: number, outcome: UpstreamOutcome, checks: PassiveChecks): number {
  switch (outcome.kind) {
    case 'status': {
      const status = outcome.status
      if (!checks.countStatuses || checks.healthyStatuses.includes(status)) return success(table, slot, checks)
      if (status === 0 || checks.unhealthyStatuses.includes(status)) return failure(table, slot, 'http', checks.httpFailures, checks)
      return PASSIVE_UNCHANGED
    }
    case 'tcp':
      return failure(table, slot, 'tcp', checks.tcpFailures, checks)
    case 'timeout':
      return failure(table, slot, 'timeout', checks.timeouts, checks)
  }
}

function success(table: HealthTable, slot: number, checks: PassiveChecks): number {
  // 0 while closed (it only cleared failure counts); the consecutive count while ejected.
  const successes = table.recordSuccess(slot)
  return successes !== 0 && checks.successes !== 0 && successes >= checks.successes && table.markUp(slot) ? PASSIVE_RESTORED : PASSIVE_UNCHANGED
}

function failure(table: HealthTable, slot: number, kind: FailureKind, threshold: number, checks: PassiveChecks): number {
  if (threshold === 0) return PASSIVE_UNCHANGED
  const failures = table.recordFailure(slot, kind)
  if (table.isMarkedDown(slot)) {
    // Ejected: half-open (expiry passed, so isHealthy) re-opens; open stays as it is (never shorten an ejection).
    if (!table.isHealthy(slot)) return PASSIVE_UNCHANGED
    table.markDown(slot, Date.now() + checks.ejectMs)
    return PASSIVE_REOPENED
  }
  return failures >= threshold && table.markDown(slot, Date.now() + checks.ejectMs) ? PASSIVE_EJECTED : PASSIVE_UNCHANGED
}
