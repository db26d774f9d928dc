// Request spans over the real OpenTelemetry SDK (in-memory exporter): sampling, W3C context continued and
// sent upstream, attributes; and the opentelemetry plugin's schema and the GATEWAY_OTEL_ENDPOINT instance.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { describe, expect, it } from 'vitest'
import { newReport, validateRecord } from '../../src/config/schema.js'
import { finishRequestSpans, startRequestSpans, type SpanOptions } from '../../src/observability/request-spans.js'
import { samplerFor } from '../../src/observability/tracing.js'
import opentelemetry, { PROCESS_WIDE_TRACING_ID, withGatewayTracing } from '../../src/plugins/opentelemetry.js'
import type { RequestLog } from '../../src/plugins/types.js'
import { readSettings } from '../../src/settings.js'
import { fakeRequest, snapshotWith, type FakeRequest } from '../helpers/plugins.js'

const W3C: SpanOptions = { extract: true, inject: true, clear: [], traceIdHeader: null }
const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const CLIENT_SPAN = '00f067aa0ba902b7'

function tracing(rate: number): { exporter: InMemorySpanExporter; tracer: ReturnType<BasicTracerProvider['getTracer']> } {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ sampler: samplerFor(rate), spanProcessors: [new SimpleSpanProcessor(exporter)] })
  return { exporter, tracer: provider.getTracer('test') }
}

function done(request: FakeRequest, over: Partial<RequestLog> = {}): RequestLog {
  return {
    request, status: 200, startedAt: Date.now(), totalMs: 5, proxyMs: 1, upstreamMs: 3, bytesIn: 0, bytesOut: 9,
    upstreamTarget: '127.0.0.1:3001', upstreamUri: '/items?q=1', aborted: false, cacheStatus: '', rateLimited: false, ...over,
  }
}

function upstreamHeader(ctx: FakeRequest, name: string): string | null | undefined {
  return ctx.upstreamHeaders.find(([n]) => n === name)?.[1]
}

function byKind(spans: ReadableSpan[], kind: SpanKind): ReadableSpan {
  return spans.find((s) => s.kind === kind)!
}

describe('request spans', () => {
  it('records a SERVER span and its CLIENT child, and sends the CLIENT span upstream', () => {
    const { exporter, tracer } = tracing(1)
    const ctx = fakeRequest({ method: 'GET', path: '/items', query: 'q=1', routeName: 'items' })
    startRequestSpans(ctx, tracer, { ...W3C, traceIdHeader: 'X-Trace-Id' })
    finishRequestSpans(done(ctx))
    const spans = exporter.getFinishedSpans()
    expect(spans).toHaveLength(2)
    const server = byKind(spans, SpanKind.SERVER)
    const client = byKind(spans, SpanKind.CLIENT)
    expect(server.name).toBe('GET items')
    expect(client.parentSpanContext?.spanId).toBe(server.spanContext().spanId)
    expect(upstreamHeader(ctx, 'traceparent')).toBe(`00-${server.spanContext().traceId}-${client.spanContext().spanId}-01`)
    expect(ctx.responseHeaders).toEqual([['X-Trace-Id', server.spanContext().traceId]])
    expect(server.attributes).toMatchObject({
      'http.request.method': 'GET', 'url.path': '/items', 'url.query': 'q=1', 'http.response.status_code': 200,
      'gateway.route.name': 'items', 'gateway.service.name': 's', 'gateway.upstream.target': '127.0.0.1:3001', 'gateway.latency.upstream_ms': 3,
    })
    expect(client.attributes).toMatchObject({ 'server.address': '127.0.0.1', 'server.port': 3001, 'url.path': '/items', 'url.query': 'q=1' })
    expect(server.status.code).toBe(SpanStatusCode.UNSET)
  })

  it("continues the client's trace: same trace id, the client's span is our parent, tracestate passed on", () => {
    const { exporter, tracer } = tracing(1)
    const ctx = fakeRequest({ headers: new Map([['traceparent', `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`], ['tracestate', 'vendor=1']]) })
    startRequestSpans(ctx, tracer, W3C)
    finishRequestSpans(done(ctx))
    const server = byKind(exporter.getFinishedSpans(), SpanKind.SERVER)
    expect(server.spanContext().traceId).toBe(CLIENT_TRACE)
    expect(server.parentSpanContext?.spanId).toBe(CLIENT_SPAN)
    expect(upstreamHeader(ctx, 'traceparent')).toMatch(new RegExp(`^00-${CLIENT_TRACE}-[0-9a-f]{16}-01$`))
    expect(upstreamHeader(ctx, 'tracestate')).toBe('vendor=1')
  })

  it('sampling_rate 0 records nothing but still propagates an unsampled context', () => {
    const { exporter, tracer } = tracing(0)
    const ctx = fakeRequest()
    startRequestSpans(ctx, tracer, W3C)
    finishRequestSpans(done(ctx))
    expect(exporter.getFinishedSpans()).toHaveLength(0)
    expect(upstreamHeader(ctx, 'traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/)
  })

  it("follows the parent's sampled flag whatever the rate", () => {
    const sampledParent = tracing(0)
    const ctx = fakeRequest({ headers: new Map([['traceparent', `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`]]) })
    startRequestSpans(ctx, sampledParent.tracer, W3C)
    finishRequestSpans(done(ctx))
    expect(sampledParent.exporter.getFinishedSpans()).toHaveLength(2)

    const unsampledParent = tracing(1)
    const ctx2 = fakeRequest({ headers: new Map([['traceparent', `00-${CLIENT_TRACE}-${CLIENT_SPAN}-00`]]) })
    startRequestSpans(ctx2, unsampledParent.tracer, W3C)
    finishRequestSpans(done(ctx2))
    expect(unsampledParent.exporter.getFinishedSpans()).toHaveLength(0)
    expect(upstreamHeader(ctx2, 'traceparent')).toMatch(new RegExp(`^00-${CLIENT_TRACE}-[0-9a-f]{16}-00$`))
  })

  it('with extraction off starts a new trace, and clears the listed headers before injecting', () => {
    const { exporter, tracer } = tracing(1)
    const ctx = fakeRequest({ headers: new Map([['traceparent', `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`], ['b3', '1-2-1']]) })
    startRequestSpans(ctx, tracer, { ...W3C, extract: false, clear: ['b3'] })
    finishRequestSpans(done(ctx))
    const server = byKind(exporter.getFinishedSpans(), SpanKind.SERVER)
    expect(server.spanContext().traceId).not.toBe(CLIENT_TRACE)
    expect(server.parentSpanContext).toBeUndefined()
    expect(ctx.upstreamHeaders.map(([n, v]) => [n, v === null ? null : n])).toEqual([['b3', null], ['traceparent', 'traceparent']])
  })

  it('an answer without an upstream call has only the SERVER span; a 5xx marks it as an error', () => {
    const { exporter, tracer } = tracing(1)
    const ctx = fakeRequest()
    startRequestSpans(ctx, tracer, W3C)
    finishRequestSpans(done(ctx, { status: 503, proxyMs: -1, upstreamMs: -1, upstreamTarget: '', upstreamUri: '' }))
    const spans = exporter.getFinishedSpans()
    expect(spans.map((s) => s.kind)).toEqual([SpanKind.SERVER])
    expect(spans[0]!.status.code).toBe(SpanStatusCode.ERROR)
    expect(spans[0]!.attributes['error.type']).toBe('503')
  })
})

function problems(config: Record<string, unknown>): string[] {
  const report = newReport()
  validateRecord(opentelemetry.schema, config, 'config', report)
  return report.errors.map((e) => `${e.path}: ${e.message}`)
}

describe('opentelemetry plugin config', () => {
  it("accepts Kong's fields at their defaults and the deprecated endpoint", () => {
    expect(problems({ traces_endpoint: 'http://collector:4318/v1/traces', header_type: 'w3c', sampling_rate: 0.5, propagation: { extract: ['w3c'], inject: ['preserve'], clear: ['b3'] } })).toEqual([])
    expect(problems({ endpoint: 'http://collector:4318/v1/traces' })).toEqual([])
  })

  it('refuses what it cannot honour, naming the field', () => {
    expect(problems({})).toEqual(["config: at least one of these fields must be non-empty: 'traces_endpoint', 'endpoint'"])
    expect(problems({ traces_endpoint: 'http://c/v1/traces', header_type: 'b3' })).toEqual(["config.header_type: only W3C trace context (w3c) is supported; 'b3' is not"])
    expect(problems({ traces_endpoint: 'http://c/v1/traces', propagation: { extract: ['w3c', 'datadog'] } })).toEqual(["config.propagation.extract[1]: only W3C trace context (w3c) is supported; 'datadog' is not"])
    expect(problems({ traces_endpoint: 'http://c/v1/traces', logs_endpoint: 'http://c/v1/logs' })[0]).toMatch(/^config.logs_endpoint: OTLP logs are not supported/)
    expect(problems({ traces_endpoint: 'http://c/v1/traces', queue: { max_retry_time: 5 } })[0]).toMatch(/^config.queue.max_retry_time: is not supported by the OTLP exporter/)
    expect(problems({ traces_endpoint: 'http://c/v1/traces', sampling_rate: 2 })).toEqual(['config.sampling_rate: must be between 0 and 1'])
  })

  it('GATEWAY_OTEL_ENDPOINT adds one global instance with Kong defaults, after the configured ones', () => {
    const snapshot = snapshotWith()
    expect(withGatewayTracing(snapshot, readSettings({}))).toBe(snapshot)
    const traced = withGatewayTracing(snapshot, readSettings({ GATEWAY_OTEL_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }))
    expect(traced.plugins).toHaveLength(1)
    const instance = traced.plugins[0]!
    expect(instance).toMatchObject({ name: 'opentelemetry', id: PROCESS_WIDE_TRACING_ID, route: null, service: null, consumer: null })
    expect(instance.config).toMatchObject({ traces_endpoint: 'http://127.0.0.1:4318/v1/traces', sampling_rate: null, header_type: 'preserve' })
  })
})
