// ip-restriction, cors and request-size-limiting end to end (SPEC §3): one gateway listening on `::`
// (dual stack, so the same port is reached over 127.0.0.1 and ::1) with ::1 as its only trusted proxy.
// Client addresses come from the socket or, behind a trusted proxy, from X-Forwarded-For; preflights are
// answered at the gateway; a body over the cap gets 413 while it is still being sent.
import http from 'node:http'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request, type Reply } from '../helpers/http.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** What the upstream saw of one streamed upload. */
interface Streamed {
  bytes: number
  /** The request's 'close' fired (connection gone or request done). */
  closed: boolean
  /** The whole body arrived (req.complete when it closed). */
  complete: boolean
}

const KONG_METHODS = 'GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT'
const SIZE_LIMIT = 1024

let up: Upstream
let gw: RunningGateway
let v4: string
let v6: string
/** Request paths the upstream answered, in order. */
const seen: string[] = []
const streams: Streamed[] = []

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

const message = (r: Reply): string => r.json<{ message: string }>().message

beforeAll(async () => {
  up = await startUpstream((req, res) => {
    seen.push(`${req.method} ${req.url}`)
    if (req.url!.startsWith('/size/stream')) {
      const s: Streamed = { bytes: 0, closed: false, complete: false }
      streams.push(s)
      req.on('data', (c: Buffer) => (s.bytes += c.length))
      req.on('error', () => {})
      req.on('close', () => {
        s.closed = true
        s.complete = req.complete
      })
      req.on('end', () => res.end('all of it'))
      return
    }
    let bytes = 0
    req.on('data', (c: Buffer) => (bytes += c.length))
    req.on('end', () => {
      const body = JSON.stringify({ method: req.method, url: req.url, bodyBytes: bytes, xff: req.headers['x-forwarded-for'] ?? null })
      res.writeHead(200, { 'content-type': 'application/json', 'x-total': '42' })
      res.end(body)
    })
  })
  const route = (name: string, plugins: Array<{ name: string; config: Record<string, unknown> }>) =>
    ({ name, paths: [`/${name}`], strip_path: false, plugins })
  const ipr = (config: Record<string, unknown>) => ({ name: 'ip-restriction', config })
  const cors = (config: Record<string, unknown>) => ({ name: 'cors', config })
  const size = (config: Record<string, unknown>) => ({ name: 'request-size-limiting', config })
  gw = await startGateway({
    services: [{
      name: 'up',
      url: `http://127.0.0.1:${up.port}`,
      routes: [
        route('allow-v4', [ipr({ allow: ['127.0.0.0/8'] })]),
        route('allow-v6', [ipr({ allow: ['::1/128'] })]),
        route('deny-mapped', [ipr({ deny: ['::ffff:127.0.0.0/104'] })]),
        route('deny-custom', [ipr({ deny: ['127.0.0.1', '::1'], status: 401, message: 'Go away' })]),
        route('both', [ipr({ allow: ['127.0.0.0/8', '::1'], deny: ['127.0.0.1'] })]),
        route('doc-net', [ipr({ allow: ['203.0.113.0/24'] })]),
        route('cors', [cors({ origins: ['https://app.test', '.*\\.example\\.test'], credentials: true, exposed_headers: ['X-Total'], max_age: 600 })]),
        route('cors-star', [cors({})]),
        route('cors-star-cred', [cors({ credentials: true })]),
        route('cors-continue', [cors({ origins: ['https://app.test'], preflight_continue: true })]),
        route('cors-ip', [cors({ origins: ['https://app.test'] }), ipr({ deny: ['127.0.0.1'] })]),
        { name: 'size', paths: ['/size'], strip_path: false, plugins: [size({ allowed_payload_size: 1, size_unit: 'kilobytes' })] },
        route('size-strict', [size({ require_content_length: true })]),
      ],
    }],
  }, { env: { GATEWAY_HOST: '::', GATEWAY_TRUSTED_IPS: '::1' } })
  v4 = `http://127.0.0.1:${gw.port}`
  v6 = `http://[::1]:${gw.port}`
}, 60_000)

afterAll(async () => {
  await gw?.stop()
  await up?.close()
})

describe('ip-restriction over 127.0.0.1 and ::1', () => {
  it('allow with an IPv4 CIDR admits 127.0.0.1 and refuses ::1 with Kong’s message', async () => {
    const ok = await request(`${v4}/allow-v4`)
    expect(ok.status).toBe(200)
    const refused = await request(`${v6}/allow-v4`)
    expect(refused.status).toBe(403)
    expect(refused.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(refused.json()).toEqual({ message: 'IP address not allowed: ::1', request_id: refused.headers['x-request-id'] })
  })

  it('allow with an IPv6 CIDR admits ::1 and refuses 127.0.0.1', async () => {
    expect((await request(`${v6}/allow-v6`)).status).toBe(200)
    const refused = await request(`${v4}/allow-v6`)
    expect(refused.status).toBe(403)
    expect(message(refused)).toBe('IP address not allowed: 127.0.0.1')
  })

  it('deny with an IPv4-mapped IPv6 CIDR refuses 127.0.0.1 and admits ::1', async () => {
    expect((await request(`${v4}/deny-mapped`)).status).toBe(403)
    expect((await request(`${v6}/deny-mapped`)).status).toBe(200)
  })

  it('answers with the configured status and message', async () => {
    for (const base of [v4, v6]) {
      const r = await request(`${base}/deny-custom`)
      expect([r.status, message(r)]).toEqual([401, 'Go away'])
    }
  })

  it('deny wins over allow', async () => {
    expect((await request(`${v4}/both`)).status).toBe(403)
    expect((await request(`${v6}/both`)).status).toBe(200)
  })

  it('never lets a refused request reach the upstream', async () => {
    const before = seen.length
    await request(`${v6}/allow-v4/x`)
    await request(`${v4}/allow-v6/x`)
    expect(seen.length).toBe(before)
  })

  it('believes X-Forwarded-For only from a trusted proxy (GATEWAY_TRUSTED_IPS=::1)', async () => {
    const fromProxy = await request(`${v6}/doc-net`, { headers: { 'x-forwarded-for': '203.0.113.7' } })
    expect(fromProxy.status).toBe(200)
    expect(fromProxy.json<{ xff: string }>().xff).toBe('203.0.113.7, ::1')
    // 127.0.0.1 is not trusted: its X-Forwarded-For is ignored and the socket address decides.
    const spoofed = await request(`${v4}/doc-net`, { headers: { 'x-forwarded-for': '203.0.113.7' } })
    expect(spoofed.status).toBe(403)
    expect(message(spoofed)).toBe('IP address not allowed: 127.0.0.1')
  })

  it('takes the nearest untrusted X-Forwarded-For hop as the client', async () => {
    const r = await request(`${v6}/doc-net`, { headers: { 'x-forwarded-for': '203.0.113.7, 198.51.100.1' } })
    expect(r.status).toBe(403)
    expect(message(r)).toBe('IP address not allowed: 198.51.100.1')
    const through = await request(`${v6}/doc-net`, { headers: { 'x-forwarded-for': '198.51.100.1, 203.0.113.9, ::1' } })
    expect(through.status).toBe(200)
  })
})

describe('cors', () => {
  const preflightHeaders = (origin: string): Record<string, string> =>
    ({ origin, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'X-Token, Content-Type' })

  it('answers a preflight at the gateway with 200 and Kong’s headers', async () => {
    const before = seen.length
    const r = await request(`${v4}/cors/items`, { method: 'OPTIONS', headers: preflightHeaders('https://app.test') })
    expect(r.status).toBe(200)
    expect(r.body).toBe('')
    expect(r.headers['content-length']).toBe('0')
    expect(r.headers['access-control-allow-origin']).toBe('https://app.test')
    expect(r.headers['access-control-allow-credentials']).toBe('true')
    expect(r.headers['access-control-allow-methods']).toBe(KONG_METHODS)
    expect(r.headers['access-control-allow-headers']).toBe('X-Token, Content-Type')
    expect(r.headers['access-control-max-age']).toBe('600')
    expect(r.headers.vary).toBe('Origin')
    expect(r.headers['x-request-id']).toBeTruthy()
    expect(seen.length).toBe(before)
  })

  it('allows an origin matching a regex entry (by host)', async () => {
    const r = await request(`${v4}/cors/items`, { method: 'OPTIONS', headers: preflightHeaders('https://api.example.test:8443') })
    expect(r.status).toBe(200)
    expect(r.headers['access-control-allow-origin']).toBe('https://api.example.test:8443')
    const suffix = await request(`${v4}/cors/items`, { method: 'OPTIONS', headers: preflightHeaders('https://api.example.test.evil.test') })
    expect(suffix.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('answers a preflight from a disallowed origin without Allow-Origin', async () => {
    const r = await request(`${v4}/cors/items`, { method: 'OPTIONS', headers: preflightHeaders('https://evil.test') })
    expect(r.status).toBe(200)
    expect(r.headers['access-control-allow-origin']).toBeUndefined()
    expect(r.headers.vary).toBe('Origin')
  })

  it('adds the CORS headers to the upstream’s answer for an allowed origin', async () => {
    const r = await request(`${v4}/cors/items`, { headers: { origin: 'https://app.test' } })
    expect(r.status).toBe(200)
    expect(r.json<{ url: string }>().url).toBe('/cors/items')
    expect(r.headers['access-control-allow-origin']).toBe('https://app.test')
    expect(r.headers['access-control-allow-credentials']).toBe('true')
    expect(r.headers['access-control-expose-headers']).toBe('X-Total')
    expect(r.headers.vary).toBe('Origin')
    expect(r.headers['x-total']).toBe('42')
  })

  it('proxies a request from a disallowed origin without Allow-Origin', async () => {
    const r = await request(`${v4}/cors/items`, { method: 'POST', headers: { origin: 'https://evil.test' }, body: '{}' })
    expect(r.status).toBe(200)
    expect(r.headers['access-control-allow-origin']).toBeUndefined()
    expect(r.headers['access-control-allow-credentials']).toBe('true')
  })

  it('allows every origin with * by default, and echoes the origin when credentials are on', async () => {
    const star = await request(`${v4}/cors-star`, { headers: { origin: 'https://any.test' } })
    expect(star.headers['access-control-allow-origin']).toBe('*')
    expect(star.headers.vary).toBeUndefined()
    const cred = await request(`${v4}/cors-star-cred`, { headers: { origin: 'https://any.test' } })
    expect(cred.headers['access-control-allow-origin']).toBe('https://any.test')
    expect(cred.headers['access-control-allow-credentials']).toBe('true')
    expect(cred.headers.vary).toBe('Origin')
    const preflight = await request(`${v4}/cors-star-cred`, { method: 'OPTIONS', headers: preflightHeaders('https://any.test') })
    expect([preflight.status, preflight.headers['access-control-allow-origin'], preflight.headers['access-control-allow-credentials']])
      .toEqual([200, 'https://any.test', 'true'])
  })

  it('with preflight_continue, proxies the preflight and adds no CORS header', async () => {
    const r = await request(`${v4}/cors-continue`, { method: 'OPTIONS', headers: preflightHeaders('https://app.test') })
    expect(r.status).toBe(200)
    expect(r.json<{ method: string }>().method).toBe('OPTIONS')
    expect(r.headers['access-control-allow-origin']).toBeUndefined()
    expect(r.headers['access-control-allow-methods']).toBeUndefined()
  })

  it('puts its headers on answers other plugins give (an ip-restriction 403)', async () => {
    const r = await request(`${v4}/cors-ip`, { headers: { origin: 'https://app.test' } })
    expect(r.status).toBe(403)
    expect(r.headers['access-control-allow-origin']).toBe('https://app.test')
  })
})

/** Sends a chunked POST, one chunk per await of `beforeChunk`, and reports when and how the gateway answered. */
function streamChunked(port: number, path: string, chunks: Buffer[], beforeChunk: (i: number) => Promise<void>): Promise<{ response: string; sentBeforeAnswer: number; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let response = ''
    let sentBeforeAnswer = -1
    let sent = 0
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer after ${sent} chunks: ${JSON.stringify(response)}`))
    }, 10_000)
    socket.on('error', () => {}) // writes after the gateway closed: EPIPE / ECONNRESET
    socket.on('data', (d: Buffer) => {
      if (sentBeforeAnswer < 0) sentBeforeAnswer = sent
      response += d.toString('latin1')
    })
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({ response, sentBeforeAnswer, closed: true })
    })
    socket.on('connect', async () => {
      socket.write(`POST ${path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n`)
      for (let i = 0; i < chunks.length; i++) {
        await beforeChunk(i)
        if (sentBeforeAnswer >= 0 || socket.destroyed) return
        socket.write(`${chunks[i]!.length.toString(16)}\r\n`)
        socket.write(chunks[i]!)
        socket.write('\r\n')
        sent++
      }
      socket.write('0\r\n\r\n')
    })
  })
}

/** A chunked POST through node:http (no Content-Length); resolves with the answer. */
function postChunked(url: string, pieces: string[]): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, json: <T>() => JSON.parse(body) as T }))
    })
    req.on('error', reject)
    for (const p of pieces) req.write(p)
    req.end()
  })
}

describe('request-size-limiting', () => {
  it('lets a body of exactly the limit through', async () => {
    const r = await request(`${v4}/size/cl`, { method: 'POST', body: 'x'.repeat(SIZE_LIMIT) })
    expect(r.status).toBe(200)
    expect(r.json<{ bodyBytes: number }>().bodyBytes).toBe(SIZE_LIMIT)
    const chunked = await postChunked(`${v4}/size/chunked`, ['x'.repeat(600), 'y'.repeat(424)])
    expect(chunked.status).toBe(200)
    expect(chunked.json<{ bodyBytes: number }>().bodyBytes).toBe(SIZE_LIMIT)
  })

  it('answers 413 at once when Content-Length is over the limit, before any body byte is sent', async () => {
    const before = seen.length
    const answer = await new Promise<{ data: string; closed: boolean }>((resolve) => {
      const socket = net.connect(gw.port, '127.0.0.1', () => socket.write(`POST /size/cl HTTP/1.1\r\nHost: t\r\nContent-Length: ${SIZE_LIMIT + 1}\r\n\r\n`))
      let data = ''
      socket.on('data', (d: Buffer) => (data += d.toString('latin1')))
      socket.on('error', () => {})
      socket.on('close', () => resolve({ data, closed: true }))
    })
    expect(answer.data).toMatch(/^HTTP\/1\.1 413 /)
    expect(answer.data).toMatch(/\r\nConnection: close\r\n/i)
    expect(answer.data).toContain('{"message":"Request size limit exceeded"')
    expect(answer.closed).toBe(true)
    expect(seen.length).toBe(before)
  })

  it('answers 411 without Content-Length when require_content_length is set', async () => {
    const r = await request(`${v4}/size-strict`)
    expect(r.status).toBe(411)
    expect(message(r)).toBe('A valid Content-Length header is required')
  })

  it('answers 413 to a chunked upload while it is still being sent; the upstream sees an aborted body', async () => {
    // 400-byte chunks against a 1 KiB cap: the third chunk crosses it. The second waits until the
    // upstream has the first, so the exchange is under way when the cap is crossed.
    const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(400, 97 + (i % 26)))
    const before = streams.length
    const result = await streamChunked(gw.port, '/size/stream', chunks, async (i) => {
      if (i === 1) await until(() => streams.length > before && streams[before]!.bytes >= 400, 'the upstream to receive the first chunk')
      else if (i > 1) await sleep(20)
    })
    expect(result.response).toMatch(/^HTTP\/1\.1 413 /)
    expect(result.response).toContain('{"message":"Request size limit exceeded"')
    // Answered after the chunk that crossed the cap, long before the 40th: the client was still sending.
    expect(result.sentBeforeAnswer).toBeGreaterThanOrEqual(3)
    expect(result.sentBeforeAnswer).toBeLessThan(10)
    expect(result.closed).toBe(true)
    // The upstream got the request head and the chunks under the cap, then its connection was cut: the
    // body never completes, so it cannot mistake the upload for a whole one.
    expect(streams.length).toBe(before + 1)
    const s = streams[before]!
    await until(() => s.closed, 'the upstream request to close')
    expect(s.complete).toBe(false)
    expect(s.bytes).toBeGreaterThanOrEqual(400)
    expect(s.bytes).toBeLessThanOrEqual(SIZE_LIMIT)
  })
})
