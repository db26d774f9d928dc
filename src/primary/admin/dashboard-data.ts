// The body of `GET /dashboard/data`: the live traffic samples plus what the running Snapshot and the shared
// tables say now (routes with their effective plugins, services, upstream target health, workers, totals).
import type { RouteRecord, ServiceRecord, Snapshot } from '../../config/types.js'
import { plugins } from '../../plugins/index.js'
import { applicablePlugins } from '../../config/plugin-precedence.js'
import type { HealthTable } from '../../shared/health-table.js'
import type { Gateway } from '../gateway.js'
import type { TrafficSample } from '../traffic-sampler.js'
import { upstreamHealth, type TargetHealthEntry } from './upstream-health.js'

export interface RoutePlugin {
  name: string
  /** The most specific instance that applies without a consumer (Kong's precedence): where it is attached. */
  scope: 'route' | 'service' | 'global'
}

export interface DashboardRoute {
  name: string
  id: string
  service: string | null
  protocols: string[]
  methods: string[]
  hosts: string[]
  paths: string[]
  /** In execution order (priority, highest first). */
  plugins: RoutePlugin[]
}

export interface DashboardService {
  name: string
  id: string
  protocol: string
  host: string
  port: number
  path: string
  /** The upstream the service is balanced over, null when `host` is a plain host. */
  upstream: string | null
}

export interface DashboardUpstream {
  name: string
  id: string
  algorithm: string
  targets: TargetHealthEntry[]
}

export interface DashboardData {
  generated_at: number
  sample_interval_ms: number
  samples: TrafficSample[]
  status: Record<string, unknown>
  routes: DashboardRoute[]
  services: DashboardService[]
  upstreams: DashboardUpstream[]
}

function routePlugins(snapshot: Snapshot, route: RouteRecord, service: ServiceRecord | undefined): RoutePlugin[] {
  const serviceKeys = service === undefined ? [] : [service.name, service.id]
  const applied = [...applicablePlugins(snapshot, route, serviceKeys, null).values()]
  const priority = (name: string): number => plugins[name]?.priority ?? 0
  applied.sort((a, b) => priority(b.name) - priority(a.name) || (a.name < b.name ? -1 : 1))
  return applied.map((p) => ({ name: p.name, scope: p.route !== null ? 'route' : p.service !== null ? 'service' : 'global' }))
}

/** Routes, services and upstreams of the running Snapshot, with each target's health as the admin API reports it. */
export function describeSnapshot(snapshot: Snapshot, health: HealthTable): Pick<DashboardData, 'routes' | 'services' | 'upstreams'> {
  const routes = snapshot.routes.map((r): DashboardRoute => {
    const service = snapshot.services[r.service]
    return {
      name: r.name,
      id: r.id,
      service: service?.name ?? null,
      protocols: r.protocols,
      methods: r.methods,
      hosts: r.hosts,
      paths: r.paths,
      plugins: routePlugins(snapshot, r, service),
    }
  })
  const services = snapshot.services.map((s): DashboardService => ({
    name: s.name,
    id: s.id,
    protocol: s.protocol,
    host: s.host,
    port: s.port,
    path: s.path === '' ? '/' : s.path,
    upstream: s.upstream === -1 ? null : snapshot.upstreams[s.upstream]!.name,
  }))
  const upstreams = snapshot.upstreams.map((u): DashboardUpstream => ({
    name: u.name,
    id: u.id,
    algorithm: u.algorithm,
    targets: upstreamHealth(snapshot, health, u.name)!.data,
  }))
  return { routes, services, upstreams }
}

export function dashboardData(gw: Gateway): DashboardData {
  return {
    generated_at: Date.now(),
    sample_interval_ms: gw.traffic.intervalMs,
    samples: gw.traffic.samples(),
    status: gw.status(),
    ...describeSnapshot(gw.snapshot, gw.health),
  }
}
