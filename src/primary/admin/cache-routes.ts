// Cache purge and inspection on the admin API (SPEC §9): Kong's /proxy-cache routes and our glob purge.
// Every purge reaches all Vary variants: they share the purged key's base key and request path.
import type { CacheStore } from '../../shared/cache-store.js'

export interface AdminAnswer {
  status: number
  body: unknown
}

const NOT_FOUND: AdminAnswer = { status: 404, body: { message: 'Not found' } }
/** proxy-cache stores a Vary index (status 0, headers ['vary', 'name,name']) at the base key of varying responses. */
const VARY_INDEX = 0

/** `DELETE /proxy-cache`: everything. */
export function purgeAll(cache: CacheStore): AdminAnswer {
  cache.purgeAll()
  return { status: 204, body: null }
}

/** `DELETE /proxy-cache/{key}`: the entry and, when the key is a base key, each of its Vary variants. */
export function purgeKey(cache: CacheStore, key: string): AdminAnswer {
  const purged = cache.purgeKey(key) + cache.purgeBase(key)
  return purged > 0 ? { status: 204, body: null } : NOT_FOUND
}

/** `GET /proxy-cache/{key}`: the entry's metadata and headers (Kong answers the stored entry). */
export function describeKey(cache: CacheStore, key: string): AdminAnswer {
  const info = cache.get(key)
  if (info === null) return NOT_FOUND
  if (info.status === VARY_INDEX && info.headers[0] === 'vary') {
    // The base key of a response with Vary: not a response, the list of names its variants are keyed on.
    return {
      status: 200,
      body: {
        key: info.key, path: info.path, vary: info.headers[1]!.split(','), age: Math.floor(info.ageMs / 1000),
        ttl: Math.ceil(info.ttlMs / 1000), fresh: info.fresh, stored_at: info.storedAt, expires_at: info.expiresAt,
      },
    }
  }
  const headers: Record<string, string> = {}
  for (let i = 0; i < info.headers.length; i += 2) headers[info.headers[i]!] = info.headers[i + 1]!
  return {
    status: 200,
    body: {
      key: info.key,
      base_key: info.baseKey,
      path: info.path,
      status: info.status,
      headers,
      body_bytes: info.bodyBytes,
      age: Math.floor(info.ageMs / 1000),
      ttl: Math.ceil(info.ttlMs / 1000),
      fresh: info.fresh,
      stored_at: info.storedAt,
      expires_at: info.expiresAt,
    },
  }
}

/** `POST /cache/invalidate {"pattern": "/api/users/*"}`: every entry whose path and query match the glob. */
export function invalidate(cache: CacheStore, body: unknown): AdminAnswer {
  const pattern = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).pattern : undefined
  if (typeof pattern !== 'string' || pattern === '') {
    return { status: 400, body: { message: 'body must be {"pattern": "<glob>"}, e.g. {"pattern": "/api/users/*"}' } }
  }
  return { status: 200, body: { pattern, purged: cache.purgeWhere(pattern) } }
}
