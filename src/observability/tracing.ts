// OpenTelemetry tracer providers of this worker: one per export target (endpoint, headers, resource, batching,
// sampling rate), each with a batch span processor and an OTLP/HTTP (JSON) exporter, shut down at worker exit.
import { hostname } from 'node:os'
import { diag, DiagLogLevel, type DiagLogFunction, type Tracer } from '@opentelemetry/api'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base'
import { createLogger } from '../logger.js'
import { VERSION } from '../version.js'
import { atWorkerExit } from './shutdown.js'

export interface ExportTarget {
  /** OTLP/HTTP traces URL (…/v1/traces). */
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  /** Merged over service.name, service.version and service.instance.id. */
  readonly resourceAttributes: Readonly<Record<string, string>>
  readonly maxBatchSize: number
  readonly flushDelayMs: number
  /** Spans waiting for export; past it new ones are dropped by the processor. */
  readonly maxQueueSize: number
  /** One export request, connect to answer. */
  readonly timeoutMs: number
  /** Share of new traces recorded (0–1); a continued trace follows its parent's sampled flag. */
  readonly samplingRate: number
}

/** `service.name` unless resource_attributes say otherwise (Kong uses "kong"; this is not Kong). */
const SERVICE_NAME = 'api-gateway'

/**
 * Kong's sampling: a request that carries a trace context keeps its parent's decision (sampled flag), a new
 * trace is recorded with probability `rate`, decided from its trace id (OpenTelemetry's ratio sampler), so
 * every span of one trace gets the same answer.
 */
export function samplerFor(rate: number): ParentBasedSampler {
  return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(rate) })
}

const tracers = new Map<string, Tracer>()

/**
 * The SDK reports failed exports (collector down, refused batch) through its diag logger, silent by default:
 * warnings and errors go to the process log instead, as Kong logs a failed batch.
 */
function reportExportProblems(): void {
  const log = createLogger('warn', { component: 'tracing' })
  const warn: DiagLogFunction = (message, ...args) => log.warn({ detail: args.map(String) }, message)
  const ignore: DiagLogFunction = () => {}
  diag.setLogger({ error: warn, warn, info: ignore, debug: ignore, verbose: ignore }, DiagLogLevel.WARN)
}

/** The tracer for `target`, its provider created on first use and shut down (spans flushed) at worker exit. */
export function tracerFor(target: ExportTarget): Tracer {
  const key = JSON.stringify(target)
  let tracer = tracers.get(key)
  if (tracer !== undefined) return tracer
  if (tracers.size === 0) reportExportProblems()
  const exporter = new OTLPTraceExporter({ url: target.url, headers: { ...target.headers }, timeoutMillis: target.timeoutMs })
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': SERVICE_NAME,
      'service.version': VERSION,
      'service.instance.id': `${hostname()}:${process.pid}`,
      ...target.resourceAttributes,
    }),
    sampler: samplerFor(target.samplingRate),
    spanProcessors: [new BatchSpanProcessor(exporter, {
      maxExportBatchSize: target.maxBatchSize,
      scheduledDelayMillis: target.flushDelayMs,
      maxQueueSize: Math.max(target.maxQueueSize, target.maxBatchSize),
      exportTimeoutMillis: target.timeoutMs,
    })],
  })
  tracer = provider.getTracer('api-gateway', VERSION)
  tracers.set(key, tracer)
  atWorkerExit((timeoutMs) => Promise.race([
    provider.shutdown(),
    new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
  ]))
  return tracer
}
