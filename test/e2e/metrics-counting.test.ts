// GET /metrics counts every request and keeps its gauges true (SPEC §10), end to end on one worker with
// GATEWAY_MAX_CONCURRENCY=1: a 400 framing rejection and a 503 over the limit are counted (labels '') and
// access-logged, ingress bytes match what was sent, in-flight and upstream gauges follow a held request,
// a rejected SIGHUP reload is counted as a failure, and a killed worker's gauges go back to zero after
// its respawn while the counters keep their totals.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { rawRequest, request, type Reply } from '../helpers/http.js'
import { echoHandler, startUpstream, type Upstream } from '../helpers/upstream.js'
import { samples, sum, type Samples } from '../helpers/prometheus.js'

/** The value of the one sample matching exactly; undefined when there is none. */
function value(all: Samples, name: string, labels: Record<string, string>): number | undefined {
  const keys = Object.keys(labels)
  const hit = all.find(([n, l]) => n === name && Object.keys(l).length === keys.length && keys.every((k) => l[k] === labels[k]))
  return hit?.[2]
}

interface Status {
  requests: number
  errors: number
  connections: { in_flight: number; upstream_open: number; upstream_idle: number }
  workers: { ready: number; restarts: number; threads: { requests: number; in_flight: number }[] }
}

let up: Upstream
let gw: RunningGateway
/** Resolvers of the upstream's held requests (`/hold…`), in arrival order. */
const held: (() => void)[] = []

const CONFIG = (port: number): object => ({
  services: [{
    name: 'svc',
    url: `http://127.0.0.1:${port}`,
    routes: [{ name: 'r', paths: ['/r'] }],
    plugins: [{ name: 'prometheus', config: { status_code_metrics: true, latency_metrics: true, bandwidth_metrics: true } }],
  }],
})

async function scrape(): Promise<Samples> {
  const reply = await request(gw.adminUrl + '/metrics')
  expect(reply.status).toBe(200)
  return samples(reply.body)
}

const status = async (): Promise<Status> => (await request(gw.adminUrl + '/status')).json<Status>()

async function until(cond: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The access-log line (stdout) of the request with this X-Request-Id. */
async function accessLine(requestId: string): Promise<{ response: { status: number }; route: unknown; request: { method: string; uri: string } }> {
  const find = () => gw.logs().split('\n').find((l) => l.includes(`"request_id":"${requestId}"`) && l.includes('"response"'))
  await until(() => find() !== undefined, `the access-log line of ${requestId}`)
  return JSON.parse(find()!) as Awaited<ReturnType<typeof accessLine>>
}

/** Sends a request the upstream holds until `releaseHeld()`; resolves once the upstream has it (wrapped: not awaited). */
async function holdOne(): Promise<{ reply: Promise<Reply | Error> }> {
  const before = held.length
  const reply = request(gw.url + '/r/hold').catch((err: Error) => err)
  await until(() => held.length > before, 'the held request to reach the upstream')
  return { reply }
}

function releaseHeld(): void {
  for (const release of held.splice(0)) release()
}

beforeAll(async () => {
  up = await startUpstream((req, res) => {
    if (req.url!.includes('/hold')) held.push(() => echoHandler(req, res))
    else echoHandler(req, res)
  })
  gw = await startGateway(CONFIG(up.port), { workers: 1, env: { GATEWAY_MAX_CONCURRENCY: '1', GATEWAY_ACCESS_LOG: 'stdout' } })
})

// A failed test must not leave its held request occupying the worker's one slot.
afterEach(releaseHeld)

afterAll(async () => {
  releaseHeld()
  await gw?.stop()
  await up?.close()
})

describe('requests answered before routing', () => {
  it('counts and access-logs a 400 framing rejection, with empty service and route labels', async () => {
    // Two different Content-Lengths: the listener's framing check answers 400 (uWS itself drops CL + TE unanswered).
    const before = value(await scrape(), 'api_gateway_requests_total', { service: '', route: '', method: 'POST', status: '400' }) ?? 0
    const r = await rawRequest(gw.port, 'POST /r/framing HTTP/1.1\r\nHost: t\r\nX-Request-Id: framing-400\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello')
    expect(r.data.startsWith('HTTP/1.1 400')).toBe(true)
    const m = await scrape()
    expect(value(m, 'api_gateway_requests_total', { service: '', route: '', method: 'POST', status: '400' })).toBe(before + 1)
    const line = await accessLine('framing-400')
    expect(line.response.status).toBe(400)
    expect(line.route).toBeNull()
    expect(line.request).toMatchObject({ method: 'POST', uri: '/r/framing' })
  })

  it('counts and access-logs a 503 over GATEWAY_MAX_CONCURRENCY', async () => {
    const { reply: holding } = await holdOne()
    const refused = await request(gw.url + '/r/other', { headers: { 'x-request-id': 'overload-503' } })
    expect(refused.status).toBe(503)
    const m = await scrape()
    expect(value(m, 'api_gateway_requests_total', { service: '', route: '', method: 'GET', status: '503' })).toBe(1)
    const line = await accessLine('overload-503')
    expect(line.response.status).toBe(503)
    expect(line.request).toMatchObject({ method: 'GET', uri: '/r/other' })
    releaseHeld()
    expect(((await holding) as Reply).status).toBe(200)
    const after = await scrape()
    expect(value(after, 'api_gateway_requests_total', { service: 'svc', route: 'r', method: 'GET', status: '200' })).toBe(1)
  })
})

describe('gauges and counters', () => {
  it('exports in_flight and upstream_open while a request is held upstream', async () => {
    const { reply: holding } = await holdOne()
    const m = await scrape()
    expect(value(m, 'api_gateway_connections', { state: 'in_flight' })).toBe(1)
    expect(value(m, 'api_gateway_connections', { state: 'upstream_open' })).toBeGreaterThanOrEqual(1)
    const s = await status()
    expect(s.connections.in_flight).toBe(1)
    expect(s.connections.upstream_open).toBeGreaterThanOrEqual(1)
    releaseHeld()
    expect(((await holding) as Reply).status).toBe(200)
    await until(async () => (await status()).connections.in_flight === 0, 'in_flight back to 0')
    expect(value(await scrape(), 'api_gateway_connections', { state: 'in_flight' })).toBe(0)
  })

  it('counts ingress body bytes as sent (Content-Length and chunked bodies)', async () => {
    const ingress = async (): Promise<number> => sum(await scrape(), 'api_gateway_bandwidth_bytes_total', { direction: 'ingress', route: 'r' })
    const before = await ingress()
    let sent = 0
    for (const size of [1, 100, 10_000, 70_000]) {
      const body = Buffer.alloc(size, 'a')
      const r = await request(gw.url + '/r/upload', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } })
      expect(r.status).toBe(200)
      expect(r.json<{ bodyBytes: number }>().bodyBytes).toBe(size)
      sent += size
    }
    const chunked = await rawRequest(gw.port, 'POST /r/chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n')
    expect(chunked.data.startsWith('HTTP/1.1 200')).toBe(true)
    sent += 11
    expect((await ingress()) - before).toBe(sent)
  })

  it('counts a rejected SIGHUP reload as a failure', async () => {
    let m = await scrape()
    expect(value(m, 'api_gateway_config_reloads_total', { result: 'failure' })).toBe(0)
    const success = value(m, 'api_gateway_config_reloads_total', { result: 'success' })
    gw.writeConfig({ services: [{ name: 'svc', url: 'not a url', routes: [{ name: 'r', paths: ['no-slash'] }] }] })
    const mark = gw.logs().length
    gw.proc.kill('SIGHUP')
    await gw.waitForLog('reload rejected', mark)
    m = await scrape()
    expect(value(m, 'api_gateway_config_reloads_total', { result: 'failure' })).toBe(1)
    expect(value(m, 'api_gateway_config_reloads_total', { result: 'success' })).toBe(success)
    gw.writeConfig(CONFIG(up.port))
    expect((await request(gw.url + '/r/still')).status).toBe(200)
  })

  it('zeroes a killed worker\'s gauges once it is respawned; its counters keep their totals', async () => {
    // Idle upstream connections from the earlier requests, and one held request in flight.
    const { reply: holding } = await holdOne()
    let s = await status()
    expect(s.connections.in_flight).toBe(1)
    expect(s.connections.upstream_open).toBeGreaterThanOrEqual(1)
    const requestsBefore = s.requests
    const errorsBefore = s.errors
    const totalBefore = sum(await scrape(), 'api_gateway_requests_total')
    expect(requestsBefore).toBeGreaterThan(5)

    expect((await request(gw.adminUrl + '/workers/0', { method: 'DELETE' })).status).toBe(202)
    expect(await holding).toBeInstanceOf(Error)
    await until(async () => {
      const now = await status()
      return now.workers.restarts === 1 && now.workers.ready === 1
    }, 'the worker to be respawned')

    s = await status()
    expect(s.connections).toEqual({ in_flight: 0, upstream_open: 0, upstream_idle: 0 })
    expect(s.workers.threads[0]!.in_flight).toBe(0)
    // Counters are not gauges: the dead worker's requests and errors are still in the totals.
    expect(s.requests).toBe(requestsBefore)
    expect(s.errors).toBe(errorsBefore)
    let m = await scrape()
    expect(value(m, 'api_gateway_connections', { state: 'in_flight' })).toBe(0)
    expect(value(m, 'api_gateway_connections', { state: 'upstream_open' })).toBe(0)
    expect(value(m, 'api_gateway_connections', { state: 'upstream_idle' })).toBe(0)
    expect(sum(m, 'api_gateway_requests_total')).toBeGreaterThanOrEqual(totalBefore)

    // The respawned worker counts from where the row stood, and its gauges move from zero.
    releaseHeld()
    expect((await request(gw.url + '/r/after')).status).toBe(200)
    s = await status()
    expect(s.requests).toBe(requestsBefore + 1)
    expect(s.connections.in_flight).toBe(0)
    expect(s.connections.upstream_open).toBe(1)
    expect(s.connections.upstream_idle).toBe(1)
    m = await scrape()
    expect(value(m, 'api_gateway_connections', { state: 'upstream_idle' })).toBe(1)
  })
})
