// proxy-cache `strategy: redis` end to end (README "Response cache"): two gateway processes (2 workers each, one
// config) sharing one real redis-server through the plugin's `redis` block. A fill on one host is a hit on the
// other (Vary variants too); admin purges reach Redis but not the other host's shared-memory copy (a documented
// gap, asserted below); a stopped or hung Redis only costs hits, never an answer; write-through resumes after.
import http from 'node:http'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request, type Reply } from '../helpers/http.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

interface Answer { url: string; n: number; lang: string | null }

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Upstream requests per path+query. */
const seen = new Map<string, number>()
const count = (url: string): number => seen.get(url) ?? 0

/**
 * Answers by query: `vary` (a Vary header), `bin` (a binary text/plain body of every byte value instead of the
 * JSON). The JSON body carries the URL's count `n`, so a cached answer shows which upstream response it came from.
 */
const handler: http.RequestListener = (req, res) => {
  const url = req.url!
  const n = (seen.get(url) ?? 0) + 1
  seen.set(url, n)
  const q = new URL(url, 'http://x').searchParams
  // x-obs-text: bytes above 0x7f that must survive the trip through Redis.
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'x-obs-text': 'caf\u00e9', 'x-n': n }
  if (q.has('vary')) headers.vary = q.get('vary')!
  if (q.has('bin')) {
    const body = binaryBody(n)
    res.writeHead(200, { ...headers, 'content-type': 'text/plain', 'content-length': body.length })
    res.end(body)
    return
  }
  const body = JSON.stringify({ url, n, lang: req.headers['accept-language'] ?? null } satisfies Answer)
  res.writeHead(200, { ...headers, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

/** Every byte value, several times over (not valid UTF-8), plus the fill count. */
const binaryBody = (n: number): Buffer => Buffer.concat([Buffer.from(Array.from({ length: 1024 }, (_, i) => i & 0xff)), Buffer.from([n])])

let redis: RedisServer
/** A plain connection to look at what the gateways stored. */
let plain: Redis
let up: Upstream
let a: RunningGateway
let b: RunningGateway

const REDIS_TIMEOUT_MS = 300

beforeAll(async () => {
  redis = await startRedis()
  plain = new Redis({ host: redis.host, port: redis.port })
  plain.on('error', () => {}) // refused while Redis is down in the outage test; it reconnects by itself
  up = await startUpstream(handler)
  const cache = (over: Record<string, unknown> = {}) => [{
    name: 'proxy-cache',
    config: { strategy: 'redis', redis: { host: redis.host, port: redis.port, timeout: REDIS_TIMEOUT_MS }, ...over },
  }]
  // One config for both hosts: plugin ids (part of every cache key) come from the config, so the keys agree.
  const config = {
    services: [{
      name: 'up', url: `http://127.0.0.1:${up.port}`, retries: 0,
      routes: [
        { name: 'shared', paths: ['/shared'], strip_path: false, plugins: cache() },
        { name: 'short', paths: ['/short'], strip_path: false, plugins: cache({ cache_ttl: 2 }) },
      ],
    }],
  }
  ;[a, b] = await Promise.all([startGateway(config, { workers: 2 }), startGateway(config, { workers: 2 })])
}, 60_000)

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()])
  plain?.disconnect()
  await Promise.all([redis?.close(), up?.close()])
})

/*
 * Every request names one Host, as clients behind a load balancer do: the cache key includes the Host header as
 * sent, port included, so `127.0.0.1:<port of A>` and `127.0.0.1:<port of B>` would never share an entry.
 */
const HOST = 'api.example'

function get(gw: RunningGateway, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return request(gw.url + path, { headers: { host: HOST, ...headers } })
}

/** GET with the body as bytes. */
function getBytes(gw: RunningGateway, path: string): Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get(gw.url + path, { headers: { host: HOST }, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

/** `get`, with how long the answer took. */
async function timed(gw: RunningGateway, path: string): Promise<{ r: Reply; ms: number }> {
  const started = Date.now()
  const r = await get(gw, path)
  return { r, ms: Date.now() - started }
}

function admin(gw: RunningGateway, method: string, path: string, body?: string): Promise<Reply> {
  return request(gw.adminUrl + path, { method, body, headers: body === undefined ? {} : { 'content-type': 'application/json' } })
}

const status = (r: Reply): string | undefined => r.headers['x-cache-status'] as string | undefined
const keyOf = (r: Reply): string => r.headers['x-cache-key'] as string
const nOf = (r: Reply): number => r.json<Answer>().n
/** Where the tier keeps the entry for `key` (src/redis/cache-tier.ts). */
const entryKey = (key: string): string => `pc:e:{${key}}`

/** Write-through is asynchronous (after the answer): waits until Redis holds every key. */
async function untilStored(keys: string[], timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while ((await plain.exists(...keys.map(entryKey))) !== keys.length) {
    if (Date.now() > deadline) throw new Error(`not written through to Redis in ${timeoutMs} ms: ${keys.join(', ')}\n${a.logs().slice(-2000)}`)
    await sleep(20)
  }
}

/** Headers a cached answer must repeat exactly (the rest are per answer: Date, X-Request-Id, Age, X-Cache-Status). */
function storedHeaders(r: Reply): Record<string, unknown> {
  const { 'content-type': ct, 'content-length': cl, 'x-obs-text': obs, 'x-n': n, vary, 'x-cache-key': key } = r.headers
  return { ct, cl, obs, n, vary, key }
}

describe('two gateways sharing Redis', () => {
  it('a response filled through gateway A is a Hit on gateway B, with the same body and headers', async () => {
    const path = '/shared/one'
    const miss = await get(a, path)
    expect(miss.status).toBe(200)
    expect(status(miss)).toBe('Miss')
    expect(count(path)).toBe(1)
    expect(miss.headers['x-obs-text']).toMatch(/^caf[\x80-\xff]+$/)
    await untilStored([keyOf(miss)])
    // The entry lives in Redis until its stale window ends (cache_ttl 300 s, no stale window).
    const pttl = await plain.pttl(entryKey(keyOf(miss)))
    expect(pttl).toBeGreaterThan(290_000)
    expect(pttl).toBeLessThanOrEqual(300_000)

    const fromRedis = await get(b, path)
    expect(fromRedis.status).toBe(200)
    expect(status(fromRedis)).toBe('Hit')
    expect(fromRedis.body).toBe(miss.body)
    expect(storedHeaders(fromRedis)).toEqual(storedHeaders(miss))
    expect(fromRedis.headers.age).toMatch(/^\d+$/)
    // B copied the entry into its own store: the next answers come from there, still without the upstream.
    const fromL1 = await get(b, path)
    expect(status(fromL1)).toBe('Hit')
    expect(fromL1.body).toBe(miss.body)
    expect(count(path)).toBe(1)
  })

  it('keeps a binary body byte for byte through Redis', async () => {
    const path = '/shared/bin?bin=1'
    const miss = await getBytes(a, path)
    expect(miss.headers['x-cache-status']).toBe('Miss')
    expect(miss.body.equals(binaryBody(1))).toBe(true)
    await untilStored([miss.headers['x-cache-key'] as string])
    const hit = await getBytes(b, path)
    expect(hit.headers['x-cache-status']).toBe('Hit')
    expect(hit.body.equals(miss.body)).toBe(true)
    expect(count(path)).toBe(1)
  })

  it('shares Vary variants across hosts: each host answers the variant the other stored, and fills its own', async () => {
    const path = '/shared/lang?vary=Accept-Language'
    const en = await get(a, path, { 'accept-language': 'en' })
    const fr = await get(a, path, { 'accept-language': 'fr' })
    expect([status(en), status(fr)]).toEqual(['Miss', 'Miss'])
    const base = (await admin(a, 'GET', '/proxy-cache/' + keyOf(en))).json<{ base_key: string }>().base_key
    expect(base).not.toBe(keyOf(en))
    await untilStored([base, keyOf(en), keyOf(fr)])
    expect((await plain.smembers(`pc:v:{${base}}`)).sort()).toEqual([keyOf(en), keyOf(fr)].sort())

    const enB = await get(b, path, { 'accept-language': 'en' })
    const frB = await get(b, path, { 'accept-language': 'fr' })
    expect([status(enB), status(frB)]).toEqual(['Hit', 'Hit'])
    expect(enB.json()).toMatchObject({ lang: 'en', n: 1 })
    expect(frB.json()).toMatchObject({ lang: 'fr', n: 2 })
    expect([keyOf(enB), keyOf(frB)]).toEqual([keyOf(en), keyOf(fr)])
    expect(enB.headers.vary).toBe('Accept-Language')
    expect(count(path)).toBe(2)

    // A variant B fills is a Hit on A, although A's own store already has the key's Vary index.
    const deB = await get(b, path, { 'accept-language': 'de' })
    expect(status(deB)).toBe('Miss')
    await untilStored([keyOf(deB)])
    const deA = await get(a, path, { 'accept-language': 'de' })
    expect(status(deA)).toBe('Hit')
    expect(deA.json()).toMatchObject({ lang: 'de', n: 3 })
    expect(count(path)).toBe(3)
  })
})

describe('admin purges with two hosts', () => {
  /*
   * What the design does: a purge on host A removes the entry from A's shared-memory store (every worker) and
   * from Redis. Host B's shared-memory store is not told: an entry B has already copied (a Hit from Redis, or its
   * own fill) stays a Hit on B until that entry's own expiry (the expiry of the original fill: promoting keeps it).
   * An entry B had not copied yet is gone for B too (Redis no longer has it). A purge is complete only when it
   * is sent to every host's admin API; each such purge also purges Redis again.
   */
  it('DELETE /proxy-cache/{key} on A: B misses entries it had not copied, keeps serving the copy it had', async () => {
    const copied = '/shared/purge-copied'
    const unseen = '/shared/purge-unseen'
    const first = await get(a, copied)
    const other = await get(a, unseen)
    await untilStored([keyOf(first), keyOf(other)])
    expect(status(await get(b, copied))).toBe('Hit') // B now holds its own copy

    for (const r of [first, other]) {
      const del = await admin(a, 'DELETE', '/proxy-cache/' + keyOf(r))
      expect(del.status).toBe(204)
      expect(await plain.exists(entryKey(keyOf(r)))).toBe(0)
    }
    // Not copied by B before the purge: purged for B as well.
    const unseenB = await get(b, unseen)
    expect(status(unseenB)).toBe('Miss')
    expect(nOf(unseenB)).toBe(2)

    // Copied by B: B still answers the purged response (the gap), while A fetches a new one.
    const stillB = await get(b, copied)
    expect(status(stillB)).toBe('Hit')
    expect(nOf(stillB)).toBe(1)
    const refilled = await get(a, copied)
    expect(status(refilled)).toBe('Miss')
    expect(nOf(refilled)).toBe(2)
    await untilStored([keyOf(refilled)])
    const divergent = await get(b, copied)
    expect(status(divergent)).toBe('Hit')
    expect(nOf(divergent)).toBe(1) // the hosts now disagree until B's copy expires or B is purged too

    // Purging on B as well removes B's copy (and Redis's, again).
    expect((await admin(b, 'DELETE', '/proxy-cache/' + keyOf(first))).status).toBe(204)
    expect(await plain.exists(entryKey(keyOf(first)))).toBe(0)
    const afterB = await get(b, copied)
    expect(status(afterB)).toBe('Miss')
    expect(nOf(afterB)).toBe(3)
  })

  it("B's copy of a purged entry lasts at most until the original fill's expiry (cache_ttl 2 s)", async () => {
    const path = '/short/purged'
    const first = await get(a, path)
    const storedAt = Date.now()
    await untilStored([keyOf(first)])
    expect(status(await get(b, path))).toBe('Hit')
    expect((await admin(a, 'DELETE', '/proxy-cache/' + keyOf(first))).status).toBe(204)
    /** When the last request B answered with the purged response was sent. */
    let lastOld = 0
    let answer: Reply
    for (;;) {
      const sent = Date.now()
      answer = await get(b, path)
      if (nOf(answer) !== 1) break
      lastOld = sent
      if (lastOld - storedAt > 4000) throw new Error('B kept answering the purged entry past its expiry')
      await sleep(100)
    }
    expect(status(answer)).toBe('Miss')
    expect(nOf(answer)).toBe(2)
    expect(status(await get(b, path))).toBe('Hit')
    expect(lastOld - storedAt).toBeGreaterThan(1000) // it did outlive the purge…
    expect(lastOld - storedAt).toBeLessThan(2000) // …but not the original fill's expiry (A stored it before `storedAt`)
  })

  it('POST /cache/invalidate on A purges A and Redis and reports both counts; B then misses them', async () => {
    const matching = ['/shared/inv/1', '/shared/inv/2?x=1']
    const varied = '/shared/inv-vary?vary=Accept-Language'
    const kept = '/shared/keep'
    const replies = [...await Promise.all([...matching, kept].map((p) => get(a, p))), await get(a, varied, { 'accept-language': 'en' }), await get(a, varied, { 'accept-language': 'fr' })]
    const base = (await admin(a, 'GET', '/proxy-cache/' + keyOf(replies[3]!))).json<{ base_key: string }>().base_key
    await untilStored([...replies.map(keyOf), base])

    const r = await admin(a, 'POST', '/cache/invalidate', JSON.stringify({ pattern: '/shared/inv*' }))
    expect(r.status).toBe(200)
    // 2 plain entries + the Vary index and its 2 variants, in A's store and in Redis.
    expect(r.json()).toEqual({ pattern: '/shared/inv*', purged: 5, redis: { purged: 5, unreachable: 0 } })
    expect(await plain.exists(...[...matching.map((_, i) => keyOf(replies[i]!)), base, keyOf(replies[3]!), keyOf(replies[4]!)].map(entryKey))).toBe(0)

    for (const p of matching) expect(status(await get(b, p)), p).toBe('Miss')
    expect(status(await get(b, varied, { 'accept-language': 'fr' }))).toBe('Miss')
    expect(status(await get(b, kept))).toBe('Hit')
    // A glob that matches nothing: both counts 0.
    expect((await admin(a, 'POST', '/cache/invalidate', JSON.stringify({ pattern: '/nothing/*' }))).json()).toEqual({
      pattern: '/nothing/*', purged: 0, redis: { purged: 0, unreachable: 0 },
    })
  })

  it('DELETE /proxy-cache on A empties Redis too', async () => {
    const r = await get(a, '/shared/all')
    await untilStored([keyOf(r)])
    expect((await admin(a, 'DELETE', '/proxy-cache')).status).toBe(204)
    expect(await plain.keys('pc:e:*')).toEqual([])
    expect(status(await get(a, '/shared/all'))).toBe('Miss')
  })

  it('DELETE /proxy-cache/{key} answers 204 for a key only Redis has (another host filled it)', async () => {
    const r = await get(b, '/shared/only-b')
    await untilStored([keyOf(r)])
    expect((await admin(a, 'GET', '/proxy-cache/' + keyOf(r))).status).toBe(404) // not in A's store
    expect((await admin(a, 'DELETE', '/proxy-cache/' + keyOf(r))).status).toBe(204)
    expect(await plain.exists(entryKey(keyOf(r)))).toBe(0)
    expect((await admin(a, 'DELETE', '/proxy-cache/' + keyOf(r))).status).toBe(404)
  })
})

describe('Redis outage', () => {
  it('a hung, then stopped Redis costs only hits: answers within the timeout, then write-through resumes', async () => {
    // Copied into B's store before the outage.
    const cached = await get(a, '/shared/outage-cached')
    await untilStored([keyOf(cached)])
    expect(status(await get(b, '/shared/outage-cached'))).toBe('Hit')

    // Hung (SIGSTOP): each L1 miss waits for redis.timeout (300 ms), then goes upstream.
    redis.pause()
    try {
      const hung = await Promise.all([timed(a, '/shared/hung-a'), timed(b, '/shared/hung-b')])
      for (const { r, ms } of hung) {
        expect(r.status).toBe(200)
        expect(status(r)).toBe('Miss')
        expect(ms).toBeLessThan(1500)
      }
    } finally {
      redis.resume()
    }

    await redis.stop()
    const path = '/shared/outage-new'
    for (const [gw, upstreamCount] of [[a, 1], [b, 2]] as const) {
      // Each host: a miss (B cannot see A's fill), then hits from its own store.
      const miss = await timed(gw, path)
      expect(miss.r.status).toBe(200)
      expect(status(miss.r)).toBe('Miss')
      expect(miss.ms).toBeLessThan(1000)
      expect(count(path)).toBe(upstreamCount)
      const hit = await timed(gw, path)
      expect(status(hit.r)).toBe('Hit')
      expect(hit.ms).toBeLessThan(1000)
      expect(count(path)).toBe(upstreamCount)
    }
    expect(status(await get(b, '/shared/outage-cached'))).toBe('Hit')
    // Fresh keys keep being answered promptly (refused, then the breaker open: no Redis call at all).
    const misses = await Promise.all(Array.from({ length: 8 }, (_, i) => timed(i % 2 ? a : b, `/shared/outage-${i}`)))
    for (const { r, ms } of misses) {
      expect(r.status).toBe(200)
      expect(ms).toBeLessThan(1000)
    }
    // Admin purges still purge the local store and report Redis as unreachable.
    const started = Date.now()
    const inv = await admin(a, 'POST', '/cache/invalidate', JSON.stringify({ pattern: '/shared/outage-new' }))
    expect(Date.now() - started).toBeLessThan(1500)
    expect(inv.json()).toEqual({ pattern: '/shared/outage-new', purged: 1, redis: { purged: 0, unreachable: 1 } })
    expect(status(await get(a, path))).toBe('Miss')
    for (const gw of [a, b]) {
      expect((await admin(gw, 'GET', '/health')).status).toBe(200)
      expect(gw.proc.exitCode).toBeNull()
      // Each host had ≥ 6 misses, each a failed read and a failed write-through, over 2 workers: some worker's breaker
      // saw 3 failures in a row and opened.
      expect(gw.logs()).toContain('redis cache unavailable, circuit open')
    }

    // Redis back (empty): once a worker's connection (backoff ≤ 2 s) and breaker (cooldown 1 s, doubling per failed
    // probe) have recovered, its fills are written through and the other host hits them again.
    await redis.restart()
    const deadline = Date.now() + 15_000
    for (let i = 0; ; i++) {
      if (Date.now() > deadline) throw new Error(`write-through did not resume:\n${a.logs().slice(-2000)}\n${b.logs().slice(-2000)}`)
      const p = `/shared/back-${i}`
      const r = await get(a, p)
      expect(r.status).toBe(200)
      let stored = false
      for (let t = 0; t < 10 && !stored; t++) {
        stored = (await plain.exists(entryKey(keyOf(r)))) === 1
        if (!stored) await sleep(20)
      }
      if (!stored) {
        await sleep(100)
        continue
      }
      const fromB = await get(b, p)
      if (status(fromB) === 'Hit') {
        expect(fromB.body).toBe(r.body)
        expect(count(p)).toBe(1)
        break
      }
      await sleep(100)
    }
    // The admin API's own connection (in the primary) recovers the same way.
    let purged: { purged: number; unreachable: number }
    for (;;) {
      purged = (await admin(a, 'POST', '/cache/invalidate', JSON.stringify({ pattern: '/shared/back-*' }))).json<{ redis: typeof purged }>().redis
      if (purged.unreachable === 0 || Date.now() > deadline) break
      await sleep(200)
    }
    expect(purged.unreachable).toBe(0)
    expect(purged.purged).toBeGreaterThanOrEqual(1)
  })
})
