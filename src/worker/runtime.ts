// Everything a worker derives from one Snapshot: the router, each route's plugin chain and a
// balancer per upstream. Built once per reload; requests keep the Runtime they started with.
import type { RouteRecord, ServiceRecord, Snapshot } from '../config/types.js'
import type { HealthTable } from '../shared/health-table.js'
import { createBalancer, type Balancer } from '../upstream/balancer.js'
import { buildChains, type Chain } from './chain.js'
import { Router } from './router.js'

export class Runtime {
  readonly snapshot: Snapshot
  readonly router: Router
  /** Per route index: the access-phase chain, or null when no plugin applies (STYLE 2.2). */
  readonly access: (Chain | null)[]
  /** Per service index: the upstream's balancer, or null for a single-target service. */
  readonly balancers: (Balancer | null)[]

  constructor(snapshot: Snapshot, health: HealthTable) {
    this.snapshot = snapshot
    this.router = new Router(snapshot)
    this.access = buildChains(snapshot)
    const perUpstream = snapshot.upstreams.map((u) => createBalancer(u, health))
    this.balancers = snapshot.services.map((s) => (s.upstream >= 0 ? perUpstream[s.upstream]! : null))
  }

  service(route: RouteRecord): ServiceRecord | undefined {
    return this.snapshot.services[route.service]
  }
}
