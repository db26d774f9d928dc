// grpc-gateway end to end (SPEC §6): REST/JSON through the real gateway (2 workers) to a real @grpc/grpc-js
// bookstore server: every HttpRule form, proto3 JSON both ways, metadata, deadlines, statuses, streams, TLS, reload.
import http from 'node:http'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bigContent, BOOKSTORE_PROTO, startBookstore, startH2Echo, type Bookstore } from '../helpers/grpc-bookstore.js'
import { certDir, makeCert } from '../helpers/certs.js'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request } from '../helpers/http.js'

let store: Bookstore
let second: Bookstore
let secure: Bookstore
let gw: RunningGateway
let closedPort = 0
let caCert = ''

const plugin = (config: Record<string, unknown> = {}): object => ({ name: 'grpc-gateway', config: { proto: BOOKSTORE_PROTO, ...config } })

/** Routes by Host, each with its own plugin config, all matching the proto's /v1/ paths. */
function route(name: string, host: string | null, config: Record<string, unknown> = {}): object {
  return { name, ...(host === null ? {} : { hosts: [host] }), paths: ['/v1/'], strip_path: false, plugins: [plugin(config)] }
}

function config(extraRoutes: object[] = [], extraServices: object[] = []): object {
  return {
    ca_certificates: [{ id: 'test-ca', cert: caCert }],
    upstreams: [
      { name: 'bookstores', targets: [{ target: `127.0.0.1:${store.port}` }, { target: `127.0.0.1:${second.port}` }] },
      { name: 'half-down', targets: [{ target: `127.0.0.1:${closedPort}` }, { target: `127.0.0.1:${store.port}` }] },
    ],
    services: [
      {
        name: 'bookstore', url: `grpc://127.0.0.1:${store.port}`,
        routes: [
          route('json', null),
          route('ndjson', 'ndjson.test', { stream_format: 'ndjson' }),
          route('sse', 'sse.test', { stream_format: 'sse' }),
          route('strict', 'strict.test', { reject_unknown_query: true }),
          ...extraRoutes,
        ],
      },
      { name: 'slow', url: `grpc://127.0.0.1:${store.port}`, read_timeout: 300, routes: [route('slow', 'slow.test')] },
      { name: 'pool', protocol: 'grpc', host: 'bookstores', port: 80, routes: [route('pool', 'pool.test')] },
      { name: 'half', protocol: 'grpc', host: 'half-down', port: 80, retries: 2, routes: [route('half', 'half.test')] },
      { name: 'secure', url: `grpcs://localhost:${secure.port}`, tls_verify: true, ca_certificates: ['test-ca'], routes: [route('secure', 'secure.test')] },
      { name: 'down', url: `grpc://127.0.0.1:${closedPort}`, retries: 0, routes: [route('down', 'down.test')] },
      { name: 'bare', url: `grpc://127.0.0.1:${store.port}`, routes: [{ name: 'bare', hosts: ['bare.test'], paths: ['/v1/'], strip_path: false }] },
      ...extraServices,
    ],
  }
}

/** A loopback port nothing listens on (bound, then released). */
function closedLoopbackPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** True once every worker runs the primary's current config. */
async function allWorkersApplied(): Promise<boolean> {
  const status = (await request(gw.adminUrl + '/status')).json<{ config_hash: string; workers: { threads: { config_hash: string }[] } }>()
  return status.workers.threads.every((t) => t.config_hash === status.config_hash)
}

/** SIGHUP with the config file as written, until every worker runs it. */
async function reload(): Promise<void> {
  const mark = gw.logs().length
  gw.proc.kill('SIGHUP')
  await gw.waitForLog('config reloaded', mark)
  while (!(await allWorkersApplied())) await new Promise((r) => setTimeout(r, 20))
}

beforeAll(async () => {
  const dir = certDir()
  const ca = makeCert(dir, 'ca', 'Test gRPC CA', { ca: true })
  const leaf = makeCert(dir, 'leaf', 'localhost', { issuer: ca, dns: ['localhost'], ips: ['127.0.0.1'] })
  caCert = ca.cert
  store = await startBookstore({ name: 'a' })
  second = await startBookstore({ name: 'b' })
  secure = await startBookstore({ name: 'tls', tls: leaf })
  closedPort = await closedLoopbackPort()
  gw = await startGateway(config())
})

afterAll(async () => {
  await gw?.stop()
  await store?.close()
  await second?.close()
  await secure?.close()
})

interface Answer {
  status: number
  headers: { get(name: string): string | null }
  text: string
  json: <T = Record<string, unknown>>() => T
}

/** A request through the gateway (node:http, so Host can be set); `body` other than a string is sent as JSON. */
async function call(method: string, path: string, opts: { body?: unknown; host?: string; headers?: Record<string, string>; agent?: http.Agent } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.host !== undefined) headers.host = opts.host
  let body: string | undefined
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body)
    headers['content-type'] ??= 'application/json'
  }
  const r = await request(gw.url + path, { method, headers, body, agent: opts.agent })
  const get = (name: string): string | null => {
    const v = r.headers[name]
    return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v
  }
  return { status: r.status, headers: { get }, text: r.body, json: r.json }
}

const BOOK = {
  author: 'Ann Author', title: 'A Title', genre: 'HISTORY', published: '2023-11-14T22:13:20.500Z',
  pageCount: '9007199254740993', tags: ['a', 'b'], edition: 2,
}

describe('HTTP rules', () => {
  it('GET with a path variable, and its additional binding', async () => {
    for (const path of ['/v1/shelves/12', '/v1/shelf/12/info']) {
      const r = await call('GET', path)
      expect(r.status).toBe(200)
      expect(r.headers.get('content-type')).toBe('application/json')
      expect(r.json()).toEqual({ id: '12', theme: 'theme-12', location: { aisle: 'A', shelfNumber: 3 } })
      expect(store.last('GetShelf').request).toEqual({ shelf: '12' })
    }
  })

  it('GET with a multi-segment variable; int64 as string, enum names, Timestamp, wrapper', async () => {
    const r = await call('GET', '/v1/shelves/1/books/2')
    expect(r.status).toBe(200)
    expect(r.json()).toEqual({ name: 'shelves/1/books/2', ...BOOK })
    expect(store.last('GetBook').request).toEqual({ name: 'shelves/1/books/2' })
  })

  it('query parameters fill nested, repeated, renamed and URL-encoded fields; unknown ones are ignored', async () => {
    const q = 'filter.author=Ann%20Author&filter.genre=FICTION&filter.location.aisle=B%2FC&filter.years=1999&filter.years=2001&tags=x&tags=y%20z&limit=5&pageToken=t&nope=1'
    const r = await call('GET', `/v1/shelves/3/books?${q}`)
    expect(r.status).toBe(200)
    expect(store.last('ListBooks').request).toEqual({
      shelf: '3', filter: { author: 'Ann Author', genre: 'FICTION', location: { aisle: 'B/C' }, years: ['1999', '2001'] },
      tags: ['x', 'y z'], page_size: 5, page_token: 't',
    })
    // response_body: "books" → the list itself.
    expect(r.json()).toEqual([{ name: 'shelves/3/books/1', ...BOOK }, { name: 'shelves/3/books/2', ...BOOK }])
  })

  it('rejects an unknown query parameter with 400 code 3 when reject_unknown_query is on', async () => {
    const r = await call('GET', '/v1/shelves/3/books?nope=1', { host: 'strict.test' })
    expect(r.status).toBe(400)
    const body = r.json<{ code: number; message: string; details: unknown[] }>()
    expect(body.code).toBe(3)
    expect(body.message).toContain('nope')
    expect(body.details).toEqual([])
  })

  it('POST with body: field (lowerCamelCase and proto names accepted)', async () => {
    const r = await call('POST', '/v1/shelves/5/books', { body: { title: 'New', page_count: 7, pageCount: undefined, genre: 'SCIENCE', tags: ['t'] } })
    expect(r.status).toBe(200)
    expect(r.json()).toEqual({ name: 'shelves/5/books/new', title: 'New', pageCount: '7', genre: 'SCIENCE', tags: ['t'] })
    expect(store.last('CreateBook').request).toEqual({ shelf: '5', book: { title: 'New', page_count: '7', genre: 'SCIENCE', tags: ['t'] } })
  })

  it('PUT with body: "*" (path variables fill the rest)', async () => {
    const r = await call('PUT', '/v1/shelves/4', { body: { theme: 'sea', location: { aisle: 'Z', shelfNumber: 2 } } })
    expect(r.status).toBe(200)
    expect(r.json()).toEqual({ id: '4', theme: 'sea', location: { aisle: 'Z', shelfNumber: 2 } })
    expect(store.last('UpdateShelf').request).toEqual({ id: '4', theme: 'sea', location: { aisle: 'Z', shelf_number: 2 } })
  })

  it('PATCH with a nested path variable, a body field and a FieldMask from the query', async () => {
    const r = await call('PATCH', '/v1/shelves/1/books/9?updateMask=title,pageCount', { body: { title: 'Renamed' } })
    expect(r.status).toBe(200)
    expect(r.json()).toEqual({ name: 'shelves/1/books/9', title: 'Renamed' })
    expect(store.last('PatchBook').request).toEqual({ book: { name: 'shelves/1/books/9', title: 'Renamed' }, update_mask: { paths: ['title', 'page_count'] } })
  })

  it('DELETE returning Empty', async () => {
    const r = await call('DELETE', '/v1/shelves/1/books/9')
    expect(r.status).toBe(200)
    expect(r.json()).toEqual({})
    expect(store.last('DeleteBook').request).toEqual({ name: 'shelves/1/books/9' })
  })

  // The custom `LOCK` binding is not reachable end to end: uWebSockets.js closes the connection on methods it
  // does not know (any route, not only transcoded ones); the transcoder's own tests cover custom kinds.
  it('a custom verb (:publish) with body "*"', async () => {
    const r = await call('POST', '/v1/shelves/1/books/3:publish', { body: { at: '2024-01-02T03:04:05Z' } })
    expect(r.status).toBe(200)
    expect(r.json()).toEqual({ name: 'shelves/1/books/3', ...BOOK, published: '2024-01-02T03:04:05Z' })
    expect(store.last('PublishBook').request).toEqual({ name: 'shelves/1/books/3', at: { seconds: '1704164645' } })
  })

  it('a ** variable takes the rest of the path; bytes come back as base64', async () => {
    const r = await call('GET', '/v1/files/docs/a%20b/c.txt')
    expect(r.status).toBe(200)
    expect(store.last('GetFile').request).toEqual({ path: 'docs/a b/c.txt' })
    expect(r.json()).toEqual({ path: 'docs/a b/c.txt', content: Buffer.from('docs/a b/c.txt').toString('base64') })
  })

  it('relays a 1 MiB response message', async () => {
    const r = await call('GET', '/v1/files/big')
    expect(r.status).toBe(200)
    const body = r.json<{ content: string }>()
    expect(Buffer.from(body.content, 'base64').equals(bigContent())).toBe(true)
  })
})

describe('proto3 JSON mapping', () => {
  /** Every field in its canonical JSON form: what goes in comes back unchanged. */
  const EVERYTHING = {
    int32Value: -5, int64Value: '-9007199254740993', uint32Value: 4000000000, uint64Value: '18446744073709551615',
    sint64Value: '-42', fixed64Value: '12345678901234', sfixed32Value: -7, boolValue: true, doubleValue: 1.5, floatValue: 0.25,
    stringValue: 'héllo ✓', bytesValue: 'AAEC/w==', genre: 'SCIENCE', repeatedInt64: ['1', '-2'],
    books: [{ name: 'b1', genre: 'FICTION' }], counts: { a: '1', b: '-2' }, booksById: { 7: { title: 'seven' } },
    timestamp: '2024-02-03T04:05:06.789Z', duration: '1.500s', int32Wrapper: 5, stringWrapper: 'w', int64Wrapper: '99',
    boolWrapper: false, structValue: { a: 1, b: [true, null, 'x'], c: { d: 'e' } }, value: [1, 'two'], listValue: [1, { k: 'v' }],
    fieldMask: 'title,pageCount', empty: {}, any: { '@type': 'type.googleapis.com/bookstore.v1.Shelf', id: '3', theme: 'any' },
    customName: 'renamed', choiceText: 'picked', optionalValue: 0, bytesWrapper: 'AQI=', doubleWrapper: 2.5, uint64Wrapper: '77',
  }

  it('round-trips every scalar and well-known type', async () => {
    const r = await call('POST', '/v1/echo', { body: EVERYTHING })
    expect(r.status).toBe(200)
    expect(r.json()).toEqual(EVERYTHING)
    const seen = store.last('Echo').request
    expect(seen.int64_value).toBe('-9007199254740993')
    expect(seen.renamed).toBe('renamed')
    expect(seen.choice).toBe('choice_text')
  })

  it('accepts int64 as a JSON number and proto field names on input', async () => {
    const r = await call('POST', '/v1/echo', { body: { int64_value: 12, string_value: 's', genre: 2 } })
    expect(r.status).toBe(200)
    expect(r.json()).toEqual({ int64Value: '12', stringValue: 's', genre: 'HISTORY' })
  })

  it('fills fields from path variables of an additional GET binding', async () => {
    const r = await call('GET', '/v1/echo/-5/a%2Fb')
    expect(r.status).toBe(200)
    expect(r.json()).toEqual({ int64Value: '-5', stringValue: 'a/b' })
  })
})

describe('metadata', () => {
  it('sends request headers as metadata with X-Forwarded-*, drops hop-by-hop ones, and returns response metadata as headers', async () => {
    const r = await call('GET', '/v1/shelves/8', {
      headers: { 'x-custom': 'one', 'x-token-bin': Buffer.from([1, 2, 3]).toString('base64'), connection: 'x-hop', 'x-hop': 'gone', 'x-request-id': 'req-123' },
    })
    expect(r.status).toBe(200)
    const md = store.last('GetShelf').metadata
    expect(md['x-custom']).toBe('one')
    expect(md['x-token-bin']).toBe('AQID')
    expect(md['x-hop']).toBeUndefined()
    expect(md['x-request-id']).toBe('req-123')
    expect(md['x-forwarded-for']).toBe('127.0.0.1')
    expect(md['x-forwarded-proto']).toBe('http')
    expect(md['x-real-ip']).toBe('127.0.0.1')
    expect(r.headers.get('x-request-id')).toBe('req-123')
    expect(r.headers.get('x-served-by')).toBe('a')
    expect(r.headers.get('x-binary-bin')).toBe('AAEC+g==')
    expect(r.headers.get('x-trailer')).toBe('done')
    expect(r.headers.get('grpc-status')).toBe('0')
  })

  it('sends read_timeout as the call deadline (grpc-timeout)', async () => {
    await call('GET', '/v1/shelves/8')
    const left = store.last('GetShelf').deadlineMs
    expect(left).toBeGreaterThan(0)
    expect(left).toBeLessThanOrEqual(60_000)
  })

  it('answers 504 code 4 when the deadline passes', async () => {
    const r = await call('GET', '/v1/shelves/8', { host: 'slow.test', headers: { 'x-delay-ms': '3000' } })
    expect(r.status).toBe(504)
    expect(r.json<{ code: number }>().code).toBe(4)
    expect(r.headers.get('grpc-status')).toBe('4')
    expect(store.last('GetShelf').deadlineMs).toBeLessThanOrEqual(300)
  })
})

describe('status mapping', () => {
  const HTTP = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401]

  it('maps every gRPC status code to its HTTP status with the error body and grpc-status/grpc-message', async () => {
    for (let code = 1; code <= 16; code++) {
      const r = await call('GET', '/v1/shelves/1', { headers: { 'x-grpc-status': String(code), 'x-grpc-message': encodeURIComponent(`failed ${code} ✗`) } })
      expect(r.status, `code ${code}`).toBe(HTTP[code])
      expect(r.json()).toEqual({ code, message: `failed ${code} ✗`, details: [] })
      expect(r.headers.get('grpc-status')).toBe(String(code))
      expect(r.headers.get('grpc-message')).toBe(`failed ${code} %E2%9C%97`)
    }
  })

  it('renders google.rpc.Status details from grpc-status-details-bin', async () => {
    const r = await call('GET', '/v1/shelves/1', { headers: { 'x-grpc-status': '3', 'x-grpc-message': 'bad', 'x-grpc-details': '1' } })
    expect(r.status).toBe(400)
    expect(r.json()).toEqual({ code: 3, message: 'bad', details: [{ '@type': 'type.googleapis.com/bookstore.v1.Shelf', id: '7', theme: 'detail' }] })
  })

  it('relays a trailers-only error (no response headers metadata) and one sent after headers', async () => {
    const only = await call('GET', '/v1/shelves/1', { headers: { 'x-grpc-status': '5' } })
    expect(only.status).toBe(404)
    expect(only.headers.get('x-served-by')).toBeNull()
    expect(only.headers.get('x-error-trailer')).toBe('yes')
    const after = await call('GET', '/v1/shelves/1', { headers: { 'x-grpc-status': '5', 'x-send-headers': '1' } })
    expect(after.status).toBe(404)
    expect(after.headers.get('x-served-by')).toBe('a')
    expect(after.headers.get('x-error-trailer')).toBe('yes')
  })

  it('answers 404 code 5 when no binding matches', async () => {
    const r = await call('GET', '/v1/nothing/here')
    expect(r.status).toBe(404)
    expect(r.json<{ code: number }>().code).toBe(5)
    expect((await call('DELETE', '/v1/shelves/1')).status).toBe(404)
  })

  it('answers 400 code 3 naming the field for a body that does not convert', async () => {
    const r = await call('POST', '/v1/shelves/1/books', { body: { pageCount: 'many' } })
    expect(r.status).toBe(400)
    const body = r.json<{ code: number; message: string }>()
    expect(body.code).toBe(3)
    expect(body.message).toContain('pageCount')
    const broken = await call('POST', '/v1/shelves/1/books', { body: '{"title":' })
    expect(broken.status).toBe(400)
    expect(broken.json<{ code: number }>().code).toBe(3)
  })

  it('answers 415 for a body that is not JSON', async () => {
    const r = await call('POST', '/v1/shelves/1/books', { body: 'title=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    expect(r.status).toBe(415)
    expect(r.json<{ code: number }>().code).toBe(3)
  })
})

describe('server streaming', () => {
  it('streams 1000 messages as a JSON array', async () => {
    const r = await call('GET', '/v1/shelves/2/books:stream?count=1000')
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toBe('application/json')
    const books = r.json<{ name: string }[]>()
    expect(books).toHaveLength(1000)
    expect(books[999]).toEqual({ name: 'shelves/2/books/999', ...BOOK })
  })

  it('streams 1000 messages as NDJSON', async () => {
    const r = await call('GET', '/v1/shelves/2/books:stream?count=1000', { host: 'ndjson.test' })
    expect(r.headers.get('content-type')).toBe('application/x-ndjson')
    const lines = r.text.split('\n')
    expect(lines.pop()).toBe('')
    expect(lines).toHaveLength(1000)
    expect(JSON.parse(lines[0]!)).toEqual({ name: 'shelves/2/books/0', ...BOOK })
  })

  it('streams 1000 messages as server-sent events', async () => {
    const r = await call('GET', '/v1/shelves/2/books:stream?count=1000', { host: 'sse.test' })
    expect(r.headers.get('content-type')).toBe('text/event-stream')
    const events = r.text.split('\n\n')
    expect(events.pop()).toBe('')
    expect(events).toHaveLength(1000)
    expect(events[500]).toBe(`data: ${JSON.stringify({ name: 'shelves/2/books/500', ...BOOK })}`)
  })

  it('stops reading the upstream stream while the client does not read (backpressure), then relays all of it', async () => {
    const count = 4000
    const socket = net.connect(gw.port, '127.0.0.1')
    await new Promise((r) => socket.once('connect', r))
    socket.pause()
    const before = store.streamed()
    socket.write(`GET /v1/shelves/2/books:stream?count=${count} HTTP/1.1\r\nHost: x\r\nx-title-bytes: 10000\r\nConnection: close\r\n\r\n`)
    // ~40 MB of JSON: with the client not reading, the server must stall once socket buffers and windows are full.
    let last = -1
    let still = 0
    while (still < 5) {
      await new Promise((r) => setTimeout(r, 100))
      const now = store.streamed() - before
      still = now === last ? still + 1 : 0
      last = now
    }
    expect(last).toBeGreaterThan(0)
    expect(last).toBeLessThan(count / 2)
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.resume()
    await new Promise((r) => socket.once('end', r))
    socket.destroy()
    expect(store.streamed() - before).toBe(count)
    const raw = Buffer.concat(chunks).toString()
    const body = raw.slice(raw.indexOf('\r\n\r\n') + 4)
    // Chunked transfer coding: every book's title appears once, and the array closes.
    expect(body.split('"title":"'.concat('x'.repeat(10000), '"')).length - 1).toBe(count)
    expect(body.includes(']')).toBe(true)
  })

  it('closes a stream that fails midway with an error element', async () => {
    const r = await call('GET', '/v1/shelves/2/books:stream?count=10', { headers: { 'x-fail-after': '3' } })
    expect(r.status).toBe(200)
    const items = r.json<unknown[]>()
    expect(items).toHaveLength(4)
    expect(items[3]).toEqual({ error: { code: 10, message: 'stream aborted on purpose', details: [] } })
    const sse = await call('GET', '/v1/shelves/2/books:stream?count=10', { host: 'sse.test', headers: { 'x-fail-after': '2' } })
    expect(sse.text.endsWith('event: error\ndata: {"error":{"code":10,"message":"stream aborted on purpose","details":[]}}\n\n')).toBe(true)
  })

  it('answers a stream that fails before its first message with the mapped status', async () => {
    const r = await call('GET', '/v1/shelves/2/books:stream?count=10', { headers: { 'x-fail-after': '0' } })
    expect(r.status).toBe(409)
    expect(r.json()).toEqual({ code: 10, message: 'stream aborted on purpose', details: [] })
  })

  it('answers an empty stream with an empty array', async () => {
    const r = await call('GET', '/v1/shelves/2/books:stream?count=0')
    expect(r.status).toBe(200)
    expect(r.json()).toEqual([])
  })
})

describe('targets', () => {
  it('balances calls over an upstream with several targets', async () => {
    const seen = new Set<string | null>()
    for (let i = 0; i < 8; i++) seen.add((await call('GET', '/v1/shelves/1', { host: 'pool.test' })).headers.get('x-served-by'))
    expect(seen).toEqual(new Set(['a', 'b']))
  })

  it('retries a call whose target refuses the connection on another target', async () => {
    for (let i = 0; i < 6; i++) {
      const r = await call('GET', '/v1/shelves/1', { host: 'half.test' })
      expect(r.status).toBe(200)
      expect(r.headers.get('x-served-by')).toBe('a')
    }
  })

  it('calls a grpcs:// target verified against a CA certificate', async () => {
    const r = await call('GET', '/v1/shelves/6', { host: 'secure.test' })
    expect(r.status).toBe(200)
    expect(r.headers.get('x-served-by')).toBe('tls')
    expect(secure.last('GetShelf').request).toEqual({ shelf: '6' })
  })

  it('opens a new HTTP/2 session after the target restarts', async () => {
    let restarting = await startBookstore({ name: 'first' })
    const port = restarting.port
    gw.writeConfig(config([], [{ name: 'restart', url: `grpc://127.0.0.1:${port}`, routes: [route('restart', 'restart.test')] }]))
    await reload()
    try {
      expect((await call('GET', '/v1/shelves/1', { host: 'restart.test' })).headers.get('x-served-by')).toBe('first')
      // forceShutdown drops the connection: the gateway's session closes and the next call connects again.
      await restarting.close()
      restarting = await startBookstore({ name: 'second', port })
      const r = await call('GET', '/v1/shelves/1', { host: 'restart.test' })
      expect(r.status).toBe(200)
      expect(r.headers.get('x-served-by')).toBe('second')
    } finally {
      await restarting.close()
    }
  })

  it('answers 503 code 14 when the target is unreachable', async () => {
    const r = await call('GET', '/v1/shelves/1', { host: 'down.test' })
    expect(r.status).toBe(503)
    expect(r.json<{ code: number }>().code).toBe(14)
  })

  it('answers 502 for a gRPC service reached without grpc-gateway', async () => {
    const r = await call('GET', '/v1/shelves/1', { host: 'bare.test' })
    expect(r.status).toBe(502)
    expect(r.json<{ message: string }>().message).toContain('grpc-gateway')
  })

  it('keeps working across a reload', async () => {
    gw.writeConfig(config([route('added', 'added.test', { stream_format: 'ndjson' })]))
    await reload()
    for (let i = 0; i < 4; i++) {
      expect((await call('GET', '/v1/shelves/11')).status).toBe(200)
      const streamed = await call('GET', '/v1/shelves/2/books:stream?count=2', { host: 'added.test' })
      expect(streamed.text.split('\n')).toHaveLength(3)
    }
  })
})

describe('HTTP/2 client', () => {
  /** Points host `<name>.test` at a grpc:// target (config rewritten, reloaded). */
  async function serve(name: string, port: number): Promise<void> {
    gw.writeConfig(config([], [{ name, url: `grpc://127.0.0.1:${port}`, routes: [route(name, `${name}.test`)] }]))
    await reload()
  }

  it('keeps calls going across server GOAWAYs (connection age) and under a 2-stream limit', async () => {
    const aged = await startBookstore({
      name: 'aged',
      serverOptions: { 'grpc.max_connection_age_ms': 150, 'grpc.max_connection_age_grace_ms': 10_000, 'grpc.max_concurrent_streams': 2 },
    })
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      await serve('aged', aged.port)
      // One client connection, so one gateway worker: 12 calls of ≥ 40 ms outlive several 150 ms connection ages.
      for (let i = 1; i <= 12; i++) {
        const r = await call('GET', `/v1/shelves/${i}`, { host: 'aged.test', headers: { 'x-delay-ms': '40' }, agent })
        expect([r.status, r.headers.get('x-served-by'), r.text], r.text).toEqual([200, 'aged', `{"id":"${i}","theme":"theme-${i}","location":{"aisle":"A","shelfNumber":3}}`])
      }
      expect(new Set(aged.calls.map((c) => c.peer)).size).toBeGreaterThan(1)
      // More calls at once than the server's MAX_CONCURRENT_STREAMS: the rest wait for a slot, none fails.
      const parallel = await Promise.all(Array.from({ length: 8 }, (_, i) => call('GET', `/v1/shelves/${i}`, { host: 'aged.test', headers: { 'x-delay-ms': '30' } })))
      expect(parallel.map((r) => r.status)).toEqual(Array(8).fill(200))
    } finally {
      agent.destroy()
      await aged.close()
    }
  })

  it('answers the server\'s keepalive PINGs: the connection outlives many ping timeouts', async () => {
    // grpc-js closes a connection whose PING goes unanswered for 100 ms; it pings every 20 ms.
    const pinging = await startBookstore({ name: 'pinging', serverOptions: { 'grpc.keepalive_time_ms': 20, 'grpc.keepalive_timeout_ms': 100 } })
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      await serve('pinging', pinging.port)
      for (let i = 1; i <= 10; i++) {
        const r = await call('GET', `/v1/shelves/${i}`, { host: 'pinging.test', headers: { 'x-delay-ms': '40' }, agent })
        expect([r.status, r.headers.get('x-served-by')]).toEqual([200, 'pinging'])
      }
      expect(new Set(pinging.calls.map((c) => c.peer)).size).toBe(1)
    } finally {
      agent.destroy()
      await pinging.close()
    }
  })

  it('reads response metadata through the server\'s HPACK dynamic table as it fills and evicts', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      // Each value is indexed by grpc-js's encoder; 1.5 KB values overflow the 4 KiB table every few calls.
      for (let i = 0; i < 20; i++) {
        const value = `${i}-`.padEnd(1500, String.fromCharCode(97 + (i % 26)))
        const r = await call('GET', '/v1/shelves/1', { headers: { 'x-echo': value }, agent })
        expect([r.status, r.headers.get('x-echo'), r.headers.get('x-served-by')]).toEqual([200, value, 'a'])
      }
    } finally {
      agent.destroy()
    }
  })

  it('sends a big request through a tiny server window and reads a response bigger than its own stream window', async () => {
    const echo = await startH2Echo({ settings: { initialWindowSize: 1024 } })
    try {
      await serve('tiny', echo.port)
      const big = 'w'.repeat(1_500_000)
      const r = await call('POST', '/v1/echo', { host: 'tiny.test', body: { stringValue: big, int32Value: 7 } })
      expect(r.status).toBe(200)
      expect(r.json()).toEqual({ stringValue: big, int32Value: 7 })
    } finally {
      await echo.close()
    }
  })

  it('retries a call the server refused (RST_STREAM REFUSED_STREAM, then GOAWAY) on a new connection', async () => {
    const echo = await startH2Echo({ refuseFirstConnection: true })
    try {
      await serve('refusing', echo.port)
      const r = await call('POST', '/v1/echo', { host: 'refusing.test', body: { stringValue: 'again' } })
      expect(r.status).toBe(200)
      expect(r.json()).toEqual({ stringValue: 'again' })
      expect([echo.connections(), echo.answered()]).toEqual([2, 1])
    } finally {
      await echo.close()
    }
  })
})
