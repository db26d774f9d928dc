// The upstream and target entities (Kong's upstreams.lua / targets.lua), health checks with Kong's
// defaults, and the hash_on entity checks. finishTarget parses `host:port` (Kong's default port 8000).
import type { TargetEntity, UpstreamEntity } from '../model.js'
import type { BalancerAlgorithm, HashOn } from '../types.js'
import {
  arrayOf, bool, int, noop, num, oneOf, record, str, type EntityCheck, type Field, type RecordField,
} from '../schema.js'
import {
  formatHostPort, headerName, headersMap, httpStatuses, id, parentRef, parseHostPort, path, ref, refKey, sni, tags, timestamp,
} from '../typedefs.js'

export const ALGORITHMS = ['round-robin', 'least-connections', 'consistent-hashing', 'latency']
export const HASH_ON = ['none', 'consumer', 'ip', 'header', 'cookie', 'path', 'query_arg', 'uri_capture']
const CHECK_TYPES = ['tcp', 'http', 'https', 'grpc', 'grpcs']
export const TARGET_DEFAULT_PORT = 8000

function upstreamNameError(s: string): string | null {
  const p = parseHostPort(s)
  if (p === null) return `Invalid name ('${s}'); must be a valid hostname`
  if (p.kind !== 'name') return `Invalid name ('${s}'); no ip addresses allowed`
  if (p.port !== null) return `Invalid name ('${s}'); no port allowed`
  return null
}

function targetError(s: string): string | null {
  return parseHostPort(s) === null ? `Invalid target ('${s}'); not a valid hostname or ip address` : null
}

const COOKIE_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/

const seconds = (def: number): Field => num({ between: [0, 65535], default: def })
const counter = (): Field => int({ between: [0, 255], default: 0 })

/** Kong's healthchecks record; every field defaulted as Kong does (probing and circuit breaker off). */
const healthchecks = (): RecordField => record({
  threshold: num({ between: [0, 100], default: 0 }),
  active: record({
    type: oneOf(CHECK_TYPES, 'http'),
    timeout: seconds(1),
    concurrency: int({ between: [1, 2 ** 31], default: 10 }),
    http_path: path({ default: '/' }),
    https_sni: sni(),
    https_verify_certificate: bool({ default: true }),
    headers: headersMap(),
    healthy: record({
      interval: seconds(0),
      http_statuses: httpStatuses([200, 302]),
      successes: counter(),
    }),
    unhealthy: record({
      interval: seconds(0),
      http_statuses: httpStatuses([429, 404, 500, 501, 502, 503, 504, 505]),
      tcp_failures: counter(),
      timeouts: counter(),
      http_failures: counter(),
    }),
  }),
  passive: record({
    type: oneOf(CHECK_TYPES, 'http'),
    healthy: record({
      http_statuses: httpStatuses([200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308]),
      successes: counter(),
    }),
    unhealthy: record({
      http_statuses: httpStatuses([429, 500, 503]),
      tcp_failures: counter(),
      timeouts: counter(),
      http_failures: counter(),
    }),
  }),
})

/** hash_on / hash_fallback need their parameter, and the fallback must make sense (Kong's entity checks). */
const hashChecks: EntityCheck = (r) => {
  const errors: { field: string; message: string }[] = []
  const need = (kind: string, on: string, param: string): void => {
    if (r[kind] === on && (r[param] === null || r[param] === '')) {
      errors.push({ field: param, message: `required field missing (because '${kind}' is '${on}')` })
    }
  }
  need('hash_on', 'header', 'hash_on_header')
  need('hash_fallback', 'header', 'hash_fallback_header')
  need('hash_on', 'cookie', 'hash_on_cookie')
  need('hash_fallback', 'cookie', 'hash_on_cookie')
  need('hash_on', 'query_arg', 'hash_on_query_arg')
  need('hash_fallback', 'query_arg', 'hash_fallback_query_arg')
  need('hash_on', 'uri_capture', 'hash_on_uri_capture')
  need('hash_fallback', 'uri_capture', 'hash_fallback_uri_capture')
  const on = r.hash_on as string
  const fallback = r.hash_fallback as string
  if ((on === 'none' || on === 'cookie') && fallback !== 'none') {
    errors.push({ field: 'hash_fallback', message: `must be 'none' when 'hash_on' is '${on}'` })
  } else if (fallback !== 'none' && fallback === on && !['header', 'query_arg', 'uri_capture'].includes(on)) {
    errors.push({ field: 'hash_fallback', message: `must differ from 'hash_on'` })
  }
  const same = (a: string, b: string): boolean =>
    typeof r[a] === 'string' && typeof r[b] === 'string' && (r[a] as string).toLowerCase() === (r[b] as string).toLowerCase()
  if (on === 'header' && fallback === 'header' && same('hash_on_header', 'hash_fallback_header')) {
    errors.push({ field: 'hash_fallback_header', message: "must differ from 'hash_on_header'" })
  }
  if (on === 'query_arg' && fallback === 'query_arg' && same('hash_on_query_arg', 'hash_fallback_query_arg')) {
    errors.push({ field: 'hash_fallback_query_arg', message: "must differ from 'hash_on_query_arg'" })
  }
  if (on === 'uri_capture' && fallback === 'uri_capture' && same('hash_on_uri_capture', 'hash_fallback_uri_capture')) {
    errors.push({ field: 'hash_fallback_uri_capture', message: "must differ from 'hash_on_uri_capture'" })
  }
  return errors
}

export function targetSchema(nested: boolean): RecordField {
  return record({
    id: id(),
    target: str({ required: true, custom: targetError }),
    weight: int({ between: [0, 65535], default: 100 }),
    upstream: nested ? parentRef('upstream') : ref({ required: true }),
    tags: tags(),
    created_at: timestamp(),
    updated_at: timestamp(),
  })
}

export function upstreamSchema(): RecordField {
  return record({
    id: id(),
    name: str({ required: true, custom: upstreamNameError }),
    algorithm: oneOf(ALGORITHMS, 'round-robin'),
    hash_on: oneOf(HASH_ON, 'none'),
    hash_fallback: oneOf(HASH_ON, 'none'),
    hash_on_header: headerName(),
    hash_fallback_header: headerName(),
    hash_on_cookie: str({ match: COOKIE_NAME, matchError: 'must be a valid cookie name' }),
    hash_on_cookie_path: path({ default: '/' }),
    hash_on_query_arg: str({ minLength: 1 }),
    hash_fallback_query_arg: str({ minLength: 1 }),
    hash_on_uri_capture: str({ minLength: 1 }),
    hash_fallback_uri_capture: str({ minLength: 1 }),
    slots: int({ between: [10, 65536], default: 10000 }),
    healthchecks: healthchecks(),
    host_header: str({ custom: (s: string) => (parseHostPort(s) === null ? `invalid value: ${s}` : null) }),
    client_certificate: ref(),
    use_srv_name: noop(bool({ default: false }), 'accepted for Kong compatibility; DNS SRV records are not used'),
    targets: arrayOf(targetSchema(true)),
    tags: tags(),
    created_at: timestamp(),
    updated_at: timestamp(),
  }, { checks: [hashChecks] })
}

/** A validated target record → TargetEntity (`host[:port]`, port 8000 when absent, as Kong). */
export function finishTarget(r: Record<string, unknown>, at: string): TargetEntity {
  const target = (r.target as string | null) ?? ''
  const hp = parseHostPort(target)
  return {
    at,
    id: r.id as string | null,
    target,
    host: hp?.host ?? target,
    port: hp?.port ?? TARGET_DEFAULT_PORT,
    weight: (r.weight as number | null) ?? 100,
  }
}

/** The key two targets of one upstream must not share. */
export function targetKey(t: TargetEntity): string {
  return formatHostPort(t.host.toLowerCase(), t.port)
}

/** A validated upstream record → UpstreamEntity with its nested targets (top-level ones are added later). */
export function finishUpstream(u: Record<string, unknown>, at: string): UpstreamEntity {
  const s = (k: string): string | null => u[k] as string | null
  const targets = Array.isArray(u.targets) ? u.targets : []
  return {
    at,
    id: s('id'),
    name: (u.name as string | null) ?? '',
    algorithm: u.algorithm as BalancerAlgorithm,
    hash_on: u.hash_on as HashOn,
    hash_fallback: u.hash_fallback as HashOn,
    hash_on_header: s('hash_on_header'),
    hash_fallback_header: s('hash_fallback_header'),
    hash_on_cookie: s('hash_on_cookie'),
    hash_on_cookie_path: (u.hash_on_cookie_path as string | null) ?? '/',
    hash_on_query_arg: s('hash_on_query_arg'),
    hash_fallback_query_arg: s('hash_fallback_query_arg'),
    hash_on_uri_capture: s('hash_on_uri_capture'),
    hash_fallback_uri_capture: s('hash_fallback_uri_capture'),
    slots: u.slots as number,
    host_header: s('host_header'),
    client_certificate: refKey(u.client_certificate),
    use_srv_name: u.use_srv_name as boolean,
    healthchecks: (u.healthchecks as Record<string, unknown> | null) ?? {},
    targets: targets.flatMap((t: unknown, j: number) =>
      typeof t === 'object' && t !== null ? [finishTarget(t as Record<string, unknown>, `${at}.targets[${j}]`)] : []),
  }
}
