// Kong's prometheus plugin: where it applies (globally, to a service or a route), the metric families its
// flags name get that route's {service, route} labels; elsewhere requests are counted without them.
import { bool, record } from '../config/schema.js'
import { definePlugin } from './types.js'

export interface PrometheusConfig {
  /** api_gateway_requests_total, rate-limit and cache counters labelled by route (Kong: status_code_metrics). */
  statusCodes: boolean
  /** api_gateway_request_duration_ms / upstream_duration_ms labelled by route (Kong: latency_metrics). */
  latency: boolean
  /** api_gateway_bandwidth_bytes_total labelled by route (Kong: bandwidth_metrics). */
  bandwidth: boolean
}

/** A consumer label would make the series count grow with the consumer table: refused, not ignored. */
const unsupported = (what: string) => (value: never): string | null => (value === true ? `${what} is not supported: it would make the series count unbounded` : null)

export default definePlugin<PrometheusConfig>({
  name: 'prometheus',
  priority: 13,
  schema: record({
    per_consumer: bool({ default: false, required: true, custom: unsupported('per_consumer') }),
    status_code_metrics: bool({ default: false, required: true }),
    latency_metrics: bool({ default: false, required: true }),
    bandwidth_metrics: bool({ default: false, required: true }),
    // The target health gauge is always exported (SPEC §10); the flag is accepted for Kong files.
    upstream_health_metrics: bool({ default: false, required: true }),
    ai_metrics: bool({ default: false, required: true, custom: unsupported('ai_metrics') }),
  }),
  compile: (c) => ({ statusCodes: c.status_code_metrics === true, latency: c.latency_metrics === true, bandwidth: c.bandwidth_metrics === true }),
  phases: {},
})
