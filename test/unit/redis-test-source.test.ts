// Where the Redis tests get their Redis (test/helpers/redis.ts, SPEC §1): GATEWAY_TEST_REDIS_URL or redis-server on
// PATH, and the message when neither serves. Pure: env and PATH are given, nothing is started or connected to.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { onPath, redactRedisUrl, redisSourceFor, testRedisTarget } from '../helpers/redis.js'

const has = (...binaries: string[]) => (b: string): boolean => binaries.includes(b)
const URL_SET = { GATEWAY_TEST_REDIS_URL: 'redis://127.0.0.1:6379/5' }

describe('redisSourceFor', () => {
  it('uses GATEWAY_TEST_REDIS_URL for suites that need any Redis, even with redis-server on PATH', () => {
    expect(redisSourceFor('any', URL_SET, has('redis-server', 'redis-cli'))).toEqual({ kind: 'url', url: 'redis://127.0.0.1:6379/5' })
    expect(redisSourceFor('any', { GATEWAY_TEST_REDIS_URL: '  redis://r:6380  ' }, has())).toEqual({ kind: 'url', url: 'redis://r:6380' })
  })

  it('starts redis-server when GATEWAY_TEST_REDIS_URL is unset or blank', () => {
    expect(redisSourceFor('any', {}, has('redis-server'))).toEqual({ kind: 'spawn' })
    expect(redisSourceFor('any', { GATEWAY_TEST_REDIS_URL: ' ' }, has('redis-server'))).toEqual({ kind: 'spawn' })
  })

  it('always starts redis-server for suites that stop, hang or flush Redis, and for the cluster', () => {
    expect(redisSourceFor('private', URL_SET, has('redis-server'))).toEqual({ kind: 'spawn' })
    expect(redisSourceFor('cluster', URL_SET, has('redis-server', 'redis-cli'))).toEqual({ kind: 'spawn' })
  })

  it('fails with both ways to get a Redis when neither is there', () => {
    const s = redisSourceFor('any', {}, has())
    expect(s.kind).toBe('missing')
    const message = (s as { message: string }).message
    expect(message).toContain('redis-server was not found on PATH')
    expect(message).toContain('apt-get install -y redis-server')
    expect(message).toContain('GATEWAY_TEST_REDIS_URL=redis://')
  })

  it('says GATEWAY_TEST_REDIS_URL cannot serve a private or cluster suite, with the URL redacted', () => {
    const s = redisSourceFor('private', { GATEWAY_TEST_REDIS_URL: 'redis://gw:s3cret@10.0.0.5:6379/2' }, has())
    expect(s.kind).toBe('missing')
    const message = (s as { message: string }).message
    expect(message).toContain('starts its own redis-server')
    expect(message).toContain('which GATEWAY_TEST_REDIS_URL cannot stand in for (it is set to redis://gw:***@10.0.0.5:6379/2,')
    expect(message).not.toContain('s3cret')
    expect(message).toContain('apt-get install -y redis-server')
    const unset = (redisSourceFor('private', {}, has()) as { message: string }).message
    expect(unset).toMatch(/restarts or flushes it\), which GATEWAY_TEST_REDIS_URL cannot stand in for\. To run it, install Redis 7 \(Debian\/Ubuntu: apt-get install -y redis-server/)
  })

  it('needs redis-cli too for the cluster', () => {
    const s = redisSourceFor('cluster', {}, has('redis-server'))
    expect(s).toMatchObject({ kind: 'missing' })
    expect((s as { message: string }).message).toMatch(/^redis-cli was not found on PATH\. This test starts its own 3-master Redis Cluster/)
    expect((redisSourceFor('cluster', {}, has()) as { message: string }).message).toMatch(/^redis-server and redis-cli were not found on PATH/)
  })
})

describe('onPath', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-onpath-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('finds an executable file in one of the directories, not a plain file or a directory', () => {
    const bin = join(dir, 'bin')
    mkdirSync(bin)
    writeFileSync(join(bin, 'redis-server'), '#!/bin/sh\n')
    chmodSync(join(bin, 'redis-server'), 0o755)
    writeFileSync(join(bin, 'redis-cli'), 'not executable')
    chmodSync(join(bin, 'redis-cli'), 0o644)
    mkdirSync(join(bin, 'redis-benchmark'))
    const path = [join(dir, 'missing'), '', bin].join(delimiter)
    expect(onPath('redis-server', path)).toBe(true)
    expect(onPath('redis-cli', path)).toBe(false)
    expect(onPath('redis-benchmark', path)).toBe(false)
    expect(onPath('redis-server', '')).toBe(false)
  })
})

describe('testRedisTarget / redactRedisUrl', () => {
  it('reads one node with its database and credentials', () => {
    expect(testRedisTarget('redis://gw:pw@127.0.0.1:6380/7')).toMatchObject({
      nodes: [{ host: '127.0.0.1', port: 6380 }], cluster: false, username: 'gw', password: 'pw', database: 7,
    })
  })

  it('rejects a cluster list and a bad URL naming GATEWAY_TEST_REDIS_URL, without the password', () => {
    expect(() => testRedisTarget('redis://:pw@a:7000,b:7001')).toThrow(/^GATEWAY_TEST_REDIS_URL="redis:\/\/:\*\*\*@a:7000,b:7001": name one Redis node/)
    expect(() => testRedisTarget('http://u:secret@x')).toThrow(/^GATEWAY_TEST_REDIS_URL=.*scheme must be redis/)
    expect(() => testRedisTarget('http://u:secret@x')).not.toThrow(/secret/)
  })

  it('redacts only the password', () => {
    expect(redactRedisUrl('rediss://user:p%40ss@h:1/0')).toBe('rediss://user:***@h:1/0')
    expect(redactRedisUrl('redis://h:6379')).toBe('redis://h:6379')
  })
})
