// Kong 3.6+'s shared `redis` config block (rate-limiting policy: redis, proxy-cache strategy: redis), the
// pre-3.6 `redis_*` shorthand fields it replaced, and the start-up check that some Redis is configured.
import { arrayOf, bool, int, noop, record, str, type FieldMap, type RecordField } from '../config/schema.js'
import { host, port } from '../config/typedefs.js'
import { RedisConfigError, resolveRedisTarget, type RedisConf, type RedisTarget } from '../redis/connection.js'

const SENTINEL = 'Redis Sentinel is not supported; use host/port or cluster_nodes'
const POOL = 'accepted for Kong compatibility; each worker keeps one multiplexed connection per Redis'

/** Kong's `redis` record: honoured fields, and Kong's others accepted with a warning. */
export const redisBlock = (): RecordField => record({
  host: host(),
  port: port(6379),
  timeout: int({ between: [1, 2 ** 31 - 2], default: 2000 }),
  connect_timeout: noop(int({ between: [1, 2 ** 31 - 2] }), 'accepted for Kong compatibility; timeout bounds connecting and every command'),
  send_timeout: noop(int({ between: [1, 2 ** 31 - 2] }), 'accepted for Kong compatibility; timeout bounds connecting and every command'),
  read_timeout: noop(int({ between: [1, 2 ** 31 - 2] }), 'accepted for Kong compatibility; timeout bounds connecting and every command'),
  username: str(),
  password: str(),
  database: int({ min: 0, default: 0 }),
  ssl: bool({ default: false }),
  ssl_verify: bool({ default: false }),
  server_name: str(),
  keepalive_pool_size: noop(int({ min: 1 }), POOL),
  keepalive_backlog: noop(int({ min: 0 }), POOL),
  cluster_nodes: arrayOf(record({ ip: str({ required: true }), port: port(6379) }), { minLength: 1 }),
  cluster_max_redirections: int({ min: 0, default: 5 }),
  connection_is_proxied: noop(bool()),
  sentinel_master: noop(str(), SENTINEL),
  sentinel_role: noop(str(), SENTINEL),
  sentinel_nodes: noop(arrayOf(record({ host: str(), port: port() })), SENTINEL),
  sentinel_username: noop(str(), SENTINEL),
  sentinel_password: noop(str(), SENTINEL),
}, { default: {} })

const DEPRECATED = (field: string): string => `deprecated (Kong 3.6): use redis.${field}`

/** The pre-3.6 top-level fields, kept so older Kong files load unchanged (each names its replacement). */
export const redisShorthands = (): FieldMap => ({
  redis_host: noop(host(), DEPRECATED('host')),
  redis_port: noop(port(), DEPRECATED('port')),
  redis_password: noop(str(), DEPRECATED('password')),
  redis_username: noop(str(), DEPRECATED('username')),
  redis_ssl: noop(bool(), DEPRECATED('ssl')),
  redis_ssl_verify: noop(bool(), DEPRECATED('ssl_verify')),
  redis_server_name: noop(str(), DEPRECATED('server_name')),
  redis_timeout: noop(int({ between: [1, 2 ** 31 - 2] }), DEPRECATED('timeout')),
  redis_database: noop(int({ min: 0 }), DEPRECATED('database')),
})

const SHORTHANDS = ['host', 'port', 'password', 'username', 'ssl', 'ssl_verify', 'server_name', 'timeout', 'database'] as const

/** The effective `redis` block: the block's own values, filled from `redis_*` shorthands where those are set. */
export function redisConfOf(config: Record<string, unknown>): RedisConf {
  const block = { ...(config.redis as Record<string, unknown> | null ?? {}) }
  for (const field of SHORTHANDS) {
    const value = config[`redis_${field}`]
    if (value !== undefined && value !== null) block[field] = value
  }
  return block as RedisConf
}

/** Where a plugin's Redis is (block, shorthands, then GATEWAY_REDIS_URL); throws RedisConfigError when nowhere. */
export function redisTargetOf(config: Record<string, unknown>, redisUrl: string | null | undefined): RedisTarget {
  return resolveRedisTarget(redisConfOf(config), redisUrl ?? undefined)
}

/** checkEnv for plugins that may use Redis: a problem when `uses` and no Redis is configured anywhere. */
export function checkRedisConfigured(config: Record<string, unknown>, uses: boolean, env: Readonly<Record<string, string | undefined>>): { field: string; message: string }[] {
  if (!uses) return []
  try {
    redisTargetOf(config, env.GATEWAY_REDIS_URL?.trim() || null)
    return []
  } catch (err) {
    if (!(err instanceof RedisConfigError)) throw err
    return [{ field: 'redis', message: err.message.replace(/^redis(\.\w+)?: /, '') }]
  }
}
