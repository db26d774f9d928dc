// Everything a worker derives from one Snapshot: the router, each route's plugin chain and a
// balancer per upstream. Built once per reload; requests keep the Runtime they started with.
import type { RouteRecord, ServiceRecord, Snapshot, TargetRecord } from '../config/types.js'
import type { HealthTable } from '../shared/health-table.js'
import { createBalancer, type Balancer } from '../upstream/balancer.js'
import { peerFor, type Peer } from '../upstream/peer.js'
import { buildChains, type Chain } from './chain.js'
import { Router } from './router.js'

export class Runtime {
  readonly snapshot: Snapshot
  readonly router: Router
  /** Per route index: the access-phase chain, or null when no plugin applies (STYLE 2.2). */
  readonly access: (Chain | null)[]
  /** Per service index: the upstream's balancer, or null for a single-target service. */
  readonly balancers: (Balancer | null)[]
  /** Per service index: target → Peer (pool key, Host line), so no request builds them. */
  private readonly peers: Map<TargetRecord, Peer>[]

  constructor(snapshot: Snapshot, health: HealthTable) {
    this.snapshot = snapshot
    this.router = new Router(snapshot)
    this.access = buildChains(snapshot)
    const perUpstream = snapshot.upstreams.map((u) => createBalancer(u, health))
    this.balancers = snapshot.services.map((s) => (s.upstream >= 0 ? perUpstream[s.upstream]! : null))
    this.peers = snapshot.services.map((s) => {
      const targets = s.upstream >= 0 ? snapshot.upstreams[s.upstream]!.targets : [s.target]
      return new Map(targets.map((t) => [t, peerFor(s, t)]))
    })
  }

  peer(serviceIndex: number, target: TargetRecord): Peer {
    return this.peers[serviceIndex]!.get(target)!
  }

  service(route: RouteRecord): ServiceRecord | undefined {
    return this.snapshot.services[route.service]
  }
}
