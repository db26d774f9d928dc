// The compression extension end to end (SPEC §3): gzip and brotli chosen by Accept-Encoding through a real
// gateway with two workers, decoded by the test client and compared with what the real upstream sent.
import http from 'node:http'
import { brotliDecompressSync, createGunzip, gunzipSync, gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

interface Got {
  status: number
  headers: http.IncomingHttpHeaders
  raw: Buffer
}

let up: Upstream
let gw: RunningGateway
/** Releases the second half of the streaming upstream response. */
let releaseStream: () => void = () => {}
let streamEnded = false
const ENCODED = gzipSync(Buffer.from('already gzipped by the upstream '.repeat(100)))

/** Deterministic, compressible text of exactly `size` bytes. */
function text(size: number): Buffer {
  const out = Buffer.alloc(size)
  let at = 0
  for (let i = 0; at < size; i++) at += out.write(`line ${i} value ${(i * 7919) % 1000};\n`, at)
  return out
}

function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Got> {
  return new Promise((resolve, reject) => {
    http.request(gw.url + path, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, raw: Buffer.concat(chunks) }))
      res.on('error', reject)
    }).on('error', reject).end()
  })
}

function decoded(g: Got): Buffer {
  const coding = g.headers['content-encoding']
  if (coding === 'gzip') return gunzipSync(g.raw)
  if (coding === 'br') return brotliDecompressSync(g.raw)
  expect(coding).toBeUndefined()
  return g.raw
}

beforeAll(async () => {
  up = await startUpstream((req, res) => {
    const url = new URL(req.url!, 'http://x')
    const path = url.pathname
    if (path === '/data') {
      const body = text(Number(url.searchParams.get('size')))
      const headers: http.OutgoingHttpHeaders = { 'content-type': url.searchParams.get('type') ?? 'text/plain; charset=utf-8', 'content-length': body.length, etag: '"v1"' }
      if (url.searchParams.has('vary')) headers.vary = url.searchParams.get('vary')!
      if (url.searchParams.has('cc')) headers['cache-control'] = url.searchParams.get('cc')!
      res.writeHead(200, headers)
      return res.end(req.method === 'HEAD' ? undefined : body)
    }
    if (path === '/stream') {
      streamEnded = false
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('first part of the stream\n')
      releaseStream = () => {
        res.end('second part\n')
        streamEnded = true
      }
      return
    }
    if (path === '/encoded') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'content-length': ENCODED.length })
      return res.end(ENCODED)
    }
    if (path === '/empty') {
      res.writeHead(204)
      return res.end()
    }
    if (path === '/partial') {
      res.writeHead(206, { 'content-type': 'text/plain', 'content-range': 'bytes 0-4999/10000', 'content-length': 5000 })
      return res.end(text(5000))
    }
    res.writeHead(404)
    res.end()
  })
  const route = (name: string, plugins: object[]) => ({ name, paths: [`/${name}`], plugins })
  gw = await startGateway({
    services: [{
      name: 'up',
      url: `http://127.0.0.1:${up.port}`,
      routes: [
        route('all', [{ name: 'compression', config: { min_length: 0 } }]),
        route('defaults', [{ name: 'compression', config: {} }]),
        route('gzip-first', [{ name: 'compression', config: { algorithms: ['gzip', 'br'], min_length: 0, content_type: ['text/plain'] } }]),
        route('cached', [
          { name: 'compression', config: { min_length: 0 } },
          { name: 'proxy-cache', config: { strategy: 'memory', content_type: ['text/plain; charset=utf-8'] } },
        ]),
        route('termination', [
          { name: 'compression', config: { min_length: 0 } },
          { name: 'request-termination', config: { status_code: 200, body: 'x'.repeat(4000), content_type: 'text/plain' } },
        ]),
      ],
    }],
  })
})

afterAll(async () => {
  releaseStream()
  await gw?.stop()
  await up?.close()
})

describe('compression', () => {
  for (const coding of ['gzip', 'br'] as const) {
    for (const size of [1, 100, 1023, 1024, 65_535, 65_536, 200_000, 3 * 1024 * 1024 + 7]) {
      it(`${coding}: a ${size}-byte body decodes to the upstream's bytes`, async () => {
        const g = await get(`/all/data?size=${size}`, { 'accept-encoding': coding })
        expect(g.status).toBe(200)
        expect(g.headers['content-encoding']).toBe(coding)
        expect(g.headers['content-length']).toBeUndefined()
        expect(g.headers.vary).toBe('Accept-Encoding')
        expect(g.headers.etag).toBe('W/"v1"')
        expect(decoded(g).equals(text(size))).toBe(true)
        if (size >= 65_536) expect(g.raw.length).toBeLessThan(size / 2)
      })
    }
  }

  it('keeps a chunked streaming response streaming: the first part arrives before the upstream ends', async () => {
    const received = await new Promise<{ first: string; endedBeforeFirst: boolean; all: string }>((resolve, reject) => {
      http.get(gw.url + '/all/stream', { headers: { 'accept-encoding': 'gzip' }, agent: false }, (res) => {
        expect(res.headers['content-encoding']).toBe('gzip')
        const gunzip = createGunzip()
        let first: string | null = null
        let endedBeforeFirst = false
        let all = ''
        gunzip.on('data', (d: Buffer) => {
          all += d.toString()
          if (first === null) {
            first = d.toString()
            endedBeforeFirst = streamEnded
            releaseStream()
          }
        })
        gunzip.on('end', () => resolve({ first: first ?? '', endedBeforeFirst, all }))
        gunzip.on('error', reject)
        res.pipe(gunzip)
      }).on('error', reject)
    })
    expect(received.endedBeforeFirst).toBe(false)
    expect(received.first).toBe('first part of the stream\n')
    expect(received.all).toBe('first part of the stream\nsecond part\n')
  })

  it('min_length: a body known to be shorter is sent as it is (still with Vary)', async () => {
    const small = await get('/defaults/data?size=1023', { 'accept-encoding': 'gzip' })
    expect(small.headers['content-encoding']).toBeUndefined()
    expect(small.headers['content-length']).toBe('1023')
    expect(small.raw.equals(text(1023))).toBe(true)
    const big = await get('/defaults/data?size=1024', { 'accept-encoding': 'gzip' })
    expect(big.headers['content-encoding']).toBe('gzip')
  })

  it('content_type: only listed types are compressed (text/*, JSON, SVG by default)', async () => {
    for (const [type, compressed] of [['image/png', false], ['application/json', true], ['image/svg+xml', true], ['text/css', true], ['application/vnd.api+json', true], ['application/octet-stream', false]] as const) {
      const g = await get(`/defaults/data?size=5000&type=${encodeURIComponent(type)}`, { 'accept-encoding': 'br' })
      expect([type, g.headers['content-encoding']]).toEqual([type, compressed ? 'br' : undefined])
      expect(decoded(g).equals(text(5000))).toBe(true)
    }
    const css = await get('/gzip-first/data?size=5000&type=text%2Fcss', { 'accept-encoding': 'gzip' })
    expect(css.headers['content-encoding']).toBeUndefined()
    expect(css.headers.vary).toBeUndefined()
  })

  it('negotiates by q-value, preferring the first configured algorithm on ties', async () => {
    const cases: Array<[string, string, string | undefined]> = [
      ['/all', 'gzip, deflate, br', 'br'],
      ['/all', 'br;q=0.5, gzip;q=0.8', 'gzip'],
      ['/all', 'gzip;q=1.0, br;q=0', 'gzip'],
      ['/all', '*', 'br'],
      ['/all', '*;q=0.5, br;q=0', 'gzip'],
      ['/all', 'identity', undefined],
      ['/all', 'gzip;q=0, br;q=0, identity;q=1', undefined],
      ['/all', '*;q=0', undefined],
      ['/all', 'x-gzip', 'gzip'],
      ['/gzip-first', 'br, gzip', 'gzip'],
      ['/gzip-first', 'br;q=1, gzip;q=0.9', 'br'],
    ]
    for (const [route, accept, expected] of cases) {
      const g = await get(`${route}/data?size=3000`, { 'accept-encoding': accept })
      expect([accept, g.headers['content-encoding']]).toEqual([accept, expected])
      expect(decoded(g).equals(text(3000))).toBe(true)
    }
    const none = await get('/all/data?size=3000')
    expect(none.headers['content-encoding']).toBeUndefined()
    expect(none.headers.vary).toBe('Accept-Encoding')
  })

  it('adds Accept-Encoding to an existing Vary once', async () => {
    const g = await get('/all/data?size=3000&vary=Origin', { 'accept-encoding': 'gzip' })
    expect(g.headers.vary).toBe('Origin, Accept-Encoding')
    const again = await get('/all/data?size=3000&vary=accept-encoding', { 'accept-encoding': 'gzip' })
    expect(again.headers.vary).toBe('accept-encoding')
  })

  it('leaves encoded, partial, bodyless, HEAD and no-transform responses alone', async () => {
    const encoded = await get('/all/encoded', { 'accept-encoding': 'br' })
    expect(encoded.headers['content-encoding']).toBe('gzip')
    expect(encoded.raw.equals(ENCODED)).toBe(true)
    const partial = await get('/all/partial', { 'accept-encoding': 'gzip' })
    expect(partial.status).toBe(206)
    expect(partial.headers['content-encoding']).toBeUndefined()
    expect(partial.raw.equals(text(5000))).toBe(true)
    const empty = await get('/all/empty', { 'accept-encoding': 'gzip' })
    expect(empty.status).toBe(204)
    expect(empty.headers['content-encoding']).toBeUndefined()
    const head = await get('/all/data?size=5000', { 'accept-encoding': 'gzip' }, 'HEAD')
    expect(head.headers['content-encoding']).toBeUndefined()
    expect(head.headers['content-length']).toBe('5000')
    const noTransform = await get('/all/data?size=5000&cc=public%2C%20no-transform', { 'accept-encoding': 'gzip' })
    expect(noTransform.headers['content-encoding']).toBeUndefined()
    expect(noTransform.raw.equals(text(5000))).toBe(true)
  })

  it('compresses answers the gateway makes itself', async () => {
    const g = await get('/termination', { 'accept-encoding': 'gzip' })
    expect(g.headers['content-encoding']).toBe('gzip')
    expect(decoded(g).toString()).toBe('x'.repeat(4000))
  })

  it('works with proxy-cache: the upstream body is cached once and encoded per client', async () => {
    const before = up.requests()
    const miss = await get('/cached/data?size=20000', { 'accept-encoding': 'gzip' })
    expect(miss.headers['x-cache-status']).toBe('Miss')
    expect(miss.headers['content-encoding']).toBe('gzip')
    expect(decoded(miss).equals(text(20000))).toBe(true)
    const brHit = await get('/cached/data?size=20000', { 'accept-encoding': 'br' })
    expect(brHit.headers['x-cache-status']).toBe('Hit')
    expect(brHit.headers['content-encoding']).toBe('br')
    expect(brHit.headers.vary).toBe('Accept-Encoding')
    expect(decoded(brHit).equals(text(20000))).toBe(true)
    const plainHit = await get('/cached/data?size=20000')
    expect(plainHit.headers['x-cache-status']).toBe('Hit')
    expect(plainHit.headers['content-encoding']).toBeUndefined()
    expect(plainHit.headers['content-length']).toBe('20000')
    expect(plainHit.raw.equals(text(20000))).toBe(true)
    expect(up.requests() - before).toBe(1)
  })
})
