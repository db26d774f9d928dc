// WebSocket tunnelling end to end (SPEC §7): real `ws` upstream servers and `ws` clients through the real
// gateway (2 workers): relay of messages, fragments, pings and close codes both ways, the handshake (access
// plugins, subprotocol, refusals), limits (message size, idle), backpressure, reloads, drain, fds, and wss.
import { readdirSync, readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer, type RawData } from 'ws'
import { certDir, makeCert, type Pem } from '../helpers/certs.js'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request } from '../helpers/http.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const MiB = 1024 * 1024

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

/** What the upstream saw of one tunnel. */
interface UpstreamSide {
  url: string
  headers: http.IncomingHttpHeaders
  socket: WebSocket
  messages: { data: Buffer; binary: boolean }[]
  pings: string[]
  pongs: string[]
  closed: { code: number; reason: string } | null
}

/**
 * A `ws` server behind an http server, so refusals can be written by hand. Paths: /refuse (403 with a body),
 * /push/<MiB> (pushes that much, 256 KiB binary messages numbered by their first byte, minding its own buffer),
 * /sink (never reads), /send/<bytes> (sends one message of that size), anything else echoes.
 */
interface WsUpstream {
  port: number
  sides: UpstreamSide[]
  pushed: number
  close(): Promise<void>
}

async function startWsUpstream(): Promise<WsUpstream> {
  const sides: UpstreamSide[] = []
  const up = { pushed: 0 }
  const server = http.createServer((_req, res) => res.end('not a websocket'))
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => (offered.has('beta') ? 'beta' : false) })
  const sockets = new Set<Socket>()
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    if (req.url === '/refuse') {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Why: closed for today\r\nContent-Length: 7\r\n\r\nno way!')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const side: UpstreamSide = { url: req.url!, headers: req.headers, socket: ws, messages: [], pings: [], pongs: [], closed: null }
      sides.push(side)
      ws.on('ping', (d: Buffer) => side.pings.push(d.toString()))
      ws.on('pong', (d: Buffer) => side.pongs.push(d.toString()))
      ws.on('close', (code: number, reason: Buffer) => (side.closed = { code, reason: reason.toString() }))
      ws.on('error', () => {})
      const url = req.url!
      if (url.startsWith('/push/')) return void push(ws, Number(url.slice(6)) * MiB, up)
      if (url === '/sink') return void (ws as unknown as { pause(): void }).pause()
      if (url.startsWith('/send/')) return ws.send(Buffer.alloc(Number(url.slice(6)), 7))
      ws.on('message', (data: RawData, binary: boolean) => {
        const buf = data as Buffer
        side.messages.push({ data: buf, binary })
        const text = buf.toString()
        if (!binary && text === 'fragment me') {
          ws.send('frag-', { fin: false })
          ws.send('ment-', { fin: false })
          ws.send('ed', { fin: true })
        } else if (!binary && text.startsWith('close ')) {
          const [, code, reason] = text.split(' ')
          ws.close(Number(code), reason)
        } else if (!binary && text.startsWith('ping ')) {
          ws.ping(text.slice(5))
        } else {
          ws.send(buf, { binary })
        }
      })
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    sides,
    get pushed() {
      return up.pushed
    },
    close: () => new Promise<void>((r) => {
      for (const c of wss.clients) c.terminate()
      for (const s of sockets) s.destroy()
      server.close(() => r())
    }),
  }
}

/** Pushes `total` bytes in 256 KiB messages (first byte = message number mod 256), waiting while its own buffer is over 1 MiB. */
async function push(ws: WebSocket, total: number, up: { pushed: number }): Promise<void> {
  const size = 256 * 1024
  for (let n = 0; up.pushed < total && ws.readyState === WebSocket.OPEN; n++) {
    while (ws.bufferedAmount > MiB && ws.readyState === WebSocket.OPEN) await sleep(5)
    const msg = Buffer.alloc(size, n & 0xff)
    ws.send(msg)
    up.pushed += size
  }
}

/** A `ws` client through the gateway, recording what it receives. */
interface Client {
  ws: WebSocket
  messages: { data: Buffer; binary: boolean }[]
  pings: string[]
  pongs: string[]
  closed: Promise<{ code: number; reason: string }>
}

function connect(url: string, protocols: string[] = [], options: WebSocket.ClientOptions = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false, ...options })
    const client: Client = {
      ws,
      messages: [],
      pings: [],
      pongs: [],
      closed: new Promise((r) => ws.on('close', (code: number, reason: Buffer) => r({ code, reason: reason.toString() }))),
    }
    ws.on('message', (data: RawData, binary: boolean) => client.messages.push({ data: data as Buffer, binary }))
    ws.on('ping', (d: Buffer) => client.pings.push(d.toString()))
    ws.on('pong', (d: Buffer) => client.pongs.push(d.toString()))
    ws.on('error', () => {})
    ws.once('open', () => resolve(client))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => reject(Object.assign(new Error(`status ${res.statusCode}`), { status: res.statusCode, headers: res.headers, body })))
    })
    ws.once('error', reject)
  })
}

/** The handshake's refusal as the client got it. */
async function refused(url: string, options: WebSocket.ClientOptions = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  try {
    const c = await connect(url, [], options)
    c.ws.terminate()
  } catch (err) {
    return err as { status: number; headers: http.IncomingHttpHeaders; body: string }
  }
  throw new Error(`${url} was upgraded`)
}

/** Sends a handshake as raw bytes and returns the response head (the connection is then dropped). */
function rawHandshake(port: number, path: string, extra: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`)
    })
    let data = ''
    socket.on('data', (c: Buffer) => {
      data += c.toString('latin1')
      const end = data.indexOf('\r\n\r\n')
      if (end < 0) return
      socket.destroy()
      resolve(data.slice(0, end))
    })
    socket.on('error', reject)
  })
}

const newestSide = (up: WsUpstream): UpstreamSide => up.sides[up.sides.length - 1]!

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!
  return Number(/(\d+)/.exec(line)![1]) * 1024
}

const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length

describe('WebSocket tunnels', () => {
  let up: WsUpstream
  let gw: RunningGateway
  let ws: string
  let ca: Pem
  let leaf: Pem
  let config: Record<string, unknown>
  /** A wss:// upstream (TLS echo server) and the Host headers it saw. */
  let tlsUp: https.Server
  const tlsUpHosts: string[] = []
  /** What the wss:// upstream saw of each handshake: path, Host, and the subprotocol offer. */
  const tlsUpSeen: { url: string; host: string; protocol: string | undefined }[] = []

  beforeAll(async () => {
    up = await startWsUpstream()
    const dir = certDir()
    ca = makeCert(dir, 'ca', 'ws test CA', { ca: true })
    leaf = makeCert(dir, 'leaf', 'localhost', { issuer: ca, dns: ['localhost'], ips: ['127.0.0.1'] })
    tlsUp = https.createServer({ cert: leaf.cert, key: leaf.key })
    const tlsWss = new WebSocketServer({ server: tlsUp })
    tlsWss.on('connection', (s, req) => {
      tlsUpHosts.push(req.headers.host!)
      tlsUpSeen.push({ url: req.url!, host: req.headers.host!, protocol: req.headers['sec-websocket-protocol'] })
      s.on('message', (d: RawData, binary: boolean) => s.send(d, { binary }))
    })
    await new Promise<void>((r) => tlsUp.listen(0, '127.0.0.1', r))
    const tlsUpPort = (tlsUp.address() as AddressInfo).port
    config = {
      services: [
        {
          name: 'ws-up',
          url: `ws://127.0.0.1:${up.port}`,
          routes: [
            { name: 'ws', protocols: ['ws', 'wss'], paths: ['/ws'] },
            { name: 'wss-only', protocols: ['wss'], paths: ['/secure'] },
            { name: 'keyed', protocols: ['ws'], paths: ['/keyed'], plugins: [{ name: 'key-auth', config: {} }] },
            { name: 'denied', protocols: ['ws'], paths: ['/denied'], plugins: [{ name: 'ip-restriction', config: { deny: ['127.0.0.1'] } }] },
            {
              name: 'acl-gold', protocols: ['ws'], paths: ['/acl-gold'],
              plugins: [{ name: 'key-auth', config: {} }, { name: 'acl', config: { allow: ['gold'] } }],
            },
            {
              name: 'acl-no-bronze', protocols: ['ws'], paths: ['/acl-no-bronze'],
              plugins: [{ name: 'key-auth', config: {} }, { name: 'acl', config: { deny: ['bronze'] } }],
            },
            { name: 'limited', protocols: ['ws'], paths: ['/limited'], plugins: [{ name: 'rate-limiting', config: { minute: 2, policy: 'local' } }] },
          ],
        },
        { name: 'http-up', url: `http://127.0.0.1:${up.port}/base`, routes: [{ name: 'plain-http', paths: ['/h'] }] },
        { name: 'nowhere', url: 'ws://127.0.0.1:1', retries: 0, routes: [{ name: 'nowhere', protocols: ['ws'], paths: ['/nowhere'] }] },
        { name: 'tls-up', url: `wss://localhost:${tlsUpPort}`, routes: [{ name: 'to-tls', protocols: ['ws'], paths: ['/to-tls'] }] },
        // An https:// service: a handshake on its plain http route is tunnelled to the upstream over TLS (wss).
        { name: 'https-up', url: `https://localhost:${tlsUpPort}/base`, routes: [{ name: 'https-http-route', paths: ['/https-h'] }] },
      ],
      consumers: [
        { username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] },
        { username: 'goldie', keyauth_credentials: [{ key: 'goldie-key' }], acls: [{ group: 'gold' }] },
        { username: 'bronson', keyauth_credentials: [{ key: 'bronson-key' }], acls: [{ group: 'bronze' }, { group: 'staff' }] },
      ],
    }
    gw = await startGateway(config, {
      env: { GATEWAY_TLS_PORT: '0', GATEWAY_TLS_CERT: leaf.certPath, GATEWAY_TLS_KEY: leaf.keyPath, GATEWAY_WS_MAX_MESSAGE_SIZE: '1m' },
    })
    ws = `ws://127.0.0.1:${gw.port}`
  }, 30_000)

  afterAll(async () => {
    await gw?.stop()
    await up?.close()
    tlsUp?.closeAllConnections()
    await new Promise((r) => tlsUp?.close(r))
  })

  it('relays text and binary messages both ways, with the forwarded handshake headers', async () => {
    const c = await connect(`${ws}/ws/echo?room=1`, [], { headers: { 'x-custom': 'yes', 'x-forwarded-for': '203.0.113.9' } })
    const side = newestSide(up)
    c.ws.send('hello')
    c.ws.send(Buffer.from([0, 1, 2, 255]))
    await until(() => c.messages.length === 2, 'two echoes')
    expect(c.messages[0]).toEqual({ data: Buffer.from('hello'), binary: false })
    expect(c.messages[1]).toEqual({ data: Buffer.from([0, 1, 2, 255]), binary: true })
    expect(side.url).toBe('/echo?room=1')
    expect(side.headers.connection).toBe('Upgrade')
    expect(side.headers.upgrade).toBe('websocket')
    expect(side.headers['x-custom']).toBe('yes')
    // The client's own X-Forwarded-For is not believed (no trusted proxy): the peer is appended after it.
    expect(side.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1')
    expect(side.headers['x-forwarded-proto']).toBe('http')
    expect(side.headers['x-forwarded-prefix']).toBe('/ws')
    expect(side.headers['x-request-id']).toMatch(/\S+/)
    expect(side.headers['sec-websocket-extensions']).toBeUndefined()
    c.ws.close(1000)
    expect(await c.closed).toEqual({ code: 1000, reason: '' })
  })

  it('tunnels a handshake on an http route too (as Kong OSS does), with the service path', async () => {
    const c = await connect(`${ws}/h/chat`)
    expect(newestSide(up).url).toBe('/base/chat')
    c.ws.send('over http route')
    await until(() => c.messages.length === 1, 'echo')
    expect(c.messages[0]!.data.toString()).toBe('over http route')
    c.ws.close()
    await c.closed
  })

  it('answers 426 with Upgrade: websocket to a plain request on a ws route', async () => {
    const r = await request(`${gw.url}/ws/echo`)
    expect(r.status).toBe(426)
    expect(r.headers.upgrade).toBe('websocket')
    expect(r.json<{ message: string }>().message).toBe('This route only accepts WebSocket connections')
    // A GET with a key but no Upgrade header is not a handshake either.
    const keyOnly = await request(`${gw.url}/ws/echo`, { headers: { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' } })
    expect(keyOnly.status).toBe(426)
  })

  it('delivers a fragmented message whole, in both directions', async () => {
    const c = await connect(`${ws}/ws/frag`)
    const side = newestSide(up)
    c.ws.send('part one, ', { fin: false })
    c.ws.send('part two, ', { fin: false })
    c.ws.send('done', { fin: true })
    await until(() => c.messages.length === 1, 'echo of the fragmented message')
    expect(side.messages.map((m) => m.data.toString())).toEqual(['part one, part two, done'])
    expect(c.messages[0]!.data.toString()).toBe('part one, part two, done')
    c.ws.send('fragment me')
    await until(() => c.messages.length === 2, 'the upstream fragmented message')
    expect(c.messages[1]!.data.toString()).toBe('frag-ment-ed')
    c.ws.close()
    await c.closed
  })

  it('relays pings both ways: the other side sees them and the pinger gets its pong', async () => {
    const c = await connect(`${ws}/ws/ping`)
    const side = newestSide(up)
    c.ws.ping('from client')
    await until(() => side.pings.length === 1 && c.pongs.length === 1, 'client ping at the upstream and its pong')
    expect(side.pings).toEqual(['from client'])
    expect(c.pongs).toEqual(['from client'])
    c.ws.send('ping from upstream')
    await until(() => c.pings.length === 1 && side.pongs.length === 1, 'upstream ping at the client and the client pong at the upstream')
    expect(c.pings).toEqual(['from upstream'])
    expect(side.pongs).toEqual(['from upstream'])
    c.ws.close()
    await c.closed
  })

  it('passes close codes and reasons from the client to the upstream', async () => {
    const c = await connect(`${ws}/ws/close`)
    const side = newestSide(up)
    c.ws.close(4000, 'client says bye')
    expect(await c.closed).toEqual({ code: 4000, reason: 'client says bye' })
    await until(() => side.closed !== null, 'upstream close')
    expect(side.closed).toEqual({ code: 4000, reason: 'client says bye' })
  })

  it('passes close codes and reasons from the upstream to the client', async () => {
    const c = await connect(`${ws}/ws/close`)
    const side = newestSide(up)
    c.ws.send('close 4321 upstream-done')
    expect(await c.closed).toEqual({ code: 4321, reason: 'upstream-done' })
    await until(() => side.closed !== null, 'upstream close')
    expect(side.closed!.code).toBe(4321)
    const normal = await connect(`${ws}/ws/close`)
    normal.ws.send('close 1000 fine')
    expect(await normal.closed).toEqual({ code: 1000, reason: 'fine' })
  })

  it("gives the client the upstream's choice of subprotocol", async () => {
    const c = await connect(`${ws}/ws/proto`, ['alpha', 'beta'])
    expect(c.ws.protocol).toBe('beta')
    expect(newestSide(up).headers['sec-websocket-protocol']).toBe('alpha,beta')
    c.ws.close()
    await c.closed
    // The upstream picks none of the offers: a 101 without the header (RFC 6455 §4.1; the ws client would refuse it, so raw bytes).
    const head = await rawHandshake(gw.port, '/ws/proto', 'Sec-WebSocket-Protocol: gamma\r\n')
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols')
    expect(head.toLowerCase()).not.toContain('sec-websocket-protocol')
    await until(() => newestSide(up).headers['sec-websocket-protocol'] === 'gamma', 'the offer at the upstream')
  })

  it("answers with the upstream's refusal (status, headers, body)", async () => {
    const r = await refused(`${ws}/ws/refuse`)
    expect(r.status).toBe(403)
    expect(r.headers['x-why']).toBe('closed for today')
    expect(r.body).toBe('no way!')
  })

  it('answers 502 when the upstream cannot be reached', async () => {
    const r = await refused(`${ws}/nowhere`)
    expect(r.status).toBe(502)
    expect(JSON.parse(r.body).message).toBe('An invalid response was received from the upstream server')
  })

  it('runs key-auth on the handshake: 401 without a key, a tunnel with the consumer headers with one', async () => {
    const r = await refused(`${ws}/keyed/x`)
    expect(r.status).toBe(401)
    const c = await connect(`${ws}/keyed/x`, [], { headers: { apikey: 'alice-key' } })
    expect(newestSide(up).headers['x-consumer-username']).toBe('alice')
    c.ws.close()
    await c.closed
  })

  it('runs ip-restriction on the handshake (403)', async () => {
    const r = await refused(`${ws}/denied/x`)
    expect(r.status).toBe(403)
  })

  it('runs acl (after key-auth) on the handshake: 403 for a consumer outside the allowed groups, a tunnel for one inside', async () => {
    const sidesBefore = up.sides.length
    const denied = await refused(`${ws}/acl-gold/x`, { headers: { apikey: 'bronson-key' } })
    expect(denied.status).toBe(403)
    expect(JSON.parse(denied.body).message).toBe('You cannot consume this service')
    // A consumer without any group is not in the allow list either.
    expect((await refused(`${ws}/acl-gold/x`, { headers: { apikey: 'alice-key' } })).status).toBe(403)
    // No key at all: key-auth answers first.
    expect((await refused(`${ws}/acl-gold/x`)).status).toBe(401)
    expect(up.sides.length).toBe(sidesBefore)
    const c = await connect(`${ws}/acl-gold/x`, [], { headers: { apikey: 'goldie-key' } })
    const side = newestSide(up)
    expect(up.sides.length).toBe(sidesBefore + 1)
    expect(side.headers['x-consumer-username']).toBe('goldie')
    expect(side.headers['x-consumer-groups']).toBe('gold')
    c.ws.send('gold member')
    await until(() => c.messages.length === 1, 'echo through the acl route')
    expect(c.messages[0]!.data.toString()).toBe('gold member')
    c.ws.close(1000)
    expect((await c.closed).code).toBe(1000)
  })

  it('runs an acl deny list on the handshake: 403 for a consumer in a denied group, a tunnel for the others', async () => {
    const sidesBefore = up.sides.length
    const denied = await refused(`${ws}/acl-no-bronze/x`, { headers: { apikey: 'bronson-key' } })
    expect(denied.status).toBe(403)
    expect(JSON.parse(denied.body).message).toBe('You cannot consume this service')
    expect(up.sides.length).toBe(sidesBefore)
    const c = await connect(`${ws}/acl-no-bronze/x`, [], { headers: { apikey: 'goldie-key' } })
    expect(newestSide(up).headers['x-consumer-username']).toBe('goldie')
    c.ws.send('not bronze')
    await until(() => c.messages.length === 1, 'echo through the deny-list route')
    c.ws.close(1000)
    await c.closed
  })

  it('runs rate-limiting on the handshake: 2 per minute open tunnels, the 3rd gets 429 and never reaches the upstream', async () => {
    const sidesBefore = up.sides.length
    const first = await connect(`${ws}/limited/a`)
    const second = await connect(`${ws}/limited/b`)
    expect(up.sides.length).toBe(sidesBefore + 2)
    // The open tunnels keep working; only new handshakes count.
    first.ws.send('one')
    second.ws.send('two')
    await until(() => first.messages.length === 1 && second.messages.length === 1, 'echoes on both tunnels')
    // A plain ws client (no unexpected-response listener) reports the refusal as an error.
    const third = new WebSocket(`${ws}/limited/c`, { perMessageDeflate: false })
    const error = await new Promise<Error>((resolve, reject) => {
      third.once('error', resolve)
      third.once('open', () => reject(new Error('the third handshake was upgraded')))
    })
    expect(error.message).toBe('Unexpected server response: 429')
    const fourth = await refused(`${ws}/limited/d`)
    expect(fourth.status).toBe(429)
    expect(fourth.headers['x-ratelimit-limit-minute']).toBe('2')
    expect(fourth.headers['x-ratelimit-remaining-minute']).toBe('0')
    expect(fourth.headers['retry-after']).toMatch(/^\d+$/)
    expect(JSON.parse(fourth.body).message).toBe('API rate limit exceeded')
    expect(up.sides.length).toBe(sidesBefore + 2)
    for (const c of [first, second]) c.ws.close(1000)
    expect((await first.closed).code).toBe(1000)
    expect((await second.closed).code).toBe(1000)
  })

  it('closes with 1009 an upstream message over GATEWAY_WS_MAX_MESSAGE_SIZE, and relays one at the limit', async () => {
    const ok = await connect(`${ws}/ws/send/${MiB}`)
    await until(() => ok.messages.length === 1, 'a message of exactly 1 MiB')
    expect(ok.messages[0]!.data.length).toBe(MiB)
    ok.ws.close()
    await ok.closed
    const c = await connect(`${ws}/ws/send/${MiB + 1}`)
    const side = newestSide(up)
    expect((await c.closed).code).toBe(1009)
    expect(c.messages).toHaveLength(0)
    await until(() => side.closed !== null, 'upstream close')
    expect(side.closed!.code).toBe(1009)
  })

  it('closes the tunnel when a client message is over the limit: the upstream gets 1009, the client is dropped', async () => {
    const c = await connect(`${ws}/ws/too-big`)
    const side = newestSide(up)
    c.ws.send(Buffer.alloc(MiB))
    await until(() => c.messages.length === 1, 'echo at the limit')
    c.ws.send(Buffer.alloc(MiB + 1))
    // uWS (20.30) refuses an oversized frame by closing the connection without a close frame.
    expect((await c.closed).code).toBe(1006)
    await until(() => side.closed !== null, 'upstream close')
    expect(side.closed).toEqual({ code: 1009, reason: 'Message Too Big' })
    expect(side.messages).toHaveLength(1)
  })

  it('pauses the upstream for a slow client: 100 MiB arrive whole and in order, gateway memory stays bounded', async () => {
    const before = rssBytes(gw.proc.pid!)
    const pushedBefore = up.pushed
    const c = await connect(`${ws}/ws/push/100`)
    c.ws.pause()
    // The upstream stops when every buffer between it and the paused client is full.
    let last = -1
    while (up.pushed - pushedBefore !== last) {
      last = up.pushed - pushedBefore
      await sleep(300)
    }
    expect(last).toBeLessThan(40 * MiB)
    expect(rssBytes(gw.proc.pid!) - before).toBeLessThan(48 * MiB)
    c.ws.resume()
    await until(() => c.messages.length === 400, 'all 400 messages', 60_000)
    for (let n = 0; n < 400; n++) {
      const m = c.messages[n]!
      expect(m.data.length).toBe(256 * 1024)
      expect(m.data[0]).toBe(n & 0xff)
    }
    c.messages.length = 0
    c.ws.close()
    await c.closed
  }, 90_000)

  it('closes with 1013 when the upstream stops reading and the queue passes its bound, memory bounded', async () => {
    const before = rssBytes(gw.proc.pid!)
    const c = await connect(`${ws}/ws/sink`)
    const chunk = Buffer.alloc(256 * 1024, 1)
    // Loopback TCP buffers autotune up to tcp_rmem's maximum (32 MiB on the CI host) on both hops, so
    // tens of MiB leave the client before the gateway's own queue fills; the cap is far past that.
    const cap = 400 * MiB
    let sent = 0
    while (c.ws.readyState === WebSocket.OPEN && sent < cap) {
      if (c.ws.bufferedAmount > 4 * MiB) {
        await sleep(5)
        continue
      }
      c.ws.send(chunk)
      sent += chunk.length
    }
    expect(await c.closed).toEqual({ code: 1013, reason: 'upstream is not reading' })
    expect(sent).toBeLessThan(cap)
    expect(rssBytes(gw.proc.pid!) - before).toBeLessThan(48 * MiB)
  }, 60_000)

  it('keeps an open tunnel through a reload that changes routes and TLS certificates', async () => {
    const c = await connect(`${ws}/ws/reload`)
    const secure = await connect(`wss://localhost:${gw.tlsPort}/ws/reload-tls`, [], { ca: ca.cert })
    const other = makeCert(certDir(), 'other', 'other.test', { dns: ['other.test'] })
    const from = gw.logs().length
    gw.writeConfig({ ...config, certificates: [{ cert: other.cert, key: other.key, snis: ['other.test'] }], routes: [] })
    gw.proc.kill('SIGHUP')
    await gw.waitForLog('config reloaded', from)
    // Past the retired TLS app's grace period: it stays open for the tunnel it carries.
    await sleep(1500)
    c.ws.send('after reload')
    secure.ws.send('after reload over tls')
    await until(() => c.messages.length === 1 && secure.messages.length === 1, 'echoes after the reload')
    expect(c.messages[0]!.data.toString()).toBe('after reload')
    expect(secure.messages[0]!.data.toString()).toBe('after reload over tls')
    c.ws.close(1000)
    secure.ws.close(1000)
    expect((await c.closed).code).toBe(1000)
    expect((await secure.closed).code).toBe(1000)
  })

  it('tunnels wss over the TLS listener, and sends a wss-only route over plain http 426', async () => {
    const c = await connect(`wss://localhost:${gw.tlsPort}/secure/x`, [], { ca: ca.cert })
    expect(newestSide(up).headers['x-forwarded-proto']).toBe('https')
    c.ws.send('secret')
    await until(() => c.messages.length === 1, 'echo over TLS')
    expect(c.messages[0]!.data.toString()).toBe('secret')
    c.ws.close()
    await c.closed
    const r = await refused(`${ws}/secure/x`)
    expect(r.status).toBe(426)
    expect(JSON.parse(r.body).message).toBe('Please use HTTPS protocol')
  })

  it('reaches a wss:// upstream over TLS, with the Host of its url', async () => {
    const c = await connect(`${ws}/to-tls/x`)
    c.ws.send(Buffer.from('over a wss upstream'))
    await until(() => c.messages.length === 1, 'echo from the TLS upstream')
    expect(c.messages[0]!.data.toString()).toBe('over a wss upstream')
    expect(tlsUpHosts).toContain(`localhost:${(tlsUp.address() as AddressInfo).port}`)
    c.ws.close()
    await c.closed
  })

  it('tunnels a handshake on an http route of an https:// service to the TLS upstream over wss, with the service path and Host', async () => {
    const seenBefore = tlsUpSeen.length
    const c = await connect(`${ws}/https-h/chat?x=1`, ['alpha'])
    expect(c.ws.protocol).toBe('alpha')
    expect(tlsUpSeen.length).toBe(seenBefore + 1)
    const seen = tlsUpSeen[tlsUpSeen.length - 1]!
    expect(seen.url).toBe('/base/chat?x=1')
    expect(seen.host).toBe(`localhost:${(tlsUp.address() as AddressInfo).port}`)
    expect(seen.protocol).toBe('alpha')
    c.ws.send('text over https service')
    c.ws.send(Buffer.from([9, 8, 7]))
    await until(() => c.messages.length === 2, 'echoes from the TLS upstream')
    expect(c.messages[0]).toEqual({ data: Buffer.from('text over https service'), binary: false })
    expect(c.messages[1]).toEqual({ data: Buffer.from([9, 8, 7]), binary: true })
    c.ws.close(4001, 'bye')
    expect(await c.closed).toEqual({ code: 4001, reason: 'bye' })
  })

  it('returns the gateway to its file descriptor count after 1000 tunnels opened and closed', async () => {
    const pid = gw.proc.pid!
    const warm = await connect(`${ws}/ws/fd`)
    warm.ws.close()
    await warm.closed
    await sleep(200)
    const baseline = fdCount(pid)
    for (let batch = 0; batch < 20; batch++) {
      const clients = await Promise.all(Array.from({ length: 50 }, () => connect(`${ws}/ws/fd`)))
      for (const c of clients) c.ws.close(1000)
      await Promise.all(clients.map((c) => c.closed))
    }
    await until(() => fdCount(pid) <= baseline, `fd count back to ${baseline} (now ${fdCount(pid)})`)
    // No descriptor is left behind (one of the baseline's may have closed since: an idle upstream socket).
    expect(fdCount(pid)).toBeLessThanOrEqual(baseline)
  }, 60_000)
})

describe('WebSocket tunnel lifetime', () => {
  let up: WsUpstream

  beforeAll(async () => {
    up = await startWsUpstream()
  })

  afterAll(async () => {
    await up?.close()
  })

  const config = (): object => ({
    services: [{ name: 'ws-up', url: `ws://127.0.0.1:${up.port}`, routes: [{ name: 'ws', protocols: ['ws'], paths: ['/ws'] }] }],
  })

  it('closes an idle tunnel with 1001 on both sides after GATEWAY_WS_IDLE_TIMEOUT_S, not a busy one', async () => {
    const gw = await startGateway(config(), { env: { GATEWAY_WS_IDLE_TIMEOUT_S: '1' } })
    try {
      const busy = await connect(`ws://127.0.0.1:${gw.port}/ws/busy`)
      const idle = await connect(`ws://127.0.0.1:${gw.port}/ws/idle`)
      const idleSide = newestSide(up)
      let alive = true
      void idle.closed.then(() => (alive = false))
      for (let i = 0; alive; i++) {
        busy.ws.send(`tick ${i}`)
        await sleep(250)
      }
      expect(await idle.closed).toEqual({ code: 1001, reason: 'idle timeout' })
      await until(() => idleSide.closed !== null, 'upstream close')
      expect(idleSide.closed).toEqual({ code: 1001, reason: 'idle timeout' })
      expect(busy.ws.readyState).toBe(WebSocket.OPEN)
      busy.ws.close()
      await busy.closed
    } finally {
      await gw.stop()
    }
  })

  /** Counts refused connects while polling the port (set by keptAlive's probe). */
  let refusedConnections = 0

  /** A connection that made one request; handshake() then sends a WebSocket handshake on it and returns the status line. */
  async function keptAlive(port: number): Promise<{ handshake(): Promise<string> }> {
    const socket = netConnect(port, '127.0.0.1')
    socket.on('error', () => {})
    let data = ''
    socket.on('data', (c: Buffer) => (data += c.toString('latin1')))
    socket.write('GET /ws/plain HTTP/1.1\r\nHost: x\r\n\r\n')
    await until(() => /\r\n\r\n[^]*request_id[^]*}/.test(data), 'the 426 answer')
    const probe = setInterval(() => {
      const s = netConnect(port, '127.0.0.1', () => s.destroy())
      s.on('error', () => refusedConnections++)
    }, 20)
    return {
      handshake: async () => {
        clearInterval(probe)
        data = ''
        socket.write('GET /ws/late HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
        await until(() => data.includes('\r\n'), 'the answer to the late handshake')
        socket.destroy()
        return data.split('\r\n')[0]!
      },
    }
  }

  it('on SIGTERM refuses new handshakes (503), relays until GATEWAY_DRAIN_TIMEOUT_MS, then closes tunnels with 1001 and exits 0', async () => {
    // One worker: a worker without tunnels finishes its drain at once and closes its idle connections, so the
    // kept-alive connection must share the worker that holds the tunnel.
    const gw = await startGateway(config(), { workers: 1, env: { GATEWAY_DRAIN_TIMEOUT_MS: '1500' } })
    const c = await connect(`ws://127.0.0.1:${gw.port}/ws/drain`)
    const side = newestSide(up)
    // A kept-alive connection from before the drain: a handshake on it is refused once the gateway drains.
    const kept = await keptAlive(gw.port)
    const exit = gw.stop()
    await until(() => refusedConnections > 0, 'the listener to close')
    expect(await kept.handshake()).toMatch(/^HTTP\/1\.1 503 /)
    c.ws.send('still relayed while draining')
    await until(() => c.messages.length === 1, 'echo during the drain')
    expect(await c.closed).toEqual({ code: 1001, reason: 'gateway shutting down' })
    await until(() => side.closed !== null, 'upstream close')
    expect(side.closed).toEqual({ code: 1001, reason: 'gateway shutting down' })
    expect(await exit).toBe(0)
  })
})
