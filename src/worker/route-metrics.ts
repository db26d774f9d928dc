// Which metrics rows each route of a Snapshot counts into: its own {service, route} labels for the
// families the applicable prometheus plugin turns on, the shared unlabelled row for the rest.
import type { Snapshot } from '../config/types.js'
import type { RouteRows, WorkerMetrics } from '../observability/worker-metrics.js'
import { applicablePlugins } from '../config/plugin-precedence.js'

/** The rows of requests no route matched (404s): the unlabelled row for every family. */
export function unroutedRows(metrics: WorkerMetrics): RouteRows {
  const unlabelled = metrics.row('', '')
  return { status: unlabelled, latency: unlabelled, bandwidth: unlabelled }
}

export function routeMetricsRows(snapshot: Snapshot, metrics: WorkerMetrics): RouteRows[] {
  const unlabelled = metrics.row('', '')
  return snapshot.routes.map((route) => {
    const service = snapshot.services[route.service]
    const prometheus = applicablePlugins(snapshot, route, service ? [service.name, service.id] : [], null).get('prometheus')
    if (prometheus === undefined) return { status: unlabelled, latency: unlabelled, bandwidth: unlabelled }
    const own = metrics.row(service?.name ?? '', route.name)
    const c = prometheus.config
    return {
      status: c.status_code_metrics === true ? own : unlabelled,
      latency: c.latency_metrics === true ? own : unlabelled,
      bandwidth: c.bandwidth_metrics === true ? own : unlabelled,
    }
  })
}
