// Proxy correctness end to end (SPEC §4): forwarded and hop-by-hop headers, request ids,
// Kong's error statuses, framing refusals, retries, balancers and keep-alive reuse.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { rawRequest, request } from '../helpers/http.js'
import { closedPort, echoHandler, startRawUpstream, startUpstream, type Upstream } from '../helpers/upstream.js'

interface Echo { method: string; url: string; headers: Record<string, string>; bodyBytes: number; port: number }

let echo: Upstream
let slow: Upstream
let hopUp: Upstream
let flaky: Upstream
let flakyCalls = 0
let bad: Upstream
let pool: Upstream[] = []
let gw: RunningGateway
let deadPort: number

beforeAll(async () => {
  echo = await startUpstream(echoHandler)
  slow = await startUpstream((_req, res) => setTimeout(() => res.end('late'), 1500))
  hopUp = await startUpstream((_req, res) => {
    res.writeHead(200, { connection: 'x-secret, keep-alive', 'x-secret': '1', 'keep-alive': 'timeout=5', 'proxy-authenticate': 'Basic', 'x-kept': 'yes', 'x-request-id': 'from-upstream' })
    res.end('ok')
  })
  // Resets the connection on the first two requests it sees, then answers.
  flaky = await startRawUpstream((_req, socket) => {
    flakyCalls++
    if (flakyCalls <= 2) {
      socket.destroy()
      return null
    }
    return 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfixed'
  })
  bad = await startRawUpstream(() => 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd')
  pool = await Promise.all([0, 1, 2].map(() => startUpstream(echoHandler)))
  deadPort = await closedPort()
  const targets = (weights: number[]) => pool.map((u, i) => ({ target: `127.0.0.1:${u.port}`, weight: weights[i] }))
  gw = await startGateway({
    upstreams: [
      { name: 'rr', algorithm: 'round-robin', targets: targets([100, 100, 100]) },
      { name: 'weighted', algorithm: 'round-robin', targets: targets([300, 100, 0]) },
      { name: 'lc', algorithm: 'least-connections', targets: targets([100, 100, 100]) },
      { name: 'hash', algorithm: 'consistent-hashing', hash_on: 'header', hash_on_header: 'x-user', targets: targets([100, 100, 100]) },
      { name: 'lat', algorithm: 'latency', targets: targets([100, 100, 100]) },
      { name: 'empty', targets: [] },
      { name: 'half-dead', targets: [{ target: `127.0.0.1:${deadPort}` }, { target: `127.0.0.1:${echo.port}` }] },
    ],
    services: [
      { name: 'echo', url: `http://127.0.0.1:${echo.port}`, routes: [{ name: 'echo', paths: ['/echo'] }] },
      { name: 'dead', url: `http://127.0.0.1:${deadPort}`, retries: 0, routes: [{ name: 'dead', paths: ['/dead'] }] },
      { name: 'slow', url: `http://127.0.0.1:${slow.port}`, read_timeout: 300, retries: 0, routes: [{ name: 'slow', paths: ['/slow'] }] },
      { name: 'hop', url: `http://127.0.0.1:${hopUp.port}`, routes: [{ name: 'hop', paths: ['/hop'] }] },
      { name: 'flaky', url: `http://127.0.0.1:${flaky.port}`, retries: 3, routes: [{ name: 'flaky', paths: ['/flaky'] }] },
      { name: 'bad', url: `http://127.0.0.1:${bad.port}`, retries: 0, routes: [{ name: 'bad', paths: ['/bad'] }] },
      { name: 'no-peer', host: 'empty', routes: [{ name: 'no-peer', paths: ['/no-peer'] }] },
      ...['rr', 'weighted', 'lc', 'hash', 'lat', 'half-dead'].map((u) => ({ name: `svc-${u}`, host: u, port: 80, routes: [{ name: `r-${u}`, paths: [`/${u}`] }] })),
    ],
  })
}, 60_000)

afterAll(async () => {
  await gw?.stop()
  await Promise.all([echo, slow, hopUp, flaky, bad, ...pool].map((u) => u?.close()))
})

describe('forwarded headers', () => {
  it('adds X-Forwarded-* and X-Real-IP, replacing untrusted client values', async () => {
    const r = await request(gw.url + '/echo/x', { headers: { host: 'shop.example:9999', 'x-forwarded-for': '10.1.1.1', 'x-forwarded-proto': 'https', 'x-real-ip': '10.9.9.9' } })
    const h = r.json<Echo>().headers
    expect(h['x-forwarded-for']).toBe('10.1.1.1, 127.0.0.1')
    expect(h['x-forwarded-proto']).toBe('http')
    expect(h['x-forwarded-host']).toBe('shop.example')
    expect(h['x-forwarded-port']).toBe(String(gw.port))
    expect(h['x-forwarded-prefix']).toBe('/echo')
    expect(h['x-real-ip']).toBe('127.0.0.1')
  })

  it('keeps a valid client request id and makes one otherwise', async () => {
    const kept = await request(gw.url + '/echo', { headers: { 'x-request-id': 'client-id-1' } })
    expect(kept.json<Echo>().headers['x-request-id']).toBe('client-id-1')
    expect(kept.headers['x-request-id']).toBe('client-id-1')
    const made = await request(gw.url + '/echo', { headers: { 'x-request-id': 'has space' } })
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    expect(made.json<Echo>().headers['x-request-id']).toBe(made.headers['x-request-id'])
  })

  it('removes hop-by-hop request headers, including those named by Connection', async () => {
    const r = await request(gw.url + '/echo', { headers: { connection: 'keep-alive, x-hop', 'x-hop': '1', 'keep-alive': '5', te: 'trailers', 'proxy-authorization': 'x', 'x-end': 'kept' } })
    const h = r.json<Echo>().headers
    expect(h['x-hop']).toBeUndefined()
    expect(h['keep-alive']).toBeUndefined()
    expect(h.te).toBeUndefined()
    expect(h['proxy-authorization']).toBeUndefined()
    expect(h['x-end']).toBe('kept')
  })

  it('removes hop-by-hop response headers', async () => {
    const r = await request(gw.url + '/hop')
    expect(r.status).toBe(200)
    expect(r.headers['x-secret']).toBeUndefined()
    expect(r.headers['keep-alive']).toBeUndefined()
    expect(r.headers['proxy-authenticate']).toBeUndefined()
    expect(r.headers['x-kept']).toBe('yes')
    expect(r.headers['x-gateway-upstream-latency']).toMatch(/^\d+$/)
    expect(r.headers['x-gateway-proxy-latency']).toMatch(/^\d+$/)
  })
})

describe('errors', () => {
  it('answers 502 when the upstream refuses connections', async () => {
    const r = await request(gw.url + '/dead')
    expect(r.status).toBe(502)
    expect(r.json().message).toBe('An invalid response was received from the upstream server')
  })

  it('answers 504 when the upstream is slower than read_timeout', async () => {
    const r = await request(gw.url + '/slow')
    expect(r.status).toBe(504)
    expect(r.json().message).toBe('The upstream server is timing out')
  })

  it('answers 503 when an upstream has no usable target', async () => {
    const r = await request(gw.url + '/no-peer')
    expect(r.status).toBe(503)
    expect(r.json().message).toBe('failure to get a peer from the ring-balancer')
  })

  it('refuses differing duplicate Content-Length with 400 and closes', async () => {
    const r = await rawRequest(gw.port, 'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd')
    expect(r.data).toMatch(/^HTTP\/1\.1 400 /)
    expect(r.closed).toBe(true)
  })

  it('closes the connection for Content-Length with Transfer-Encoding, forwarding nothing', async () => {
    const before = echo.requests()
    const r = await rawRequest(gw.port, 'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n')
    expect(r.closed).toBe(true)
    expect(r.data === '' || /^HTTP\/1\.1 400 /.test(r.data)).toBe(true)
    expect(echo.requests()).toBe(before)
  })

  it('refuses a header value byte uWS lets through (DEL) with 400 and closes', async () => {
    const before = echo.requests()
    const r = await rawRequest(gw.port, 'GET /echo HTTP/1.1\r\nHost: a\r\nX-Bad: a\x7fb\r\n\r\n')
    expect(r.data).toMatch(/^HTTP\/1\.1 400 /)
    expect(r.closed).toBe(true)
    expect(echo.requests()).toBe(before)
  })

  it.each([['a control byte in a value', 'X-Bad: a\x01b'], ['a non-token header name', 'X-A@b: 1']])(
    'never forwards nor answers a request with %s (uWS drops it, closing at its idle timeout)',
    async (_what, line) => {
      const before = echo.requests()
      const r = await rawRequest(gw.port, `GET /echo HTTP/1.1\r\nHost: a\r\n${line}\r\n\r\n`, 1000)
      expect(r.data).toBe('')
      expect(echo.requests()).toBe(before)
    },
  )

  it('answers 502 for a malformed upstream response', async () => {
    const r = await request(gw.url + '/bad')
    expect(r.status).toBe(502)
    expect(r.json().message).toBe('An invalid response was received from the upstream server')
  })
})

describe('retries', () => {
  it('retries an idempotent request on reset connections, then succeeds', async () => {
    const r = await request(gw.url + '/flaky')
    expect(r.status).toBe(200)
    expect(r.body).toBe('fixed')
    expect(flakyCalls).toBe(3)
  })

  it('does not retry a non-idempotent request that reached the upstream', async () => {
    const before = flakyCalls
    flakyCalls = 0
    const r = await request(gw.url + '/flaky', { method: 'POST', body: 'x' })
    expect(r.status).toBe(502)
    expect(flakyCalls).toBe(1)
    flakyCalls = before + 1
  })

  it('moves to another target when one refuses connections', async () => {
    for (let i = 0; i < 6; i++) {
      const r = await request(gw.url + '/half-dead')
      expect(r.status).toBe(200)
    }
  })
})

describe('balancers', () => {
  async function ports(path: string, n: number, headers?: Record<string, string>): Promise<number[]> {
    const out: number[] = []
    for (let i = 0; i < n; i++) out.push((await request(gw.url + path, { headers })).json<Echo>().port)
    return out
  }
  const count = (list: number[], port: number) => list.filter((p) => p === port).length

  it('round-robin spreads requests over every target', async () => {
    const seen = await ports('/rr', 30)
    for (const u of pool) expect(count(seen, u.port)).toBeGreaterThanOrEqual(5)
  })

  it('weighted round-robin follows weights and skips weight 0', async () => {
    const seen = await ports('/weighted', 40)
    expect(count(seen, pool[2]!.port)).toBe(0)
    expect(count(seen, pool[0]!.port)).toBeGreaterThan(count(seen, pool[1]!.port))
  })

  it('least-connections uses every target for sequential requests', async () => {
    const seen = await ports('/lc', 30)
    expect(new Set(seen).size).toBeGreaterThanOrEqual(2)
  })

  it('consistent-hashing sends one key to one target', async () => {
    const a = await ports('/hash', 10, { 'x-user': 'alice' })
    expect(new Set(a).size).toBe(1)
    const many = new Set<number>()
    for (let i = 0; i < 30; i++) many.add((await ports('/hash', 1, { 'x-user': `user-${i}` }))[0]!)
    expect(many.size).toBeGreaterThanOrEqual(2)
  })

  it('latency balancer answers from a live target', async () => {
    const seen = await ports('/lat', 10)
    for (const p of seen) expect(pool.map((u) => u.port)).toContain(p)
  })
})

describe('keep-alive', () => {
  it('reuses upstream connections: far fewer connections than requests', async () => {
    const before = echo.connections()
    const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 4 })
    await Promise.all(Array.from({ length: 200 }, () => request(gw.url + '/echo', { agent })))
    agent.destroy()
    const opened = echo.connections() - before
    expect(opened).toBeLessThanOrEqual(20)
  })
})
