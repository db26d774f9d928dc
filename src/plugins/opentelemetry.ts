// Kong's opentelemetry plugin (traces): a SERVER span per request and a CLIENT span for the upstream call,
// W3C trace context read from the client and sent upstream, batched OTLP/HTTP export to traces_endpoint.
import { arrayOf, atLeastOneOf, int, mapOf, newReport, num, oneOf, record, str, validateRecord, type EntityCheck } from '../config/schema.js'
import type { PluginInstance, Snapshot } from '../config/types.js'
import type { Settings } from '../settings.js'
import { headerName, headerNameError, httpUrl, timeout } from '../config/typedefs.js'
import { finishRequestSpans, startRequestSpans, type SpanOptions } from '../observability/request-spans.js'
import { tracerFor } from '../observability/tracing.js'
import { queueRecord } from './log-fields.js'
import { CONTINUE, definePlugin, type PhaseResult, type PluginEnv, type PluginRequest, type RequestLog } from './types.js'
import type { Tracer } from '@opentelemetry/api'

export interface OpenTelemetryConfig extends SpanOptions {
  readonly tracer: Tracer
}

/** Kong's propagation formats (typedefs.propagation); only W3C trace context is read and written here. */
const EXTRACT_FORMATS = ['w3c', 'b3', 'jaeger', 'ot', 'aws', 'gcp', 'datadog', 'instana']
const INJECT_FORMATS = ['preserve', 'w3c', 'b3', 'b3-single', 'jaeger', 'ot', 'aws', 'gcp', 'datadog', 'instana']
const DEFAULT_FORMATS = INJECT_FORMATS.slice(1)
const HEADER_TYPES = ['preserve', 'ignore', 'b3', 'b3-single', 'w3c', 'jaeger', 'ot', 'aws', 'gcp', 'datadog']

const ONLY_W3C = 'only W3C trace context (w3c) is supported'
const onlyIn = (allowed: readonly string[]) => (v: string): string | null => (allowed.includes(v) ? null : `${ONLY_W3C}; '${v}' is not`)

/** queue fields the OTLP exporter has no counterpart for: accepted at Kong's defaults only. */
const exporterQueue: EntityCheck = (q) => {
  const problems: { field: string; message: string }[] = []
  const fixed: Record<string, unknown> = { max_retry_time: 60, initial_retry_delay: 0.01, max_retry_delay: 60, concurrency_limit: 1, max_bytes: null }
  for (const [field, value] of Object.entries(fixed)) {
    if (q[field] !== value) problems.push({ field, message: `is not supported by the OTLP exporter (its own retry policy applies); ${value === null ? 'leave it unset' : `leave it at ${String(value)}`}` })
  }
  return problems
}

/** Kong maps the deprecated `endpoint` to traces_endpoint; both set is ambiguous. */
const oneEndpoint: EntityCheck = (c) =>
  c.endpoint !== null && c.traces_endpoint !== null ? { field: 'endpoint', message: "is the deprecated name of 'traces_endpoint': set only one" } : null

const schema = record({
  traces_endpoint: httpUrl(),
  endpoint: { ...httpUrl(), warn: () => "deprecated (Kong 3.x): use 'traces_endpoint'" },
  logs_endpoint: str({ custom: () => 'OTLP logs are not supported: use the file-log or http-log plugin' }),
  headers: mapOf(str({ custom: headerNameError }), str()),
  resource_attributes: mapOf(str({ minLength: 1 }), str({ minLength: 1 })),
  queue: queueRecord(200, [exporterQueue]),
  batch_span_count: int({ min: 1, warn: 'deprecated (Kong 3.x): use queue.max_batch_size' }),
  batch_flush_delay: int({ min: 0, warn: 'deprecated (Kong 3.x): use queue.max_coalescing_delay' }),
  connect_timeout: timeout(1000),
  send_timeout: timeout(5000),
  read_timeout: timeout(5000),
  http_response_header_for_traceid: headerName(),
  header_type: oneOf(HEADER_TYPES, 'preserve', { custom: onlyIn(['preserve', 'ignore', 'w3c']) }),
  sampling_rate: num({ between: [0, 1] }),
  propagation: record({
    extract: arrayOf(oneOf(EXTRACT_FORMATS, undefined, { custom: onlyIn(['w3c']) })),
    clear: arrayOf(str({ custom: headerNameError })),
    inject: arrayOf(oneOf(INJECT_FORMATS, undefined, { custom: onlyIn(['preserve', 'w3c']) })),
    default_format: oneOf(DEFAULT_FORMATS, 'w3c', { required: true, custom: onlyIn(['w3c']) }),
  }),
}, { checks: [atLeastOneOf('traces_endpoint', 'endpoint'), oneEndpoint] })

/**
 * Kong's precedence: propagation.extract / inject when given, else the deprecated header_type (`ignore` reads
 * nothing and still injects the default format; `preserve` and `w3c` read and write W3C). An empty list is "none".
 */
function propagation(c: Record<string, unknown>): { extract: boolean; inject: boolean; clear: string[] } {
  const p = c.propagation as { extract: string[] | null; inject: string[] | null; clear: string[] | null }
  const headerType = c.header_type as string
  return {
    extract: p.extract !== null ? p.extract.length > 0 : headerType !== 'ignore',
    inject: p.inject !== null ? p.inject.length > 0 : true,
    clear: (p.clear ?? []).map((h) => h.toLowerCase()),
  }
}

function compile(c: Record<string, unknown>, env: PluginEnv): OpenTelemetryConfig {
  const q = c.queue as Record<string, number>
  const flushSeconds = (c.batch_flush_delay as number | null) ?? q.max_coalescing_delay!
  const tracer = tracerFor({
    url: (c.traces_endpoint as string | null) ?? (c.endpoint as string),
    headers: (c.headers as Record<string, string> | null) ?? {},
    resourceAttributes: (c.resource_attributes as Record<string, string> | null) ?? {},
    maxBatchSize: (c.batch_span_count as number | null) ?? q.max_batch_size!,
    flushDelayMs: Math.round(flushSeconds * 1000),
    maxQueueSize: q.max_entries!,
    // The exporter has one deadline per export: Kong's three phases added up.
    timeoutMs: (c.connect_timeout as number) + (c.send_timeout as number) + (c.read_timeout as number),
    // Unset: the process-wide rate (GATEWAY_OTEL_SAMPLING_RATE), as Kong falls back to tracing_sampling_rate.
    samplingRate: (c.sampling_rate as number | null) ?? env.settings.otelSamplingRate,
  })
  return { tracer, ...propagation(c), traceIdHeader: c.http_response_header_for_traceid as string | null }
}

function access(ctx: PluginRequest, c: OpenTelemetryConfig): PhaseResult {
  startRequestSpans(ctx, c.tracer, c)
  return CONTINUE
}

function log(entry: RequestLog): void {
  finishRequestSpans(entry)
}

export default definePlugin<OpenTelemetryConfig>({
  name: 'opentelemetry',
  // Kong's PRIORITY is 14, but Kong starts a request's root span before any plugin runs: running first here
  // gives the same traces (requests refused by auth or rate limits have spans too).
  priority: 1_000_000,
  schema,
  compile,
  phases: { access, log },
})

/** The id of the instance GATEWAY_OTEL_ENDPOINT adds (shown in no config; route-scoped instances override it). */
export const PROCESS_WIDE_TRACING_ID = 'gateway-otel-endpoint'

/**
 * GATEWAY_OTEL_ENDPOINT: the Snapshot as the chains see it, with a global opentelemetry instance exporting there
 * (Kong's defaults, sampled at GATEWAY_OTEL_SAMPLING_RATE). It goes last, so an opentelemetry plugin in the config,
 * global or scoped, takes precedence. Unchanged when the variable is unset.
 */
export function withGatewayTracing(snapshot: Snapshot, settings: Settings): Snapshot {
  if (settings.otelEndpoint === null) return snapshot
  const report = newReport()
  const config = validateRecord(schema, { traces_endpoint: settings.otelEndpoint }, '', report)!
  const instance: PluginInstance = { name: 'opentelemetry', id: PROCESS_WIDE_TRACING_ID, config, service: null, route: null, consumer: null }
  return { ...snapshot, plugins: [...snapshot.plugins, instance] }
}
