// Kong's proxy-cache over the cross-worker SharedArrayBuffer store: hits answered without the upstream,
// misses collapsed into one upstream fill per key (across workers), Vary variants, stale_if_error.
import { stripPort } from '../net/host.js'
import { arrayOf, bool, int, oneOf, record, str } from '../config/schema.js'
import { headerName } from '../config/typedefs.js'
import type { GatewayError } from '../errors.js'
import type { CacheLookup, CacheStore } from '../shared/cache-store.js'
import { STAT } from '../shared/worker-stats.js'
import { CircuitBreaker } from '../redis/circuit-breaker.js'
import { getRedisClient, type RedisClient } from '../redis/connection.js'
import { CacheTier, type TierEntry } from '../redis/cache-tier.js'
import { checkRedisConfigured, redisBlock, redisTargetOf } from './redis-config.js'
import { ContentTypes, cacheKey, freshnessMs, headerValue, normalisedQuery, requestDirectives, variantKey, varyNames, type RequestDirectives } from './cache-policy.js'
import { CONTINUE, DONE, definePlugin, type PhaseResult, type PluginEnv, type PluginRequest, type PluginScope, type ResponseObserver } from './types.js'

/** A stored entry with this status is not a response: it lists the Vary names of the key's variants. */
const VARY_INDEX = 0
/** How long a fill may take before waiters give up on it and another request takes over. */
const FILL_TIMEOUT_MS = 10_000
/** Headers never stored: ours (set per answer) and what the cache computes itself. */
const NOT_STORED = new Set(['date', 'x-request-id', 'age', 'x-cache-status', 'x-cache-key', 'x-gateway-upstream-latency', 'x-gateway-proxy-latency'])

const schema = record({
  response_code: arrayOf(int({ between: [100, 900] }), { default: [200, 301, 404], minLength: 1 }),
  request_method: arrayOf(oneOf(['HEAD', 'GET', 'POST', 'PATCH', 'PUT']), { default: ['GET', 'HEAD'], minLength: 1 }),
  content_type: arrayOf(str({ minLength: 1 }), { default: ['text/plain', 'application/json'], minLength: 1 }),
  cache_ttl: int({ min: 1, default: 300 }),
  strategy: oneOf(['memory', 'redis'], 'memory', { required: true }),
  redis: redisBlock(),
  cache_control: bool({ default: false }),
  ignore_uri_case: bool({ default: false }),
  storage_ttl: int({ min: 0 }),
  memory: record({ dictionary_name: str({ default: 'kong_db_cache' }) }, { default: {} }),
  vary_query_params: arrayOf(str({ minLength: 1 })),
  vary_headers: arrayOf(headerName()),
  response_headers: record({
    age: bool({ default: true }),
    'X-Cache-Status': bool({ default: true }),
    'X-Cache-Key': bool({ default: true }),
  }, { default: {} }),
  // Extensions (README "proxy-cache"):
  collapse_requests: bool({ default: true }),
  stale_if_error: int({ min: 0, default: 0 }),
  max_body_size: int({ min: 0, default: 1024 * 1024 }),
})

export interface ProxyCacheConfig {
  readonly store: CacheStore
  /** strategy redis: the cross-host tier behind `store`; null for memory. */
  readonly tier: CacheTier | null
  readonly instance: string
  readonly statuses: ReadonlySet<number>
  readonly methods: ReadonlySet<string>
  readonly contentTypes: ContentTypes
  readonly ttlS: number
  readonly honourCacheControl: boolean
  readonly ignoreCase: boolean
  /** Extra time entries stay readable past expiry: max(storage_ttl − cache_ttl, stale_if_error), ms. */
  readonly staleMs: number
  readonly staleIfErrorMs: number
  readonly varyQuery: ReadonlySet<string> | null
  readonly varyHeaders: readonly string[]
  readonly ageHeader: boolean
  readonly statusHeader: boolean
  readonly keyHeader: boolean
  readonly collapse: boolean
  readonly maxBody: number
  readonly count: PluginEnv['count']
}

/** This worker's Redis cache tiers, one per client. */
const tiers = new Map<RedisClient, CacheTier>()

/** The tier for a `strategy: redis` config (the primary uses it too, for purges). */
export function cacheTierFor(config: Record<string, unknown>, redisUrl: string | null, log: PluginEnv['log']): CacheTier {
  const target = redisTargetOf(config, redisUrl)
  const client = getRedisClient(target, log)
  let tier = tiers.get(client)
  if (tier === undefined) {
    tier = new CacheTier(client, new CircuitBreaker(), target.timeoutMs, log)
    tiers.set(client, tier)
  }
  return tier
}

function compile(c: Record<string, unknown>, env: PluginEnv, scope: PluginScope): ProxyCacheConfig {
  const headers = c.response_headers as Record<string, boolean>
  const ttlS = c.cache_ttl as number
  const storageTtl = c.storage_ttl as number | null
  const staleIfErrorMs = (c.stale_if_error as number) * 1000
  const varyQuery = c.vary_query_params as string[] | null
  return {
    store: env.cache,
    tier: c.strategy === 'redis' ? cacheTierFor(c, env.settings.redisUrl, env.log) : null,
    instance: scope.id,
    statuses: new Set(c.response_code as number[]),
    methods: new Set(c.request_method as string[]),
    contentTypes: new ContentTypes(c.content_type as string[]),
    ttlS,
    honourCacheControl: c.cache_control as boolean,
    ignoreCase: c.ignore_uri_case as boolean,
    staleMs: Math.max(storageTtl === null ? 0 : (storageTtl - ttlS) * 1000, staleIfErrorMs),
    staleIfErrorMs,
    varyQuery: varyQuery === null || varyQuery.length === 0 ? null : new Set(varyQuery),
    varyHeaders: ((c.vary_headers as string[] | null) ?? []).map((h) => h.toLowerCase()).sort(),
    ageHeader: headers.age !== false,
    statusHeader: headers['X-Cache-Status'] !== false,
    keyHeader: headers['X-Cache-Key'] !== false,
    collapse: c.collapse_requests as boolean,
    // A record never spans two store segments: larger bodies could not be stored anyway.
    maxBody: Math.min(c.max_body_size as number, env.cache.maxBodyBytes),
    count: env.count,
  }
}

/** The key without Vary values; HEAD shares GET's entries (a HEAD answer is a GET answer without body). */
function baseKeyOf(ctx: PluginRequest, c: ProxyCacheConfig): string {
  let headers = ''
  for (const name of c.varyHeaders) headers += `${name}=${ctx.headers.get(name) ?? ''};`
  const path = c.ignoreCase ? ctx.path.toLowerCase() : ctx.path
  return cacheKey({
    instance: c.instance,
    route: ctx.routeId,
    consumer: ctx.consumer === null ? '' : ctx.consumer.id,
    method: ctx.method === 'HEAD' ? 'GET' : ctx.method,
    host: stripPort(ctx.host).toLowerCase(),
    path,
    query: normalisedQuery(ctx.query, c.varyQuery),
    headers,
  })
}

/** The variant key a Vary index entry at `base` points this request at. */
function resolveKey(ctx: PluginRequest, base: string, index: CacheLookup): string {
  return variantKey(base, index.entry.headers[1]!.split(','), (name) => ctx.headers.get(name))
}

/** The entry for this request: the one at `base`, or the variant its Vary index points at (with that key). */
function lookupResolved(ctx: PluginRequest, c: ProxyCacheConfig, base: string, now: number): { key: string; found: CacheLookup | null } {
  const found = c.store.lookup(base, now)
  if (found === null || found.entry.status !== VARY_INDEX) return { key: base, found }
  const key = resolveKey(ctx, base, found)
  return { key, found: c.store.lookup(key, now) }
}

/**
 * Answers from a cached entry (Hit or Stale). The stored headers go out as response lines (written as latin1, like
 * a relayed upstream head), not as reply() pairs: uWS re-encodes string pairs as UTF-8, which would turn an
 * upstream's obs-text byte (e.g. 0xE9) into two bytes on hits only.
 */
function serve(ctx: PluginRequest, c: ProxyCacheConfig, found: CacheLookup, status: 'Hit' | 'Stale', key: string): void {
  ctx.cacheStatus = status
  if (c.statusHeader) ctx.addResponseHeader('X-Cache-Status', status)
  if (c.keyHeader) ctx.addResponseHeader('X-Cache-Key', key)
  const stored = found.entry.headers
  for (let i = 0; i < stored.length; i += 2) ctx.addResponseHeader(stored[i]!, stored[i + 1]!)
  if (c.ageHeader) ctx.addResponseHeader('Age', String(Math.floor(found.ageMs / 1000)))
  c.count(status === 'Hit' ? STAT.CACHE_HIT : STAT.CACHE_STALE)
  ctx.reply(found.entry.status, found.entry.body)
}

/** A cached answer the client's Cache-Control accepts (max-age), or null. */
function usable(found: CacheLookup | null, directives: RequestDirectives | null): CacheLookup | null {
  if (found === null || !found.fresh || found.entry.status === VARY_INDEX) return null
  if (directives !== null && directives.maxAgeS !== null && found.ageMs > directives.maxAgeS * 1000) return null
  return found
}

function bypass(ctx: PluginRequest, c: ProxyCacheConfig): typeof CONTINUE {
  ctx.cacheStatus = 'Bypass'
  if (c.statusHeader) ctx.addResponseHeader('X-Cache-Status', 'Bypass')
  c.count(STAT.CACHE_BYPASS)
  return CONTINUE
}

/**
 * Watches one miss's upstream response: decides whether it may be stored, keeps a copy of the body while
 * it streams to the client, stores it at the end, and releases the collapsed waiters either way.
 */
class CacheFill implements ResponseObserver {
  private readonly ctx: PluginRequest
  private readonly c: ProxyCacheConfig
  private readonly base: string
  /** The key this request claimed the fill of (collapsing), or null. */
  private filling: string | null
  private readonly refresh: boolean
  /** A stale entry to fall back on when the upstream fails (stale_if_error), or null. */
  private readonly stale: CacheLookup | null
  private storing = false
  private key = ''
  private status = 0
  private headers: string[] = []
  private chunks: Buffer[] = []
  private size = 0
  private ttlMs = 0
  private vary: string[] = []

  /** The key `stale` was found under (a variant's own key when the response varies). */
  private readonly staleKey: string

  constructor(ctx: PluginRequest, c: ProxyCacheConfig, base: string, filling: string | null, refresh: boolean, stale: CacheLookup | null, staleKey: string) {
    this.ctx = ctx
    this.c = c
    this.base = base
    this.filling = filling
    this.refresh = refresh
    this.stale = stale
    this.staleKey = staleKey
  }

  onResponseHead(status: number, headers: readonly string[], contentLength: number): boolean {
    const c = this.c
    if (status >= 500 && this.serveStale()) return true
    const vary = varyNames(headers)
    const ttlMs = vary === null ? -1 : freshnessMs(headers, c.honourCacheControl, c.ttlS, Date.now())
    // A chunked body over max_body_size is only seen in onResponseBody (after this head went out as a
    // Miss): it is streamed on and not stored.
    const cacheable = ttlMs > 0 && c.statuses.has(status) && this.ctx.method !== 'HEAD' && contentLength <= c.maxBody &&
      c.contentTypes.matches(headerValue(headers, 'content-type'))
    this.key = vary === null || vary.length === 0 ? this.base : variantKey(this.base, vary, (name) => this.ctx.headers.get(name))
    if (c.keyHeader) this.ctx.addResponseHeader('X-Cache-Key', this.key)
    if (!cacheable) {
      this.ctx.cacheStatus = 'Bypass'
      if (c.statusHeader) this.ctx.addResponseHeader('X-Cache-Status', 'Bypass')
      c.count(STAT.CACHE_BYPASS)
      this.release()
      return false
    }
    this.ctx.cacheStatus = this.refresh ? 'Refresh' : 'Miss'
    if (c.statusHeader) this.ctx.addResponseHeader('X-Cache-Status', this.ctx.cacheStatus)
    c.count(STAT.CACHE_MISS)
    this.storing = true
    this.status = status
    this.ttlMs = ttlMs
    this.vary = vary ?? []
    for (let i = 0; i < headers.length; i += 2) {
      if (!NOT_STORED.has(headers[i]!.toLowerCase())) this.headers.push(headers[i]!, headers[i + 1]!)
    }
    return false
  }

  onResponseBody(chunk: Buffer): void {
    if (!this.storing) return
    this.size += chunk.length
    if (this.size > this.c.maxBody) {
      // Larger than max_body_size: streamed on as usual, not stored.
      this.storing = false
      this.chunks = []
      this.release()
      return
    }
    this.chunks.push(Buffer.from(chunk))
  }

  onResponseEnd(): void {
    if (!this.storing) return this.release()
    this.storing = false
    const c = this.c
    const ctx = this.ctx
    const path = ctx.query === '' ? ctx.path : `${ctx.path}?${ctx.query}`
    const now = Date.now()
    // The variant goes in before the Vary index: storing the index wakes the requests collapsed on the base key
    // (in other workers at once), and they must find the variant it points them at.
    const stored = c.store.put(this.key, {
      status: this.status, headers: this.headers, body: this.chunks, path, baseKey: this.base, ttlMs: this.ttlMs, staleTtlMs: c.staleMs,
    }, now, c.maxBody)
    if (c.tier !== null) void c.tier.set(this.key, this.base, path, tierEntry(this.status, this.headers, Buffer.concat(this.chunks, this.size), now, this.ttlMs, c.staleMs))
    if (this.vary.length > 0 && stored === 'stored') {
      const index = ['vary', this.vary.join(',')]
      c.store.put(this.base, { status: VARY_INDEX, headers: index, body: [], path, ttlMs: this.ttlMs, staleTtlMs: c.staleMs }, now)
      if (c.tier !== null) void c.tier.set(this.base, this.base, path, tierEntry(VARY_INDEX, index, EMPTY, now, this.ttlMs, c.staleMs))
    }
    // put() woke the waiters on the key it stored; a fill claimed under the base key is released here.
    if (this.filling !== null && this.filling !== this.key) c.store.abandonFill(this.filling)
    this.filling = null
  }

  onResponseAbort(): void {
    this.storing = false
    this.release()
  }

  onUpstreamFailure(_err: GatewayError): boolean {
    this.release()
    return this.serveStale()
  }

  private serveStale(): boolean {
    const stale = this.stale
    if (stale === null || this.c.staleIfErrorMs === 0) return false
    if (stale.ageMs > stale.entry.expiresAt - stale.entry.storedAt + this.c.staleIfErrorMs) return false
    this.release()
    serve(this.ctx, this.c, stale, 'Stale', this.staleKey)
    return true
  }

  private release(): void {
    if (this.filling === null) return
    this.c.store.abandonFill(this.filling)
    this.filling = null
  }
}

const EMPTY = Buffer.alloc(0)

function tierEntry(status: number, headers: string[], body: Buffer, now: number, ttlMs: number, staleMs: number): TierEntry {
  return { status, headers, body, storedAt: now, expiresAt: now + ttlMs, staleUntil: now + ttlMs + staleMs }
}

/** Copies a tier entry into this host's shared store (keeping its expiry) and returns it as a lookup. */
function promote(c: ProxyCacheConfig, key: string, base: string, path: string, e: TierEntry, now: number): CacheLookup | null {
  if (now >= e.staleUntil) return null
  const ttlMs = Math.max(1, e.expiresAt - now)
  c.store.put(key, { status: e.status, headers: e.headers, body: e.body, path, baseKey: base, ttlMs, staleTtlMs: Math.max(0, e.staleUntil - Math.max(now, e.expiresAt)) }, now, c.maxBody)
  return { entry: e, fresh: now < e.expiresAt, ageMs: Math.max(0, now - e.storedAt) }
}

/** L1 missed: ask Redis for the base (and the variant its Vary index names); hits are copied into L1. */
async function fromTier(ctx: PluginRequest, c: ProxyCacheConfig, tier: CacheTier, base: string): Promise<{ key: string; found: CacheLookup | null }> {
  const path = ctx.query === '' ? ctx.path : `${ctx.path}?${ctx.query}`
  const now = Date.now()
  const index = await tier.get(base)
  if (index === null) return { key: base, found: null }
  const found = promote(c, base, base, path, index, now)
  if (found === null || index.status !== VARY_INDEX) return { key: base, found }
  const key = resolveKey(ctx, base, found)
  const variant = await tier.get(key)
  return { key, found: variant === null ? null : promote(c, key, base, path, variant, Date.now()) }
}

/** Miss: claim the fill (or wait for whoever has it), then go upstream watching the response. */
function miss(ctx: PluginRequest, c: ProxyCacheConfig, base: string, key: string, refresh: boolean, stale: CacheLookup | null, directives: RequestDirectives | null): PhaseResult {
  // A HEAD answer is never stored, so a HEAD miss must not make GETs wait for it.
  if (!c.collapse || refresh || ctx.method === 'HEAD') {
    ctx.observeResponse(new CacheFill(ctx, c, base, null, refresh, stale, key))
    return CONTINUE
  }
  if (c.store.beginFill(key, Date.now(), FILL_TIMEOUT_MS)) {
    ctx.observeResponse(new CacheFill(ctx, c, base, key, false, stale, key))
    return CONTINUE
  }
  return c.store.waitForFill(key, FILL_TIMEOUT_MS).then(() => {
    // The fill may have stored a Vary index at `base`: this request's variant is then under its own key.
    const now = Date.now()
    const r = lookupResolved(ctx, c, base, now)
    const found = usable(r.found, directives)
    if (found !== null) {
      serve(ctx, c, found, 'Hit', r.key)
      return DONE
    }
    // The fill was abandoned (not cacheable, failed) or timed out: this request goes upstream itself.
    ctx.observeResponse(new CacheFill(ctx, c, base, null, false, stale, key))
    return CONTINUE
  })
}

function access(ctx: PluginRequest, c: ProxyCacheConfig): PhaseResult {
  // HEAD is answered from GET's entries, so it needs both methods listed.
  if (!c.methods.has(ctx.method) || (ctx.method === 'HEAD' && !c.methods.has('GET'))) return bypass(ctx, c)
  let directives: RequestDirectives | null = null
  if (c.honourCacheControl) {
    directives = requestDirectives(ctx.headers.get('cache-control'), ctx.headers.get('pragma'))
    if (directives.noStore) return bypass(ctx, c)
  }
  const base = baseKeyOf(ctx, c)
  if (directives !== null && directives.refresh) return miss(ctx, c, base, base, true, null, directives)
  const r = lookupResolved(ctx, c, base, Date.now())
  return answer(ctx, c, base, r.key, r.found, directives)
}

/** A usable entry is a Hit; otherwise the tier (strategy redis) is asked before this becomes a miss. */
function answer(ctx: PluginRequest, c: ProxyCacheConfig, base: string, key: string, found: CacheLookup | null, directives: RequestDirectives | null): PhaseResult {
  const hit = usable(found, directives)
  if (hit !== null) {
    serve(ctx, c, hit, 'Hit', key)
    return DONE
  }
  if (c.tier === null || (found !== null && found.fresh)) return miss(ctx, c, base, key, false, found, directives)
  return fromTier(ctx, c, c.tier, base).then((t) => {
    const tierHit = usable(t.found, directives)
    if (tierHit === null) return miss(ctx, c, base, t.key, false, t.found ?? found, directives)
    serve(ctx, c, tierHit, 'Hit', t.key)
    return DONE
  })
}

export default definePlugin<ProxyCacheConfig>({
  name: 'proxy-cache',
  priority: 100,
  schema,
  checkEnv: (c, env) => checkRedisConfigured(c, c.strategy === 'redis', env),
  compile,
  phases: { access },
})
