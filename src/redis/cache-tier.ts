// proxy-cache `strategy: redis`: responses shared across gateway hosts in Redis, behind the per-host shared
// memory store (L1). Every call is bounded by the timeout and a circuit breaker; a Redis fault is a miss.
import type { CachedResponse } from '../shared/cache-store.js'
import type { CircuitBreaker } from './circuit-breaker.js'
import type { RedisClient, RedisLogger } from './connection.js'
import { EMPTY_ID, whenReady, withDeadline } from './deadline.js'

/*
 * Keys (hash-tagged by the key they belong to, so each lives in one cluster slot):
 *   pc:e:{<key>}    hash  d = encoded entry (below), p = request path with query (for glob purges)
 *   pc:v:{<base>}   set   the variant keys stored under a base key (Vary), so purging the base reaches them
 * Both expire with the entry's stale window (PEXPIRE).
 *
 * Entry encoding, version 2 (our own compact binary; msgpackr's optional native packages cannot be
 * installed from the registry this project builds from, so `npm ci` fails with it in the lockfile):
 *   u8 version · u16 status · f64 storedAt · f64 expiresAt · f64 staleUntil · u32 header count (names +
 *   values, even) · per header string: u32 length + latin1 bytes · u32 body length · the body.
 * Every length is checked and the body must end the value exactly, so bytes cut short (or with anything
 * after the body) decode as null rather than as a shorter body. Version 1 had no body length (a cut in the
 * body went unnoticed); entries another version wrote are misses.
 */
const VERSION = 2
const FIXED = 1 + 2 + 8 * 3 + 4
const ENTRY = 'pc:e:'
const VARIANTS = 'pc:v:'

/** An entry as the tier stores it: the same fields as a hit from the shared store. */
export type TierEntry = CachedResponse

function tag(key: string): string {
  return `{${key === '' ? EMPTY_ID : key}}`
}

export function encodeEntry(e: TierEntry): Buffer {
  let size = FIXED + 4 + e.body.length
  for (const h of e.headers) size += 4 + Buffer.byteLength(h, 'latin1')
  const out = Buffer.allocUnsafe(size)
  let at = out.writeUInt8(VERSION, 0)
  at = out.writeUInt16BE(e.status, at)
  at = out.writeDoubleBE(e.storedAt, at)
  at = out.writeDoubleBE(e.expiresAt, at)
  at = out.writeDoubleBE(e.staleUntil, at)
  at = out.writeUInt32BE(e.headers.length, at)
  for (const h of e.headers) {
    const n = out.write(h, at + 4, 'latin1')
    out.writeUInt32BE(n, at)
    at += 4 + n
  }
  at = out.writeUInt32BE(e.body.length, at)
  e.body.copy(out, at)
  return out
}

/** The entry, or null for bytes this version cannot read (another version wrote them, or they are cut short). */
export function decodeEntry(b: Buffer): TierEntry | null {
  if (b.length < FIXED || b.readUInt8(0) !== VERSION) return null
  const status = b.readUInt16BE(1)
  const storedAt = b.readDoubleBE(3)
  const expiresAt = b.readDoubleBE(11)
  const staleUntil = b.readDoubleBE(19)
  const count = b.readUInt32BE(27)
  if (count % 2 !== 0) return null
  let at = FIXED
  const headers: string[] = []
  for (let i = 0; i < count; i++) {
    if (at + 4 > b.length) return null
    const n = b.readUInt32BE(at)
    if (at + 4 + n > b.length) return null
    headers.push(b.toString('latin1', at + 4, at + 4 + n))
    at += 4 + n
  }
  if (at + 4 > b.length || at + 4 + b.readUInt32BE(at) !== b.length) return null
  return { status, headers, body: Buffer.from(b.subarray(at + 4)), storedAt, expiresAt, staleUntil }
}

export class CacheTier {
  private readonly client: RedisClient
  private readonly breaker: CircuitBreaker
  private readonly timeoutMs: number
  private readonly logger: RedisLogger | null

  constructor(client: RedisClient, breaker: CircuitBreaker, timeoutMs: number, logger: RedisLogger | null = null) {
    this.client = client
    this.breaker = breaker
    this.timeoutMs = timeoutMs
    this.logger = logger
  }

  /** The entry under `key`, or null on a miss, a Redis fault or an open breaker. Never rejects. */
  async get(key: string): Promise<TierEntry | null> {
    const raw = await this.guarded(() => this.client.hgetBuffer(ENTRY + tag(key), 'd'))
    return raw === undefined || raw === null ? null : decodeEntry(raw)
  }

  /** Stores `entry` under `key` (and records it as a variant of `base` when they differ). Never rejects. */
  async set(key: string, base: string, path: string, entry: TierEntry): Promise<void> {
    const ttl = Math.max(1, Math.ceil(entry.staleUntil - Date.now()))
    const k = ENTRY + tag(key)
    await this.guarded(async () => {
      await this.client.multi().hset(k, 'd', encodeEntry(entry), 'p', path).pexpire(k, ttl).exec()
      if (key !== base) {
        const v = VARIANTS + tag(base)
        await this.client.multi().sadd(v, key).pexpire(v, ttl, 'GT').exec()
        // A new set has no TTL yet, which GT treats as infinite: give it one.
        await this.client.pexpire(v, ttl, 'NX')
      }
    })
  }

  /** Removes `key` and, when it is a base key, every variant stored under it. Resolves the count, or null on a fault. */
  async purgeKey(key: string): Promise<number | null> {
    const found = await this.guarded(async () => {
      const v = VARIANTS + tag(key)
      const variants = await this.client.smembers(v)
      let removed = await this.client.del(ENTRY + tag(key))
      for (const variant of variants) removed += await this.client.del(ENTRY + tag(variant))
      await this.client.del(v)
      return removed
    })
    return found === undefined ? null : found
  }

  /** Removes every entry whose path matches `matches` (all entries when it is null). Resolves the count, or null on a fault. */
  async purgeWhere(matches: ((path: string) => boolean) | null): Promise<number | null> {
    const found = await this.guarded(async () => {
      let removed = 0
      for (const node of this.masters()) {
        let cursor = '0'
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', `${ENTRY}*`, 'COUNT', 500)
          cursor = next
          for (const k of keys) {
            if (matches !== null) {
              const path = await node.hget(k, 'p')
              if (path === null || !matches(path)) continue
            }
            removed += await node.del(k)
          }
        } while (cursor !== '0')
      }
      return removed
    }, 30_000)
    return found === undefined ? null : found
  }

  private masters(): RedisClient[] {
    return 'nodes' in this.client && typeof this.client.nodes === 'function' ? this.client.nodes('master') : [this.client]
  }

  /** Runs `work` when the breaker allows, within the deadline; undefined when it did not complete. */
  private async guarded<T>(work: () => Promise<T>, timeoutMs = this.timeoutMs): Promise<T | undefined> {
    if (!this.breaker.tryAcquire()) return undefined
    try {
      const value = await withDeadline((async () => {
        await whenReady(this.client)
        return await work()
      })(), timeoutMs)
      this.breaker.onSuccess()
      return value
    } catch (err) {
      if (this.breaker.onFailure()) this.logger?.warn({ err: err instanceof Error ? err.message : String(err) }, 'redis cache unavailable, circuit open')
      return undefined
    }
  }
}
