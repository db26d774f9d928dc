// proxy-cache's access phase and response observer driven as the worker drives them (a recording request,
// a real CacheStore): hit/miss/bypass/refresh/stale decisions, Vary variants, collapsing and size limits.
import { afterEach, describe, expect, it, vi } from 'vitest'
import plugin, { type ProxyCacheConfig } from '../../src/plugins/proxy-cache.js'
import { CONTINUE, DONE, type PhaseResult, type PluginRequest } from '../../src/plugins/types.js'
import { CacheStore } from '../../src/shared/cache-store.js'
import { STAT } from '../../src/shared/worker-stats.js'
import { compilePlugin, fakeRequest, testEnv, type FakeRequest, type TestEnv } from '../helpers/plugins.js'
import { GW, GatewayError } from '../../src/errors.js'

const MiB = 1024 * 1024

interface Setup { c: ProxyCacheConfig; env: TestEnv; store: CacheStore }

/** A plugin instance over a fresh store whose clock follows Date.now (so vi.setSystemTime moves both). */
function setup(config: Record<string, unknown> = {}, store = CacheStore.allocate(4 * MiB, {}, () => Date.now())): Setup {
  const env = testEnv({ cache: store })
  return { c: compilePlugin(plugin, config, env), env, store }
}

function access(c: ProxyCacheConfig, ctx: PluginRequest): PhaseResult {
  return plugin.phases.access!(ctx, c)
}

function req(over: Partial<PluginRequest> & { headers?: Map<string, string> } = {}): FakeRequest {
  return fakeRequest({ path: '/api/items', ...over })
}

/** Plays an upstream response into the request's observer as the exchange would; 'answered' when the plugin answered instead. */
function upstream(ctx: FakeRequest, status: number, headers: string[], body: string | Buffer[] = ''): 'relayed' | 'answered' {
  const obs = ctx.observer
  if (obs === null) throw new Error('no observer registered')
  if (obs.onResponseHead(status, headers, -1)) return 'answered'
  const chunks = typeof body === 'string' ? (body === '' ? [] : [Buffer.from(body)]) : body
  for (const chunk of chunks) obs.onResponseBody(chunk)
  ctx.observer = null
  obs.onResponseEnd()
  return 'relayed'
}

/** X-Cache-* / Age headers the request got: added ones and those of the plugin's own reply. */
function cacheHeaders(ctx: FakeRequest): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [n, v] of ctx.responseHeaders) out[n.toLowerCase()] = v
  for (const r of ctx.replies) for (const [n, v] of r.headers) out[n.toLowerCase()] = v
  return out
}

const JSON_HEAD = ['Content-Type', 'application/json']

/** One miss filled with `body`, then returns the key it was stored under. */
function fill(c: ProxyCacheConfig, over: Parameters<typeof req>[0] = {}, headers = JSON_HEAD, body = '{"n":1}'): string {
  const ctx = req(over)
  expect(access(c, ctx)).toBe(CONTINUE)
  expect(upstream(ctx, 200, headers, body)).toBe('relayed')
  expect(cacheHeaders(ctx)['x-cache-status']).toBe('Miss')
  return cacheHeaders(ctx)['x-cache-key']!
}

afterEach(() => {
  vi.useRealTimers()
})

describe('hits and misses', () => {
  it('misses, stores, then answers a hit with the stored status, headers, body, key and Age', () => {
    const { c, env } = setup()
    const key = fill(c, {}, ['Content-Type', 'application/json', 'X-Upstream', 'u1', 'Date', 'old', 'X-Request-Id', 'theirs'])
    expect(key).toMatch(/^[0-9a-f]{64}$/)
    const hit = req()
    expect(access(c, hit)).toBe(DONE)
    expect(hit.replies).toHaveLength(1)
    expect(hit.replies[0]!.status).toBe(200)
    expect(hit.replies[0]!.body).toBe('{"n":1}')
    const h = cacheHeaders(hit)
    expect(h).toMatchObject({ 'x-cache-status': 'Hit', 'x-cache-key': key, age: '0', 'content-type': 'application/json', 'x-upstream': 'u1' })
    // Per-answer headers are never replayed from the cache.
    expect(h.date).toBeUndefined()
    expect(h['x-request-id']).toBeUndefined()
    expect(env.stats.get(0, STAT.CACHE_MISS)).toBe(1)
    expect(env.stats.get(0, STAT.CACHE_HIT)).toBe(1)
  })

  it('answers HEAD from the GET entry', () => {
    const { c } = setup()
    const key = fill(c)
    const head = req({ method: 'HEAD' })
    expect(access(c, head)).toBe(DONE)
    expect(head.replies[0]!.body).toBe('{"n":1}') // the listener sends only its length for HEAD
    expect(cacheHeaders(head)['x-cache-key']).toBe(key)
  })

  it('does not store the answer to a HEAD miss', () => {
    const { c, store } = setup()
    const head = req({ method: 'HEAD' })
    expect(access(c, head)).toBe(CONTINUE)
    upstream(head, 200, JSON_HEAD)
    const key = cacheHeaders(head)['x-cache-key']!
    expect(cacheHeaders(head)['x-cache-status']).toBe('Bypass')
    expect(store.get(key)).toBeNull()
  })

  it('bypasses methods not in request_method', () => {
    const { c } = setup()
    const post = req({ method: 'POST' })
    expect(access(c, post)).toBe(CONTINUE)
    expect(post.observer).toBeNull()
    expect(cacheHeaders(post)['x-cache-status']).toBe('Bypass')
  })

  it('bypasses HEAD when GET is not cacheable (HEAD answers come from GET entries)', () => {
    const { c } = setup({ request_method: ['HEAD'] })
    const head = req({ method: 'HEAD' })
    expect(access(c, head)).toBe(CONTINUE)
    expect(cacheHeaders(head)['x-cache-status']).toBe('Bypass')
  })

  it('stores POST under its own key when listed', () => {
    const { c } = setup({ request_method: ['GET', 'POST'] })
    const getKey = fill(c)
    const postKey = fill(c, { method: 'POST' })
    expect(postKey).not.toBe(getKey)
  })

  it('sets no X-Cache headers when response_headers turns them off', () => {
    const { c } = setup({ response_headers: { age: false, 'X-Cache-Status': false, 'X-Cache-Key': false } })
    const miss = req()
    access(c, miss)
    upstream(miss, 200, JSON_HEAD, 'x')
    expect(miss.responseHeaders).toEqual([])
    const hit = req()
    expect(access(c, hit)).toBe(DONE)
    expect(cacheHeaders(hit)).toEqual({ 'content-type': 'application/json' })
  })
})

describe('what is stored', () => {
  it('bypasses statuses not in response_code', () => {
    const { c, store } = setup()
    const ctx = req()
    access(c, ctx)
    upstream(ctx, 500, JSON_HEAD, 'err')
    expect(cacheHeaders(ctx)['x-cache-status']).toBe('Bypass')
    expect(store.get(cacheHeaders(ctx)['x-cache-key']!)).toBeNull()
  })

  it('bypasses content types not in content_type, and a missing one', () => {
    const { c } = setup()
    for (const head of [['Content-Type', 'text/html'], []]) {
      const ctx = req()
      access(c, ctx)
      upstream(ctx, 200, head, '<p>')
      expect(cacheHeaders(ctx)['x-cache-status']).toBe('Bypass')
    }
    const again = req()
    expect(access(c, again)).toBe(CONTINUE)
  })

  it('does not store a body larger than max_body_size, but sees it through', () => {
    const { c, store } = setup({ max_body_size: 1000 })
    const ctx = req()
    access(c, ctx)
    expect(upstream(ctx, 200, JSON_HEAD, [Buffer.alloc(600, 97), Buffer.alloc(600, 98)])).toBe('relayed')
    expect(store.get(cacheHeaders(ctx)['x-cache-key']!)).toBeNull()
    expect(access(c, req())).toBe(CONTINUE)
  })

  it('stores a body of exactly max_body_size arriving in many chunks', () => {
    const { c } = setup({ max_body_size: 1000 })
    const ctx = req()
    access(c, ctx)
    upstream(ctx, 200, JSON_HEAD, Array.from({ length: 10 }, (_, i) => Buffer.alloc(100, 48 + i)))
    const hit = req()
    expect(access(c, hit)).toBe(DONE)
    expect(hit.replies[0]!.body).toBe(Array.from({ length: 10 }, (_, i) => String(i).repeat(100)).join(''))
  })

  it('copies chunks (they are views of a reused read buffer)', () => {
    const { c } = setup()
    const ctx = req()
    access(c, ctx)
    const buf = Buffer.from('abc')
    ctx.observer!.onResponseHead(200, JSON_HEAD, -1)
    ctx.observer!.onResponseBody(buf)
    buf.write('xyz')
    const obs = ctx.observer!
    ctx.observer = null
    obs.onResponseEnd()
    const hit = req()
    access(c, hit)
    expect(hit.replies[0]!.body).toBe('abc')
  })

  it('does not store an aborted response', () => {
    const { c } = setup()
    const ctx = req()
    access(c, ctx)
    ctx.observer!.onResponseHead(200, JSON_HEAD, -1)
    ctx.observer!.onResponseBody(Buffer.from('par'))
    ctx.observer!.onResponseAbort()
    expect(access(c, req())).toBe(CONTINUE)
  })

  it('ignores Cache-Control when cache_control is off', () => {
    const { c } = setup()
    fill(c, {}, ['Content-Type', 'text/plain', 'Cache-Control', 'no-store, private'])
    expect(access(c, req())).toBe(DONE)
  })

  it('refuses no-store, private and no-cache responses when cache_control is on', () => {
    for (const cc of ['no-store', 'private', 'no-cache', 'max-age=0']) {
      const { c } = setup({ cache_control: true })
      const ctx = req()
      access(c, ctx)
      upstream(ctx, 200, ['Content-Type', 'text/plain', 'Cache-Control', cc], 'x')
      expect(cacheHeaders(ctx)['x-cache-status'], cc).toBe('Bypass')
    }
  })

  it('keeps an entry for s-maxage, then misses', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.UTC(2026, 0, 1))
    const { c } = setup({ cache_control: true, cache_ttl: 3600 })
    fill(c, {}, ['Content-Type', 'text/plain', 'Cache-Control', 'max-age=100, s-maxage=5'], 'x')
    vi.setSystemTime(Date.UTC(2026, 0, 1) + 4000)
    const hit = req()
    expect(access(c, hit)).toBe(DONE)
    expect(cacheHeaders(hit).age).toBe('4')
    vi.setSystemTime(Date.UTC(2026, 0, 1) + 5000)
    expect(access(c, req())).toBe(CONTINUE)
  })

  it('keeps an entry for cache_ttl without cache_control', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.UTC(2026, 0, 1))
    const { c } = setup({ cache_ttl: 2 })
    fill(c, {}, ['Content-Type', 'text/plain', 'Cache-Control', 'max-age=100'], 'x')
    vi.setSystemTime(Date.UTC(2026, 0, 1) + 1999)
    expect(access(c, req())).toBe(DONE)
    vi.setSystemTime(Date.UTC(2026, 0, 1) + 2000)
    expect(access(c, req())).toBe(CONTINUE)
  })
})

describe('request Cache-Control (cache_control: true)', () => {
  it('no-store bypasses without touching the entry', () => {
    const { c } = setup({ cache_control: true })
    fill(c)
    const ctx = req({ headers: new Map([['cache-control', 'no-store']]) })
    expect(access(c, ctx)).toBe(CONTINUE)
    expect(ctx.observer).toBeNull()
    expect(cacheHeaders(ctx)['x-cache-status']).toBe('Bypass')
    expect(access(c, req())).toBe(DONE)
  })

  it('no-cache goes upstream (Refresh) and replaces the entry', () => {
    const { c } = setup({ cache_control: true })
    fill(c, {}, JSON_HEAD, '"old"')
    const ctx = req({ headers: new Map([['cache-control', 'no-cache']]) })
    expect(access(c, ctx)).toBe(CONTINUE)
    upstream(ctx, 200, JSON_HEAD, '"new"')
    expect(cacheHeaders(ctx)['x-cache-status']).toBe('Refresh')
    const hit = req()
    access(c, hit)
    expect(hit.replies[0]!.body).toBe('"new"')
  })

  it('Pragma: no-cache refreshes only without Cache-Control', () => {
    const { c } = setup({ cache_control: true })
    fill(c)
    expect(access(c, req({ headers: new Map([['pragma', 'no-cache']]) }))).toBe(CONTINUE)
    expect(access(c, req({ headers: new Map([['pragma', 'no-cache'], ['cache-control', 'max-age=60']]) }))).toBe(DONE)
  })

  it('max-age=N refuses older entries', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.UTC(2026, 0, 1))
    const { c } = setup({ cache_control: true, collapse_requests: false })
    fill(c)
    vi.setSystemTime(Date.UTC(2026, 0, 1) + 10_000)
    expect(access(c, req({ headers: new Map([['cache-control', 'max-age=20']]) }))).toBe(DONE)
    expect(access(c, req({ headers: new Map([['cache-control', 'max-age=5']]) }))).toBe(CONTINUE)
  })

  it('is ignored when cache_control is off', () => {
    const { c } = setup()
    fill(c)
    expect(access(c, req({ headers: new Map([['cache-control', 'no-store']]) }))).toBe(DONE)
    expect(access(c, req({ headers: new Map([['cache-control', 'no-cache']]) }))).toBe(DONE)
  })
})

describe('keys', () => {
  it('does not depend on query parameter order', () => {
    const { c } = setup()
    const key = fill(c, { query: 'b=2&a=1' })
    const hit = req({ query: 'a=1&b=2' })
    expect(access(c, hit)).toBe(DONE)
    expect(cacheHeaders(hit)['x-cache-key']).toBe(key)
    expect(access(c, req({ query: 'a=1&b=3' }))).toBe(CONTINUE)
  })

  it('keys only on vary_query_params when set', () => {
    const { c } = setup({ vary_query_params: ['page'] })
    fill(c, { query: 'page=1&utm=a' })
    expect(access(c, req({ query: 'utm=b&page=1' }))).toBe(DONE)
    expect(access(c, req({ query: 'page=2&utm=a' }))).toBe(CONTINUE)
  })

  it('keys on vary_headers (names case-insensitive)', () => {
    const { c } = setup({ vary_headers: ['X-Tenant'] })
    fill(c, { headers: new Map([['x-tenant', 'a']]) })
    expect(access(c, req({ headers: new Map([['x-tenant', 'a']]) }))).toBe(DONE)
    expect(access(c, req({ headers: new Map([['x-tenant', 'b']]) }))).toBe(CONTINUE)
    expect(access(c, req())).toBe(CONTINUE)
  })

  it('separates routes, hosts, consumers and plugin instances', () => {
    const store = CacheStore.allocate(4 * MiB, {}, () => Date.now())
    const { c } = setup({}, store)
    fill(c)
    expect(access(c, req({ routeId: 'other' }))).toBe(CONTINUE)
    expect(access(c, req({ host: 'other.example' }))).toBe(CONTINUE)
    expect(access(c, req({ consumer: { id: 'c1', username: 'u', customId: null, groups: [] } }))).toBe(CONTINUE)
    const other = compilePlugin(plugin, {}, testEnv({ cache: store }), 'instance-2')
    expect(access(other, req())).toBe(CONTINUE)
    expect(access(c, req({ host: 'GW.LOCAL' }))).toBe(DONE) // hosts compare case-insensitively
  })

  it('lower-cases the path only with ignore_uri_case', () => {
    const { c } = setup()
    fill(c, { path: '/API/Items' })
    expect(access(c, req({ path: '/api/items' }))).toBe(CONTINUE)
    const { c: ci } = setup({ ignore_uri_case: true })
    fill(ci, { path: '/API/Items' })
    expect(access(ci, req({ path: '/api/items' }))).toBe(DONE)
  })
})

describe('Vary', () => {
  const lang = (v: string): Map<string, string> => new Map([['accept-language', v]])
  const VARY_HEAD = ['Content-Type', 'text/plain', 'Vary', 'Accept-Language']

  it('stores one variant per request value of the Vary names', () => {
    const { c } = setup()
    const en = fill(c, { headers: lang('en') }, VARY_HEAD, 'hello')
    const fr = fill(c, { headers: lang('fr') }, VARY_HEAD, 'bonjour')
    expect(en).not.toBe(fr)
    for (const [v, body, key] of [['en', 'hello', en], ['fr', 'bonjour', fr]] as const) {
      const hit = req({ headers: lang(v) })
      expect(access(c, hit)).toBe(DONE)
      expect(hit.replies[0]!.body).toBe(body)
      expect(cacheHeaders(hit)['x-cache-key']).toBe(key)
    }
    expect(access(c, req({ headers: lang('de') }))).toBe(CONTINUE)
  })

  it('never stores Vary: *', () => {
    const { c } = setup()
    const ctx = req()
    access(c, ctx)
    upstream(ctx, 200, ['Content-Type', 'text/plain', 'Vary', '*'], 'x')
    expect(cacheHeaders(ctx)['x-cache-status']).toBe('Bypass')
    expect(access(c, req())).toBe(CONTINUE)
  })

  it('stores the variant before the Vary index (a waiter woken by the index must find the variant)', () => {
    const { c, store } = setup()
    const order: string[] = []
    const put = store.put.bind(store)
    vi.spyOn(store, 'put').mockImplementation((key, res, ...rest) => {
      order.push(res.status === 0 ? 'index' : 'variant')
      return put(key, res, ...rest)
    })
    fill(c, { headers: lang('en') }, VARY_HEAD, 'hello')
    expect(order).toEqual(['variant', 'index'])
  })
})

describe('collapse_requests', () => {
  it('makes requests for a key being filled wait for that fill, then answers them as hits', async () => {
    const { c } = setup()
    const first = req()
    expect(access(c, first)).toBe(CONTINUE)
    const waiting = [req(), req(), req()]
    const results = waiting.map((w) => access(c, w))
    for (const r of results) expect(r).toBeInstanceOf(Promise)
    upstream(first, 200, JSON_HEAD, '"filled"')
    expect(await Promise.all(results)).toEqual([DONE, DONE, DONE])
    for (const w of waiting) {
      expect(w.replies[0]!.body).toBe('"filled"')
      expect(cacheHeaders(w)['x-cache-status']).toBe('Hit')
      expect(cacheHeaders(w)['x-cache-key']).toBe(cacheHeaders(first)['x-cache-key'])
    }
  })

  it('lets waiters go upstream themselves when the fill is not cacheable', async () => {
    const { c } = setup()
    const first = req()
    access(c, first)
    const waiter = req()
    const result = access(c, waiter)
    upstream(first, 200, ['Content-Type', 'text/html'], 'x')
    expect(await result).toBe(CONTINUE)
    expect(waiter.observer).not.toBeNull()
    upstream(waiter, 200, JSON_HEAD, 'y')
    expect(cacheHeaders(waiter)['x-cache-status']).toBe('Miss')
    expect(access(c, req())).toBe(DONE)
  })

  it('releases waiters when the filler fails or is aborted', async () => {
    const { c } = setup()
    const first = req()
    access(c, first)
    const waiter = req()
    const result = access(c, waiter)
    first.observer!.onUpstreamFailure(new GatewayError(GW.UPSTREAM_CONNECT))
    expect(await result).toBe(CONTINUE)
    const second = req({ query: 'x=1' })
    access(c, second)
    const waiter2 = req({ query: 'x=1' })
    const result2 = access(c, waiter2)
    second.observer!.onResponseAbort()
    expect(await result2).toBe(CONTINUE)
  })

  it('answers a waiter with the variant matching its own Vary values', async () => {
    const { c } = setup()
    const first = req({ headers: new Map([['accept-language', 'en']]) })
    access(c, first)
    const fr = req({ headers: new Map([['accept-language', 'fr']]) })
    const en = req({ headers: new Map([['accept-language', 'en']]) })
    const rFr = access(c, fr)
    const rEn = access(c, en)
    upstream(first, 200, ['Content-Type', 'text/plain', 'Vary', 'Accept-Language'], 'hello')
    expect(await rEn).toBe(DONE)
    expect(en.replies[0]!.body).toBe('hello')
    expect(cacheHeaders(en)['x-cache-key']).toBe(cacheHeaders(first)['x-cache-key'])
    expect(await rFr).toBe(CONTINUE) // no fr variant yet: it goes upstream itself
  })

  it('does not make GETs wait for a HEAD miss (HEAD answers are never stored)', () => {
    const { c } = setup()
    const head = req({ method: 'HEAD' })
    expect(access(c, head)).toBe(CONTINUE)
    expect(access(c, req())).toBe(CONTINUE)
  })

  it('does not wait when collapse_requests is off', () => {
    const { c } = setup({ collapse_requests: false })
    access(c, req())
    expect(access(c, req())).toBe(CONTINUE)
  })
})

describe('stale_if_error', () => {
  const T0 = Date.UTC(2026, 0, 1)

  function expired(config: Record<string, unknown>): Setup & { key: string } {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
    const s = setup({ cache_ttl: 1, collapse_requests: false, ...config })
    const key = fill(s.c, {}, JSON_HEAD, '"old"')
    vi.setSystemTime(T0 + 2000)
    return { ...s, key }
  }

  it('answers the expired entry as Stale when the upstream fails', () => {
    const { c, env, key } = expired({ stale_if_error: 10 })
    const ctx = req()
    expect(access(c, ctx)).toBe(CONTINUE)
    expect(ctx.observer!.onUpstreamFailure(new GatewayError(GW.UPSTREAM_CONNECT))).toBe(true)
    expect(ctx.replies[0]!.body).toBe('"old"')
    expect(cacheHeaders(ctx)).toMatchObject({ 'x-cache-status': 'Stale', 'x-cache-key': key, age: '2' })
    expect(env.stats.get(0, STAT.CACHE_STALE)).toBe(1)
  })

  it('answers the expired entry as Stale instead of a 5xx', () => {
    const { c } = expired({ stale_if_error: 10 })
    const ctx = req()
    access(c, ctx)
    expect(upstream(ctx, 503, JSON_HEAD, 'down')).toBe('answered')
    expect(ctx.replies[0]!.status).toBe(200)
    expect(cacheHeaders(ctx)['x-cache-status']).toBe('Stale')
  })

  it('relays the error past the stale window', () => {
    const { c } = expired({ stale_if_error: 10 })
    vi.setSystemTime(T0 + 1000 + 10_001)
    const ctx = req()
    access(c, ctx)
    expect(ctx.observer!.onUpstreamFailure(new GatewayError(GW.UPSTREAM_CONNECT))).toBe(false)
    expect(ctx.replies).toEqual([])
  })

  it('relays the error without stale_if_error', () => {
    const { c } = expired({ storage_ttl: 60 })
    const ctx = req()
    access(c, ctx)
    expect(upstream(ctx, 500, JSON_HEAD, 'err')).toBe('relayed')
    expect(ctx.replies).toEqual([])
  })

  it('replaces the stale entry with a fresh answer', () => {
    const { c } = expired({ stale_if_error: 10 })
    const ctx = req()
    access(c, ctx)
    upstream(ctx, 200, JSON_HEAD, '"new"')
    expect(cacheHeaders(ctx)['x-cache-status']).toBe('Miss')
    const hit = req()
    expect(access(c, hit)).toBe(DONE)
    expect(hit.replies[0]!.body).toBe('"new"')
  })

  it('names the variant key when serving a stale Vary variant', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
    const { c } = setup({ cache_ttl: 1, stale_if_error: 10, collapse_requests: false })
    const headers = new Map([['accept-language', 'en']])
    const key = fill(c, { headers }, ['Content-Type', 'text/plain', 'Vary', 'Accept-Language'], 'hello')
    vi.setSystemTime(T0 + 2000)
    const ctx = req({ headers })
    access(c, ctx)
    expect(ctx.observer!.onUpstreamFailure(new GatewayError(GW.UPSTREAM_CONNECT))).toBe(true)
    expect(ctx.replies[0]!.body).toBe('hello')
    expect(cacheHeaders(ctx)['x-cache-key']).toBe(key)
  })
})
