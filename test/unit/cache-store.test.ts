// Unit tests for shared/cache-store: round trips, expiry, ring eviction, purges, and fill collapsing on one buffer.
// The cross-thread tests run the real module in worker_threads (transpiled to plain JS), including a torn-read torture test.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CacheStore, DEFAULT_CACHE_SIZE_MB, matchGlob, type CachePut } from '../../src/shared/cache-store.js'

const SOURCE = fileURLToPath(new URL('../../src/shared/cache-store.ts', import.meta.url))
const MiB = 1024 * 1024
const T0 = 1_700_000_000_000

function entry(body: string | CachePut['body'], over: Partial<CachePut> = {}): CachePut {
  return { status: 200, headers: ['content-type', 'text/plain'], body: typeof body === 'string' ? Buffer.from(body) : body, path: '/', ttlMs: 60_000, ...over }
}

/** A store on a fake clock the test moves by hand. */
function clocked(slabBytes = MiB, options = {}): { store: CacheStore; clock: { now: number } } {
  const clock = { now: T0 }
  return { store: CacheStore.allocate(slabBytes, options, () => clock.now), clock }
}

describe('CacheStore layout', () => {
  it('derives segments, index entries and the body limit from the slab size', () => {
    const store = CacheStore.allocate(DEFAULT_CACHE_SIZE_MB * MiB)
    expect(store.segments).toBe(64)
    expect(store.segmentBytes).toBe(MiB)
    expect(store.entries).toBe(16384) // one per 4 KiB, a power of two
    expect(store.maxBodyBytes).toBe(MiB / 2)
    expect(store.sab.byteLength).toBe(CacheStore.bytesFor(64 * MiB))
    expect(store.sab.byteLength - 64 * MiB).toBeLessThan(1.1 * MiB) // index + markers + header overhead
    const small = CacheStore.allocate(MiB)
    expect(small.segments).toBe(4) // fewer, bigger segments below 16 MiB
    expect(small.entries).toBe(256)
  })

  it('rejects impossible geometries with RangeError', () => {
    expect(() => CacheStore.allocate(1000)).toThrow(RangeError)
    expect(() => CacheStore.allocate(MiB, { segments: 3 })).toThrow(/power of two/)
    expect(() => CacheStore.allocate(MiB, { entries: 100 })).toThrow(/power of two/)
    expect(() => CacheStore.allocate(64 * 1024, { segments: 128 })).toThrow(/too small/)
    expect(() => CacheStore.bytesFor(3 * 1024 * MiB)).toThrow(RangeError)
  })

  it('attach checks magic, layout version and size', () => {
    expect(() => CacheStore.attach(new SharedArrayBuffer(CacheStore.bytesFor(MiB)))).toThrow(/bad magic/)
    const store = CacheStore.allocate(MiB)
    const copy = new SharedArrayBuffer(store.sab.byteLength)
    new Uint8Array(copy).set(new Uint8Array(store.sab))
    new Int32Array(copy)[1] = 99
    expect(() => CacheStore.attach(copy)).toThrow(/layout version mismatch/)
    const short = new SharedArrayBuffer(4096)
    new Uint8Array(short).set(new Uint8Array(store.sab, 0, 4096))
    expect(() => CacheStore.attach(short)).toThrow(RangeError)
  })

  it('an attached instance reads the geometry from the header and sees the primary\'s entries', () => {
    const primary = CacheStore.allocate(2 * MiB, { segments: 8, entries: 512, maxBodyBytes: 1000 })
    const worker = CacheStore.attach(primary.sab)
    expect([worker.segments, worker.segmentBytes, worker.entries, worker.maxBodyBytes]).toEqual([8, 256 * 1024, 512, 1000])
    expect(primary.put('GET:/a', entry('from primary'))).toBe('stored')
    expect(worker.lookup('GET:/a')?.entry.body.toString()).toBe('from primary')
    expect(worker.put('GET:/b', entry('from worker'))).toBe('stored')
    expect(primary.lookup('GET:/b')?.entry.body.toString()).toBe('from worker')
  })
})

describe('CacheStore put and lookup', () => {
  it('round-trips status, many headers and a binary body byte for byte', () => {
    const { store } = clocked()
    const body = Buffer.alloc(70_000)
    for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >> 8)) & 0xff
    const headers: string[] = []
    for (let i = 0; i < 60; i++) headers.push(`x-header-${i}`, `value ${i} ${'v'.repeat(i)}`)
    headers.push('x-unicode', 'naïve ☃ 𝄞', 'set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-empty', '')
    expect(store.put('GET:/bin?x=1', { status: 203, headers, body, path: '/bin?x=1', ttlMs: 10_000 })).toBe('stored')
    const hit = store.lookup('GET:/bin?x=1')
    expect(hit).not.toBeNull()
    expect(hit!.fresh).toBe(true)
    expect(hit!.ageMs).toBe(0)
    expect(hit!.entry.status).toBe(203)
    expect(hit!.entry.headers).toEqual(headers)
    expect(Buffer.compare(hit!.entry.body, body)).toBe(0)
    // The body is a copy the caller owns: it doesn't alias the slab.
    expect(hit!.entry.body.buffer).not.toBe(store.sab)
  })

  it('accepts the body as the chunks it arrived in, and an empty body', () => {
    const { store } = clocked()
    const chunks = [Buffer.from('hel'), new Uint8Array([108, 111]), Buffer.alloc(0), Buffer.from(' world')]
    expect(store.put('k-chunks', entry(chunks))).toBe('stored')
    expect(store.lookup('k-chunks')?.entry.body.toString()).toBe('hello world')
    expect(store.put('k-empty', { status: 204, headers: [], body: Buffer.alloc(0), path: '/e', ttlMs: 1000 })).toBe('stored')
    const hit = store.lookup('k-empty')
    expect(hit?.entry).toMatchObject({ status: 204, headers: [] })
    expect(hit?.entry.body.length).toBe(0)
  })

  it('copies the body into a caller buffer when given one large enough', () => {
    const { store } = clocked()
    store.put('k', entry('0123456789'))
    const into = Buffer.alloc(64)
    const hit = store.lookup('k', undefined, into)
    expect(hit?.entry.body.toString()).toBe('0123456789')
    expect(hit?.entry.body.buffer).toBe(into.buffer) // a view of `into`, no allocation
    const small = Buffer.alloc(4)
    const other = store.lookup('k', undefined, small)
    expect(other?.entry.body.toString()).toBe('0123456789')
    expect(other?.entry.body.buffer).not.toBe(small.buffer) // too small: a fresh Buffer
  })

  it('a second put of the same key replaces the first', () => {
    const { store } = clocked()
    store.put('k', entry('one'))
    store.put('k', entry('two'))
    expect(store.lookup('k')?.entry.body.toString()).toBe('two')
    expect(store.stats().entries).toBe(1)
  })

  it('misses for keys never stored and counts hits and misses', () => {
    const { store } = clocked()
    store.put('k', entry('x'))
    expect(store.lookup('nope')).toBeNull()
    store.lookup('k')
    store.lookup('k')
    expect(store.stats()).toMatchObject({ hits: 2, misses: 1, puts: 1, entries: 1 })
  })

  it('rejects a headers list that is not flat pairs', () => {
    const { store } = clocked()
    expect(() => store.put('k', entry('x', { headers: ['lonely'] }))).toThrow(TypeError)
  })
})

describe('CacheStore expiry and stale window', () => {
  it('is fresh until expiry, stale (fresh: false) during staleTtlMs, then gone', () => {
    const { store, clock } = clocked()
    store.put('k', entry('v', { ttlMs: 1000, staleTtlMs: 5000 }))
    clock.now = T0 + 999
    expect(store.lookup('k')).toMatchObject({ fresh: true, ageMs: 999 })
    expect(store.has('k')).toBe(true)
    clock.now = T0 + 1000
    const stale = store.lookup('k')
    expect(stale).toMatchObject({ fresh: false, ageMs: 1000 })
    expect(stale!.entry).toMatchObject({ storedAt: T0, expiresAt: T0 + 1000, staleUntil: T0 + 6000 })
    expect(stale!.entry.body.toString()).toBe('v')
    expect(store.has('k')).toBe(false) // has() means fresh
    clock.now = T0 + 5999
    expect(store.lookup('k')?.fresh).toBe(false)
    clock.now = T0 + 6000
    expect(store.lookup('k')).toBeNull()
    expect(store.get('k')).toBeNull()
    expect(store.stats()).toMatchObject({ hits: 1, staleHits: 2, misses: 1, entries: 0 })
  })

  it('without staleTtlMs an entry is gone at expiry', () => {
    const { store, clock } = clocked()
    store.put('k', entry('v', { ttlMs: 50 }))
    clock.now = T0 + 50
    expect(store.lookup('k')).toBeNull()
  })

  it('nowMs can be passed explicitly instead of the store clock', () => {
    const store = CacheStore.allocate(MiB)
    store.put('k', entry('v', { ttlMs: 100 }), 5_000)
    expect(store.lookup('k', 5_050)).toMatchObject({ fresh: true, ageMs: 50 })
    expect(store.lookup('k', 5_100)).toBeNull()
  })
})

describe('CacheStore ring eviction', () => {
  it('wrapping the ring turns the oldest entries into misses, never into corrupted hits', () => {
    const { store } = clocked(16 * 1024, { segments: 4, entries: 256 }) // 4 segments of 4 KiB
    const n = 120
    const bodyOf = (i: number): Buffer => Buffer.alloc(900, i & 0xff)
    for (let i = 0; i < n; i++) expect(store.put(`k${i}`, entry(bodyOf(i), { path: `/k/${i}` }))).toBe('stored')
    const hits: number[] = []
    for (let i = 0; i < n; i++) {
      const hit = store.lookup(`k${i}`)
      if (hit === null) continue
      hits.push(i)
      expect(Buffer.compare(hit.entry.body, bodyOf(i))).toBe(0)
    }
    // About 4 records of ~950 bytes fit a segment; at most 4 segments' worth survive, and the newest always does.
    expect(hits.length).toBeGreaterThanOrEqual(8)
    expect(hits.length).toBeLessThanOrEqual(16)
    expect(hits[hits.length - 1]).toBe(n - 1)
    expect(hits[0]).toBeGreaterThan(n - 20) // FIFO: survivors are a suffix
    for (let i = hits[0]; i < n; i++) expect(hits).toContain(i)
    const s = store.stats()
    expect(s.recycles).toBeGreaterThan(20)
    expect(s.evictions).toBeGreaterThan(90)
    expect(s.entries).toBe(hits.length)
  })

  it('a full bucket replaces the live entry stored longest ago', () => {
    // fingerprintMask 0: every key lands in the same 8-way bucket with the same fingerprint.
    const { store, clock } = clocked(MiB, { fingerprintMask: 0 })
    for (let i = 0; i < 9; i++) {
      clock.now = T0 + i
      store.put(`k${i}`, entry(`v${i}`))
    }
    expect(store.lookup('k0')).toBeNull()
    for (let i = 1; i < 9; i++) expect(store.lookup(`k${i}`)?.entry.body.toString()).toBe(`v${i}`)
    expect(store.stats().displaced).toBe(1)
  })

  it('prefers replacing an entry past its stale window over a live one', () => {
    const { store, clock } = clocked(MiB, { fingerprintMask: 0 })
    for (let i = 0; i < 8; i++) store.put(`k${i}`, entry(`v${i}`, { ttlMs: i === 5 ? 10 : 60_000 }))
    clock.now = T0 + 100
    store.put('new', entry('new'))
    expect(store.lookup('k5')).toBeNull()
    for (const i of [0, 1, 2, 3, 4, 6, 7]) expect(store.lookup(`k${i}`)?.entry.body.toString()).toBe(`v${i}`)
    expect(store.stats().displaced).toBe(0)
  })
})

describe('CacheStore writer pins', () => {
  /**
   * A body whose second chunk runs `midCopy` when `put` reads it to copy (the first read is for sizing): the
   * outer put is then inside its record write with the segment pinned, like a thread descheduled mid-memcpy.
   */
  function stallingBody(midCopy: () => void): Uint8Array[] {
    let reads = 0
    const chunks = [Buffer.alloc(100, 1)]
    Object.defineProperty(chunks, 1, { get: () => { if (++reads === 2) midCopy(); return Buffer.alloc(100, 2) } })
    Object.defineProperty(chunks, 'length', { value: 2 })
    return chunks
  }
  const kib = (tag: number): Buffer => Buffer.alloc(1000, tag)

  it('a segment a writer is still copying into is not recycled under it: puts are refused instead', () => {
    const { store, clock } = clocked(16 * 1024, { segments: 4 }) // 4 segments of 4 KiB
    const other = CacheStore.attach(store.sab, () => clock.now) // a second thread's view
    const results: string[] = []
    const outer = store.put('laggard', entry(stallingBody(() => {
      for (let i = 0; i < 20; i++) results.push(other.put(`k${i}`, entry(kib(i))))
    })))
    // The others lapped the ring until they needed the laggard's segment, then got 'busy' rather than overwrite it.
    expect(results.slice(0, 10).every((r) => r === 'stored')).toBe(true)
    expect(results.slice(-3)).toEqual(['busy', 'busy', 'busy'])
    // The laggard's own entry was evicted while it copied (its segment's generation moved): not published.
    expect(outer).toBe('busy')
    expect(store.lookup('laggard')).toBeNull()
    // With the pin gone, the ring moves on, and every hit is intact.
    expect(other.put('after', entry(kib(99)))).toBe('stored')
    for (let i = 0; i < 20; i++) {
      const hit = store.lookup(`k${i}`)
      if (hit !== null) expect(Buffer.compare(hit.entry.body, kib(i))).toBe(0)
    }
    expect(store.lookup('after')?.entry.body[0]).toBe(99)
    expect(store.stats().forcedUnpins).toBe(0)
  })

  it('a pin held past the stall limit (a terminated writer) is dropped, and what it overlapped is invalidated', () => {
    const { store, clock } = clocked(16 * 1024, { segments: 4 })
    const other = CacheStore.attach(store.sab, () => clock.now)
    let busyAt = -1
    const outer = store.put('laggard', entry(stallingBody(() => {
      for (let i = 0; i < 20 && busyAt < 0; i++) if (other.put(`k${i}`, entry(kib(i))) === 'busy') busyAt = i
      clock.now += 999
      expect(other.put('still-blocked', entry(kib(50)))).toBe('busy')
      clock.now += 2
      // Past WRITER_STALL_MS: the pin is presumed dead and the segment is recycled; new records land in it.
      for (let i = 0; i < 3; i++) expect(other.put(`new${i}`, entry(kib(60 + i)))).toBe('stored')
    })))
    expect(busyAt).toBeGreaterThan(0)
    // The "dead" writer wakes up and finishes its copy over the new records, notices, and re-bumps the
    // generation: the records it may have overwritten become misses instead of corrupted hits.
    expect(outer).toBe('busy')
    for (let i = 0; i < 3; i++) expect(store.lookup(`new${i}`)).toBeNull()
    expect(store.stats().forcedUnpins).toBe(1)
    expect(other.put('later', entry(kib(70)))).toBe('stored')
    expect(store.lookup('later')?.entry.body[0]).toBe(70)
  })
})

describe('CacheStore size limits', () => {
  it('refuses bodies over the store limit, over a per-call limit, and records over a segment', () => {
    const { store } = clocked(64 * 1024, { segments: 4, maxBodyBytes: 1000 })
    expect(store.put('ok', entry(Buffer.alloc(1000)))).toBe('stored')
    expect(store.put('big', entry(Buffer.alloc(1001)))).toBe('too-large')
    expect(store.put('call', entry(Buffer.alloc(101)), undefined, 100)).toBe('too-large')
    expect(store.put('call-ok', entry(Buffer.alloc(100)), undefined, 100)).toBe('stored')
    // A per-call limit above the store's still can't exceed one segment (16 KiB here).
    expect(store.put('seg', entry(Buffer.alloc(16 * 1024)), undefined, 1 << 20)).toBe('too-large')
    expect(store.put('seg-ok', entry(Buffer.alloc(12 * 1024)), undefined, 1 << 20)).toBe('stored')
    expect(store.lookup('big')).toBeNull()
    expect(store.lookup('seg-ok')?.entry.body.length).toBe(12 * 1024)
    expect(store.stats().refusedTooLarge).toBe(3)
  })

  it('the default body limit is half a segment', () => {
    const store = CacheStore.allocate(MiB, { segments: 4 })
    expect(store.maxBodyBytes).toBe(128 * 1024)
    expect(store.put('k', entry(Buffer.alloc(128 * 1024 + 1)))).toBe('too-large')
  })
})

describe('CacheStore fingerprint collisions', () => {
  it('keys with equal fingerprints are told apart by their full key bytes', () => {
    const { store } = clocked(MiB, { fingerprintMask: 0 })
    const keys = ['GET:/a', 'GET:/b', 'GET:/a?', 'GET:/ä', 'POST:/a', 'x', 'GET:/a ', '']
    keys.forEach((k, i) => expect(store.put(k, entry(`body-${i}`))).toBe('stored'))
    keys.forEach((k, i) => expect(store.lookup(k)?.entry.body.toString()).toBe(`body-${i}`))
    expect(store.lookup('GET:/c')).toBeNull() // same fingerprint, not stored
    expect(store.purgeKey('GET:/b')).toBe(1)
    expect(store.lookup('GET:/b')).toBeNull()
    expect(store.lookup('GET:/a')?.entry.body.toString()).toBe('body-0')
    expect(store.stats().entries).toBe(keys.length - 1)
  })
})

describe('CacheStore purge', () => {
  function seeded(): CacheStore {
    const store = CacheStore.allocate(MiB)
    store.put('GET:/api/users?page=1', entry('u1', { path: '/api/users?page=1' }))
    store.put('GET:/api/users?page=2', entry('u2', { path: '/api/users?page=2' }))
    store.put('GET:/api/orders', entry('o', { path: '/api/orders' }))
    store.put('GET:/static/a.css', entry('css', { path: '/static/a.css' }))
    store.put('GET:/x|accept=json', entry('xj', { path: '/x', baseKey: 'GET:/x' }))
    store.put('GET:/x|accept=xml', entry('xx', { path: '/x', baseKey: 'GET:/x' }))
    store.put('GET:/y|accept=json', entry('yj', { path: '/y', baseKey: 'GET:/y' }))
    return store
  }

  it('purgeKey removes exactly one key', () => {
    const store = seeded()
    expect(store.purgeKey('GET:/api/orders')).toBe(1)
    expect(store.purgeKey('GET:/api/orders')).toBe(0)
    expect(store.lookup('GET:/api/orders')).toBeNull()
    expect(store.lookup('GET:/api/users?page=1')).not.toBeNull()
    expect(store.stats()).toMatchObject({ entries: 6, purged: 1 })
  })

  it('purgeWhere matches the whole stored path+query against a * glob', () => {
    const store = seeded()
    expect(store.purgeWhere('/api')).toBe(0) // whole-string match
    expect(store.purgeWhere('/api/users*')).toBe(2)
    expect(store.lookup('GET:/api/users?page=2')).toBeNull()
    expect(store.lookup('GET:/api/orders')).not.toBeNull()
    expect(store.purgeWhere('*.css')).toBe(1)
    expect(store.purgeWhere('/x')).toBe(2) // every Vary variant shares the path
    expect(store.lookup('GET:/x|accept=xml')).toBeNull()
    expect(store.purgeWhere('*')).toBe(2)
    expect(store.stats().entries).toBe(0)
  })

  it('purgeBase removes every Vary variant of a base key and nothing else', () => {
    const store = seeded()
    expect(store.purgeBase('GET:/x')).toBe(2)
    expect(store.lookup('GET:/x|accept=json')).toBeNull()
    expect(store.lookup('GET:/x|accept=xml')).toBeNull()
    expect(store.lookup('GET:/y|accept=json')?.entry.body.toString()).toBe('yj')
    // An entry stored without a base key is its own base.
    expect(store.purgeBase('GET:/api/orders')).toBe(1)
    expect(store.lookup('GET:/api/orders')).toBeNull()
  })

  it('purgeAll makes every entry a miss, and the store keeps working', () => {
    const store = seeded()
    store.purgeAll()
    expect(store.lookup('GET:/api/users?page=1')).toBeNull()
    expect(store.lookup('GET:/y|accept=json')).toBeNull()
    expect(store.stats()).toMatchObject({ entries: 0, purged: 7 })
    expect(store.put('GET:/api/orders', entry('again'))).toBe('stored')
    expect(store.lookup('GET:/api/orders')?.entry.body.toString()).toBe('again')
  })

  it('matchGlob: * is any run of characters, the rest is literal, the whole string must match', () => {
    expect(matchGlob('/api/*', '/api/users?x=1')).toBe(true)
    expect(matchGlob('/api/*', '/api')).toBe(false)
    expect(matchGlob('*', '')).toBe(true)
    expect(matchGlob('', '')).toBe(true)
    expect(matchGlob('', 'a')).toBe(false)
    expect(matchGlob('*?page=*', '/list?page=3')).toBe(true)
    expect(matchGlob('/a*b*c', '/aXbYbZc')).toBe(true)
    expect(matchGlob('/a*b*c', '/aXbYbZ')).toBe(false)
    expect(matchGlob('/a.b', '/aXb')).toBe(false) // no regex metacharacters
    expect(matchGlob('**a', 'bba')).toBe(true)
    // No catastrophic backtracking.
    const start = performance.now()
    expect(matchGlob('*a*a*a*a*a*a*a*a*b', 'a'.repeat(5000))).toBe(false)
    expect(performance.now() - start).toBeLessThan(1000)
  })
})

describe('CacheStore get (admin)', () => {
  it('describes an entry without its body', () => {
    const { store, clock } = clocked()
    store.put('GET:/v|accept=json', entry('{"a":1}', { status: 201, headers: ['content-type', 'application/json'], path: '/v?q=1', baseKey: 'GET:/v', ttlMs: 10_000, staleTtlMs: 1000 }))
    clock.now = T0 + 4000
    expect(store.get('GET:/v|accept=json')).toEqual({
      key: 'GET:/v|accept=json', baseKey: 'GET:/v', path: '/v?q=1', status: 201,
      headers: ['content-type', 'application/json'], bodyBytes: 7, size: expect.any(Number),
      storedAt: T0, expiresAt: T0 + 10_000, staleUntil: T0 + 11_000, ageMs: 4000, ttlMs: 6000, fresh: true,
    })
    clock.now = T0 + 10_500
    expect(store.get('GET:/v|accept=json')).toMatchObject({ fresh: false, ttlMs: 0, ageMs: 10_500 })
    expect(store.get('missing')).toBeNull()
    expect(store.stats()).toMatchObject({ hits: 0, misses: 0 }) // admin reads are not traffic
  })
})

describe('CacheStore fill collapsing (one thread)', () => {
  it('one beginFill wins; put wakes waiters with filled', async () => {
    const store = CacheStore.allocate(MiB)
    expect(store.beginFill('k', Date.now(), 5000)).toBe(true)
    expect(store.beginFill('k', Date.now(), 5000)).toBe(false)
    expect(store.beginFill('other', Date.now(), 5000)).toBe(true)
    const waits = [store.waitForFill('k', 5000), store.waitForFill('k', 5000)]
    setTimeout(() => store.put('k', entry('filled')), 20)
    expect(await Promise.all(waits)).toEqual(['filled', 'filled'])
    expect(store.lookup('k')?.entry.body.toString()).toBe('filled')
    // The marker is gone: the next miss may fill again.
    expect(await store.waitForFill('k', 10)).toBe('filled')
    store.purgeKey('k')
    expect(store.beginFill('k', Date.now(), 5000)).toBe(true)
    expect(store.stats()).toMatchObject({ fills: 3, fillWaits: 3 })
  })

  it('abandonFill wakes waiters with abandoned, and so does a refused put', async () => {
    const store = CacheStore.allocate(MiB, { segments: 4, maxBodyBytes: 10 })
    store.beginFill('k', Date.now(), 5000)
    const w1 = store.waitForFill('k', 5000)
    setTimeout(() => store.abandonFill('k'), 20)
    expect(await w1).toBe('abandoned')
    expect(store.beginFill('k', Date.now(), 5000)).toBe(true)
    const w2 = store.waitForFill('k', 5000)
    setTimeout(() => store.put('k', entry('far too large')), 20)
    expect(await w2).toBe('abandoned')
    expect(store.abandonFill('k')).toBe(false) // already released
  })

  it('a filler that never finishes is abandoned at its deadline and can be taken over', async () => {
    const store = CacheStore.allocate(MiB)
    const start = Date.now()
    expect(store.beginFill('k', start, 150)).toBe(true) // and then "dies"
    expect(store.beginFill('k', Date.now(), 5000)).toBe(false)
    expect(await store.waitForFill('k', 5000)).toBe('abandoned')
    expect(Date.now() - start).toBeGreaterThanOrEqual(140)
    expect(Date.now() - start).toBeLessThan(2000)
    expect(store.beginFill('k', Date.now(), 5000)).toBe(true)
    expect(store.stats().fillTakeovers).toBe(1)
  })

  it('waitForFill times out while the filler is still inside its deadline', async () => {
    const store = CacheStore.allocate(MiB)
    store.beginFill('k', Date.now(), 10_000)
    const start = Date.now()
    expect(await store.waitForFill('k', 60)).toBe('timeout')
    expect(Date.now() - start).toBeGreaterThanOrEqual(55)
    store.abandonFill('k')
  })

  it('keys sharing a marker slot fill independently instead of waiting on each other', async () => {
    const store = CacheStore.allocate(MiB, { fillMarkers: 1 }) // every key maps to the one slot
    expect(store.beginFill('a', Date.now(), 5000)).toBe(true)
    expect(store.beginFill('b', Date.now(), 5000)).toBe(true) // slot held by 'a': fill without collapsing
    expect(store.beginFill('a', Date.now(), 5000)).toBe(false)
    expect(await store.waitForFill('b', 5000)).toBe('abandoned') // nothing to wait on for 'b'
    store.put('b', entry('b'))
    expect(store.beginFill('a', Date.now(), 5000)).toBe(false) // b's put left a's claim alone
    const waiting = store.waitForFill('a', 5000)
    store.put('a', entry('a'))
    expect(await waiting).toBe('filled')
  })

  it('beginFill declines when a fresh entry appeared after the caller\'s miss', async () => {
    const store = CacheStore.allocate(MiB)
    store.put('k', entry('already'))
    expect(store.beginFill('k', Date.now(), 5000)).toBe(false)
    expect(await store.waitForFill('k', 5000)).toBe('filled')
  })
})

describe('CacheStore across worker threads', () => {
  let dir = ''
  let moduleUrl = ''
  let workerFile = ''

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cache-store-'))
    const js = ts.transpileModule(await readFile(SOURCE, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText
    await writeFile(join(dir, 'cache-store.mjs'), js)
    moduleUrl = pathToFileURL(join(dir, 'cache-store.mjs')).href
    workerFile = join(dir, 'worker.mjs')
    await writeFile(workerFile, WORKER_SOURCE)
  })
  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  interface Started { workers: Worker[]; results: Promise<unknown[]>; go: () => void }

  /** Starts one worker per data object; each reports 'ready', blocks on the go flag, then posts one result. */
  async function start(data: Record<string, unknown>[], sab: SharedArrayBuffer, counters: SharedArrayBuffer): Promise<Started> {
    const goBuffer = new SharedArrayBuffer(4)
    const workers: Worker[] = []
    const ready: Promise<void>[] = []
    const done: Promise<unknown>[] = []
    data.forEach((d, id) => {
      const worker = new Worker(workerFile, { workerData: { moduleUrl, sab, counters, go: goBuffer, id, ...d } })
      workers.push(worker)
      ready.push(new Promise((resolve, reject) => {
        worker.once('message', () => resolve())
        worker.once('error', reject)
      }))
      done.push(new Promise((resolve, reject) => {
        worker.on('message', (m: { type: string; result: unknown }) => { if (m.type === 'done') resolve(m.result) })
        worker.once('error', reject)
      }))
    })
    await Promise.all(ready)
    const go = (): void => {
      Atomics.store(new Int32Array(goBuffer), 0, 1)
      Atomics.notify(new Int32Array(goBuffer), 0)
    }
    return { workers, results: Promise.all(done), go }
  }

  it('4 threads × 10 concurrent misses for one key make exactly one fill; the other 39 get filled, then a hit', async () => {
    const store = CacheStore.allocate(4 * MiB)
    const counters = new SharedArrayBuffer(64)
    const body = 'the one and only upstream response'
    const run = await start(Array.from({ length: 4 }, () => ({ mode: 'collapse', key: 'GET:/hot', body, requests: 10 })), store.sab, counters)
    try {
      run.go()
      const all = (await run.results).flat() as { kind: string; outcome?: string; ok: boolean }[]
      expect(all).toHaveLength(40)
      expect(Atomics.load(new Int32Array(counters), 0)).toBe(1) // upstream fetched once
      expect(all.filter((r) => r.kind === 'filler')).toHaveLength(1)
      const waiters = all.filter((r) => r.kind === 'waiter')
      expect(waiters).toHaveLength(39)
      expect(waiters.every((r) => r.outcome === 'filled' && r.ok)).toBe(true)
      expect(store.stats()).toMatchObject({ fills: 1, fillWaits: 39, puts: 1 })
    } finally {
      for (const w of run.workers) await w.terminate()
    }
  })

  it('abandonFill in one thread wakes waiters in others', async () => {
    const store = CacheStore.allocate(MiB)
    expect(store.beginFill('GET:/gone', Date.now(), 10_000)).toBe(true)
    const run = await start([{ mode: 'wait', key: 'GET:/gone' }, { mode: 'wait', key: 'GET:/gone' }], store.sab, new SharedArrayBuffer(64))
    try {
      run.go()
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect(store.abandonFill('GET:/gone')).toBe(true)
      const results = (await run.results) as { outcome: string; ms: number }[]
      for (const r of results) {
        expect(r.outcome).toBe('abandoned')
        expect(r.ms).toBeLessThan(5000)
      }
    } finally {
      for (const w of run.workers) await w.terminate()
    }
  })

  it('a filler thread terminated mid-fill blocks others only until its deadline', async () => {
    const store = CacheStore.allocate(MiB)
    const run = await start([{ mode: 'claim', key: 'GET:/dead', fillTimeoutMs: 300 }], store.sab, new SharedArrayBuffer(64))
    run.go()
    const claimed = (await run.results)[0]
    expect(claimed).toBe(true)
    await run.workers[0].terminate()
    const startedAt = Date.now()
    expect(store.beginFill('GET:/dead', Date.now(), 5000)).toBe(false)
    expect(await store.waitForFill('GET:/dead', 10_000)).toBe('abandoned')
    expect(Date.now() - startedAt).toBeLessThan(2000)
    expect(store.beginFill('GET:/dead', Date.now(), 5000)).toBe(true)
    store.abandonFill('GET:/dead')
  })

  it('readers racing writers, the ring and purges never see a torn entry', async () => {
    // A small ring (8 × 16 KiB) and index (64 entries) over 200 keys: constant recycling and bucket churn.
    const store = CacheStore.allocate(128 * 1024, { segments: 8, entries: 64 })
    const counters = new SharedArrayBuffer(64)
    const stop = new Int32Array(counters)
    const writers = Array.from({ length: 2 }, () => ({ mode: 'torture-writer', keys: 200 }))
    const readers = Array.from({ length: 3 }, () => ({ mode: 'torture-reader', keys: 200 }))
    const run = await start([...writers, ...readers], store.sab, counters)
    let purges = 0
    const purger = setInterval(() => {
      purges++
      if (purges % 10 === 0) store.purgeAll()
      else if (purges % 2 === 0) store.purgeWhere(`/t/${purges % 10}*`)
      else store.purgeKey(`k${purges % 200}`)
    }, 5)
    try {
      run.go()
      await new Promise((resolve) => setTimeout(resolve, 1500))
      Atomics.store(stop, 1, 1)
      const results = (await run.results) as { role: string; ops: number; hits: number; errors: number; firstError: string }[]
      const readerResults = results.filter((r) => r.role === 'reader')
      for (const r of readerResults) expect(r.firstError).toBe('')
      expect(readerResults.reduce((n, r) => n + r.errors, 0)).toBe(0)
      expect(readerResults.reduce((n, r) => n + r.hits, 0)).toBeGreaterThan(1000)
      const s = store.stats()
      expect(s.puts).toBeGreaterThan(1000)
      expect(s.recycles).toBeGreaterThan(10)
      expect(s.hits + s.misses).toBeGreaterThan(1000)
    } finally {
      clearInterval(purger)
      for (const w of run.workers) await w.terminate()
    }
  })
})

/** Worker side of the cross-thread tests (plain JS, loads the transpiled module). */
const WORKER_SOURCE = String.raw`
import { workerData, parentPort } from 'node:worker_threads'
import { Buffer } from 'node:buffer'
const { CacheStore } = await import(workerData.moduleUrl)
const store = CacheStore.attach(workerData.sab)
const counters = new Int32Array(workerData.counters)
const go = new Int32Array(workerData.go)
const keepAlive = setInterval(() => {}, 1000) // a pending Atomics.waitAsync alone doesn't keep a thread alive
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
parentPort.postMessage({ type: 'ready' })
Atomics.wait(go, 0, 0)

async function collapse() {
  const key = workerData.key
  const one = async () => {
    if (store.lookup(key) !== null) return { kind: 'hit', ok: true }
    if (store.beginFill(key, Date.now(), 5000)) {
      Atomics.add(counters, 0, 1)
      await sleep(100) // the upstream round trip
      const put = store.put(key, { status: 200, headers: ['content-type', 'text/plain'], body: Buffer.from(workerData.body), path: '/hot', ttlMs: 60000 })
      return { kind: 'filler', ok: put === 'stored' }
    }
    const outcome = await store.waitForFill(key, 5000)
    const hit = store.lookup(key)
    return { kind: 'waiter', outcome, ok: hit !== null && hit.entry.body.toString() === workerData.body }
  }
  const pending = []
  for (let i = 0; i < workerData.requests; i++) pending.push(one()) // all misses start before any await
  return Promise.all(pending)
}

async function wait() {
  const t0 = Date.now()
  const outcome = await store.waitForFill(workerData.key, 8000)
  return { outcome, ms: Date.now() - t0 }
}

function claim() {
  return store.beginFill(workerData.key, Date.now(), workerData.fillTimeoutMs)
}

// Torture: bodies carry their key, a sequence number and an FNV-1a checksum; headers repeat the checksum.
function fnv(buf, end) {
  let h = 0x811c9dc5
  for (let i = 0; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193)
  return h >>> 0
}
let rng = (workerData.id + 1) * 0x9e3779b1
function rand() {
  rng ^= rng << 13; rng ^= rng >>> 17; rng ^= rng << 5
  return rng >>> 0
}
function headersFor(k, sum, len) {
  const h = ['x-key', String(k), 'x-sum', String(sum), 'x-len', String(len)]
  for (let i = 0; i < 8; i++) h.push('x-pad-' + i, (sum ^ i).toString(16).repeat(1 + (k % 5)))
  return h
}
function tortureWriter() {
  let ops = 0
  while (Atomics.load(counters, 1) === 0) {
    const k = rand() % workerData.keys
    const len = 16 + (rand() % 6000)
    const body = Buffer.allocUnsafe(len)
    body.writeUInt32LE(k, 0)
    body.writeUInt32LE(ops, 4)
    for (let i = 8; i < len - 4; i++) body[i] = rand() & 0xff
    const sum = fnv(body, len - 4)
    body.writeUInt32LE(sum, len - 4)
    store.put('k' + k, { status: 200 + (k % 50), headers: headersFor(k, sum, len), body, path: '/t/' + k, ttlMs: 60000 })
    ops++
  }
  return { role: 'writer', ops, hits: 0, errors: 0, firstError: '' }
}
function tortureReader() {
  let ops = 0, hits = 0, errors = 0, firstError = ''
  const fail = (msg) => { errors++; if (firstError === '') firstError = msg }
  while (Atomics.load(counters, 1) === 0) {
    const k = rand() % workerData.keys
    const hit = store.lookup('k' + k)
    ops++
    if (hit === null) continue
    hits++
    const { status, headers, body } = hit.entry
    const len = body.length
    if (len < 16) { fail('short body ' + len); continue }
    const sum = fnv(body, len - 4)
    if (body.readUInt32LE(len - 4) !== sum) { fail('checksum mismatch for k' + k); continue }
    if (body.readUInt32LE(0) !== k) { fail('body of k' + body.readUInt32LE(0) + ' served for k' + k); continue }
    if (status !== 200 + (k % 50)) { fail('status ' + status + ' for k' + k); continue }
    const want = headersFor(k, sum, len)
    if (headers.length !== want.length || headers.some((h, i) => h !== want[i])) fail('headers do not match body for k' + k)
  }
  return { role: 'reader', ops, hits, errors, firstError }
}

const modes = { collapse, wait, claim, 'torture-writer': tortureWriter, 'torture-reader': tortureReader }
const result = await modes[workerData.mode]()
clearInterval(keepAlive)
parentPort.postMessage({ type: 'done', result })
`
