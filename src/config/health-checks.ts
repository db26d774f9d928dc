// Kong's validated `healthchecks` record → the typed ActiveChecks / PassiveChecks a Snapshot carries,
// so neither the primary's prober nor the workers' passive counting re-read the loose config object.
import type { ActiveChecks, PassiveChecks } from './types.js'

/**
 * How long a passive ejection lasts when `active.unhealthy.interval` is 0. Kong OSS never brings a
 * passively ejected target back by itself; here it turns half-open after this long (issue: "half-open
 * recovery after the configured interval"), and `active.unhealthy.interval` is that interval when set.
 */
export const DEFAULT_PASSIVE_EJECT_MS = 10_000

type Loose = Record<string, unknown>

const part = (r: Loose, key: string): Loose => (r[key] as Loose | null | undefined) ?? {}
const count = (r: Loose, key: string): number => (r[key] as number | undefined) ?? 0
const statuses = (r: Loose): number[] => [...((r.http_statuses as number[] | undefined) ?? [])]

/** Null when both intervals are 0: Kong probes only the states whose interval is set. */
export function compileActiveChecks(healthchecks: Loose): ActiveChecks | null {
  const a = part(healthchecks, 'active')
  const healthy = part(a, 'healthy')
  const unhealthy = part(a, 'unhealthy')
  const healthyIntervalMs = count(healthy, 'interval') * 1000
  const unhealthyIntervalMs = count(unhealthy, 'interval') * 1000
  if (healthyIntervalMs === 0 && unhealthyIntervalMs === 0) return null
  return {
    type: a.type as ActiveChecks['type'],
    timeoutMs: count(a, 'timeout') * 1000,
    concurrency: count(a, 'concurrency'),
    httpPath: a.http_path as string,
    httpsSni: (a.https_sni as string | null | undefined) ?? null,
    httpsVerifyCertificate: a.https_verify_certificate !== false,
    headers: structuredClone((a.headers as Record<string, string[]> | null | undefined) ?? {}),
    healthyIntervalMs,
    healthyStatuses: statuses(healthy),
    successes: count(healthy, 'successes'),
    unhealthyIntervalMs,
    unhealthyStatuses: statuses(unhealthy),
    tcpFailures: count(unhealthy, 'tcp_failures'),
    timeouts: count(unhealthy, 'timeouts'),
    httpFailures: count(unhealthy, 'http_failures'),
  }
}

/**
 * Null when nothing can eject a target passively (every unhealthy threshold 0: Kong's default, circuit
 * breaker off). Passive `type: tcp` judges connections only (Kong docs), so statuses are not counted.
 */
export function compilePassiveChecks(healthchecks: Loose): PassiveChecks | null {
  const p = part(healthchecks, 'passive')
  const healthy = part(p, 'healthy')
  const unhealthy = part(p, 'unhealthy')
  const countStatuses = p.type !== 'tcp'
  const checks: PassiveChecks = {
    countStatuses,
    healthyStatuses: countStatuses ? statuses(healthy) : [],
    successes: count(healthy, 'successes'),
    unhealthyStatuses: countStatuses ? statuses(unhealthy) : [],
    tcpFailures: count(unhealthy, 'tcp_failures'),
    timeouts: count(unhealthy, 'timeouts'),
    httpFailures: countStatuses ? count(unhealthy, 'http_failures') : 0,
    ejectMs: count(part(part(healthchecks, 'active'), 'unhealthy'), 'interval') * 1000 || DEFAULT_PASSIVE_EJECT_MS,
  }
  return checks.tcpFailures === 0 && checks.timeouts === 0 && checks.httpFailures === 0 ? null : checks
}
