// Settings from GATEWAY_* variables: defaults, parsing, and errors that name the variable.
import { describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkSettings, parseSize, readSettings } from '../../src/settings.js'

describe('readSettings', () => {
  it('fills SPEC §2 defaults', () => {
    const s = readSettings({})
    expect(s.port).toBe(8000)
    expect(s.host).toBe('0.0.0.0')
    expect(s.adminHost).toBe('127.0.0.1')
    expect(s.adminPort).toBe(8001)
    expect(s.configPath).toBe('config/gateway.yaml')
    expect(s.upstreamKeepalive).toBe(128)
    expect(s.upstreamIdleTimeoutMs).toBe(60000)
    expect(s.maxBodySize).toBe(10 * 1024 * 1024)
    expect(s.drainTimeoutMs).toBe(10000)
    expect(s.maxConcurrency).toBe(10000)
    expect(s.latencyHeaders).toBe(true)
    expect(s.workers).toBeGreaterThanOrEqual(1)
    expect(s.adminToken).toBeNull()
    expect(s.rateLimitSlots).toBe(65536)
    expect(s.cacheSizeBytes).toBe(64 * 1024 * 1024)
    expect(s.redisUrl).toBeNull()
    expect(s.wsMaxMessageSize).toBe(16 * 1024 * 1024)
    expect(s.wsIdleTimeoutS).toBe(120)
    expect(s.accessLog).toBe('stdout')
    expect(s.otelEndpoint).toBeNull()
    expect(s.otelSamplingRate).toBe(1)
    expect(s.logLevel).toBe('info')
    expect(s.trustedIps).toHaveLength(0)
  })

  it('reads listener addresses: IPv4 and IPv6 literals, [v6] brackets, localhost as 127.0.0.1', () => {
    expect(readSettings({ GATEWAY_HOST: '::', GATEWAY_ADMIN_HOST: '[::1]' })).toMatchObject({ host: '::', adminHost: '::1' })
    expect(readSettings({ GATEWAY_HOST: ' 10.1.2.3 ', GATEWAY_ADMIN_HOST: 'LOCALHOST' })).toMatchObject({ host: '10.1.2.3', adminHost: '127.0.0.1' })
  })

  it('reports every invalid variable at once (checkSettings), each named', () => {
    const r = checkSettings({ GATEWAY_HOST: 'not-an-ip', GATEWAY_ADMIN_PORT: 'x', GATEWAY_TLS_CERT: '/nonexistent.crt', GATEWAY_TLS_KEY: '/nonexistent.key' })
    expect(r.settings).toBeNull()
    expect(r.errors).toHaveLength(3)
    expect(r.errors.join('\n')).toMatch(/GATEWAY_HOST=.*\n.*GATEWAY_ADMIN_PORT=.*\n.*GATEWAY_TLS_CERT=/s)
    expect(checkSettings({ GATEWAY_PORT: '9000' })).toMatchObject({ errors: [], settings: { port: 9000 } })
  })

  it('reads the access log target and the process-wide tracing settings', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gw-settings-')), 'access.log')
    expect(readSettings({ GATEWAY_ACCESS_LOG: 'off' }).accessLog).toBe('off')
    expect(readSettings({ GATEWAY_ACCESS_LOG: file }).accessLog).toBe(file)
    const s = readSettings({ GATEWAY_OTEL_ENDPOINT: 'http://127.0.0.1:4318/v1/traces', GATEWAY_OTEL_SAMPLING_RATE: '0.25' })
    expect(s.otelEndpoint).toBe('http://127.0.0.1:4318/v1/traces')
    expect(s.otelSamplingRate).toBe(0.25)
    expect(readSettings({ GATEWAY_OTEL_SAMPLING_RATE: '0' }).otelSamplingRate).toBe(0)
  })

  it('reads the WebSocket tunnel limits (sizes with units, 0 = no idle timeout)', () => {
    const s = readSettings({ GATEWAY_WS_MAX_MESSAGE_SIZE: '64k', GATEWAY_WS_IDLE_TIMEOUT_S: '0' })
    expect(s.wsMaxMessageSize).toBe(64 * 1024)
    expect(s.wsIdleTimeoutS).toBe(0)
    expect(readSettings({ GATEWAY_WS_MAX_MESSAGE_SIZE: '1g', GATEWAY_WS_IDLE_TIMEOUT_S: '3' }).wsMaxMessageSize).toBe(1024 ** 3)
  })

  it('reads the shared-state sizes and the Redis URL', () => {
    const s = readSettings({ GATEWAY_RATELIMIT_SLOTS: '4096', GATEWAY_CACHE_SIZE_MB: '8', GATEWAY_REDIS_URL: 'redis://127.0.0.1:7000,127.0.0.1:7001' })
    expect(s.rateLimitSlots).toBe(4096)
    expect(s.cacheSizeBytes).toBe(8 * 1024 * 1024)
    expect(s.redisUrl).toBe('redis://127.0.0.1:7000,127.0.0.1:7001')
  })

  it('parses values', () => {
    const s = readSettings({ GATEWAY_PORT: '9000', GATEWAY_WORKERS: '3', GATEWAY_LATENCY_HEADERS: 'off', GATEWAY_MAX_BODY_SIZE: '512k', GATEWAY_TRUSTED_IPS: '10.0.0.0/8, ::1' })
    expect(s.port).toBe(9000)
    expect(s.workers).toBe(3)
    expect(s.latencyHeaders).toBe(false)
    expect(s.maxBodySize).toBe(512 * 1024)
    expect(s.trustedIps).toHaveLength(2)
  })

  it.each([
    ['GATEWAY_PORT', '70000'],
    ['GATEWAY_WORKERS', 'many'],
    ['GATEWAY_WORKERS', '0'],
    ['GATEWAY_LATENCY_HEADERS', 'maybe'],
    ['GATEWAY_MAX_BODY_SIZE', '10 parsecs'],
    ['GATEWAY_TRUSTED_IPS', '10.0.0.0/33'],
    ['GATEWAY_LOG_LEVEL', 'loud'],
    ['GATEWAY_RATELIMIT_SLOTS', '5000'],
    ['GATEWAY_RATELIMIT_SLOTS', '16'],
    ['GATEWAY_CACHE_SIZE_MB', '0'],
    ['GATEWAY_REDIS_URL', 'http://127.0.0.1:6379'],
    ['GATEWAY_WS_MAX_MESSAGE_SIZE', '16 furlongs'],
    ['GATEWAY_WS_MAX_MESSAGE_SIZE', '0'],
    ['GATEWAY_WS_MAX_MESSAGE_SIZE', '2g'],
    ['GATEWAY_WS_IDLE_TIMEOUT_S', '-1'],
    ['GATEWAY_WS_IDLE_TIMEOUT_S', '1.5'],
    ['GATEWAY_WS_IDLE_TIMEOUT_S', '100000'],
    ['GATEWAY_ACCESS_LOG', '/nonexistent-dir/access.log'],
    ['GATEWAY_OTEL_ENDPOINT', 'collector:4318'],
    ['GATEWAY_OTEL_ENDPOINT', 'ftp://127.0.0.1/v1/traces'],
    ['GATEWAY_OTEL_SAMPLING_RATE', '1.5'],
    ['GATEWAY_OTEL_SAMPLING_RATE', 'half'],
    ['GATEWAY_MAX_CONCURRENCY', '-5'],
    ['GATEWAY_HOST', 'not-an-ip'],
    ['GATEWAY_HOST', 'example.com'],
    ['GATEWAY_HOST', '256.0.0.1'],
    ['GATEWAY_HOST', '127.0.0.1:8000'],
    ['GATEWAY_ADMIN_HOST', 'not-an-ip'],
    ['GATEWAY_ADMIN_HOST', '::g'],
    ['GATEWAY_ADMIN_PORT', '65536'],
    ['GATEWAY_ADMIN_PORT', 'admin'],
    ['GATEWAY_ADMIN_PORT', '-1'],
    ['GATEWAY_UPSTREAM_KEEPALIVE', 'lots'],
    ['GATEWAY_UPSTREAM_KEEPALIVE', '-1'],
    ['GATEWAY_UPSTREAM_KEEPALIVE', '100001'],
    ['GATEWAY_UPSTREAM_IDLE_TIMEOUT_MS', '0'],
    ['GATEWAY_UPSTREAM_IDLE_TIMEOUT_MS', '1.5'],
    ['GATEWAY_UPSTREAM_IDLE_TIMEOUT_MS', '60s'],
    ['GATEWAY_DRAIN_TIMEOUT_MS', 'soon'],
    ['GATEWAY_DRAIN_TIMEOUT_MS', '3600001'],
    ['GATEWAY_DRAIN_TIMEOUT_MS', '-100'],
  ])('rejects %s=%s naming the variable', (name, value) => {
    expect(() => readSettings({ [name]: value })).toThrow(name)
  })

  it('parses sizes with units', () => {
    expect(parseSize('X', '1g')).toBe(1024 ** 3)
    expect(parseSize('X', '100')).toBe(100)
  })
})
