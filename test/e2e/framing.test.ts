// Message framing end to end (SPEC §4): chunked uploads and responses, close-delimited and
// Connection: close responses, HEAD / 204 / 304, and the request body limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { rawRequest, request } from '../helpers/http.js'
import { startRawUpstream, startUpstream, type Upstream } from '../helpers/upstream.js'

let node: Upstream
let raw: Upstream
let gw: RunningGateway

beforeAll(async () => {
  node = await startUpstream((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString()
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain' }) // no length: node sends chunked
        res.write('first,')
        setTimeout(() => res.end('second'), 20)
      } else if (req.url === '/no-content') {
        res.writeHead(204).end()
      } else if (req.url === '/not-modified') {
        res.writeHead(304, { etag: '"v1"' }).end()
      } else if (req.url === '/head') {
        res.writeHead(200, { 'content-length': '1234', 'content-type': 'text/plain' }).end(req.method === 'HEAD' ? undefined : 'x'.repeat(1234))
      } else {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ te: req.headers['transfer-encoding'] ?? null, cl: req.headers['content-length'] ?? null, body }))
      }
    })
  })
  // A close-delimited body ends when the upstream closes the socket.
  raw = await startRawUpstream((request, socket) => {
    if (!request.startsWith('GET /eof')) return 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nclose'
    socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end')
    return null
  })
  gw = await startGateway({
    services: [
      { name: 'node', url: `http://127.0.0.1:${node.port}`, routes: [{ name: 'node', paths: ['/n'] }] },
      { name: 'raw', url: `http://127.0.0.1:${raw.port}`, routes: [{ name: 'raw', paths: ['/r'] }] },
      { name: 'paced', url: `http://127.0.0.1:${node.port}`, write_timeout: 400, routes: [{ name: 'paced', paths: ['/p'] }] },
    ],
  }, { env: { GATEWAY_MAX_BODY_SIZE: '1k' } })
})

afterAll(async () => {
  await gw?.stop()
  await node?.close()
  await raw?.close()
})

describe('framing', () => {
  it('forwards a chunked upload as chunked', async () => {
    const r = await rawRequest(gw.port, 'POST /n/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n')
    const body = JSON.parse(r.data.slice(r.data.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n/, '').replace(/\r\n0\r\n\r\n$/, '')) as { te: string; body: string }
    expect(body.te).toBe('chunked')
    expect(body.body).toBe('hello world')
  })

  it('forwards a Content-Length upload with its length', async () => {
    const r = await request(gw.url + '/n/echo', { method: 'POST', body: 'abc' })
    expect(r.json()).toMatchObject({ cl: '3', te: null, body: 'abc' })
  })

  it('relays a chunked response as it arrives', async () => {
    const r = await request(gw.url + '/n/chunked')
    expect(r.status).toBe(200)
    expect(r.headers['transfer-encoding']).toBe('chunked')
    expect(r.body).toBe('first,second')
  })

  it('relays a close-delimited response', async () => {
    const r = await request(gw.url + '/r/eof')
    expect(r.status).toBe(200)
    expect(r.body).toBe('until the end')
  })

  it('never reuses an upstream connection that said Connection: close', async () => {
    const before = raw.connections()
    for (let i = 0; i < 3; i++) expect((await request(gw.url + '/r/x')).body).toBe('close')
    expect(raw.connections() - before).toBe(3)
  })

  it('answers HEAD with the upstream length and no body', async () => {
    const r = await request(gw.url + '/n/head', { method: 'HEAD' })
    expect(r.status).toBe(200)
    expect(r.headers['content-length']).toBe('1234')
    expect(r.body).toBe('')
  })

  it('relays 204 and 304 without a body', async () => {
    const a = await request(gw.url + '/n/no-content')
    expect(a.status).toBe(204)
    expect(a.body).toBe('')
    const b = await request(gw.url + '/n/not-modified')
    expect(b.status).toBe(304)
    expect(b.headers.etag).toBe('"v1"')
  })

  it('treats write_timeout as the time between two writes, not the whole upload', async () => {
    const net = await import('node:net')
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(gw.port, '127.0.0.1', () => {
        socket.write('POST /p/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n')
        let sent = 0
        const tick = setInterval(() => {
          socket.write('x'.repeat(100))
          if (++sent === 10) clearInterval(tick)
        }, 100)
      })
      let data = ''
      socket.on('data', (d) => (data += d.toString()))
      socket.on('end', () => resolve(data))
      socket.on('error', reject)
    })
    expect(reply).toMatch(/^HTTP\/1\.1 200 /)
    expect(reply).toContain('"cl":"1000"')
  })

  it('answers 413 when Content-Length exceeds GATEWAY_MAX_BODY_SIZE', async () => {
    const r = await request(gw.url + '/n/echo', { method: 'POST', body: 'x'.repeat(2000) })
    expect(r.status).toBe(413)
  })

  it('answers 413 while a chunked upload passes the limit', async () => {
    const chunk = 'x'.repeat(600)
    const r = await rawRequest(gw.port, `POST /n/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`)
    expect(r.data).toMatch(/^HTTP\/1\.1 413 /)
  })
})
