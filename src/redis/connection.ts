// Redis clients (ioredis) for `policy: redis` / `strategy: redis`: config → target → one shared client per target per thread.
// Tuned to fail fast: no offline queue and short timeouts, so an outage is an answer, not a hang; reconnecting is automatic.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'

/*
 * Where the connection comes from (SPEC §5): the plugin's `redis` block when it names a host or
 * cluster nodes, else GATEWAY_REDIS_URL. Kong 3.6+ fields honoured here: host, port (6379), username,
 * password, database (0), ssl (false), ssl_verify (false), server_name, timeout (2000 ms, used as the
 * connect timeout and the per-command timeout), cluster_nodes [{ip, port}], cluster_max_redirections (5).
 * Not handled here (the schema must reject or warn about them): sentinel_* (no Sentinel support),
 * keepalive_pool_size / keepalive_backlog (one multiplexed connection per target per thread replaces
 * NGINX's pool), connection_is_proxied, and the split connect/send/read timeouts.
 *
 * GATEWAY_REDIS_URL: `redis://[user:password@]host[:port][/database]`, or `rediss://` for TLS (certificate
 * verified). A comma-separated list is a cluster: `redis://:pw@10.0.0.1:7000,10.0.0.2:7000`; entries
 * after the first may omit the scheme and credentials, which come from the first entry.
 *
 * Client behaviour (both single node and cluster):
 *   - created on first use (lazyConnect) and connected at once; the first commands wait for that first
 *     connection (see `firstConnection`), later ones never queue (enableOfflineQueue false)
 *   - connectTimeout = commandTimeout = timeout; commands in flight when the connection drops fail at once
 *     (maxRetriesPerRequest 0) instead of waiting out their timeout
 *   - reconnects for ever, backing off 100 ms, 200 ms … capped at 2 s
 *   - unanswered commands are not re-sent after a reconnect (autoResendUnfulfilledCommands false): the
 *     caller already treated them as failed, and re-sending a rate-limit script would count twice
 *   - 'error' events are logged, never thrown; a new error message is logged once, not on every retry
 */

export type RedisClient = Redis | Cluster

/** A plugin's `redis` block after schema validation (Kong 3.6+ shape; decK may write nulls). */
export interface RedisConf {
  host?: string | null
  port?: number | null
  username?: string | null
  password?: string | null
  database?: number | null
  ssl?: boolean | null
  ssl_verify?: boolean | null
  server_name?: string | null
  timeout?: number | null
  cluster_nodes?: ReadonlyArray<{ ip: string; port?: number | null }> | null
  cluster_max_redirections?: number | null
}

/** Where and how to connect, normalised: two equal targets (as JSON) share one client. */
export interface RedisTarget {
  /** One node, or the cluster's seed nodes (sorted). */
  nodes: Array<{ host: string; port: number }>
  cluster: boolean
  username: string | null
  password: string | null
  database: number
  tls: { verify: boolean; serverName: string | null } | null
  timeoutMs: number
  maxRedirections: number
}

/** What the registry logs through; the process's pino logger fits. */
export interface RedisLogger {
  warn(obj: object, msg: string): void
  info(obj: object, msg: string): void
}

/** A connection setting that cannot work; the message names the field or variable. */
export class RedisConfigError extends Error {}

export const DEFAULT_REDIS_PORT = 6379
export const DEFAULT_REDIS_TIMEOUT_MS = 2000
const DEFAULT_MAX_REDIRECTIONS = 5
const BACKOFF_FIRST_MS = 100
const BACKOFF_CAP_MS = 2000

function sortNodes(nodes: RedisTarget['nodes']): RedisTarget['nodes'] {
  return nodes.sort((a, b) => (a.host === b.host ? a.port - b.port : a.host < b.host ? -1 : 1))
}

/** The plugin's `redis` block → target. Throws RedisConfigError when it names neither host nor cluster_nodes. */
export function redisTargetFromConf(conf: RedisConf): RedisTarget {
  const clusterNodes = conf.cluster_nodes ?? []
  const cluster = clusterNodes.length > 0
  if (!cluster && !conf.host) throw new RedisConfigError('redis.host: required unless redis.cluster_nodes is set')
  const database = conf.database ?? 0
  if (cluster && database !== 0) throw new RedisConfigError('redis.database: must be 0 with redis.cluster_nodes (Redis Cluster has only database 0)')
  return {
    nodes: cluster
      ? sortNodes(clusterNodes.map((n) => ({ host: n.ip, port: n.port ?? DEFAULT_REDIS_PORT })))
      : [{ host: conf.host!, port: conf.port ?? DEFAULT_REDIS_PORT }],
    cluster,
    username: conf.username || null,
    password: conf.password || null,
    database,
    tls: conf.ssl ? { verify: conf.ssl_verify ?? false, serverName: conf.server_name || null } : null,
    timeoutMs: conf.timeout ?? DEFAULT_REDIS_TIMEOUT_MS,
    maxRedirections: conf.cluster_max_redirections ?? DEFAULT_MAX_REDIRECTIONS,
  }
}

/** GATEWAY_REDIS_URL → target. Throws RedisConfigError naming the variable. */
export function redisTargetFromUrl(url: string, name = 'GATEWAY_REDIS_URL'): RedisTarget {
  const bad = (why: string): never => {
    throw new RedisConfigError(`${name}=${JSON.stringify(url)}: ${why}`)
  }
  const parse = (entry: string, scheme: string): URL => {
    const href = entry.includes('://') ? entry : `${scheme}//${entry}`
    return URL.canParse(href) ? new URL(href) : bad(`"${entry}" is not redis://host:port`)
  }
  const entries = url.split(',').map((e) => e.trim())
  const first = parse(entries[0]!, 'redis:')
  if (first.protocol !== 'redis:' && first.protocol !== 'rediss:') bad('scheme must be redis:// or rediss://')
  const nodes = entries.map((e) => {
    const u = parse(e, first.protocol)
    if (u.protocol !== first.protocol) bad('every entry must use the same scheme')
    if (!u.hostname) bad(`"${e}" has no host`)
    return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port ? Number(u.port) : DEFAULT_REDIS_PORT }
  })
  const cluster = nodes.length > 1
  const dbPath = first.pathname.replace(/^\//, '')
  if (dbPath !== '' && !/^\d+$/.test(dbPath)) bad('the path must be a database number, e.g. redis://host:6379/0')
  const database = dbPath === '' ? 0 : Number(dbPath)
  if (cluster && database !== 0) bad('a cluster (comma-separated list) has only database 0')
  return {
    nodes: cluster ? sortNodes(nodes) : nodes,
    cluster,
    username: first.username ? decodeURIComponent(first.username) : null,
    password: first.password ? decodeURIComponent(first.password) : null,
    database,
    tls: first.protocol === 'rediss:' ? { verify: true, serverName: null } : null,
    timeoutMs: DEFAULT_REDIS_TIMEOUT_MS,
    maxRedirections: DEFAULT_MAX_REDIRECTIONS,
  }
}

/**
 * SPEC §5 precedence: the plugin's block when it names a host or cluster nodes, else GATEWAY_REDIS_URL.
 * Throws RedisConfigError when there is neither (a config error for `policy: redis`).
 */
export function resolveRedisTarget(conf: RedisConf | null | undefined, url: string | undefined): RedisTarget {
  if (conf && (conf.host || (conf.cluster_nodes && conf.cluster_nodes.length > 0))) return redisTargetFromConf(conf)
  // The URL says where; the plugin's timeout still bounds the calls.
  if (url) return { ...redisTargetFromUrl(url), timeoutMs: conf?.timeout ?? DEFAULT_REDIS_TIMEOUT_MS }
  throw new RedisConfigError('redis: set redis.host or redis.cluster_nodes, or GATEWAY_REDIS_URL')
}

function backoff(times: number): number {
  return Math.min(BACKOFF_FIRST_MS * 2 ** Math.min(times - 1, 16), BACKOFF_CAP_MS)
}

function nodeOptions(t: RedisTarget): RedisOptions {
  return {
    username: t.username ?? undefined,
    password: t.password ?? undefined,
    tls: t.tls ? { rejectUnauthorized: t.tls.verify, servername: t.tls.serverName ?? undefined } : undefined,
    connectTimeout: t.timeoutMs,
    commandTimeout: t.timeoutMs,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    lazyConnect: true,
  }
}

/** Pending first connections: resolved true on the first 'ready', false when that first attempt fails. */
const firstConnections = new WeakMap<RedisClient, Promise<boolean>>()

/**
 * While `client`'s first connection is being made, a promise of its outcome (true = ready); null once
 * that is settled. Callers seeing a client that is not ready and no promise fail fast: it was up before
 * and is now down (or reconnecting), and waiting would turn an outage into a hang.
 */
export function firstConnection(client: RedisClient): Promise<boolean> | null {
  return firstConnections.get(client) ?? null
}

/** A new client for `target`, connecting now, with its errors logged (an outage never throws). */
export function createRedisClient(target: RedisTarget, logger: RedisLogger | null = null): RedisClient {
  const client: RedisClient = target.cluster
    ? new Cluster(target.nodes, {
        redisOptions: nodeOptions(target),
        enableOfflineQueue: false,
        clusterRetryStrategy: backoff,
        maxRedirections: target.maxRedirections,
        lazyConnect: true,
      } satisfies ClusterOptions)
    : new Redis({ ...nodeOptions(target), ...target.nodes[0], db: target.database, enableOfflineQueue: false, retryStrategy: backoff })
  const where = target.nodes.map((n) => `${n.host}:${n.port}`).join(',')
  let lastError = ''
  client.on('error', (err: Error) => {
    if (err.message === lastError) return
    lastError = err.message
    logger?.warn({ redis: where, err: err.message }, 'redis connection error')
  })
  client.on('ready', () => {
    if (lastError !== '') logger?.info({ redis: where }, 'redis connection ready')
    lastError = ''
  })
  firstConnections.set(
    client,
    new Promise<boolean>((resolve) => {
      const settle = (ok: boolean): void => {
        client.off('ready', onReady)
        client.off('close', onClose)
        firstConnections.delete(client)
        resolve(ok)
      }
      const onReady = (): void => settle(true)
      const onClose = (): void => settle(false)
      client.once('ready', onReady)
      client.once('close', onClose)
    }),
  )
  // Failures are reported through 'error' and 'close'; the promise itself carries nothing more.
  client.connect().catch(() => {})
  return client
}

/** This thread's clients, one per distinct target. */
const registry = new Map<string, RedisClient>()

/** The shared client for `target` in this thread, created (and connected) on first use. */
export function getRedisClient(target: RedisTarget, logger: RedisLogger | null = null): RedisClient {
  const key = JSON.stringify(target)
  let client = registry.get(key)
  if (client === undefined) {
    client = createRedisClient(target, logger)
    registry.set(key, client)
  }
  return client
}

/** Disconnects every client of this thread (worker exit, tests). Pending commands fail; nothing reconnects. */
export function closeAll(): void {
  for (const client of registry.values()) client.disconnect()
  registry.clear()
}
