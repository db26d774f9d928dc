// proxy-cache end to end (SPEC §3, §5, §9): the real gateway with 2 workers in front of an upstream that counts
// requests per URL: hits across workers, collapsed fills, keys, filters, size limit, stale_if_error, HEAD,
// the admin purge endpoints, and entries surviving a worker restart (the store is the primary's shared memory).
import type http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request, type Reply } from '../helpers/http.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

interface Answer { url: string; n: number; lang: string | null; tenant: string | null }

const MiB = 1024 * 1024
const WORKERS = Array.from({ length: 2 }, (_, i) => i)

/** Upstream requests per path+query. */
const seen = new Map<string, number>()
/** Paths the upstream answers 500 for. */
const failing = new Set<string>()

/**
 * Answers by query: `status`, `ct` (Content-Type, default application/json), `cc` (Cache-Control), `vary`,
 * `delay` (ms), `size` (a body of that many bytes instead of the JSON), `chunked` (no Content-Length). The JSON body carries the URL's count `n`,
 * so a cached answer shows which upstream response it came from.
 */
const handler: http.RequestListener = (req, res) => {
  const url = req.url!
  const n = (seen.get(url) ?? 0) + 1
  seen.set(url, n)
  const q = new URL(url, 'http://x').searchParams
  const path = url.split('?')[0]!
  const send = (): void => {
    // x-obs-text: bytes above 0x7f (obs-text) that must reach the client unchanged on hits too.
    const headers: Record<string, string | number> = { 'content-type': q.get('ct') ?? 'application/json', 'x-obs-text': 'caf\u00e9' }
    if (q.has('cc')) headers['cache-control'] = q.get('cc')!
    if (q.has('vary')) headers.vary = q.get('vary')!
    if (q.has('size')) {
      const body = Buffer.alloc(Number(q.get('size')), 'x')
      res.writeHead(200, { ...headers, 'content-length': body.length })
      res.end(body)
      return
    }
    const body = JSON.stringify({ url, n, lang: req.headers['accept-language'] ?? null, tenant: (req.headers['x-tenant'] as string | undefined) ?? null } satisfies Answer)
    if (q.has('chunked')) {
      // No Content-Length: Transfer-Encoding chunked, in two pieces.
      res.writeHead(200, headers)
      res.write(body.slice(0, 10))
      setTimeout(() => res.end(body.slice(10)), 20)
      return
    }
    res.writeHead(failing.has(path) ? 500 : Number(q.get('status') ?? 200), { ...headers, 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }
  if (q.has('delay')) setTimeout(send, Number(q.get('delay')))
  else send()
}

const count = (url: string): number => seen.get(url) ?? 0

let up: Upstream
/** A second upstream that the stale_if_error test stops. */
let doomed: Upstream
let gw: RunningGateway

const cache = (config: Record<string, unknown> = {}): { name: string; config: Record<string, unknown> } => ({ name: 'proxy-cache', config })

beforeAll(async () => {
  up = await startUpstream(handler)
  doomed = await startUpstream(handler)
  const route = (name: string, config: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    name, paths: [`/${name}`], strip_path: false, plugins: [cache(config)], ...extra,
  })
  gw = await startGateway({
    services: [
      {
        name: 'up', url: `http://127.0.0.1:${up.port}`, retries: 0,
        routes: [
          route('main', {}),
          route('api', {}),
          route('keys', { vary_query_params: ['page', 'sort'], vary_headers: ['X-Tenant'] }),
          route('cc', { cache_control: true, response_code: [200, 404] }),
          route('big', { max_body_size: MiB }),
          route('stale500', { cache_ttl: 1, stale_if_error: 2 }),
          route('nocollapse', { collapse_requests: false }),
        ],
      },
      // Two routes reaching the same upstream URL: their entries must stay apart.
      { name: 'shared-a', url: `http://127.0.0.1:${up.port}/shared`, routes: [{ name: 'sep-a', paths: ['/sep-a'], plugins: [cache()] }] },
      { name: 'shared-b', url: `http://127.0.0.1:${up.port}/shared`, routes: [{ name: 'sep-b', paths: ['/sep-b'], plugins: [cache()] }] },
      {
        name: 'doomed', url: `http://127.0.0.1:${doomed.port}`, retries: 0, connect_timeout: 1000,
        routes: [{ name: 'stale', paths: ['/stale'], strip_path: false, plugins: [cache({ cache_ttl: 1, stale_if_error: 2 })] }],
      },
    ],
  }, { workers: WORKERS.length })
}, 60_000)

afterAll(async () => {
  await gw?.stop()
  await Promise.all([up?.close(), doomed?.close()])
})

/** One request on its own connection (so they spread over the workers). */
function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return request(gw.url + path, { method, headers })
}

const status = (r: Reply): string | undefined => r.headers['x-cache-status'] as string | undefined
const keyOf = (r: Reply): string => r.headers['x-cache-key'] as string

async function admin(method: string, path: string, body?: string): Promise<Reply> {
  return request(gw.adminUrl + path, { method, body, headers: body === undefined ? {} : { 'content-type': 'application/json' } })
}

async function workerRequests(): Promise<number[]> {
  const s = (await admin('GET', '/status')).json<{ workers: { threads: { index: number; requests: number }[] } }>()
  return s.workers.threads.sort((a, b) => a.index - b.index).map((t) => t.requests)
}

/**
 * Requests `path` on fresh connections, in batches, until every worker in `workers` has answered at least one
 * of them (SO_REUSEPORT spreads connections by hash); returns every reply.
 */
async function fromEveryWorker(path: string, workers = WORKERS.map((_, i) => i)): Promise<Reply[]> {
  const before = await workerRequests()
  const replies: Reply[] = []
  for (let batch = 0; batch < 20; batch++) {
    replies.push(...(await Promise.all(Array.from({ length: 8 }, () => get(path)))))
    const now = await workerRequests()
    if (workers.every((w) => now[w]! > before[w]!)) return replies
  }
  throw new Error(`some worker of ${JSON.stringify(workers)} never answered ${path}`)
}

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms; gateway log tail:\n${gw.logs().slice(-3000)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('hits', () => {
  it('misses once, then every worker answers the hit with the same key, body and an Age', async () => {
    const miss = await get('/main/hit')
    expect(miss.status).toBe(200)
    expect(status(miss)).toBe('Miss')
    expect(keyOf(miss)).toMatch(/^[0-9a-f]{64}$/)
    expect(miss.headers.age).toBeUndefined()
    expect(miss.headers['x-obs-text']).toMatch(/^caf[\x80-\xff]+$/)
    const hits = await fromEveryWorker('/main/hit')
    for (const h of hits) {
      expect(h.status).toBe(200)
      expect(status(h)).toBe('Hit')
      expect(keyOf(h)).toBe(keyOf(miss))
      expect(h.headers.age).toMatch(/^\d+$/)
      expect(h.headers['content-type']).toBe('application/json')
      expect(h.headers['x-obs-text']).toBe(miss.headers['x-obs-text'])
      expect(h.headers['x-request-id']).toMatch(/\S/)
      expect(h.body).toBe(miss.body)
    }
    expect(count('/main/hit')).toBe(1)
  })

  it('stores a chunked response and answers it with a Content-Length', async () => {
    const miss = await get('/main/chunked?chunked=1')
    expect(miss.headers['transfer-encoding']).toBe('chunked')
    const hit = await get('/main/chunked?chunked=1')
    expect(status(hit)).toBe('Hit')
    expect(hit.body).toBe(miss.body)
    expect(hit.headers['content-length']).toBe(String(Buffer.byteLength(miss.body)))
    expect(hit.headers['transfer-encoding']).toBeUndefined()
  })

  it('answers HEAD from the GET entry: headers and the body length, no body', async () => {
    const miss = await get('/main/head')
    const head = await get('/main/head', {}, 'HEAD')
    expect(head.status).toBe(200)
    expect(status(head)).toBe('Hit')
    expect(keyOf(head)).toBe(keyOf(miss))
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(miss.body)))
    expect(head.headers['content-type']).toBe('application/json')
    expect(head.body).toBe('')
    expect(count('/main/head')).toBe(1)
  })
})

describe('collapse_requests', () => {
  it('sends 50 concurrent requests for one key to the upstream once', async () => {
    const replies = await Promise.all(Array.from({ length: 50 }, () => get('/main/collapse?delay=300')))
    expect(count('/main/collapse?delay=300')).toBe(1)
    const body = replies[0]!.body
    expect(JSON.parse(body)).toMatchObject({ n: 1 })
    for (const r of replies) {
      expect(r.status).toBe(200)
      expect(r.body).toBe(body)
    }
    const statuses = replies.map(status)
    expect(statuses.filter((s) => s === 'Miss')).toHaveLength(1)
    expect(statuses.filter((s) => s === 'Hit')).toHaveLength(49)
  })

  it('collapses a Vary fill: waiters with the same value get that variant, the others still get their own', async () => {
    const path = '/main/collapse-vary?delay=300&vary=Accept-Language'
    const langs = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 'fr' : 'en'))
    const replies = await Promise.all(langs.map((l) => get(path, { 'accept-language': l })))
    replies.forEach((r, i) => {
      expect(r.status).toBe(200)
      expect(JSON.parse(r.body)).toMatchObject({ lang: langs[i] })
    })
    // The first fill is for one language: its waiters all hit. Waiters of the other language find no variant
    // of theirs and go upstream, so that language may see several misses.
    const misses = (lang: string): number => replies.filter((r, i) => langs[i] === lang && status(r) !== 'Hit').length
    expect(Math.min(misses('en'), misses('fr'))).toBe(1)
    expect(count(path)).toBe(misses('en') + misses('fr'))
    expect(status(await get(path, { 'accept-language': 'en' }))).toBe('Hit')
    expect(status(await get(path, { 'accept-language': 'fr' }))).toBe('Hit')
  })

  it('releases the waiters when the client filling the entry goes away', async () => {
    const path = '/main/abandoned?delay=300'
    const controller = new AbortController()
    const filler = fetch(gw.url + path, { signal: controller.signal }).catch(() => null)
    await until(async () => count(path) === 1, 2000)
    const waiters = Promise.all(Array.from({ length: 5 }, () => get(path)))
    await new Promise((r) => setTimeout(r, 50))
    controller.abort()
    await filler
    const replies = await waiters
    for (const r of replies) {
      expect(r.status).toBe(200)
      expect(JSON.parse(r.body)).toMatchObject({ url: path })
    }
    await until(async () => status(await get(path)) === 'Hit', 3000)
  })

  it('sends each concurrent request upstream when collapse_requests is off', async () => {
    const replies = await Promise.all(Array.from({ length: 5 }, () => get('/nocollapse/x?delay=200')))
    expect(replies.every((r) => r.status === 200)).toBe(true)
    expect(count('/nocollapse/x?delay=200')).toBe(5)
  })
})

describe('keys', () => {
  it('ignores the order of query parameters', async () => {
    const a = await get('/main/q?b=2&a=1')
    const b = await get('/main/q?a=1&b=2')
    expect([status(a), status(b)]).toEqual(['Miss', 'Hit'])
    expect(keyOf(b)).toBe(keyOf(a))
    expect(b.body).toBe(a.body)
    const c = await get('/main/q?a=1&b=3')
    expect(status(c)).toBe('Miss')
  })

  it('keys only on vary_query_params', async () => {
    const a = await get('/keys/v?page=1&utm=a')
    const b = await get('/keys/v?utm=b&page=1')
    const c = await get('/keys/v?page=2&utm=a')
    expect([status(a), status(b), status(c)]).toEqual(['Miss', 'Hit', 'Miss'])
    expect(JSON.parse(b.body)).toMatchObject({ url: '/keys/v?page=1&utm=a' })
  })

  it('keys on vary_headers', async () => {
    const a = await get('/keys/h', { 'x-tenant': 'a' })
    const b = await get('/keys/h', { 'x-tenant': 'b' })
    const a2 = await get('/keys/h', { 'x-tenant': 'a' })
    const b2 = await get('/keys/h', { 'x-tenant': 'b' })
    expect([status(a), status(b), status(a2), status(b2)]).toEqual(['Miss', 'Miss', 'Hit', 'Hit'])
    expect(JSON.parse(a2.body)).toMatchObject({ tenant: 'a' })
    expect(JSON.parse(b2.body)).toMatchObject({ tenant: 'b' })
    expect(keyOf(a)).not.toBe(keyOf(b))
  })

  it('stores one variant per upstream Vary value', async () => {
    const path = '/main/lang?vary=Accept-Language'
    const en = await get(path, { 'accept-language': 'en' })
    const fr = await get(path, { 'accept-language': 'fr' })
    const en2 = await get(path, { 'accept-language': 'en' })
    const fr2 = await get(path, { 'accept-language': 'fr' })
    expect([status(en), status(fr), status(en2), status(fr2)]).toEqual(['Miss', 'Miss', 'Hit', 'Hit'])
    expect(JSON.parse(en2.body)).toMatchObject({ lang: 'en' })
    expect(JSON.parse(fr2.body)).toMatchObject({ lang: 'fr' })
    expect(keyOf(en2)).toBe(keyOf(en))
    expect(keyOf(fr2)).toBe(keyOf(fr))
    expect(keyOf(en)).not.toBe(keyOf(fr))
    expect(en2.headers.vary).toBe('Accept-Language')
    expect(count(path)).toBe(2)
  })

  it('never caches Vary: *', async () => {
    const a = await get('/main/star?vary=*')
    const b = await get('/main/star?vary=*')
    expect([status(a), status(b)]).toEqual(['Bypass', 'Bypass'])
    expect(count('/main/star?vary=*')).toBe(2)
  })

  it('keeps routes and hosts apart', async () => {
    const a = await get('/sep-a')
    const b = await get('/sep-b')
    expect([status(a), status(b)]).toEqual(['Miss', 'Miss'])
    expect(keyOf(a)).not.toBe(keyOf(b))
    expect(count('/shared')).toBe(2)
    const h1 = await get('/main/host', { host: 'one.example' })
    const h2 = await get('/main/host', { host: 'two.example' })
    const h1again = await get('/main/host', { host: 'one.example' })
    expect([status(h1), status(h2), status(h1again)]).toEqual(['Miss', 'Miss', 'Hit'])
  })
})

describe('filters', () => {
  it('bypasses statuses not in response_code and caches listed ones', async () => {
    const e1 = await get('/main/err?status=500')
    const e2 = await get('/main/err?status=500')
    expect([e1.status, status(e1), status(e2)]).toEqual([500, 'Bypass', 'Bypass'])
    expect(count('/main/err?status=500')).toBe(2)
    const nf = await get('/main/gone?status=404')
    const nf2 = await get('/main/gone?status=404')
    expect([nf2.status, status(nf), status(nf2)]).toEqual([404, 'Miss', 'Hit'])
  })

  it('bypasses methods not in request_method (POST)', async () => {
    const a = await get('/main/post', {}, 'POST')
    const b = await get('/main/post', {}, 'POST')
    expect([a.status, status(a), status(b)]).toEqual([200, 'Bypass', 'Bypass'])
    expect(count('/main/post')).toBe(2)
  })

  it('bypasses content types not in content_type', async () => {
    const a = await get('/main/html?ct=text/html')
    const b = await get('/main/html?ct=text/html')
    expect([status(a), status(b)]).toEqual(['Bypass', 'Bypass'])
    const json = await get('/main/html?ct=application/json;%20charset=utf-8')
    const json2 = await get('/main/html?ct=application/json;%20charset=utf-8')
    expect([status(json), status(json2)]).toEqual(['Miss', 'Hit'])
  })

  it('with cache_control, refuses no-store and private responses', async () => {
    for (const cc of ['no-store', 'private', 'no-cache']) {
      const a = await get(`/cc/refuse?cc=${cc}`)
      const b = await get(`/cc/refuse?cc=${cc}`)
      expect([status(a), status(b)], cc).toEqual(['Bypass', 'Bypass'])
    }
  })

  it('with cache_control, keeps an entry for s-maxage (over max-age) or max-age, then misses', async () => {
    const expiring = async (path: string): Promise<void> => {
      const a = await get(path)
      const b = await get(path)
      expect([status(a), status(b)], path).toEqual(['Miss', 'Hit'])
      await until(async () => status(await get(path)) === 'Miss', 3000)
      expect(count(path)).toBe(2)
    }
    await Promise.all([expiring('/cc/short?cc=max-age%3D60,%20s-maxage%3D1'), expiring('/cc/short?cc=public,%20max-age%3D1')])
  })

  it('with cache_control, a request no-cache refreshes and no-store bypasses', async () => {
    const a = await get('/cc/req')
    const refreshed = await get('/cc/req', { 'cache-control': 'no-cache' })
    expect([status(a), status(refreshed)]).toEqual(['Miss', 'Refresh'])
    expect(JSON.parse(refreshed.body)).toMatchObject({ n: 2 })
    const hit = await get('/cc/req')
    expect(status(hit)).toBe('Hit')
    expect(hit.body).toBe(refreshed.body)
    const bypass = await get('/cc/req', { 'cache-control': 'no-store' })
    expect(status(bypass)).toBe('Bypass')
    expect(JSON.parse(bypass.body)).toMatchObject({ n: 3 })
    expect(status(await get('/cc/req'))).toBe('Hit')
  })
})

describe('max_body_size', () => {
  it('streams a body larger than max_body_size whole and does not store it', async () => {
    const path = '/big/file?size=' + 2 * MiB + '&ct=text/plain'
    const a = await get(path)
    const b = await get(path)
    for (const r of [a, b]) {
      expect(r.status).toBe(200)
      expect(r.body.length).toBe(2 * MiB)
      expect(status(r)).not.toBe('Hit')
    }
    expect(count(path)).toBe(2)
    const small = '/big/file?size=' + 512 * 1024 + '&ct=text/plain'
    const s1 = await get(small)
    const s2 = await get(small)
    expect([status(s1), status(s2)]).toEqual(['Miss', 'Hit'])
    expect(s2.body.length).toBe(512 * 1024)
  })
})

describe('stale_if_error', () => {
  it('answers the expired entry as Stale while the upstream is down, then 502 past the window', async () => {
    const fresh = await get('/stale/x')
    expect(status(fresh)).toBe('Miss')
    await doomed.close()
    await new Promise((r) => setTimeout(r, 1100)) // cache_ttl 1
    const stale = await get('/stale/x')
    expect(stale.status).toBe(200)
    expect(status(stale)).toBe('Stale')
    expect(stale.body).toBe(fresh.body)
    expect(Number(stale.headers.age)).toBeGreaterThanOrEqual(1)
    await until(async () => (await get('/stale/x')).status === 502, 4000)
  })

  it('answers the expired entry as Stale instead of an upstream 500, then the 500 past the window', async () => {
    const fresh = await get('/stale500/x')
    expect(status(fresh)).toBe('Miss')
    failing.add('/stale500/x')
    await new Promise((r) => setTimeout(r, 1100))
    const stale = await get('/stale500/x')
    expect(stale.status).toBe(200)
    expect(status(stale)).toBe('Stale')
    expect(stale.body).toBe(fresh.body)
    await until(async () => (await get('/stale500/x')).status === 500, 4000)
  })
})

describe('admin API', () => {
  it('GET /proxy-cache/{key} describes an entry, 404 for an unknown key', async () => {
    const r = await get('/main/admin-get?ct=text/plain')
    const info = await admin('GET', '/proxy-cache/' + keyOf(r))
    expect(info.status).toBe(200)
    expect(info.json()).toMatchObject({
      key: keyOf(r), base_key: keyOf(r), path: '/main/admin-get?ct=text/plain', status: 200,
      headers: { 'content-type': 'text/plain', 'x-obs-text': r.headers['x-obs-text'] }, body_bytes: Buffer.byteLength(r.body), fresh: true, ttl: 300,
    })
    expect(info.json().age).toBeTypeOf('number')
    expect((await admin('GET', '/proxy-cache/' + 'f'.repeat(64))).status).toBe(404)
  })

  it('DELETE /proxy-cache/{key} removes the entry (then Miss), 404 for an unknown key', async () => {
    const r = await get('/main/admin-del')
    expect(status(await get('/main/admin-del'))).toBe('Hit')
    const del = await admin('DELETE', '/proxy-cache/' + keyOf(r))
    expect(del.status).toBe(204)
    expect(del.body).toBe('')
    expect(status(await get('/main/admin-del'))).toBe('Miss')
    expect((await admin('DELETE', '/proxy-cache/' + 'e'.repeat(64))).status).toBe(404)
  })

  it('DELETE /proxy-cache/{base key} removes every Vary variant; GET shows the base key and its Vary names', async () => {
    const path = '/main/admin-vary?vary=Accept-Language'
    const en = await get(path, { 'accept-language': 'en' })
    const fr = await get(path, { 'accept-language': 'fr' })
    const variant = (await admin('GET', '/proxy-cache/' + keyOf(en))).json<{ key: string; base_key: string }>()
    expect(variant.key).toBe(keyOf(en))
    expect(variant.base_key).not.toBe(keyOf(en))
    expect((await admin('GET', '/proxy-cache/' + keyOf(fr))).json().base_key).toBe(variant.base_key)
    const base = await admin('GET', '/proxy-cache/' + variant.base_key)
    expect(base.status).toBe(200)
    expect(base.json()).toMatchObject({ key: variant.base_key, path, vary: ['accept-language'] })
    expect((await admin('DELETE', '/proxy-cache/' + variant.base_key)).status).toBe(204)
    expect((await admin('GET', '/proxy-cache/' + keyOf(fr))).status).toBe(404)
    expect(status(await get(path, { 'accept-language': 'en' }))).toBe('Miss')
    expect(status(await get(path, { 'accept-language': 'fr' }))).toBe('Miss')
  })

  it('DELETE /proxy-cache removes every entry', async () => {
    await get('/main/all-1')
    await get('/main/all-2')
    expect(status(await get('/main/all-1'))).toBe('Hit')
    expect((await admin('DELETE', '/proxy-cache')).status).toBe(204)
    expect(status(await get('/main/all-1'))).toBe('Miss')
    expect(status(await get('/main/all-2'))).toBe('Miss')
  })

  it('POST /cache/invalidate purges entries whose path matches the glob, Vary variants included', async () => {
    const users = ['/api/users/1', '/api/users/2?x=1']
    const varied = '/api/users/3?vary=Accept-Language'
    const kept = '/api/orders/1'
    for (const p of [...users, kept]) await get(p)
    await get(varied, { 'accept-language': 'en' })
    await get(varied, { 'accept-language': 'fr' })
    for (const p of [...users, kept]) expect(status(await get(p)), p).toBe('Hit')
    expect(status(await get(varied, { 'accept-language': 'fr' }))).toBe('Hit')

    const r = await admin('POST', '/cache/invalidate', JSON.stringify({ pattern: '/api/users/*' }))
    expect(r.status).toBe(200)
    expect(r.json()).toMatchObject({ pattern: '/api/users/*' })
    expect(r.json<{ purged: number }>().purged).toBeGreaterThanOrEqual(4)
    for (const p of users) expect(status(await get(p)), p).toBe('Miss')
    expect(status(await get(varied, { 'accept-language': 'en' }))).toBe('Miss')
    expect(status(await get(varied, { 'accept-language': 'fr' }))).toBe('Miss')
    expect(status(await get(kept))).toBe('Hit')
  })

  it('POST /cache/invalidate answers 400 on a bad body', async () => {
    for (const body of ['not json', '{}', '{"pattern": 5}', '{"pattern": ""}', '[]']) {
      const r = await admin('POST', '/cache/invalidate', body)
      expect(r.status, body).toBe(400)
      expect(r.json().message).toMatch(/pattern/)
    }
  })
})

describe('worker restart', () => {
  it('keeps cached entries through a worker crash and respawn (shared memory)', async () => {
    const first = await get('/main/survivor')
    expect(status(first)).toBe('Miss')
    const restarts = (await admin('GET', '/status')).json<{ workers: { restarts: number } }>().workers.restarts
    expect((await admin('DELETE', '/workers/0')).status).toBe(202)
    await until(async () => {
      const s = (await admin('GET', '/status')).json<{ workers: { ready: number; restarts: number } }>()
      return s.workers.ready === WORKERS.length && s.workers.restarts === restarts + 1
    }, 20_000)
    const hits = await fromEveryWorker('/main/survivor', [0]) // the respawned worker answers hits too
    for (const h of hits) {
      expect(status(h)).toBe('Hit')
      expect(h.body).toBe(first.body)
    }
    expect(count('/main/survivor')).toBe(1)
  })
})
