// OpenTelemetry end to end: the real gateway (2 workers) exports spans as OTLP/HTTP JSON to a receiver this
// test runs, continues the client's W3C trace context and sends its own upstream; also GATEWAY_OTEL_ENDPOINT.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request } from '../helpers/http.js'
import { startReceiver, until } from '../helpers/receiver.js'
import { closedPort, echoHandler, startUpstream, type Upstream } from '../helpers/upstream.js'

const CLIENT_TRACE = '0af7651916cd43dd8448eb211c80319c'
const CLIENT_SPAN = 'b7ad6b7169203331'
const SERVER = 2
const CLIENT = 3

interface OtlpValue { stringValue?: string; intValue?: string | number; doubleValue?: number }
interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  attributes: { key: string; value: OtlpValue }[]
  status?: { code?: number }
}
interface Span extends OtlpSpan {
  attrs: Record<string, string | number | undefined>
  resource: Record<string, string | number | undefined>
}

function flat(list: { key: string; value: OtlpValue }[] = []): Record<string, string | number | undefined> {
  return Object.fromEntries(list.map((a) => [a.key, a.value.stringValue ?? (a.value.intValue !== undefined ? Number(a.value.intValue) : a.value.doubleValue)]))
}

/** An OTLP/HTTP receiver: JSON export requests on /v1/traces, spans flattened with their resource. */
async function startCollector(): Promise<{ url: string; spans: Span[]; contentTypes: Set<string>; close(): Promise<void> }> {
  const spans: Span[] = []
  const contentTypes = new Set<string>()
  const receiver = await startReceiver('/v1/traces', (body, req) => {
    contentTypes.add(String(req.headers['content-type']))
    const doc = JSON.parse(body) as { resourceSpans: { resource: { attributes: [] }; scopeSpans: { spans: OtlpSpan[] }[] }[] }
    for (const rs of doc.resourceSpans) {
      for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, attrs: flat(s.attributes), resource: flat(rs.resource.attributes) })
    }
    return 200
  })
  return { ...receiver, spans, contentTypes }
}

/** The traceparent the echo upstream received. */
function upstreamTraceparent(body: string): string {
  return (JSON.parse(body) as { headers: Record<string, string> }).headers.traceparent!
}

let upstream: Upstream
let collector: Awaited<ReturnType<typeof startCollector>>
const gateways: RunningGateway[] = []

const services = (): object[] => [{
  name: 'echo', url: `http://127.0.0.1:${upstream.port}`,
  routes: [{ name: 'traced', paths: ['/traced'] }, { name: 'unsampled', paths: ['/unsampled'] }, { name: 'plain', paths: ['/plain'] }],
}]

async function start(config: object, env: Record<string, string> = {}): Promise<RunningGateway> {
  const gw = await startGateway(config, { env: { GATEWAY_ACCESS_LOG: 'off', ...env } })
  gateways.push(gw)
  return gw
}

beforeAll(async () => {
  upstream = await startUpstream(echoHandler)
  collector = await startCollector()
})

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()))
  await collector.close()
  await upstream.close()
})

describe('opentelemetry plugin', () => {
  let gw: RunningGateway

  beforeAll(async () => {
    gw = await start({
      services: services(),
      plugins: [
        { name: 'opentelemetry', route: 'traced', config: { traces_endpoint: collector.url, queue: { max_coalescing_delay: 0.05 }, http_response_header_for_traceid: 'X-Trace-Id', resource_attributes: { 'deployment.environment': 'e2e' } } },
        { name: 'opentelemetry', route: 'unsampled', config: { traces_endpoint: collector.url, sampling_rate: 0, queue: { max_coalescing_delay: 0.05 } } },
      ],
    })
  })

  it("continues the client's trace and sends the upstream span's context upstream", async () => {
    const reply = await request(`${gw.url}/traced/items?q=1`, { headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` } })
    expect(reply.status).toBe(200)
    expect(reply.headers['x-trace-id']).toBe(CLIENT_TRACE)
    const sent = upstreamTraceparent(reply.body)
    await until(() => collector.spans.filter((s) => s.traceId === CLIENT_TRACE).length === 2, 'both spans of the trace')
    const spans = collector.spans.filter((s) => s.traceId === CLIENT_TRACE)
    const server = spans.find((s) => s.kind === SERVER)!
    const client = spans.find((s) => s.kind === CLIENT)!
    expect(server.name).toBe('GET traced')
    expect(server.parentSpanId).toBe(CLIENT_SPAN)
    expect(client.parentSpanId).toBe(server.spanId)
    expect(sent).toBe(`00-${CLIENT_TRACE}-${client.spanId}-01`)
    expect(server.attrs).toMatchObject({
      'http.request.method': 'GET', 'url.path': '/traced/items', 'url.query': 'q=1', 'http.response.status_code': 200,
      'gateway.route.name': 'traced', 'gateway.service.name': 'echo', 'gateway.upstream.target': `127.0.0.1:${upstream.port}`,
    })
    expect(server.attrs['gateway.latency.total_ms']).toBeGreaterThanOrEqual(0)
    expect(client.attrs).toMatchObject({ 'server.address': '127.0.0.1', 'server.port': upstream.port, 'url.path': '/items', 'http.response.status_code': 200 })
    expect(server.resource).toMatchObject({ 'service.name': 'api-gateway', 'deployment.environment': 'e2e' })
    expect([...collector.contentTypes]).toEqual(['application/json'])
  })

  it('starts a trace for a request without context, and its upstream joins it', async () => {
    const reply = await request(`${gw.url}/traced/new`)
    const traceId = reply.headers['x-trace-id'] as string
    expect(traceId).toMatch(/^[0-9a-f]{32}$/)
    expect(traceId).not.toBe(CLIENT_TRACE)
    await until(() => collector.spans.filter((s) => s.traceId === traceId).length === 2, 'the new trace')
    const server = collector.spans.find((s) => s.traceId === traceId && s.kind === SERVER)!
    expect(server.parentSpanId ?? '').toBe('')
    expect(upstreamTraceparent(reply.body)).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`))
  })

  it('sampling_rate 0 exports nothing and still propagates an unsampled context', async () => {
    const replies = await Promise.all([1, 2, 3].map((i) => request(`${gw.url}/unsampled/${i}`)))
    const sent = replies.map((r) => upstreamTraceparent(r.body))
    for (const tp of sent) expect(tp).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/)
    const traceIds = sent.map((tp) => tp.split('-')[1])
    // A graceful stop flushes every worker's span processors: whatever was recorded has arrived then.
    expect(await gw.stop()).toBe(0)
    expect(collector.spans.filter((s) => traceIds.includes(s.traceId) || s.attrs['gateway.route.name'] === 'unsampled')).toEqual([])
    expect(collector.spans.some((s) => s.attrs['gateway.route.name'] === 'plain')).toBe(false)
  })
})

describe('GATEWAY_OTEL_ENDPOINT', () => {
  it('traces every route without a configured plugin', async () => {
    const gw = await start({ services: services() }, { GATEWAY_OTEL_ENDPOINT: collector.url })
    const reply = await request(`${gw.url}/plain/x`, { headers: { traceparent: `00-${'1'.repeat(32)}-${CLIENT_SPAN}-01` } })
    expect(reply.status).toBe(200)
    expect(upstreamTraceparent(reply.body)).toMatch(new RegExp(`^00-${'1'.repeat(32)}-[0-9a-f]{16}-01$`))
    // Kong's default batch delay (1 s) applies to the implicit instance; a graceful stop flushes it anyway.
    expect(await gw.stop()).toBe(0)
    const spans = collector.spans.filter((s) => s.traceId === '1'.repeat(32))
    expect(spans.map((s) => s.kind).sort()).toEqual([SERVER, CLIENT])
    expect(spans.find((s) => s.kind === SERVER)!.name).toBe('GET plain')
  })

  it('a collector that is down fails no request, and the gateway still stops cleanly', async () => {
    const gw = await start({ services: services() }, { GATEWAY_OTEL_ENDPOINT: `http://127.0.0.1:${await closedPort()}/v1/traces` })
    const replies = await Promise.all(Array.from({ length: 5 }, (_, i) => request(`${gw.url}/plain/${i}`)))
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200])
    expect(await gw.stop()).toBe(0)
  })

  it('GATEWAY_OTEL_SAMPLING_RATE=0 records new traces not at all, but still propagates', async () => {
    const gw = await start({ services: services() }, { GATEWAY_OTEL_ENDPOINT: collector.url, GATEWAY_OTEL_SAMPLING_RATE: '0' })
    const reply = await request(`${gw.url}/plain/y`)
    const tp = upstreamTraceparent(reply.body)
    expect(tp).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/)
    expect(await gw.stop()).toBe(0)
    expect(collector.spans.filter((s) => s.traceId === tp.split('-')[1])).toEqual([])
  })
})
