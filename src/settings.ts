// Environment variables → typed Settings (SPEC §2). Every value is checked once at start-up;
// an invalid one is an error naming the variable, never a silent default.
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { resolve } from 'node:path'
import { parseCidrList, type CidrList } from './net/cidr.js'
import { redisTargetFromUrl } from './redis/connection.js'

export interface Settings {
  configPath: string
  workers: number
  host: string
  port: number
  adminHost: string
  adminPort: number
  adminToken: string | null
  logLevel: string
  upstreamKeepalive: number
  upstreamIdleTimeoutMs: number
  maxBodySize: number
  drainTimeoutMs: number
  latencyHeaders: boolean
  trustedIps: CidrList
  /** Slots of the shared rate-limit table (a power of two). */
  rateLimitSlots: number
  /** Bytes of the shared response cache. */
  cacheSizeBytes: number
  /** GATEWAY_REDIS_URL, checked; null when unset. */
  redisUrl: string | null
  /** GATEWAY_TLS_PORT: the TLS listener's port (0 = any free port), null = no TLS listener. */
  tlsPort: number | null
  /** GATEWAY_TLS_CERT / GATEWAY_TLS_KEY: absolute PEM file paths of the default certificate, or null. */
  tlsCert: string | null
  tlsKey: string | null
  /** GATEWAY_WS_MAX_MESSAGE_SIZE: largest WebSocket message a tunnel relays, in bytes. */
  wsMaxMessageSize: number
  /** GATEWAY_WS_IDLE_TIMEOUT_S: a tunnel with no message either way for this long is closed; 0 = never. */
  wsIdleTimeoutS: number
  /**
   * GATEWAY_ACCESS_LOG: 'stdout', 'off', or the absolute path of a file appended to. The primary turns 'stdout'
   * into `fd:N`, a descriptor of the access log's own (observability/stdout-claim), before workers start.
   */
  accessLog: string
  /** GATEWAY_OTEL_ENDPOINT: OTLP/HTTP traces URL for tracing every route, null when unset. */
  otelEndpoint: string | null
  /** GATEWAY_OTEL_SAMPLING_RATE: share of new traces sampled by that process-wide tracing, 0 to 1. */
  otelSamplingRate: number
  /** GATEWAY_MAX_CONCURRENCY: requests in flight per worker past which new ones get 503; 0 = no limit. */
  maxConcurrency: number
}

type Env = Record<string, string | undefined>

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 }

/** Thrown for an invalid variable; the message names it, and `variable` is its name. */
export class SettingsError extends Error {
  constructor(message: string, readonly variable: string) {
    super(message)
  }
}

function fail(name: string, value: string, expected: string): never {
  throw new SettingsError(`${name}=${JSON.stringify(value)}: ${expected}`, name)
}

/**
 * GATEWAY_HOST / GATEWAY_ADMIN_HOST: an IPv4 or IPv6 literal (`[::1]` is taken as `::1`), or `localhost`,
 * which means 127.0.0.1 (IPv4 loopback; resolving it could give ::1 on some hosts and 127.0.0.1 on others).
 * Host names are not resolved: a listener's address is checked here, not failed on later by the listener.
 */
function listenHost(env: Env, name: string, fallback: string): string {
  const raw = env[name]?.trim() ?? ''
  if (raw === '') return fallback
  if (raw.toLowerCase() === 'localhost') return '127.0.0.1'
  const literal = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw
  if (isIP(literal) === 0) fail(name, raw, 'must be an IPv4 or IPv6 address (e.g. 0.0.0.0, 127.0.0.1, ::, ::1) or localhost')
  return literal
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (!/^\d+$/.test(raw.trim())) fail(name, raw, `must be a whole number between ${min} and ${max}`)
  const value = Number(raw.trim())
  if (value < min || value > max) fail(name, raw, `must be a whole number between ${min} and ${max}`)
  return value
}

function str(env: Env, name: string, fallback: string): string {
  const raw = env[name]
  return raw === undefined || raw === '' ? fallback : raw
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const v = raw.trim().toLowerCase()
  if (['on', 'true', '1', 'yes'].includes(v)) return true
  if (['off', 'false', '0', 'no'].includes(v)) return false
  return fail(name, raw, 'must be on/off (also true/false, 1/0, yes/no)')
}

/** "10m", "512k", "1048576" → bytes. */
export function parseSize(name: string, raw: string): number {
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(raw)
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined
  if (!m || unit === undefined) fail(name, raw, 'must be a size such as 512k, 10m or 1g')
  return Number(m[1]) * unit
}

/** A size (parseSize) between `min` and `max` bytes, or `fallback` when unset. */
function sizeBetween(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const value = parseSize(name, raw)
  if (value < min || value > max) fail(name, raw, `must be a size between ${min} bytes and ${max / 1024 ** 3}g`)
  return value
}

function powerOfTwo(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = int(env, name, fallback, min, max)
  if ((value & (value - 1)) !== 0) fail(name, env[name]!, `must be a power of two between ${min} and ${max}`)
  return value
}

function redisUrl(env: Env): string | null {
  const raw = env.GATEWAY_REDIS_URL
  if (raw === undefined || raw.trim() === '') return null
  try {
    redisTargetFromUrl(raw.trim())
  } catch (err) {
    throw new SettingsError((err as Error).message, 'GATEWAY_REDIS_URL')
  }
  return raw.trim()
}

/** GATEWAY_TLS_PORT: unset, '' or 'off' → null (no TLS listener). */
function tlsPort(env: Env, plainPort: number): number | null {
  const raw = env.GATEWAY_TLS_PORT
  if (raw === undefined || raw.trim() === '' || raw.trim().toLowerCase() === 'off') return null
  const port = int(env, 'GATEWAY_TLS_PORT', 0, 0, 65535)
  if (port !== 0 && port === plainPort) fail('GATEWAY_TLS_PORT', raw, `must differ from GATEWAY_PORT (${plainPort})`)
  return port
}

function readPem(name: string, raw: string): string {
  try {
    return readFileSync(raw, 'utf8')
  } catch (err) {
    return fail(name, raw, `cannot read the file: ${(err as Error).message}`)
  }
}

/**
 * GATEWAY_TLS_CERT / GATEWAY_TLS_KEY: set together, readable, PEM, and matching. Read once here so a bad
 * file stops start-up with the variable's name (uWS itself would only say "App construction failed").
 */
function tlsFiles(env: Env): { tlsCert: string | null; tlsKey: string | null } {
  const cert = env.GATEWAY_TLS_CERT?.trim() ?? ''
  const key = env.GATEWAY_TLS_KEY?.trim() ?? ''
  if (cert === '' && key === '') return { tlsCert: null, tlsKey: null }
  if (cert === '') fail('GATEWAY_TLS_CERT', cert, 'must be set together with GATEWAY_TLS_KEY')
  if (key === '') fail('GATEWAY_TLS_KEY', key, 'must be set together with GATEWAY_TLS_CERT')
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(readPem('GATEWAY_TLS_CERT', cert))
  } catch (err) {
    if (err instanceof SettingsError) throw err
    return fail('GATEWAY_TLS_CERT', cert, `not a PEM certificate: ${(err as Error).message}`)
  }
  let matches: boolean
  try {
    matches = x509.checkPrivateKey(createPrivateKey(readPem('GATEWAY_TLS_KEY', key)))
  } catch (err) {
    if (err instanceof SettingsError) throw err
    return fail('GATEWAY_TLS_KEY', key, `not an unencrypted PEM private key: ${(err as Error).message}`)
  }
  if (!matches) fail('GATEWAY_TLS_KEY', key, 'does not match the certificate in GATEWAY_TLS_CERT')
  return { tlsCert: resolve(cert), tlsKey: resolve(key) }
}

/** GATEWAY_ACCESS_LOG: stdout, off, or a file that must be open-able for appending (checked now, named in the error). */
function accessLog(env: Env): string {
  const raw = env.GATEWAY_ACCESS_LOG?.trim() ?? ''
  if (raw === '' || raw === 'stdout') return 'stdout'
  if (raw === 'off') return 'off'
  const path = resolve(raw)
  try {
    closeSync(openSync(path, 'a'))
  } catch (err) {
    return fail('GATEWAY_ACCESS_LOG', raw, `must be stdout, off or a writable file path: ${(err as Error).message}`)
  }
  return path
}

function httpUrl(env: Env, name: string): string | null {
  const raw = env[name]?.trim() ?? ''
  if (raw === '') return null
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return fail(name, raw, 'must be an http:// or https:// URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(name, raw, 'must be an http:// or https:// URL')
  return raw
}

/** A fraction between 0 and 1 (e.g. 0.25), or `fallback` when unset. */
function ratio(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim() ?? ''
  if (raw === '') return fallback
  const value = /^(\d+(\.\d*)?|\.\d+)$/.test(raw) ? Number(raw) : NaN
  if (!(value >= 0 && value <= 1)) fail(name, raw, 'must be a number between 0 and 1')
  return value
}

export function readSettings(env: Env = process.env): Settings {
  const logLevel = str(env, 'GATEWAY_LOG_LEVEL', 'info')
  if (!LOG_LEVELS.includes(logLevel)) fail('GATEWAY_LOG_LEVEL', logLevel, `must be one of ${LOG_LEVELS.join(', ')}`)
  let trustedIps: CidrList
  try {
    trustedIps = parseCidrList(env.GATEWAY_TRUSTED_IPS ?? '')
  } catch (err) {
    return fail('GATEWAY_TRUSTED_IPS', env.GATEWAY_TRUSTED_IPS ?? '', (err as Error).message)
  }
  const port = int(env, 'GATEWAY_PORT', 8000, 0, 65535)
  return {
    configPath: str(env, 'GATEWAY_CONFIG', 'config/gateway.yaml'),
    workers: int(env, 'GATEWAY_WORKERS', availableParallelism(), 1, 256),
    host: listenHost(env, 'GATEWAY_HOST', '0.0.0.0'),
    port,
    adminHost: listenHost(env, 'GATEWAY_ADMIN_HOST', '127.0.0.1'),
    adminPort: int(env, 'GATEWAY_ADMIN_PORT', 8001, 0, 65535),
    adminToken: env.GATEWAY_ADMIN_TOKEN ? env.GATEWAY_ADMIN_TOKEN : null,
    logLevel,
    upstreamKeepalive: int(env, 'GATEWAY_UPSTREAM_KEEPALIVE', 128, 0, 100_000),
    upstreamIdleTimeoutMs: int(env, 'GATEWAY_UPSTREAM_IDLE_TIMEOUT_MS', 60_000, 1, 86_400_000),
    maxBodySize: env.GATEWAY_MAX_BODY_SIZE ? parseSize('GATEWAY_MAX_BODY_SIZE', env.GATEWAY_MAX_BODY_SIZE) : 10 * 1024 ** 2,
    drainTimeoutMs: int(env, 'GATEWAY_DRAIN_TIMEOUT_MS', 10_000, 0, 3_600_000),
    latencyHeaders: bool(env, 'GATEWAY_LATENCY_HEADERS', true),
    trustedIps,
    rateLimitSlots: powerOfTwo(env, 'GATEWAY_RATELIMIT_SLOTS', 65_536, 1024, 1 << 26),
    cacheSizeBytes: int(env, 'GATEWAY_CACHE_SIZE_MB', 64, 1, 2047) * 1024 ** 2,
    redisUrl: redisUrl(env),
    tlsPort: tlsPort(env, port),
    ...tlsFiles(env),
    wsMaxMessageSize: sizeBetween(env, 'GATEWAY_WS_MAX_MESSAGE_SIZE', 16 * 1024 ** 2, 1, 1024 ** 3),
    wsIdleTimeoutS: int(env, 'GATEWAY_WS_IDLE_TIMEOUT_S', 120, 0, 86_400),
    accessLog: accessLog(env),
    otelEndpoint: httpUrl(env, 'GATEWAY_OTEL_ENDPOINT'),
    otelSamplingRate: ratio(env, 'GATEWAY_OTEL_SAMPLING_RATE', 1),
    maxConcurrency: int(env, 'GATEWAY_MAX_CONCURRENCY', 10_000, 0, 10_000_000),
  }
}

/** Variables checked together: when one of them is invalid, the others' errors would only repeat it. */
const LINKED: Record<string, string[]> = {
  GATEWAY_TLS_CERT: ['GATEWAY_TLS_CERT', 'GATEWAY_TLS_KEY'],
  GATEWAY_TLS_KEY: ['GATEWAY_TLS_CERT', 'GATEWAY_TLS_KEY'],
}

/**
 * Every invalid variable at once (for `gateway validate` and start-up messages): each error is recorded and
 * its variable set aside, and the rest read again. `settings` is null when there was any error.
 */
export function checkSettings(env: Env = process.env): { settings: Settings; errors: [] } | { settings: null; errors: string[] } {
  const rest: Env = { ...env }
  const errors: string[] = []
  for (;;) {
    try {
      const settings = readSettings(rest)
      return errors.length === 0 ? { settings, errors: [] } : { settings: null, errors }
    } catch (err) {
      const names = err instanceof SettingsError ? (LINKED[err.variable] ?? [err.variable]) : []
      // Never loops: every round removes at least one variable, or rethrows.
      if (!names.some((name) => name in rest)) throw err
      errors.push((err as SettingsError).message)
      for (const name of names) delete rest[name]
    }
  }
}
