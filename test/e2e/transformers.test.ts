// request-transformer, response-transformer and correlation-id end to end (SPEC §3): a real gateway with two
// workers in front of a real upstream that echoes what it received and serves JSON, text and a 50 MiB stream.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request } from '../helpers/http.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const BIG = 50 * 1024 * 1024
const BLOCK = Buffer.alloc(64 * 1024, 'abcdefghijklmnopqrstuvwxyz0123456789')

interface Echo {
  method: string
  url: string
  headers: Record<string, string>
  body: string
}

let up: Upstream
let gw: RunningGateway

/** Serves the 50 MiB body in 64 KiB writes, honouring backpressure. */
function streamBig(res: http.ServerResponse, contentType: string, chunked = false): void {
  res.writeHead(200, chunked ? { 'content-type': contentType } : { 'content-type': contentType, 'content-length': BIG })
  let sent = 0
  const more = (): void => {
    while (sent < BIG) {
      sent += BLOCK.length
      if (!res.write(BLOCK)) return void res.once('drain', more)
    }
    res.end()
  }
  more()
}

function bigDigest(): string {
  const h = createHash('sha256')
  for (let i = 0; i < BIG / BLOCK.length; i++) h.update(BLOCK)
  return h.digest('hex')
}

beforeAll(async () => {
  up = await startUpstream((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const path = req.url!.split('?')[0]!
      if (path === '/resp/json') {
        const body = JSON.stringify({ keep: 1, drop: 2, old: 'o', swap: 'before', list: 'a', flag: false })
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'x-drop': '1', 'x-old': 'v', 'x-swap': 'before', 'x-keep': 'k', 'content-length': Buffer.byteLength(body) })
        return res.end(body)
      }
      if (path === '/resp/chunked-json') {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.write('{"keep":1,')
        return setTimeout(() => res.end('"drop":2}'), 20)
      }
      if (path === '/resp/text') {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-drop': '1', 'content-length': 23 })
        return res.end('{"drop":2} but not JSON')
      }
      if (path === '/resp/big') return streamBig(res, 'application/octet-stream')
      if (path === '/resp/big-json') return streamBig(res, 'application/json')
      if (path === '/resp/big-json-chunked') return streamBig(res, 'application/json', true)
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('latin1') })
      res.writeHead(200, { 'content-type': 'application/json', 'kong-request-id': 'from-upstream' })
      res.end(body)
    })
  })
  const plugin = (name: string, config: Record<string, unknown>) => ({ name, config })
  const route = (name: string, plugins: object[], paths = [`/${name}`]) => ({ name, paths, strip_path: false, plugins })
  gw = await startGateway({
    services: [{
      name: 'up',
      url: `http://127.0.0.1:${up.port}`,
      routes: [
        route('req-headers', [plugin('request-transformer', {
          remove: { headers: ['x-remove', 'x-renamed-away'] },
          rename: { headers: ['x-old:x-new', 'x-renamed-away:x-gone'] },
          replace: { headers: ['x-replace:replaced', 'x-absent:never', 'x-new:after-rename'] },
          add: { headers: ['x-add:added', 'x-keep:not-this', 'x-new:not-this-either'] },
          append: { headers: ['x-append:second', 'x-fresh:only'] },
        })]),
        route('req-host', [plugin('request-transformer', { replace: { headers: ['host:example.test'] }, add: { headers: ['host:ignored.test'] } })]),
        route('req-query', [plugin('request-transformer', {
          remove: { querystring: ['gone'] },
          rename: { querystring: ['old:new'] },
          replace: { querystring: ['swap:after', 'absent:never'] },
          add: { querystring: ['added:yes', 'keep:not-this'] },
          append: { querystring: ['list:two'] },
        })]),
        route('req-body', [plugin('request-transformer', {
          remove: { body: ['gone'] },
          rename: { body: ['old:new'] },
          replace: { body: ['swap:after', 'absent:never'] },
          add: { body: ['added:yes', 'keep:not-this'] },
          append: { body: ['list:two'] },
        })]),
        route('req-method', [plugin('request-transformer', { http_method: 'GET' })]),
        route('req-template', [plugin('request-transformer', {
          replace: { uri: '/users/$(uri_captures.id)/$(uri_captures[2])' },
          add: {
            headers: ['x-from-header:$(headers.x_source)', 'x-fallback:$(headers["x-missing"] or query_params.q or "none")'],
            querystring: ['from-query:$(query_params["q"])'],
          },
        })], ['~/tpl/(?<id>\\d+)/(\\w+)$']),
        route('resp', [plugin('response-transformer', {
          remove: { headers: ['x-drop'], json: ['drop'] },
          rename: { headers: ['x-old:x-new'], json: ['old:new'] },
          replace: { headers: ['x-swap:after', 'x-absent:never'], json: ['swap:after', 'absent:never'] },
          add: { headers: ['x-added:yes', 'x-keep:not-this'], json: ['count:7', 'on:true', 'text:plain', 'keep:9', 'flag:true'], json_types: ['number', 'boolean', 'string', 'number', 'boolean'] },
          append: { headers: ['x-keep:second'], json: ['list:b'] },
        })]),
        route('term', [
          plugin('response-transformer', { add: { headers: ['x-added:on-termination'] } }),
          plugin('request-termination', { status_code: 418, message: 'teapot' }),
        ]),
        { name: 'plain', paths: ['/plain'], strip_path: true, plugins: [] },
        route('cid', [plugin('correlation-id', { echo_downstream: true })]),
        route('cid-uuid', [plugin('correlation-id', { header_name: 'X-Trace', generator: 'uuid' })]),
        route('cid-tracker', [plugin('correlation-id', { generator: 'tracker' })]),
      ],
    }],
  })
})

afterAll(async () => {
  await gw?.stop()
  await up?.close()
})

const echoed = async (path: string, opts: Parameters<typeof request>[1] = {}): Promise<Echo> => {
  const r = await request(gw.url + path, opts)
  expect(r.status).toBe(200)
  return r.json<Echo>()
}

describe('request-transformer', () => {
  it('edits headers in Kong order: remove, rename, replace, add, append', async () => {
    const e = await echoed('/req-headers', {
      headers: { 'x-remove': '1', 'x-renamed-away': 'r', 'x-old': 'o', 'x-replace': 'before', 'x-keep': 'mine', 'x-append': 'first' },
    })
    expect(e.headers['x-remove']).toBeUndefined()
    // Removed first, so there is nothing left to rename.
    expect(e.headers['x-renamed-away']).toBeUndefined()
    expect(e.headers['x-gone']).toBeUndefined()
    expect(e.headers['x-old']).toBeUndefined()
    // Renamed, then replaced (replace sees the renamed header), so add leaves it alone.
    expect(e.headers['x-new']).toBe('after-rename')
    expect(e.headers['x-replace']).toBe('replaced')
    expect(e.headers['x-absent']).toBeUndefined()
    expect(e.headers['x-add']).toBe('added')
    expect(e.headers['x-keep']).toBe('mine')
    expect(e.headers['x-append']).toBe('first, second')
    expect(e.headers['x-fresh']).toBe('only')
  })

  it('replace sets the Host sent upstream; add never touches it', async () => {
    const e = await echoed('/req-host')
    expect(e.headers.host).toBe('example.test')
  })

  it('edits the query string in Kong order and sends it sorted', async () => {
    const e = await echoed('/req-query?gone=1&old=o&swap=before&keep=mine&list=one&z=last')
    expect(e.url).toBe('/req-query?added=yes&keep=mine&list=one&list=two&new=o&swap=after&z=last')
  })

  it('leaves the query string as sent when no querystring operation is configured', async () => {
    const e = await echoed('/req-body?b=2&a=1')
    expect(e.url).toBe('/req-body?b=2&a=1')
  })

  it('edits a JSON body and fixes Content-Length', async () => {
    const body = JSON.stringify({ gone: 1, old: 'o', swap: 'before', keep: 'mine', list: 'one', other: [1, 2] })
    const e = await echoed('/req-body', { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    const sent = JSON.parse(e.body) as Record<string, unknown>
    expect(sent).toEqual({ new: 'o', swap: 'after', keep: 'mine', list: ['one', 'two'], other: [1, 2], added: 'yes' })
    expect(Number(e.headers['content-length'])).toBe(Buffer.byteLength(e.body))
  })

  it('turns a chunked JSON body into one with Content-Length', async () => {
    const e = await echoed('/req-body', { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, body: '{"gone":true,"keep":"k"}' })
    expect(JSON.parse(e.body)).toEqual({ keep: 'k', added: 'yes', list: ['two'] })
    expect(e.headers['transfer-encoding']).toBeUndefined()
    expect(Number(e.headers['content-length'])).toBe(Buffer.byteLength(e.body))
  })

  it('edits a url-encoded form body', async () => {
    const e = await echoed('/req-body', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'gone=1&old=o+o&swap=before&list=one' })
    expect(e.body).toBe('swap=after&list=one&list=two&new=o%20o&added=yes&keep=not-this')
    expect(Number(e.headers['content-length'])).toBe(e.body.length)
  })

  it('adds to an empty JSON request as Kong does (the body is created)', async () => {
    const e = await echoed('/req-body', { method: 'POST', headers: { 'content-type': 'application/json' } })
    expect(JSON.parse(e.body)).toEqual({ added: 'yes', keep: 'not-this', list: ['two'] })
  })

  it('streams other bodies untouched', async () => {
    const body = '{"gone":1} is text here'
    const e = await echoed('/req-body', { method: 'POST', headers: { 'content-type': 'text/plain' }, body })
    expect(e.body).toBe(body)
  })

  it('leaves a JSON body over 1 MiB untouched', async () => {
    const body = JSON.stringify({ gone: 1, pad: 'x'.repeat(1024 * 1024) })
    const e = await echoed('/req-body', { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    expect(e.body).toBe(body)
  })

  it('http_method GET moves a url-encoded body into the query', async () => {
    const e = await echoed('/req-method?a=1', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'b=2&a=3' })
    expect(e.method).toBe('GET')
    expect(e.url).toBe('/req-method?a=1&a=3&b=2')
  })

  it('renders $(…) templates from uri_captures, headers and query_params', async () => {
    const e = await echoed('/tpl/42/profile?q=search', { headers: { 'x-source': 'src' } })
    expect(e.url).toBe('/users/42/profile?from-query=search&q=search')
    expect(e.headers['x-from-header']).toBe('src')
    expect(e.headers['x-fallback']).toBe('search')
    const none = await echoed('/tpl/7/x')
    expect(none.headers['x-fallback']).toBe('none')
    expect(none.headers['x-from-header']).toBe('')
  })
})

describe('response-transformer', () => {
  it('edits headers and the JSON body in Kong order, casting json_types', async () => {
    const r = await request(gw.url + '/resp/json')
    expect(r.status).toBe(200)
    expect(r.headers['x-drop']).toBeUndefined()
    expect(r.headers['x-old']).toBeUndefined()
    expect(r.headers['x-new']).toBe('v')
    expect(r.headers['x-swap']).toBe('after')
    expect(r.headers['x-absent']).toBeUndefined()
    expect(r.headers['x-added']).toBe('yes')
    expect(r.headers['x-keep']).toBe('k, second')
    // The body changed length: it goes out chunked.
    expect(r.headers['content-length']).toBeUndefined()
    expect(r.headers['transfer-encoding']).toBe('chunked')
    expect(r.json()).toEqual({ keep: 1, new: 'o', swap: 'after', list: ['a', 'b'], count: 7, on: true, text: 'plain', flag: true })
  })

  it('buffers a chunked JSON body and transforms it whole', async () => {
    const r = await request(gw.url + '/resp/chunked-json')
    expect(r.json()).toEqual({ keep: 1, count: 7, on: true, text: 'plain', flag: true, list: ['b'] })
  })

  it('passes a non-JSON body through untouched, keeping its length', async () => {
    const r = await request(gw.url + '/resp/text')
    expect(r.body).toBe('{"drop":2} but not JSON')
    expect(r.headers['x-drop']).toBeUndefined()
    expect(r.headers['content-length']).toBe(String(r.body.length))
  })

  it('adds its headers to a request-termination answer', async () => {
    const r = await request(gw.url + '/term')
    expect(r.status).toBe(418)
    expect(r.headers['x-added']).toBe('on-termination')
    expect(r.json()).toEqual({ message: 'teapot' })
  })

  for (const [path, type] of [['/resp/big', 'non-JSON'], ['/resp/big-json', 'JSON over the limit'], ['/resp/big-json-chunked', 'chunked JSON past the limit']] as const) {
    it(`streams a 50 MiB ${type} response unchanged with bounded memory`, async () => {
      const rssKb = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${gw.proc.pid}/status`, 'utf8'))![1])
      const before = rssKb()
      let peak = before
      const digest = await new Promise<{ hex: string; bytes: number; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
        http.get(gw.url + path, { agent: false }, (res) => {
          const h = createHash('sha256')
          let bytes = 0
          res.on('data', (c: Buffer) => {
            h.update(c)
            bytes += c.length
            if (bytes % (4 * 1024 * 1024) < c.length) peak = Math.max(peak, rssKb())
          })
          res.on('end', () => resolve({ hex: h.digest('hex'), bytes, headers: res.headers }))
          res.on('error', reject)
        }).on('error', reject)
      })
      expect(digest.bytes).toBe(BIG)
      expect(digest.hex).toBe(bigDigest())
      // A known length over the limit is never buffered; a chunked one is held up to the limit, then streamed.
      expect(digest.headers['content-length']).toBe(path.endsWith('chunked') ? undefined : String(BIG))
      // Never the whole body in memory: growth stays well under its 50 MiB.
      expect(peak - before).toBeLessThan(24 * 1024)
    })
  }
})

describe('streamed bodies and slow clients', () => {
  // A client that stops reading now and then makes uWS buffer: the upstream must be paused and resumed, never
  // left waiting on a buffer uWS does not drain (chunked writes inside res.cork used to stall this way).
  for (const [path, via] of [['/plain/resp/big-json-chunked', 'the plain relay'], ['/resp/big-json-chunked', 'the filter pipe']] as const) {
    it(`a slow reader gets all 50 MiB of a chunked response through ${via}`, async () => {
      for (let round = 0; round < 3; round++) {
        const got = await new Promise<{ hex: string; bytes: number }>((resolve, reject) => {
          http.get(gw.url + path, { agent: false }, (res) => {
            const h = createHash('sha256')
            let bytes = 0
            let events = 0
            res.on('data', (c: Buffer) => {
              h.update(c)
              bytes += c.length
              if (++events % 64 === 0) {
                res.pause()
                setTimeout(() => res.resume(), 2)
              }
            })
            res.on('end', () => resolve({ hex: h.digest('hex'), bytes }))
            res.on('error', reject)
          }).on('error', reject)
        })
        expect(got.bytes).toBe(BIG)
        expect(got.hex).toBe(bigDigest())
      }
    })
  }
})

describe('correlation-id', () => {
  it('generates uuid#counter ids upstream and echoes them downstream, replacing the upstream copy', async () => {
    const a = await request(gw.url + '/cid')
    const b = await request(gw.url + '/cid')
    const idA = a.json<Echo>().headers['kong-request-id']!
    const idB = b.json<Echo>().headers['kong-request-id']!
    expect(idA).toMatch(/^[0-9a-f-]{36}#\d+$/)
    expect(idB).toMatch(/^[0-9a-f-]{36}#\d+$/)
    expect(idA).not.toBe(idB)
    expect(a.headers['kong-request-id']).toBe(idA)
  })

  it('keeps the id the client sent', async () => {
    const r = await request(gw.url + '/cid', { headers: { 'kong-request-id': 'client-id' } })
    expect(r.json<Echo>().headers['kong-request-id']).toBe('client-id')
    expect(r.headers['kong-request-id']).toBe('client-id')
  })

  it('uses header_name and the uuid generator, without echo by default', async () => {
    const r = await request(gw.url + '/cid-uuid')
    expect(r.json<Echo>().headers['x-trace']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(r.headers['x-trace']).toBeUndefined()
  })

  it('tracker ids name the listener, process and a counter', async () => {
    const r = await request(gw.url + '/cid-tracker')
    expect(r.json<Echo>().headers['kong-request-id']).toMatch(new RegExp(`^127\\.0\\.0\\.1-${gw.port}-${gw.proc.pid}-\\d+-\\d+-\\d+\\.\\d{3}$`))
  })
})
