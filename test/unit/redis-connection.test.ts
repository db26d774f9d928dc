// Unit tests for redis/connection: the plugin's `redis` block and GATEWAY_REDIS_URL → target, the client's
// fail-fast options, one shared client per target, and an unreachable Redis that is logged, never thrown.
import { Cluster, Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import {
  closeAll, getRedisClient, RedisConfigError, redisTargetFromConf, redisTargetFromUrl, resolveRedisTarget, type RedisLogger,
} from '../../src/redis/connection.js'
import { closedPort } from '../helpers/upstream.js'

afterEach(() => closeAll())

describe('redisTargetFromConf (plugin redis block)', () => {
  it("fills Kong's defaults", () => {
    expect(redisTargetFromConf({ host: 'redis.internal' })).toEqual({
      nodes: [{ host: 'redis.internal', port: 6379 }], cluster: false, username: null, password: null, database: 0,
      tls: null, timeoutMs: 2000, maxRedirections: 5,
    })
  })

  it('takes credentials, database, TLS and timeout, treating decK nulls as unset', () => {
    const t = redisTargetFromConf({
      host: 'r', port: 6380, username: 'gw', password: 's3cret', database: 4, ssl: true, ssl_verify: true, server_name: 'redis.example.com',
      timeout: 250, cluster_nodes: null,
    })
    expect(t).toMatchObject({ nodes: [{ host: 'r', port: 6380 }], username: 'gw', password: 's3cret', database: 4, timeoutMs: 250 })
    expect(t.tls).toEqual({ verify: true, serverName: 'redis.example.com' })
    expect(redisTargetFromConf({ host: 'r', ssl: true }).tls).toEqual({ verify: false, serverName: null })
  })

  it('makes cluster_nodes a cluster with sorted seeds', () => {
    const t = redisTargetFromConf({ cluster_nodes: [{ ip: '10.0.0.2', port: 7001 }, { ip: '10.0.0.1', port: 7002 }, { ip: '10.0.0.1', port: 7000 }], cluster_max_redirections: 9 })
    expect(t.cluster).toBe(true)
    expect(t.nodes).toEqual([{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.1', port: 7002 }, { host: '10.0.0.2', port: 7001 }])
    expect(t.maxRedirections).toBe(9)
  })

  it('rejects a block without host or cluster nodes, and a database other than 0 on a cluster', () => {
    expect(() => redisTargetFromConf({ port: 6379 })).toThrow(/^redis\.host: required/)
    expect(() => redisTargetFromConf({ cluster_nodes: [{ ip: 'a', port: 1 }], database: 2 })).toThrow(RedisConfigError)
  })
})

describe('redisTargetFromUrl (GATEWAY_REDIS_URL)', () => {
  it('reads credentials, port and database from redis://', () => {
    expect(redisTargetFromUrl('redis://gw:p%40ss@cache.local:7000/3')).toMatchObject({
      nodes: [{ host: 'cache.local', port: 7000 }], cluster: false, username: 'gw', password: 'p@ss', database: 3, tls: null,
    })
    expect(redisTargetFromUrl('redis://:pw@[::1]')).toMatchObject({ nodes: [{ host: '::1', port: 6379 }], username: null, password: 'pw' })
  })

  it('verifies TLS certificates for rediss://', () => {
    expect(redisTargetFromUrl('rediss://r.example.com:6380').tls).toEqual({ verify: true, serverName: null })
  })

  it('makes a comma-separated list a cluster, entries inheriting scheme and credentials from the first', () => {
    const t = redisTargetFromUrl('rediss://:pw@10.0.0.3:7000, 10.0.0.1:7000,rediss://10.0.0.2:7000')
    expect(t).toMatchObject({ cluster: true, password: 'pw', tls: { verify: true, serverName: null } })
    expect(t.nodes.map((n) => n.host)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3'])
  })

  it('names the variable in every error', () => {
    for (const bad of ['http://r:6379', 'redis://r:6379/zero', 'redis://a:1/2,b:2', 'redis://a:1,rediss://b:2', 'redis://a:notaport']) {
      expect(() => redisTargetFromUrl(bad)).toThrow(/^GATEWAY_REDIS_URL=/)
    }
  })
})

describe('resolveRedisTarget', () => {
  it("prefers the plugin's block, falls back to GATEWAY_REDIS_URL, and needs one of them", () => {
    expect(resolveRedisTarget({ host: 'block' }, 'redis://url:1').nodes[0]!.host).toBe('block')
    expect(resolveRedisTarget({ host: null, port: 6379, timeout: 2000 }, 'redis://url:1').nodes[0]!.host).toBe('url')
    expect(() => resolveRedisTarget(undefined, undefined)).toThrow(/GATEWAY_REDIS_URL/)
  })
})

describe('getRedisClient', () => {
  const quiet: RedisLogger = { warn: () => {}, info: () => {} }

  it('shares one client per distinct target and closes them all', async () => {
    const port = await closedPort()
    const a = getRedisClient(redisTargetFromUrl(`redis://127.0.0.1:${port}`), quiet)
    expect(getRedisClient(redisTargetFromUrl(`redis://127.0.0.1:${port}`), quiet)).toBe(a)
    const b = getRedisClient({ ...redisTargetFromUrl(`redis://127.0.0.1:${port}`), timeoutMs: 100 }, quiet)
    expect(b).not.toBe(a)
    closeAll()
    expect(getRedisClient(redisTargetFromUrl(`redis://127.0.0.1:${port}`), quiet)).not.toBe(a)
    await new Promise((r) => setTimeout(r, 20))
    expect([a.status, b.status]).toEqual(['end', 'end'])
  })

  it('configures a single node to fail fast and reconnect by itself', () => {
    const client = getRedisClient({ ...redisTargetFromUrl('redis://u:p@127.0.0.1:1/2'), timeoutMs: 150 }, quiet)
    expect(client).toBeInstanceOf(Redis)
    expect((client as Redis).options).toMatchObject({
      host: '127.0.0.1', port: 1, username: 'u', password: 'p', db: 2, connectTimeout: 150, commandTimeout: 150,
      enableOfflineQueue: false, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false, lazyConnect: true,
    })
    const retry = (client as Redis).options.retryStrategy!
    expect([1, 2, 3, 4, 5, 6, 50].map((n) => retry(n))).toEqual([100, 200, 400, 800, 1600, 2000, 2000])
  })

  it('configures a cluster the same way', () => {
    const client = getRedisClient(redisTargetFromConf({ cluster_nodes: [{ ip: '127.0.0.1', port: 1 }], ssl: true, server_name: 'r.example', timeout: 300 }), quiet)
    expect(client).toBeInstanceOf(Cluster)
    const opts = (client as Cluster).options
    expect(opts).toMatchObject({ enableOfflineQueue: false, lazyConnect: true, maxRedirections: 5 })
    expect(opts.redisOptions).toMatchObject({ commandTimeout: 300, connectTimeout: 300, maxRetriesPerRequest: 0, tls: { rejectUnauthorized: false, servername: 'r.example' } })
  })

  it('logs an unreachable Redis once per distinct error instead of throwing', async () => {
    const warnings: object[] = []
    const port = await closedPort()
    getRedisClient(redisTargetFromUrl(`redis://127.0.0.1:${port}`), { warn: (o) => warnings.push(o), info: () => {} })
    await new Promise((r) => setTimeout(r, 400)) // first attempt and retries at +100 ms and +200 ms
    expect(warnings).toEqual([{ redis: `127.0.0.1:${port}`, err: expect.stringContaining('ECONNREFUSED') }])
  })
})
