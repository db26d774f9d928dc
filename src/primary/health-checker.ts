// Active health checks (Kong `healthchecks.active`) for the running Snapshot's upstreams, run by the primary:
// probes on timers, verdicts written to the shared health table every worker's balancer reads.
import { isIP } from 'node:net'
import type { ActiveChecks, Snapshot, TargetRecord, UpstreamRecord } from '../config/types.js'
import type { Logger } from '../logger.js'
import type { FailureKind, HealthTable } from '../shared/health-table.js'
import { probe, type ProbeResult } from './health-probe.js'

export type Verdict = 'ejected' | 'restored' | null

/**
 * Counts one probe result the way lua-resty-healthcheck does (Kong's checker), on the shared counters:
 *   - a status in `healthyStatuses` or a tcp/grpc connect is a success; a status in `unhealthyStatuses`, or
 *     no valid status line, an HTTP failure; any other status is ignored;
 *   - a threshold of 0 turns its counter off;
 *   - while healthy, a success only clears the failure counts, and a failure that reaches its threshold
 *     ejects the target until an active success (or admin) brings it back: no expiry;
 *   - while ejected, successes count up to `successes` and then restore it; failures only reset that count.
 * Unlike Kong, a success clears the failure counts even when `successes` is 0 (Kong then lets failures add
 * up forever, so N failures spread over days would eject a target).
 */
export function recordProbe(table: HealthTable, slot: number, result: ProbeResult, checks: ActiveChecks): Verdict {
  switch (result.kind) {
    case 'connected':
      return success(table, slot, checks)
    case 'status':
      if (checks.healthyStatuses.includes(result.status)) return success(table, slot, checks)
      if (result.status === 0 || checks.unhealthyStatuses.includes(result.status)) return failure(table, slot, 'http', checks.httpFailures)
      return null
    case 'tcp':
      return failure(table, slot, 'tcp', checks.tcpFailures)
    case 'timeout':
      return failure(table, slot, 'timeout', checks.timeouts)
  }
}

function success(table: HealthTable, slot: number, checks: ActiveChecks): Verdict {
  if (!table.isMarkedDown(slot)) {
    table.recordSuccess(slot)
    return null
  }
  if (checks.successes === 0) return null
  return table.recordSuccess(slot) >= checks.successes && table.markUp(slot) ? 'restored' : null
}

function failure(table: HealthTable, slot: number, kind: FailureKind, threshold: number): Verdict {
  if (threshold === 0) return null
  const count = table.recordFailure(slot, kind)
  return count >= threshold && !table.isMarkedDown(slot) && table.markDown(slot) ? 'ejected' : null
}

/** Probes of one upstream for one Snapshot: a timer per probed state (healthy, ejected), rounds never overlap. */
class UpstreamProber {
  private readonly aborter = new AbortController()
  private readonly timers = new Set<NodeJS.Timeout>()

  constructor(
    private readonly upstream: UpstreamRecord,
    private readonly checks: ActiveChecks,
    private readonly table: HealthTable,
    private readonly log: Logger,
  ) {
    // Kong: the first round comes one interval after start.
    if (checks.healthyIntervalMs > 0) this.schedule(false, checks.healthyIntervalMs)
    if (checks.unhealthyIntervalMs > 0) this.schedule(true, checks.unhealthyIntervalMs)
  }

  /** Cancels the timers and destroys the sockets of probes in flight; their results are dropped. */
  stop(): void {
    this.aborter.abort()
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }

  private schedule(ejected: boolean, intervalMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      void this.round(ejected)
        .catch((err: unknown) => this.log.error({ err, upstream: this.upstream.name }, 'active health check round failed'))
        .then(() => {
          if (!this.aborter.signal.aborted) this.schedule(ejected, intervalMs)
        })
    }, intervalMs)
    timer.unref()
    this.timers.add(timer)
  }

  /** Probes every routable-weight target in the given state, at most `concurrency` at a time. */
  private async round(ejected: boolean): Promise<void> {
    const signal = this.aborter.signal
    const due = this.upstream.targets.filter((t) => t.weight > 0 && this.table.isMarkedDown(t.healthSlot) === ejected)
    let next = 0
    const lane = async (): Promise<void> => {
      while (next < due.length && !signal.aborted) {
        const target = due[next++]
        const result = await probe(target, this.checks, this.upstream.hostHeader ?? hostOf(target), signal)
        if (result !== null && !signal.aborted) this.report(target, result)
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.checks.concurrency, due.length) }, lane))
  }

  private report(target: TargetRecord, result: ProbeResult): void {
    const verdict = recordProbe(this.table, target.healthSlot, result, this.checks)
    if (verdict === null) return
    const fields = { upstream: this.upstream.name, target: target.target, probe: result.kind === 'status' ? result.status : result.kind }
    if (verdict === 'ejected') this.log.warn(fields, 'active health check: target unhealthy, ejected')
    else this.log.info(fields, 'active health check: target healthy again')
  }
}

/** Kong's probe Host header without host_header: the target's host, no port. */
function hostOf(target: TargetRecord): string {
  return isIP(target.host) === 6 ? `[${target.host}]` : target.host
}

/** All active probing of the gateway; rebuilt from each Snapshot, while the state stays in the health table. */
export class HealthChecker {
  private probers: UpstreamProber[] = []

  constructor(
    private readonly table: HealthTable,
    private readonly log: Logger,
  ) {}

  /**
   * Replaces the probes with `snapshot`'s. Targets of an upstream with no health checks at all are put
   * back in rotation (Kong treats them as healthy), or an ejection from an earlier config would stick.
   */
  update(snapshot: Snapshot): void {
    this.stop()
    for (const u of snapshot.upstreams) {
      if (u.activeChecks !== null) this.probers.push(new UpstreamProber(u, u.activeChecks, this.table, this.log))
      else if (u.passiveChecks === null) {
        for (const t of u.targets) {
          if (this.table.markUp(t.healthSlot)) this.log.info({ upstream: u.name, target: t.target }, 'health checks off: target back in rotation')
        }
      }
    }
  }

  stop(): void {
    for (const p of this.probers) p.stop()
    this.probers = []
  }
}
