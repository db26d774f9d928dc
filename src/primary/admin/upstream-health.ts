// The body of `GET /upstreams/{name}/health` in Kong's shape: every target of the upstream with its health
// read from the shared table and its counters; HEALTHCHECKS_OFF when the upstream checks nothing.
import type { Snapshot, UpstreamRecord } from '../../config/types.js'
import type { HealthState, HealthTable } from '../../shared/health-table.js'

/** Kong's values, plus HALF_OPEN: a passive ejection has expired and the target is routable on probation. */
export type TargetHealth = 'HEALTHY' | 'UNHEALTHY' | 'HALF_OPEN' | 'HEALTHCHECKS_OFF'

export interface TargetHealthEntry {
  target: string
  weight: number
  upstream: { id: string; name: string }
  health: TargetHealth
  data: {
    host: string
    port: number
    /** Epoch seconds a passive ejection ends; null when not ejected or ejected until a check restores it. */
    ejected_until: number | null
    tcp_failures: number
    timeouts: number
    http_failures: number
    successes: number
    ejections: number
    total_failures: number
  }
}

export interface UpstreamHealthBody {
  total: number
  data: TargetHealthEntry[]
  next: null
}

/** A target's health as the admin API and metrics name it, from its upstream and its table state. */
export function targetHealth(upstream: UpstreamRecord, state: HealthState['state']): TargetHealth {
  if (upstream.activeChecks === null && upstream.passiveChecks === null) return 'HEALTHCHECKS_OFF'
  return state === 'healthy' ? 'HEALTHY' : state === 'half-open' ? 'HALF_OPEN' : 'UNHEALTHY'
}

/** Null when no upstream has that name or id (the admin answers 404, as Kong does). */
export function upstreamHealth(snapshot: Snapshot, table: HealthTable, nameOrId: string): UpstreamHealthBody | null {
  const upstream = snapshot.upstreams.find((u) => u.name === nameOrId) ?? snapshot.upstreams.find((u) => u.id === nameOrId)
  if (upstream === undefined) return null
  const data = upstream.targets.map((t): TargetHealthEntry => {
    const s = table.inspect(t.healthSlot)
    return {
      target: t.target,
      weight: t.weight,
      upstream: { id: upstream.id, name: upstream.name },
      health: targetHealth(upstream, s.state),
      data: {
        host: t.host,
        port: t.port,
        ejected_until: s.ejectedUntil === null ? null : Math.ceil(s.ejectedUntil / 1000),
        tcp_failures: s.tcpFailures,
        timeouts: s.timeoutFailures,
        http_failures: s.httpFailures,
        successes: s.successes,
        ejections: s.ejections,
        total_failures: s.totalFailures,
      },
    }
  })
  return { total: data.length, data, next: null }
}
