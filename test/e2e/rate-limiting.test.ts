// rate-limiting end to end (SPEC §3, §5): exact limits under concurrency across worker threads (policy
// local) and across gateway processes sharing one Redis (policy redis), Kong's headers and 429, and what a
// Redis outage does (fault_tolerant fallback or 500, never a hang) and that Redis is used again after it.
import http from 'node:http'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request, type Reply } from '../helpers/http.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const MINUTE_MS = 60_000
const HOUR_MS = 3_600_000

/**
 * Fixed windows are calendar windows (Redis and the gateway read this host's clock): a phase that must fall
 * in one window of `periodMs` starts at least `needMs` before that window ends, or waits for the next one.
 */
async function clearOfEdge(periodMs: number, needMs: number): Promise<void> {
  const left = periodMs - (Date.now() % periodMs)
  if (left < needMs) await sleep(left + 50)
}

/** An upstream that counts the requests it got per first path segment ('/seq/x' → '/seq'). */
async function countingUpstream(): Promise<{ upstream: Upstream; hits: (prefix: string) => number }> {
  const counts = new Map<string, number>()
  const upstream = await startUpstream((req, res) => {
    const prefix = '/' + (req.url ?? '/').split('/')[1]!.split('?')[0]!
    counts.set(prefix, (counts.get(prefix) ?? 0) + 1)
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' })
    res.end('ok')
  })
  return { upstream, hits: (prefix) => counts.get(prefix) ?? 0 }
}

const statusCounts = (replies: Reply[]): Record<number, number> => {
  const out: Record<number, number> = {}
  for (const r of replies) out[r.status] = (out[r.status] ?? 0) + 1
  return out
}

/** RateLimit-Remaining of the admitted replies, sorted ascending. */
const remainingOfAdmitted = (replies: Reply[]): number[] =>
  replies.filter((r) => r.status === 200).map((r) => Number(r.headers['ratelimit-remaining'])).sort((a, b) => a - b)

/** The part of the admin API's GET /status these tests read. */
interface Status {
  workers: { threads: Array<{ requests: number }> }
  rate_limiting: { rejected: number; redis_fallbacks: number }
}

const status = async (gw: RunningGateway): Promise<Status> => (await request(gw.adminUrl + '/status')).json<Status>()

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

function expectKong429(r: Reply, limitHeader: string, limit: number): void {
  expect(r.status).toBe(429)
  expect(r.headers['content-type']).toMatch(/^application\/json/)
  const body = r.json<{ message: string; request_id: string }>()
  expect(body.message).toBe('API rate limit exceeded')
  expect(body.request_id).toBe(r.headers['x-request-id'])
  expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1)
  expect(r.headers['ratelimit-limit']).toBe(String(limit))
  expect(r.headers['ratelimit-remaining']).toBe('0')
  expect(Number(r.headers['ratelimit-reset'])).toBeGreaterThanOrEqual(1)
  expect(r.headers[limitHeader]).toBe(String(limit))
}

/** Sends `n` requests at once over a keep-alive pool of `sockets` connections. */
async function burst(url: string, n: number, sockets: number, headers?: Record<string, string>): Promise<Reply[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets })
  try {
    return await Promise.all(range(n).map(() => request(url, { agent, headers })))
  } finally {
    agent.destroy()
  }
}

describe('rate-limiting, policy local, 4 worker threads', () => {
  let up: Awaited<ReturnType<typeof countingUpstream>>
  let gw: RunningGateway

  beforeAll(async () => {
    up = await countingUpstream()
    const rl = (config: Record<string, unknown>) => [{ name: 'rate-limiting', config }]
    gw = await startGateway({
      services: [{
        name: 'rl',
        url: `http://127.0.0.1:${up.upstream.port}`,
        routes: [
          { name: 'burst-fixed', paths: ['/burst-fixed'], strip_path: false, plugins: rl({ minute: 100, window_type: 'fixed' }) },
          { name: 'burst-sliding', paths: ['/burst-sliding'], strip_path: false, plugins: rl({ minute: 100, window_type: 'sliding' }) },
          { name: 'seq', paths: ['/seq'], strip_path: false, plugins: rl({ hour: 5, limit_by: 'ip', window_type: 'fixed' }) },
          { name: 'by-header', paths: ['/by-header'], strip_path: false, plugins: rl({ hour: 3, limit_by: 'header', header_name: 'X-Api-User' }) },
          { name: 'quiet', paths: ['/quiet'], strip_path: false, plugins: rl({ hour: 1, hide_client_headers: true, error_code: 418, error_message: 'Too many' }) },
        ],
      }],
    }, { workers: 4 })
  }, 60_000)

  afterAll(async () => {
    await gw?.stop()
    await up?.upstream.close()
  })

  for (const type of ['fixed', 'sliding'] as const) {
    it(`admits exactly 100 of 1000 concurrent requests over 100 connections (minute: 100, ${type})`, async () => {
      await clearOfEdge(MINUTE_MS, 4000)
      const before = await request(gw.adminUrl + '/status')
      const replies = await burst(`${gw.url}/burst-${type}`, 1000, 100)
      expect(statusCounts(replies)).toEqual({ 200: 100, 429: 900 })
      // Each admission took one count: remaining 99 … 0, each exactly once.
      expect(remainingOfAdmitted(replies)).toEqual(range(100))
      for (const r of replies) {
        expect(r.headers['ratelimit-limit']).toBe('100')
        expect(r.headers['x-ratelimit-limit-minute']).toBe('100')
        expect(r.headers['x-ratelimit-remaining-minute']).toBe(r.headers['ratelimit-remaining'])
        if (r.status === 200) expect(r.body).toBe('ok')
        else expectKong429(r, 'x-ratelimit-limit-minute', 100)
      }
      expect(up.hits(`/burst-${type}`)).toBe(100)
      // The burst was served by several worker threads, all counting in the one shared table.
      const after = await request(gw.adminUrl + '/status')
      const perWorker = (s: Reply) => s.json<Status>().workers.threads.map((t) => t.requests)
      const served = perWorker(after).map((n, i) => n - perWorker(before)[i]!)
      expect(served.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1000)
      expect(served.filter((n) => n > 0).length).toBeGreaterThan(1)
      expect(after.json<Status>().rate_limiting.rejected - before.json<Status>().rate_limiting.rejected).toBe(900)
    })
  }

  it('admits N requests one after another and rejects request N+1 (hour: 5)', async () => {
    await clearOfEdge(HOUR_MS, 2000)
    const replies: Reply[] = []
    for (let i = 0; i < 7; i++) replies.push(await request(gw.url + '/seq/item'))
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429, 429])
    expect(replies.slice(0, 5).map((r) => r.headers['x-ratelimit-remaining-hour'])).toEqual(['4', '3', '2', '1', '0'])
    expect(replies[0]!.headers['x-ratelimit-limit-hour']).toBe('5')
    expect(Number(replies[0]!.headers['ratelimit-reset'])).toBeLessThanOrEqual(3600)
    expectKong429(replies[5]!, 'x-ratelimit-limit-hour', 5)
    expect(up.hits('/seq')).toBe(5)
  })

  it('keeps a separate bucket per value of the limit_by header', async () => {
    await clearOfEdge(HOUR_MS, 2000)
    const as = (user: string) => request(gw.url + '/by-header', { headers: { 'x-api-user': user } })
    const alice: number[] = []
    for (let i = 0; i < 4; i++) alice.push((await as('alice')).status)
    const bob: number[] = []
    for (let i = 0; i < 4; i++) bob.push((await as('bob')).status)
    expect(alice).toEqual([200, 200, 200, 429])
    expect(bob).toEqual([200, 200, 200, 429])
    // Without the header the client IP is the identifier: a third bucket.
    expect((await request(gw.url + '/by-header')).status).toBe(200)
    expect(up.hits('/by-header')).toBe(7)
  })

  it('hide_client_headers and a custom error_code / error_message', async () => {
    await clearOfEdge(HOUR_MS, 2000)
    const first = await request(gw.url + '/quiet')
    expect(first.status).toBe(200)
    const second = await request(gw.url + '/quiet')
    expect(second.status).toBe(418)
    expect(second.json().message).toBe('Too many')
    for (const r of [first, second]) {
      expect(Object.keys(r.headers).filter((h) => h.includes('ratelimit') || h === 'retry-after')).toEqual([])
    }
    expect(up.hits('/quiet')).toBe(1)
  })
})

describe('rate-limiting, policy redis, two gateway processes sharing one Redis', () => {
  let redis: RedisServer
  let client: Redis
  let up: Awaited<ReturnType<typeof countingUpstream>>
  let a: RunningGateway
  let b: RunningGateway

  /** Routes for both gateways; `redis` is the plugin's redis block (gateway a) or absent (b: GATEWAY_REDIS_URL). */
  const config = (block: Record<string, unknown> | null) => {
    const rl = (c: Record<string, unknown>) => [{ name: 'rate-limiting', config: { policy: 'redis', ...(block === null ? {} : { redis: block }), ...c } }]
    return {
      services: [{
        name: 'rl',
        url: `http://127.0.0.1:${up.upstream.port}`,
        routes: [
          { name: 'shared-fixed', paths: ['/shared-fixed'], strip_path: false, plugins: rl({ hour: 100, limit_by: 'ip', window_type: 'fixed' }) },
          { name: 'shared-sliding', paths: ['/shared-sliding'], strip_path: false, plugins: rl({ hour: 100, limit_by: 'ip', window_type: 'sliding' }) },
          { name: 'ft', paths: ['/ft'], strip_path: false, plugins: rl({ hour: 5, limit_by: 'header', header_name: 'x-user', window_type: 'fixed', fault_tolerant: true }) },
          { name: 'nft', paths: ['/nft'], strip_path: false, plugins: rl({ hour: 1000, limit_by: 'header', header_name: 'x-user', fault_tolerant: false }) },
          { name: 'local', paths: ['/local'], strip_path: false, plugins: [{ name: 'rate-limiting', config: { hour: 1000 } }] },
        ],
      }],
    }
  }

  const as = (gw: RunningGateway, path: string, user: string): Promise<Reply> => request(gw.url + path, { headers: { 'x-user': user } })

  /**
   * Polls until `streak` requests in a row (fresh identifiers, spread over the gateway's workers by their
   * connections) were counted in Redis: each worker's connection and circuit breaker have recovered.
   */
  async function untilCountedInRedis(gw: RunningGateway, tag: string, streak: number, withinMs: number): Promise<void> {
    const deadline = Date.now() + withinMs
    let inRow = 0
    for (let i = 0; inRow < streak; i++) {
      if (Date.now() > deadline) throw new Error(`requests did not reach Redis again within ${withinMs} ms:\n${gw.logs().slice(-3000)}`)
      const user = `${tag}-${i}`
      expect((await as(gw, '/ft', user)).status).toBe(200)
      inRow = (await redisCount(`header:${user}`)) === 1 ? inRow + 1 : 0
      if (inRow === 0) await sleep(100)
    }
  }

  /** The Redis hash that counts `identifier` (e.g. 'header:bob') for one window (of the plugin on `route`), or null. */
  async function redisCount(identifier: string, period = 'hour', route = ''): Promise<number | null> {
    const keys = await client.keys(`ratelimit:*${route}*|${identifier}}:${period}`)
    if (keys.length === 0) return null
    expect(keys).toHaveLength(1)
    return Number(await client.hget(keys[0]!, 'c'))
  }

  beforeAll(async () => {
    redis = await startRedis()
    client = new Redis({ host: redis.host, port: redis.port })
    client.on('error', () => {}) // refused while Redis is down in the outage test; it reconnects by itself
    up = await countingUpstream()
    ;[a, b] = await Promise.all([
      startGateway(config({ host: redis.host, port: redis.port, timeout: 300 }), { workers: 2 }),
      startGateway(config(null), { workers: 2, env: { GATEWAY_REDIS_URL: redis.url } }),
    ])
  }, 60_000)

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    client?.disconnect()
    await redis?.close()
    await up?.upstream.close()
  })

  for (const type of ['fixed', 'sliding'] as const) {
    it(`admits exactly 100 of 300 concurrent requests split over both gateways (hour: 100, ${type})`, async () => {
      await clearOfEdge(HOUR_MS, 4000)
      const path = `/shared-${type}`
      const [fromA, fromB] = await Promise.all([burst(a.url + path, 150, 50), burst(b.url + path, 150, 50)])
      const replies = [...fromA, ...fromB]
      expect(statusCounts(replies)).toEqual({ 200: 100, 429: 200 })
      // One atomic counter for both hosts: remaining 99 … 0, each exactly once.
      expect(remainingOfAdmitted(replies)).toEqual(range(100))
      for (const r of replies) if (r.status === 429) expectKong429(r, 'x-ratelimit-limit-hour', 100)
      expect(up.hits(path)).toBe(100)
      expect(await redisCount('ip:127.0.0.1', 'hour', `shared-${type}`)).toBe(100)
    })
  }

  it('survives a Redis outage: fallback to the local table (fault_tolerant) or 500, then uses Redis again', async () => {
    await clearOfEdge(HOUR_MS, 30_000)
    const timed = async (p: Promise<Reply>): Promise<{ r: Reply; ms: number }> => {
      const t = Date.now()
      const r = await p
      return { r, ms: Date.now() - t }
    }
    expect((await as(a, '/nft', 'warm')).status).toBe(200)
    expect(await redisCount('header:warm')).toBe(1)
    const fallbacksBefore = (await status(a)).rate_limiting.redis_fallbacks

    // A hung Redis (SIGSTOP): answers come within about redis.timeout (300 ms), never a hang.
    redis.pause()
    try {
      const [nft, ft, local] = await Promise.all([timed(as(a, '/nft', 'hung')), timed(as(a, '/ft', 'hung')), timed(request(a.url + '/local'))])
      expect(nft.r.status).toBe(500)
      expect(nft.r.json().message).toBe('An unexpected error occurred')
      expect(nft.ms).toBeGreaterThanOrEqual(250)
      expect(nft.ms).toBeLessThan(1000)
      expect(ft.r.status).toBe(200)
      expect(ft.r.headers['x-ratelimit-limit-hour']).toBe('5')
      expect(ft.ms).toBeLessThan(1000)
      expect(local.r.status).toBe(200)
      expect(local.ms).toBeLessThan(250)
    } finally {
      redis.resume()
    }

    // Redis down: the local table still enforces the limit (5 of 7), fault_tolerant false answers 500 at once.
    await redis.stop()
    const down: number[] = []
    for (let i = 0; i < 7; i++) down.push((await as(a, '/ft', 'outage')).status)
    expect(down).toEqual([200, 200, 200, 200, 200, 429, 429])
    const nft = await timed(as(a, '/nft', 'outage'))
    expect(nft.r.status).toBe(500)
    expect(nft.ms).toBeLessThan(1000)
    expect(a.proc.exitCode).toBeNull()
    expect((await request(a.adminUrl + '/health')).status).toBe(200)
    // 2 timeouts and 8 refusals in a row over 2 workers: at least one worker's breaker opened.
    expect(a.logs()).toContain('redis rate limiting unavailable, circuit open')
    // Decided by the local table instead of Redis: /ft 'hung' and the 7 'outage' requests (not the 500s).
    expect((await status(a)).rate_limiting.redis_fallbacks - fallbacksBefore).toBe(8)

    // Redis back (empty): once each worker's connection and circuit breaker have recovered (reconnect
    // backoff ≤ 2 s, breaker cooldown 1 s doubling per failed probe), counts go to Redis again.
    await redis.restart()
    await untilCountedInRedis(a, 'probe-a', 8, 20_000)
    const after: Reply[] = []
    for (let i = 0; i < 6; i++) after.push(await as(a, '/ft', 'after'))
    expect(after.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429])
    expect(after.slice(0, 5).map((r) => r.headers['x-ratelimit-remaining-hour'])).toEqual(['4', '3', '2', '1', '0'])
    expect(await redisCount('header:after')).toBe(5)
    // The other gateway (idle during the outage) reconnects by itself and shares that count through Redis.
    await untilCountedInRedis(b, 'probe-b', 4, 10_000)
    expect((await as(b, '/ft', 'after')).status).toBe(429)
    expect(a.proc.exitCode).toBeNull()
    expect(b.proc.exitCode).toBeNull()
  })
})
