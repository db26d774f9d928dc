// The route entity (Kong's routes.lua with the traditional router's http/grpc subschemas), plus the
// `query` matcher extension. finishRoute turns a validated record into a RouteEntity.
import type { RouteEntity } from '../model.js'
import type { RouteProtocol } from '../types.js'
import {
  any, arrayOf, bool, int, isPresent, mapOf, noop, oneOf, record, setOf, str, type EntityCheck, type RecordField,
} from '../schema.js'
import {
  headerNameError, headerValueError, httpMethod, id, name, parentRef, ref, routerPathError, sni, tags, timestamp,
  wildcardHostError,
} from '../typedefs.js'
import { pluginSchema } from './plugins.js'

export const ROUTE_PROTOCOLS: readonly RouteProtocol[] = ['http', 'https', 'grpc', 'grpcs', 'ws', 'wss']
const FAMILIES: readonly (readonly RouteProtocol[])[] = [['http', 'https'], ['grpc', 'grpcs'], ['ws', 'wss']]
const TLS: readonly string[] = ['https', 'grpcs', 'wss']

const has = (r: Readonly<Record<string, unknown>>, p: string): boolean => (r.protocols as string[]).includes(p)
const isGrpc = (protocols: readonly string[]): boolean => protocols.includes('grpc') || protocols.includes('grpcs')

const protocolFamilies: EntityCheck = (r) => {
  const used = FAMILIES.filter((f) => f.some((p) => has(r, p)))
  return used.length > 1
    ? { field: 'protocols', message: "these sets are mutually exclusive: ('http', 'https'), ('grpc', 'grpcs'), ('ws', 'wss')" }
    : null
}

const snisNeedTls: EntityCheck = (r) => isPresent(r.snis) && !TLS.some((p) => has(r, p))
  ? { field: 'snis', message: "'snis' can only be set when 'protocols' is 'grpcs', 'https' or 'wss'" } : null

/** Kong's conditional_at_least_one_of from the http and grpc route subschemas. */
const needsAMatcher: EntityCheck = (r) => {
  const grpc = isGrpc(r.protocols as string[])
  const tls = TLS.find((p) => has(r, p))
  const label = tls ?? (r.protocols as string[])[0]
  const fields = grpc ? ['hosts', 'headers', 'paths'] : ['methods', 'hosts', 'headers', 'paths']
  if (tls !== undefined) fields.push('snis')
  if (fields.some((f) => isPresent(r[f]))) return null
  return `must set one of ${fields.map((f) => `'${f}'`).join(', ')} when 'protocols' is '${label}'`
}

const grpcRules: EntityCheck = (r) => {
  if (!isGrpc(r.protocols as string[])) return null
  const errors = []
  if (isPresent(r.methods)) errors.push({ field: 'methods', message: "cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'" })
  if (r.strip_path === true) errors.push({ field: 'strip_path', message: "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'" })
  return errors
}

const streamOnly = (field: string) => arrayOf(any(), {
  custom: (v: unknown[]) => (v.length > 0 ? `cannot set '${field}': stream routes (tcp, tls, udp) are not supported` : null),
})

export function routeSchema(nested: boolean): RecordField {
  return record({
    id: id(),
    name: name(),
    protocols: setOf(oneOf(ROUTE_PROTOCOLS), { default: ['http', 'https'], minLength: 1 }),
    methods: setOf(httpMethod()),
    hosts: arrayOf(str({ custom: wildcardHostError })),
    paths: arrayOf(str({ custom: routerPathError })),
    headers: mapOf(
      str({
        custom: (h: string) => headerNameError(h)
          ?? (h.toLowerCase() === 'host' ? "cannot contain 'host' header, which must be specified in the 'hosts' attribute" : null),
      }),
      arrayOf(str({ custom: headerValueError }), { minLength: 1 }),
    ),
    query: mapOf(str({ minLength: 1 }), arrayOf(str(), { minLength: 1 })),
    snis: setOf(sni()),
    sources: streamOnly('sources'),
    destinations: streamOnly('destinations'),
    https_redirect_status_code: int({ oneOf: [426, 301, 302, 307, 308], default: 426 }),
    regex_priority: int({ default: 0 }),
    // No default here: Kong's is true, but false for grpc routes (finishRoute decides).
    strip_path: bool(),
    path_handling: oneOf(['v0', 'v1'], 'v0'),
    preserve_host: bool({ default: false }),
    request_buffering: noop(bool({ default: true }), 'accepted for Kong compatibility; request bodies are always streamed'),
    response_buffering: noop(bool({ default: true }), 'accepted for Kong compatibility; response bodies are always streamed'),
    service: nested ? parentRef('service') : ref(),
    plugins: arrayOf(pluginSchema('route')),
    tags: tags(),
    created_at: timestamp(),
    updated_at: timestamp(),
  }, { checks: [protocolFamilies, snisNeedTls, needsAMatcher, grpcRules] })
}

/** A validated route record → RouteEntity (service resolved by the caller). */
export function finishRoute(r: Record<string, unknown>, at: string, service: number): RouteEntity {
  const protocols = (r.protocols as RouteProtocol[] | null) ?? []
  return {
    at,
    id: r.id as string | null,
    name: r.name as string | null,
    service,
    protocols,
    methods: (r.methods as string[] | null) ?? [],
    hosts: (r.hosts as string[] | null) ?? [],
    paths: (r.paths as string[] | null) ?? [],
    headers: (r.headers as Record<string, string[]> | null) ?? {},
    query: (r.query as Record<string, string[]> | null) ?? {},
    snis: (r.snis as string[] | null) ?? [],
    strip_path: (r.strip_path as boolean | null) ?? !isGrpc(protocols),
    preserve_host: r.preserve_host as boolean,
    regex_priority: r.regex_priority as number,
    path_handling: r.path_handling as 'v0' | 'v1',
    https_redirect_status_code: r.https_redirect_status_code as number,
    request_buffering: r.request_buffering as boolean,
    response_buffering: r.response_buffering as boolean,
  }
}
