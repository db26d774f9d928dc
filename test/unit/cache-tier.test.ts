// proxy-cache's Redis tier (src/redis/cache-tier.ts) against private redis-servers (test/helpers/redis.ts): the
// binary entry encoding, set/get/TTL, Vary variant bookkeeping and purges, outages (stopped and hung Redis: a
// miss within the timeout, never a throw, the breaker opening) with recovery, and a 3-master Redis Cluster.
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CacheTier, decodeEntry, encodeEntry, type TierEntry } from '../../src/redis/cache-tier.js'
import { CircuitBreaker } from '../../src/redis/circuit-breaker.js'
import { createRedisClient, redisTargetFromUrl, type RedisClient } from '../../src/redis/connection.js'
import { startRedis, useRedisCluster, type RedisServer } from '../helpers/redis.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** An entry stored now, fresh for `ttlMs`, readable `staleMs` longer. */
function entry(over: Partial<TierEntry> = {}, ttlMs = 60_000, staleMs = 0): TierEntry {
  const now = Date.now()
  return {
    status: 200,
    headers: ['content-type', 'application/json', 'x-obs-text', 'caf\u00e9'],
    body: Buffer.from('{"ok":true}'),
    storedAt: now,
    expiresAt: now + ttlMs,
    staleUntil: now + ttlMs + staleMs,
    ...over,
  }
}

/** A 64-hex-digit key like proxy-cache's (sha256). */
const newKey = (): string => randomUUID().replace(/-/g, '').repeat(2)

describe('encodeEntry / decodeEntry', () => {
  it('round-trips status, times, headers and the body', () => {
    const e = entry({ status: 404, storedAt: 1_700_000_000_123.5, expiresAt: 1_700_000_300_123.5, staleUntil: 1_700_000_310_123.5 })
    expect(decodeEntry(encodeEntry(e))).toEqual(e)
  })

  it('keeps every body byte (binary, NULs, invalid UTF-8) and every latin1 header byte', () => {
    const body = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) & 0xff))
    const latin1 = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i))
    const e = entry({ headers: ['x-all-bytes', latin1, 'x-empty', '', '', 'empty-name'], body })
    const back = decodeEntry(encodeEntry(e))!
    expect(back.body.equals(body)).toBe(true)
    expect(back.headers).toEqual(e.headers)
    expect(Buffer.from(back.headers[1]!, 'latin1').equals(Buffer.from(latin1, 'latin1'))).toBe(true)
  })

  it('round-trips many headers, an empty body and the Vary index form (status 0)', () => {
    const headers: string[] = []
    for (let i = 0; i < 500; i++) headers.push(`x-h-${i}`, 'v'.repeat(i))
    const many = entry({ headers, body: Buffer.alloc(0) })
    expect(decodeEntry(encodeEntry(many))).toEqual(many)
    const index = entry({ status: 0, headers: ['vary', 'accept-language,x-tenant'], body: Buffer.alloc(0) })
    expect(decodeEntry(encodeEntry(index))).toEqual(index)
  })

  it('answers a decoded body that does not share memory with the bytes it came from', () => {
    const bytes = encodeEntry(entry({ body: Buffer.from('abc') }))
    const back = decodeEntry(bytes)!
    bytes.fill(0)
    expect(back.body.toString()).toBe('abc')
  })

  it('answers null for bytes cut short anywhere (fixed part, headers or body) and for trailing bytes', () => {
    const bytes = encodeEntry(entry({ body: Buffer.from('0123456789') }))
    for (let len = 0; len < bytes.length; len++) expect(decodeEntry(bytes.subarray(0, len)), `cut at ${len} of ${bytes.length}`).toBeNull()
    expect(decodeEntry(Buffer.concat([bytes, Buffer.from('x')]))).toBeNull()
  })

  it('answers null for another version, an odd header count and an absurd header count', () => {
    const bytes = encodeEntry(entry())
    for (const version of [0, 1, 3, 255].filter((v) => v !== bytes[0])) {
      const other = Buffer.from(bytes)
      other[0] = version
      expect(decodeEntry(other), `version ${version}`).toBeNull()
    }
    const odd = encodeEntry(entry({ headers: ['a', 'b', 'c'] }))
    expect(decodeEntry(odd)).toBeNull()
    const huge = Buffer.from(bytes)
    huge.writeUInt32BE(0xfffffffe, 1 + 2 + 8 * 3)
    expect(decodeEntry(huge)).toBeNull()
    expect(decodeEntry(Buffer.alloc(0))).toBeNull()
  })
})

describe('CacheTier on one redis-server', () => {
  let server: RedisServer
  /** A plain connection to look at what the tier wrote. */
  let plain: Redis
  const clients: RedisClient[] = []

  beforeAll(async () => {
    server = await startRedis()
    plain = new Redis({ host: server.host, port: server.port })
    plain.on('error', () => {}) // refused while the outage test has Redis stopped
  })

  afterAll(async () => {
    for (const c of clients) c.disconnect()
    plain?.disconnect()
    await server?.close()
  })

  function tier(opts: { timeoutMs?: number; breaker?: CircuitBreaker } = {}): { tier: CacheTier; client: RedisClient; breaker: CircuitBreaker } {
    const target = { ...redisTargetFromUrl(server.url), timeoutMs: opts.timeoutMs ?? 2000 }
    const client = createRedisClient(target)
    clients.push(client)
    const breaker = opts.breaker ?? new CircuitBreaker()
    return { tier: new CacheTier(client, breaker, target.timeoutMs), client, breaker }
  }

  it('stores an entry another client reads back whole', async () => {
    const a = tier().tier
    const b = tier().tier
    const key = newKey()
    const e = entry({ body: Buffer.from([0, 1, 2, 0xff, 0xfe]) })
    expect(await b.get(key)).toBeNull()
    await a.set(key, key, '/p?q=1', e)
    expect(await b.get(key)).toEqual(e)
    // Layout: one hash, tagged by the key, with the encoded entry and the request path.
    expect(await plain.hget(`pc:e:{${key}}`, 'p')).toBe('/p?q=1')
    expect((await plain.hgetBuffer(`pc:e:{${key}}`, 'd'))!.equals(encodeEntry(e))).toBe(true)
  })

  it('replaces an entry stored under the same key', async () => {
    const t = tier().tier
    const key = newKey()
    await t.set(key, key, '/p', entry({ body: Buffer.from('one') }))
    await t.set(key, key, '/p', entry({ body: Buffer.from('two') }))
    expect((await t.get(key))!.body.toString()).toBe('two')
  })

  it('expires the entry at staleUntil (PEXPIRE), not at expiresAt', async () => {
    const t = tier().tier
    const key = newKey()
    await t.set(key, key, '/ttl', entry({}, 30_000, 10_000))
    const pttl = await plain.pttl(`pc:e:{${key}}`)
    expect(pttl).toBeGreaterThan(39_000)
    expect(pttl).toBeLessThanOrEqual(40_000)
    const short = newKey()
    await t.set(short, short, '/ttl', entry({}, 150, 100))
    expect(await t.get(short)).not.toBeNull()
    await sleep(400)
    expect(await t.get(short)).toBeNull()
    expect(await plain.exists(`pc:e:{${short}}`)).toBe(0)
  })

  it('records Vary variants under their base key (with a TTL) and purgeKey(base) removes them all', async () => {
    const t = tier().tier
    const base = newKey()
    const en = newKey()
    const fr = newKey()
    await t.set(en, base, '/v', entry({ body: Buffer.from('en') }, 20_000))
    await t.set(fr, base, '/v', entry({ body: Buffer.from('fr') }, 30_000))
    await t.set(base, base, '/v', entry({ status: 0, headers: ['vary', 'accept-language'], body: Buffer.alloc(0) }, 30_000))
    expect((await plain.smembers(`pc:v:{${base}}`)).sort()).toEqual([en, fr].sort())
    // The set lives as long as its longest-lived variant.
    const setTtl = await plain.pttl(`pc:v:{${base}}`)
    expect(setTtl).toBeGreaterThan(29_000)
    expect(setTtl).toBeLessThanOrEqual(30_000)
    const other = newKey()
    await t.set(other, other, '/v-other', entry())

    expect(await t.purgeKey(base)).toBe(3)
    for (const k of [base, en, fr]) expect(await t.get(k)).toBeNull()
    expect(await plain.exists(`pc:v:{${base}}`)).toBe(0)
    expect(await t.get(other)).not.toBeNull()
    expect(await t.purgeKey(base)).toBe(0)
  })

  it('purgeKey(variant) removes only that variant', async () => {
    const t = tier().tier
    const base = newKey()
    const en = newKey()
    const fr = newKey()
    await t.set(en, base, '/v2', entry())
    await t.set(fr, base, '/v2', entry())
    expect(await t.purgeKey(en)).toBe(1)
    expect(await t.get(en)).toBeNull()
    expect(await t.get(fr)).not.toBeNull()
  })

  it('purgeWhere(glob) removes the entries whose path matches, purgeWhere(null) every entry', async () => {
    const t = tier().tier
    await plain.flushall()
    const paths = ['/api/users/1', '/api/users/2?x=1', '/api/users', '/api/orders/1', '/other']
    const keys = paths.map(() => newKey())
    await Promise.all(paths.map((p, i) => t.set(keys[i]!, keys[i]!, p, entry())))
    // Enough entries for SCAN to take several rounds.
    await Promise.all(Array.from({ length: 1200 }, (_, i) => plain.hset(`pc:e:{filler-${i}}`, 'd', 'x', 'p', `/filler/${i}`)))
    await plain.set('unrelated', '1')

    const glob = (pattern: string) => (path: string) => new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.?+^$()[\]{}|\\]/g, '\\$&')).join('.*')}$`).test(path)
    expect(await t.purgeWhere(glob('/api/users/*'))).toBe(2)
    expect(await t.get(keys[0]!)).toBeNull()
    expect(await t.get(keys[1]!)).toBeNull()
    for (const i of [2, 3, 4]) expect(await t.get(keys[i]!), paths[i]).not.toBeNull()
    expect(await t.purgeWhere(() => false)).toBe(0)

    expect(await t.purgeWhere(null)).toBe(3 + 1200)
    expect(await plain.keys('pc:e:*')).toEqual([])
    expect(await plain.get('unrelated')).toBe('1')
    expect(await t.purgeWhere(null)).toBe(0)
  })

  it('a hung Redis (SIGSTOP): get() is a miss and set()/purges resolve, each within about the timeout', async () => {
    const { tier: t } = tier({ timeoutMs: 300 })
    const key = newKey()
    await t.set(key, key, '/hung', entry())
    server.pause()
    try {
      for (const call of [() => t.get(key), () => t.set(newKey(), key, '/hung', entry()), () => t.purgeKey(key)]) {
        const started = Date.now()
        const result = await call()
        const ms = Date.now() - started
        expect(result === null || result === undefined).toBe(true)
        expect(ms).toBeGreaterThanOrEqual(250)
        expect(ms).toBeLessThan(1000)
      }
    } finally {
      server.resume()
    }
  })

  it('a stopped Redis: get() misses at once, set() never throws, the breaker opens; after a restart it works again', async () => {
    const breaker = new CircuitBreaker({ cooldownMs: 200, maxCooldownMs: 400 })
    const { tier: t, client } = tier({ timeoutMs: 500, breaker })
    const key = newKey()
    await t.set(key, key, '/outage', entry())
    expect(await t.get(key)).not.toBeNull()
    await server.stop()
    try {
      const started = Date.now()
      for (let i = 0; i < 3; i++) {
        expect(await t.get(key)).toBeNull()
        await expect(t.set(newKey(), key, '/outage', entry())).resolves.toBeUndefined()
      }
      expect(Date.now() - started).toBeLessThan(1500)
      expect(breaker.state).toBe('open')
      // Open: answered without touching Redis.
      const openStarted = Date.now()
      expect(await t.get(key)).toBeNull()
      expect(await t.purgeKey(key)).toBeNull()
      expect(await t.purgeWhere(null)).toBeNull()
      expect(Date.now() - openStarted).toBeLessThan(50)
    } finally {
      await server.restart()
    }
    // The client reconnects by itself (backoff ≤ 2 s); the next probe after the cooldown closes the breaker.
    const deadline = Date.now() + 8000
    const fresh = newKey()
    for (;;) {
      await t.set(fresh, fresh, '/after', entry({ body: Buffer.from('after') }))
      const back = await t.get(fresh)
      if (back !== null) {
        expect(back.body.toString()).toBe('after')
        break
      }
      if (Date.now() > deadline) throw new Error(`tier did not recover: client ${client.status}, breaker ${breaker.state}`)
      await sleep(100)
    }
    expect(breaker.state).toBe('closed')
    // The restarted Redis is empty: the entry from before the outage is gone.
    expect(await t.get(key)).toBeNull()
  })
})

describe('CacheTier on a 3-master Redis Cluster', () => {
  const fx = useRedisCluster()

  function tier(): CacheTier {
    const { client, target } = fx.client()
    return new CacheTier(client, new CircuitBreaker(), target.timeoutMs)
  }

  it('stores entries spread over the masters and reads them back from another client', async () => {
    const a = tier()
    const b = tier()
    const keys = Array.from({ length: 30 }, () => newKey())
    await Promise.all(keys.map((k, i) => a.set(k, k, `/c/${i}`, entry({ body: Buffer.from(`body-${i}`) }))))
    for (const [i, k] of keys.entries()) expect((await b.get(k))!.body.toString()).toBe(`body-${i}`)
    const perMaster = await Promise.all(fx.masters().map(async (m) => (await m.keys('pc:e:*')).length))
    expect(perMaster.reduce((x, y) => x + y, 0)).toBe(30)
    expect(perMaster.filter((n) => n > 0).length).toBeGreaterThan(1)
  })

  it('purgeKey(base) reaches variants stored in other slots', async () => {
    const t = tier()
    const base = newKey()
    const variants = Array.from({ length: 6 }, () => newKey())
    for (const v of variants) await t.set(v, base, '/cv', entry())
    await t.set(base, base, '/cv', entry({ status: 0, headers: ['vary', 'x-tenant'], body: Buffer.alloc(0) }))
    expect(await t.purgeKey(base)).toBe(7)
    for (const v of variants) expect(await t.get(v)).toBeNull()
  })

  it('purgeWhere(glob) and purgeWhere(null) scan every master', async () => {
    const t = tier()
    await t.purgeWhere(null)
    const keys = Array.from({ length: 40 }, () => newKey())
    await Promise.all(keys.map((k, i) => t.set(k, k, i % 2 === 0 ? `/even/${i}` : `/odd/${i}`, entry())))
    expect(await t.purgeWhere((p) => p.startsWith('/even/'))).toBe(20)
    for (const [i, k] of keys.entries()) expect(await t.get(k) === null, `key ${i}`).toBe(i % 2 === 0)
    expect(await t.purgeWhere(null)).toBe(20)
    for (const m of fx.masters()) expect(await m.keys('pc:e:*')).toEqual([])
  })
})
