// Everything a worker derives from one Snapshot: the router, each route's plugin chain and a
// balancer per upstream. Built once per reload; requests keep the Runtime they started with.
import type { PassiveChecks, RouteRecord, ServiceRecord, Snapshot, TargetRecord } from '../config/types.js'
import type { HealthTable } from '../shared/health-table.js'
import type { PluginEnv } from '../plugins/types.js'
import { createBalancer, type Balancer } from '../upstream/balancer.js'
import { peerFor, type Peer } from '../upstream/peer.js'
import { upstreamTlsFor } from '../upstream/tls.js'
import type { SecureContext } from 'node:tls'
import { PASSIVE_REOPENED, PASSIVE_RESTORED, PASSIVE_UNCHANGED, recordOutcome, type UpstreamOutcome } from '../upstream/passive-health.js'
import { buildChains, type Chain } from './chain.js'
import { Router } from './router.js'
import { routeMetricsRows, unroutedRows } from './route-metrics.js'
import type { RouteRows, WorkerMetrics } from '../observability/worker-metrics.js'

export class Runtime {
  readonly snapshot: Snapshot
  readonly router: Router
  /** Per route index: the access-phase chain, or null when no plugin applies (STYLE 2.2). */
  readonly access: (Chain | null)[]
  /** Per service index: the upstream's balancer, or null for a single-target service. */
  readonly balancers: (Balancer | null)[]
  /** Per route index: where its requests are counted (prometheus plugin labels). */
  readonly metricsRows: RouteRows[]
  /** Where requests that matched no route are counted. */
  readonly unroutedRows: RouteRows
  /** Per route index: protocols are https (or wss) only, so a plain-http request gets 426 or a redirect (Kong). */
  readonly httpsOnly: boolean[]
  /** Per route index: protocols are ws/wss, so a request that is not a WebSocket handshake gets 426. */
  readonly upgradeOnly: boolean[]
  /** Per route index: a WebSocket handshake is tunnelled (ws/wss routes, and http/https ones as Kong OSS does; not grpc). */
  readonly tunnels: boolean[]
  /** Per service index: target → Peer (pool key, Host line), so no request builds them. */
  private readonly peers: Map<TargetRecord, Peer>[]
  /** Per service index: its upstream's passive health checks, or null (off, or no upstream). */
  private readonly passive: (PassiveChecks | null)[]
  private readonly health: HealthTable
  private readonly env: PluginEnv

  constructor(snapshot: Snapshot, health: HealthTable, env: PluginEnv, metrics: WorkerMetrics) {
    this.snapshot = snapshot
    this.health = health
    this.env = env
    this.router = new Router(snapshot)
    this.metricsRows = routeMetricsRows(snapshot, metrics)
    this.unroutedRows = unroutedRows(metrics)
    this.access = buildChains(snapshot, env)
    const perUpstream = snapshot.upstreams.map((u) => createBalancer(u, health))
    this.balancers = snapshot.services.map((s) => (s.upstream >= 0 ? perUpstream[s.upstream]! : null))
    this.httpsOnly = snapshot.routes.map((r) => (r.protocols.includes('https') && !r.protocols.includes('http')) || (r.protocols.includes('wss') && !r.protocols.includes('ws')))
    this.upgradeOnly = snapshot.routes.map((r) => r.protocols.includes('ws') || r.protocols.includes('wss'))
    this.tunnels = snapshot.routes.map((r) => !r.protocols.includes('grpc') && !r.protocols.includes('grpcs'))
    const secureContexts = new Map<string, SecureContext>()
    this.peers = snapshot.services.map((s) => {
      const targets = s.upstream >= 0 ? snapshot.upstreams[s.upstream]!.targets : [s.target]
      const upstreamTls = upstreamTlsFor(s, snapshot, secureContexts)
      return new Map(targets.map((t) => [t, peerFor(s, t, upstreamTls)]))
    })
    this.passive = snapshot.services.map((s) => (s.upstream >= 0 ? snapshot.upstreams[s.upstream]!.passiveChecks : null))
  }

  /** True when the service's upstream counts passive health checks (callers skip building outcomes otherwise). */
  countsOutcomes(serviceIndex: number): boolean {
    return this.passive[serviceIndex] !== null
  }

  /** Counts one attempt's outcome into the shared health table (Kong's passive checks, for every worker). */
  recordOutcome(serviceIndex: number, target: TargetRecord, outcome: UpstreamOutcome): void {
    const checks = this.passive[serviceIndex]
    if (checks === null || checks === undefined) return
    const result = recordOutcome(this.health, target.healthSlot, outcome, checks)
    if (result === PASSIVE_UNCHANGED) return
    // Transitions only (one worker sees each), so looking the upstream up here costs the hot path nothing.
    const upstream = this.snapshot.upstreams[this.snapshot.services[serviceIndex]!.upstream]!.name
    if (result === PASSIVE_RESTORED) {
      this.env.log.info({ upstream, target: target.target }, 'passive health check: target healthy again')
    } else {
      const reopened = result === PASSIVE_REOPENED
      this.env.log.warn({ upstream, target: target.target, outcome, ejectMs: checks.ejectMs, reopened }, 'passive health check ejected a target')
    }
  }

  peer(serviceIndex: number, target: TargetRecord): Peer {
    return this.peers[serviceIndex]!.get(target)!
  }

  service(route: RouteRecord): ServiceRecord | undefined {
    return this.snapshot.services[route.service]
  }
}
