// The two spans of one proxied request: a SERVER span for the request through the gateway (continuing the
// client's W3C trace context) and its CLIENT child for the upstream call, whose context goes upstream.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type TextMapGetter, type TextMapSetter, type Tracer } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { stripPort } from '../net/host.js'
import { parseHostPort } from '../config/typedefs.js'
import type { PluginRequest, RequestLog } from '../plugins/types.js'

export interface SpanOptions {
  /** Read the client's traceparent/tracestate and continue its trace. */
  readonly extract: boolean
  /** Send the upstream span's traceparent (and the tracestate) upstream. */
  readonly inject: boolean
  /** Lower-case header names removed from the upstream request before injecting (Kong's propagation.clear). */
  readonly clear: readonly string[]
  /** Response header that gets the trace id (Kong's http_response_header_for_traceid), or null. */
  readonly traceIdHeader: string | null
}

interface RequestSpans {
  readonly server: Span
  readonly client: Span
}

const w3c = new W3CTraceContextPropagator()

const headerGetter: TextMapGetter<Map<string, string>> = {
  keys: (carrier) => [...carrier.keys()],
  get: (carrier, key) => carrier.get(key),
}

/** Propagator keys are lower-case constants ('traceparent', 'tracestate'), so they are their own lower form. */
const upstreamSetter: TextMapSetter<PluginRequest> = {
  set: (carrier, key, value) => carrier.setUpstreamHeader(key, value, key),
}

/** Spans of requests still in flight, until their log phase (a request that never gets one is collected). */
const inFlight = new WeakMap<PluginRequest, RequestSpans>()

/**
 * Access phase: starts the spans (recording only when sampled), clears and injects the propagation headers
 * upstream and sets the trace-id response header. An unsampled request still propagates its context
 * (sampled flag 0), so the upstream joins the same trace.
 */
export function startRequestSpans(ctx: PluginRequest, tracer: Tracer, o: SpanOptions): void {
  const parent: Context = o.extract ? w3c.extract(ROOT_CONTEXT, ctx.headers, headerGetter) : ROOT_CONTEXT
  const route = ctx.routeName !== '' ? ctx.routeName : ctx.routeId
  const server = tracer.startSpan(ctx.method + ' ' + route, { kind: SpanKind.SERVER }, parent)
  const client = tracer.startSpan(ctx.method, { kind: SpanKind.CLIENT }, trace.setSpan(parent, server))
  for (let i = 0; i < o.clear.length; i++) ctx.setUpstreamHeader(o.clear[i]!, null, o.clear[i])
  if (o.inject) w3c.inject(trace.setSpan(ROOT_CONTEXT, client), ctx, upstreamSetter)
  if (o.traceIdHeader !== null) ctx.addResponseHeader(o.traceIdHeader, server.spanContext().traceId)
  if (!server.isRecording()) return
  const ua = ctx.headers.get('user-agent')
  server.setAttributes({
    'http.request.method': ctx.method,
    'url.scheme': ctx.scheme,
    'url.path': ctx.path,
    'server.address': stripPort(ctx.host),
    'server.port': ctx.port,
    'client.address': ctx.clientIp,
    'network.protocol.version': '1.1',
    'gateway.route.name': ctx.routeName,
    'gateway.route.id': ctx.routeId,
    'gateway.service.name': ctx.serviceName,
    'gateway.service.id': ctx.serviceId,
    'gateway.request_id': ctx.requestId,
  })
  if (ctx.query !== '') server.setAttribute('url.query', ctx.query)
  if (ua !== undefined) server.setAttribute('user_agent.original', ua)
  client.setAttribute('http.request.method', ctx.method)
  inFlight.set(ctx, { server, client })
}

/** HTTP semantic conventions: 5xx, or no answer at all, is a server span error. */
function markError(span: Span, status: number, aborted: boolean): void {
  if (status >= 500) span.setAttribute('error.type', String(status))
  else if (status === 0 || aborted) span.setAttribute('error.type', 'aborted')
  else return
  span.setStatus({ code: SpanStatusCode.ERROR })
}

/**
 * Log phase: status, route, service, upstream target and latencies as attributes, then both spans end at the
 * request's last byte. The CLIENT span is dropped (never ended, never exported) when no upstream was called.
 */
export function finishRequestSpans(log: RequestLog): void {
  const spans = inFlight.get(log.request)
  if (spans === undefined) return
  inFlight.delete(log.request)
  const end = log.startedAt + log.totalMs
  const { server, client } = spans
  const consumer = log.request.consumer
  server.setAttributes({
    'http.response.status_code': log.status,
    'http.request.body.size': log.bytesIn,
    'http.response.body.size': log.bytesOut,
    'gateway.latency.total_ms': log.totalMs,
    'gateway.latency.proxy_ms': log.proxyMs,
    'gateway.latency.upstream_ms': log.upstreamMs,
  })
  if (consumer !== null && consumer.username !== null) server.setAttribute('gateway.consumer.username', consumer.username)
  if (log.cacheStatus !== '') server.setAttribute('gateway.cache_status', log.cacheStatus)
  markError(server, log.status, log.aborted)
  if (log.upstreamTarget !== '') {
    server.setAttribute('gateway.upstream.target', log.upstreamTarget)
    const hp = parseHostPort(log.upstreamTarget)
    if (hp !== null) client.setAttributes({ 'server.address': hp.host, 'server.port': hp.port ?? 0 })
    const q = log.upstreamUri.indexOf('?')
    client.setAttribute('url.path', q === -1 ? log.upstreamUri : log.upstreamUri.slice(0, q))
    if (q !== -1) client.setAttribute('url.query', log.upstreamUri.slice(q + 1))
    if (log.upstreamMs >= 0) client.setAttribute('http.response.status_code', log.status)
    else client.setStatus({ code: SpanStatusCode.ERROR })
    client.end(end)
  }
  server.end(end)
}
