// The aggregate plugin end to end (SPEC §8): real HTTP backends behind the real gateway (2 workers). Each
// strategy, allow/deny/mapping, path and query templates, what is forwarded, failing, slow and hanging
// backends (parts left out, X-Gateway-Completed: false, 502/504 when nothing arrived), a client that leaves
// mid-aggregation (no backend socket stays open), keep-alive reuse of backend connections (and a retry when
// a kept-alive one was closed), and https backends with certificate verification.
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { certDir, makeCert } from '../helpers/certs.js'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request, type Reply } from '../helpers/http.js'
import { closedPort, echoHandler, startRawUpstream, startUpstream, type Upstream } from '../helpers/upstream.js'

/** A backend that never answers: it parks each request and counts its open connections. */
interface Hanging {
  port: number
  requests(): number
  openSockets(): number
  close(): Promise<void>
}

function startHanging(): Promise<Hanging> {
  let requests = 0
  const sockets = new Set<net.Socket>()
  const server = http.createServer(() => requests++)
  server.on('connection', (s: net.Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      port: (server.address() as net.AddressInfo).port,
      requests: () => requests,
      openSockets: () => sockets.size,
      close: () => new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
    }))
  })
}

/** An https backend answering `{"tls": name}` with the given certificate. */
function startTlsBackend(name: string, cert: { cert: string; key: string }): Promise<{ port: number; close(): Promise<void> }> {
  const server = https.createServer({ cert: cert.cert, key: cert.key }, (_req, res) => json(res, 200, { tls: name }))
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      port: (server.address() as net.AddressInfo).port,
      close: () => new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
    }))
  })
}

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

const json = (res: http.ServerResponse, status: number, body: unknown, type = 'application/json'): void => {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

let api: Upstream
let svc: Upstream
let echo: Upstream
let kept: Upstream
/** Answers the first request on each connection and drops the connection on the next one. */
let flaky: Upstream
let flakyDrops = 0
let hanging: Hanging
let holding: Hanging
let gw: RunningGateway
let refused: number
let trusted: { port: number; close(): Promise<void> }
/** Two backends behind one barrier: neither answers until both have a request waiting. */
let left: Upstream
let right: Upstream
/** Requests parked at the barrier; both are answered once it holds two. */
let atBarrier: { res: http.ServerResponse; body: unknown }[] = []
/** How many requests each barrier backend had waiting with it when it was released (always 2 when parallel). */
const releasedWith: number[] = []
let untrusted: { port: number; close(): Promise<void> }

beforeAll(async () => {
  api = await startUpstream((req, res) => {
    const url = new URL(req.url!, 'http://x')
    switch (url.pathname) {
      case '/users/1':
        return json(res, 200, { id: 1, name: 'Ann', password: 'secret', address: { city: 'Oslo', zip: '0150' }, tags: ['a', 'b'] })
      case '/profile/1':
        return json(res, 200, { id: 1, bio: 'hi', address: { country: 'NO' }, tags: ['c'] })
      case '/posts':
        return json(res, 200, [{ id: 10, title: 'first', draft: false }, { id: 11, title: 'second', draft: true }])
      case '/status/500':
        return json(res, 500, { error: 'boom' })
      case '/invalid':
        return json(res, 200, '{"a": ')
      case '/html':
        return json(res, 200, '<p>hi</p>', 'text/html')
      case '/scalar':
        return json(res, 200, '42')
      case '/deep':
        return json(res, 200, '['.repeat(600) + ']'.repeat(600))
      case '/big':
        return json(res, 200, { blob: 'x'.repeat(2048) })
      default:
        return json(res, 404, { message: 'not found' })
    }
  })
  svc = await startUpstream(echoHandler)
  echo = await startUpstream(echoHandler)
  kept = await startUpstream((_req, res) => json(res, 200, { ok: true }))
  const served = new WeakMap<net.Socket, number>()
  flaky = await startRawUpstream((_request, socket) => {
    const n = (served.get(socket) ?? 0) + 1
    served.set(socket, n)
    if (n === 1) return 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
    flakyDrops++
    socket.destroy()
    return null
  })
  const barrier = (body: unknown): http.RequestListener => (_req, res) => {
    atBarrier.push({ res, body })
    if (atBarrier.length < 2) return
    const waiting = atBarrier
    atBarrier = []
    for (const w of waiting) {
      releasedWith.push(waiting.length)
      json(w.res, 200, w.body)
    }
  }
  left = await startUpstream(barrier({ left: 'L' }))
  right = await startUpstream(barrier({ right: 'R' }))
  hanging = await startHanging()
  holding = await startHanging()
  refused = await closedPort()
  const dir = certDir()
  const ca = makeCert(dir, 'ca', 'Aggregate Test CA', { ca: true })
  trusted = await startTlsBackend('trusted', makeCert(dir, 'leaf', '127.0.0.1', { issuer: ca, ips: ['127.0.0.1'] }))
  untrusted = await startTlsBackend('untrusted', makeCert(dir, 'self', '127.0.0.1', { ips: ['127.0.0.1'] }))
  const a = (path: string): string => `http://127.0.0.1:${api.port}${path}`
  const route = (name: string, config: Record<string, unknown>, paths = [`/${name}`]) =>
    ({ name, paths, plugins: [{ name: 'aggregate', config }] })
  gw = await startGateway({
    services: [{
      name: 'own',
      url: `http://127.0.0.1:${svc.port}`,
      routes: [
        route('merge', { backends: [{ url: a('/users/1'), deny: ['password', 'address.zip'] }, { url: a('/profile/1') }] }),
        route('group', {
          strategy: 'group',
          backends: [
            { url: a('/users/1'), group: 'user', allow: ['id', 'name', 'address.city'], mapping: { name: 'fullName' } },
            { url: a('/posts'), group: 'posts', allow: ['collection.id', 'collection.title'], mapping: { collection: 'items' } },
          ],
        }),
        route('collect', { strategy: 'collect', backends: [{ url: a('/profile/1'), allow: ['bio'] }, { url: a('/posts') }] }),
        route('vars', {
          input_query_strings: ['page'],
          input_headers: ['Authorization', 'X-Tenant'],
          backends: [
            { url: `http://127.0.0.1:${echo.port}/users/{id}?expand={query.expand}&t={header.x-tenant}`, group: 'get' },
            { url: `http://127.0.0.1:${echo.port}/audit/{id}`, method: 'POST', headers: { 'X-Api-Key': 'k1', 'X-Tenant': 'fixed' }, group: 'post' },
          ],
        }, ['~/vars/(?<id>[^/]+)$']),
        route('slow-part', { backends: [{ url: a('/profile/1') }, { url: `http://127.0.0.1:${hanging.port}/slow`, timeout: 200 }] }),
        route('total-timeout', { timeout: 300, backends: [{ url: a('/profile/1') }, { url: `http://127.0.0.1:${hanging.port}/slow` }] }),
        route('failures', {
          strategy: 'collect',
          max_response_size: 1024,
          backends: [
            { url: a('/status/500') }, { url: a('/invalid') }, { url: a('/html') }, { url: a('/scalar') }, { url: a('/big') }, { url: a('/deep') },
            { url: `http://127.0.0.1:${refused}/x` }, { url: a('/profile/1'), allow: ['id'] },
          ],
        }),
        route('all-fail', { backends: [{ url: a('/status/500') }, { url: `http://127.0.0.1:${refused}/x` }] }),
        route('all-timeout', { backends: [{ url: `http://127.0.0.1:${hanging.port}/a`, timeout: 150 }, { url: `http://127.0.0.1:${hanging.port}/b`, timeout: 200 }] }),
        route('abort', { timeout: 30_000, backends: [{ url: `http://127.0.0.1:${holding.port}/1` }, { url: `http://127.0.0.1:${holding.port}/2` }] }),
        // Sequential calls would park the first backend at the barrier until its timeout, and the second alone after it.
        route('barrier', {
          timeout: 10_000,
          backends: [{ url: `http://127.0.0.1:${left.port}/left`, timeout: 1500 }, { url: `http://127.0.0.1:${right.port}/right`, timeout: 1500 }],
        }),
        route('keepalive', { backends: [{ url: `http://127.0.0.1:${kept.port}/a` }] }),
        route('stale', { backends: [{ url: `http://127.0.0.1:${flaky.port}/a` }] }),
        route('tls', { strategy: 'collect', backends: [{ url: `https://127.0.0.1:${trusted.port}/` }, { url: `https://127.0.0.1:${untrusted.port}/` }] }),
      ],
    }],
  }, { env: { NODE_EXTRA_CA_CERTS: ca.certPath } })
})

afterAll(async () => {
  await gw?.stop()
  await Promise.all([api, svc, echo, kept, flaky, left, right, hanging, holding, trusted, untrusted].map((s) => s?.close()))
})

const completed = (r: Reply): unknown => r.headers['x-gateway-completed']

describe('aggregate', () => {
  it('merges the backends deeply in backend order, with deny applied, and says it is complete', async () => {
    const r = await request(`${gw.url}/merge`)
    expect(r.status).toBe(200)
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(completed(r)).toBe('true')
    expect(r.json()).toEqual({ id: 1, name: 'Ann', bio: 'hi', address: { city: 'Oslo', country: 'NO' }, tags: ['c'] })
  })

  it('groups each backend under its key, with allow and mapping (an array body as `collection`)', async () => {
    const r = await request(`${gw.url}/group`)
    expect([r.status, completed(r)]).toEqual([200, 'true'])
    expect(r.json()).toEqual({
      user: { id: 1, fullName: 'Ann', address: { city: 'Oslo' } },
      posts: { items: [{ id: 10, title: 'first' }, { id: 11, title: 'second' }] },
    })
  })

  it('collects the bodies into an array in backend order', async () => {
    const r = await request(`${gw.url}/collect`)
    expect([r.status, completed(r)]).toEqual([200, 'true'])
    expect(r.json()).toEqual([{ bio: 'hi' }, { collection: [{ id: 10, title: 'first', draft: false }, { id: 11, title: 'second', draft: true }] }])
  })

  it('fills path captures, query and header variables, forwards only whitelisted query and headers, and never calls the route’s own service', async () => {
    const r = await request(`${gw.url}/vars/J%C3%BCrgen%2F7?expand=a%20b%26c&page=2&secret=s`, {
      headers: { authorization: 'Bearer tok', cookie: 'session=1', 'x-tenant': 't1', 'x-request-id': 'rid-aggregate-1' },
    })
    expect([r.status, completed(r)]).toEqual([200, 'true'])
    expect(r.headers['x-request-id']).toBe('rid-aggregate-1')
    type Seen = { method: string; url: string; headers: Record<string, string>; bodyBytes: number }
    const body = r.json<{ get: Seen; post: Seen }>()
    expect(body.get.method).toBe('GET')
    expect(body.get.url).toBe('/users/J%C3%BCrgen%2F7?expand=a%20b%26c&t=t1&page=2')
    expect(body.get.headers).toMatchObject({ authorization: 'Bearer tok', 'x-tenant': 't1', 'x-request-id': 'rid-aggregate-1', 'x-forwarded-for': '127.0.0.1' })
    expect(body.get.headers.cookie).toBeUndefined()
    expect(body.get.headers['x-api-key']).toBeUndefined()
    expect([body.post.method, body.post.url, body.post.bodyBytes]).toEqual(['POST', '/audit/J%C3%BCrgen%2F7?page=2', 0])
    expect(body.post.headers).toMatchObject({ 'x-api-key': 'k1', 'x-tenant': 'fixed', authorization: 'Bearer tok' })
    expect(svc.requests()).toBe(0)
  })

  it('calls the backends in parallel: two backends that each answer only once both have a request both arrive', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await request(`${gw.url}/barrier`)
      expect([r.status, completed(r)]).toEqual([200, 'true'])
      expect(r.json()).toEqual({ left: 'L', right: 'R' })
    }
    expect([left.requests(), right.requests()]).toEqual([3, 3])
    expect(releasedWith).toEqual([2, 2, 2, 2, 2, 2])
    expect(atBarrier).toHaveLength(0)
  })

  it('leaves out a backend slower than its timeout and says the answer is incomplete', async () => {
    const before = hanging.requests()
    const r = await request(`${gw.url}/slow-part`)
    expect([r.status, completed(r)]).toEqual([200, 'false'])
    expect(r.json()).toEqual({ id: 1, bio: 'hi', address: { country: 'NO' }, tags: ['c'] })
    expect(hanging.requests()).toBe(before + 1)
    await until(() => hanging.openSockets() === 0, 'the timed-out backend connection to close')
  })

  it('answers with what arrived when the total timeout passes', async () => {
    const r = await request(`${gw.url}/total-timeout`)
    expect([r.status, completed(r)]).toEqual([200, 'false'])
    expect(r.json()).toEqual({ id: 1, bio: 'hi', address: { country: 'NO' }, tags: ['c'] })
    await until(() => hanging.openSockets() === 0, 'the timed-out backend connection to close')
  })

  it('leaves out 5xx, invalid JSON, non-JSON, scalar JSON, too deeply nested, oversized and unreachable backends', async () => {
    const r = await request(`${gw.url}/failures`)
    expect([r.status, completed(r)]).toEqual([200, 'false'])
    expect(r.json()).toEqual([{ id: 1 }])
  })

  it('answers 502 with Kong’s error body when every backend failed', async () => {
    const r = await request(`${gw.url}/all-fail`, { headers: { 'x-request-id': 'rid-all-fail' } })
    expect([r.status, completed(r)]).toEqual([502, 'false'])
    expect(r.json()).toEqual({ message: 'An invalid response was received from the upstream server', request_id: 'rid-all-fail' })
  })

  it('answers 504 when every backend timed out', async () => {
    const r = await request(`${gw.url}/all-timeout`)
    expect([r.status, completed(r)]).toEqual([504, 'false'])
    expect(r.json<{ message: string }>().message).toBe('The upstream server is timing out')
    await until(() => hanging.openSockets() === 0, 'the timed-out backend connections to close')
  })

  it('closes every backend connection when the client leaves mid-aggregation', async () => {
    const client = net.connect(gw.port, '127.0.0.1')
    client.on('error', () => {})
    await new Promise<void>((r) => client.once('connect', () => r()))
    client.write('GET /abort HTTP/1.1\r\nHost: gw\r\n\r\n')
    await until(() => holding.requests() === 2, 'both backends to get the request')
    expect(holding.openSockets()).toBe(2)
    client.destroy()
    await until(() => holding.openSockets() === 0, 'the backend connections to close')
    // The gateway goes on serving, and nothing was written for the abandoned request.
    const r = await request(`${gw.url}/merge`)
    expect(r.status).toBe(200)
  })

  it('reuses kept-alive backend connections (one per worker at most)', async () => {
    for (let i = 0; i < 10; i++) {
      const r = await request(`${gw.url}/keepalive`)
      expect([r.status, r.body]).toEqual([200, '{"ok":true}'])
    }
    expect(kept.requests()).toBe(10)
    expect(kept.connections()).toBeGreaterThanOrEqual(1)
    expect(kept.connections()).toBeLessThanOrEqual(2)
  })

  it('sends a GET again on a fresh connection when a kept-alive one turns out to be closed', async () => {
    // Two workers with one idle socket each: of three sequential requests, at least one reuses a socket.
    for (let i = 0; i < 3; i++) {
      const r = await request(`${gw.url}/stale`)
      expect([r.status, completed(r), r.body]).toEqual([200, 'true', '{"ok":true}'])
    }
    expect(flakyDrops).toBeGreaterThanOrEqual(1)
    expect(flaky.requests()).toBe(3 + flakyDrops)
  })

  it('calls https backends with certificate verification: an untrusted one is left out', async () => {
    const r = await request(`${gw.url}/tls`)
    expect([r.status, completed(r)]).toEqual([200, 'false'])
    expect(r.json()).toEqual([{ tls: 'trusted' }])
  })
})
