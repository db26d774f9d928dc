// The service entity (Kong's services.lua) with its `url` shorthand; finishService expands the url,
// fills Kong's defaults and applies the protocol-dependent rules.
import type { ServiceEntity } from '../model.js'
import type { ServiceProtocol } from '../types.js'
import { arrayOf, bool, int, isPresent, oneOf, record, str, type EntityCheck, type Report, type RecordField } from '../schema.js'
import { host, id, name, path, pathError, port, ref, refKey, tags, timeout, timestamp } from '../typedefs.js'
import { enabledField, pluginSchema } from './plugins.js'
import { routeSchema } from './routes.js'

export const SERVICE_PROTOCOLS: readonly ServiceProtocol[] = ['http', 'https', 'grpc', 'grpcs', 'ws', 'wss', 'tcp', 'tls']
const TLS_PROTOCOLS: readonly string[] = ['https', 'grpcs', 'wss', 'tls']
const NO_PATH: readonly string[] = ['grpc', 'grpcs', 'tcp', 'tls']
const SHORTHAND_PARTS = ['protocol', 'host', 'port', 'path']

interface ParsedUrl {
  protocol: ServiceProtocol
  host: string
  port: number | null
  path: string | null
}

/** The service `url` shorthand, or an error message. */
export function parseServiceUrl(s: string): ParsedUrl | string {
  let u: URL
  try {
    u = new URL(s)
  } catch {
    return `invalid url: '${s}'`
  }
  const scheme = u.protocol.slice(0, -1)
  if (!(SERVICE_PROTOCOLS as readonly string[]).includes(scheme)) {
    return `unsupported scheme '${scheme}' in url (expected one of: ${SERVICE_PROTOCOLS.join(', ')})`
  }
  if (u.hostname === '') return 'missing host in url'
  if (u.username !== '' || u.password !== '') return 'url must not contain credentials'
  if (u.search !== '' || u.hash !== '') return 'url must not contain a query string or a fragment'
  const p = u.pathname === '' || u.pathname === '/' ? null : u.pathname
  if (p !== null) {
    const err = pathError(p)
    if (err !== null) return `bad path in url: ${err}`
  }
  const h = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
  return { protocol: scheme as ServiceProtocol, host: h, port: u.port === '' ? null : Number(u.port), path: p }
}

const urlOrParts: EntityCheck = (r) => {
  if (isPresent(r.url)) {
    const both = SHORTHAND_PARTS.filter((f) => r[f] !== null)
    return both.length > 0
      ? { field: 'url', message: `cannot be combined with ${both.map((f) => `'${f}'`).join(', ')}` } : null
  }
  return isPresent(r.host) ? null : { field: 'host', message: "required field missing (set 'host' or 'url')" }
}

export function serviceSchema(): RecordField {
  return record({
    id: id(),
    name: name(),
    url: str({ custom: (s: string) => { const p = parseServiceUrl(s); return typeof p === 'string' ? p : null } }),
    protocol: oneOf(SERVICE_PROTOCOLS),
    host: host(),
    port: port(),
    path: path(),
    retries: int({ between: [0, 32767], default: 5 }),
    connect_timeout: timeout(60000),
    write_timeout: timeout(60000),
    read_timeout: timeout(60000),
    tls_verify: bool({ nullable: true }),
    tls_verify_depth: int({ between: [0, 64], nullable: true }),
    ca_certificates: arrayOf(str()),
    client_certificate: ref(),
    enabled: enabledField(),
    routes: arrayOf(routeSchema(true)),
    plugins: arrayOf(pluginSchema('service')),
    tags: tags(),
    created_at: timestamp(),
    updated_at: timestamp(),
  }, { checks: [urlOrParts] })
}

const defaultPort = (protocol: string): number => (TLS_PROTOCOLS.includes(protocol) ? 443 : 80)

/** A validated service record → ServiceEntity, with the url expanded and Kong's defaults filled. */
export function finishService(r: Record<string, unknown>, at: string, report: Report): ServiceEntity {
  let protocol = (r.protocol as ServiceProtocol | null) ?? 'http'
  let hostName = (r.host as string | null) ?? ''
  let portNumber = r.port as number | null
  let servicePath = r.path as string | null
  let pathAt = `${at}.path`
  const u = typeof r.url === 'string' ? parseServiceUrl(r.url) : null
  if (u !== null && typeof u !== 'string') {
    protocol = u.protocol
    hostName = u.host
    portNumber = u.port ?? defaultPort(protocol)
    servicePath = u.path
    pathAt = `${at}.url`
  } else if (portNumber === null) {
    // Kong's service port defaults to 80 whatever the protocol; only the url shorthand picks 443.
    portNumber = 80
    if (TLS_PROTOCOLS.includes(protocol)) {
      report.warnings.push({ path: `${at}.port`, message: `defaults to 80 as in Kong although 'protocol' is '${protocol}'; set it explicitly` })
    }
  }
  if (servicePath !== null && NO_PATH.includes(protocol)) {
    report.errors.push({ path: pathAt, message: `a path cannot be set when 'protocol' is '${protocol}'` })
  }
  if (r.tls_verify !== null && !TLS_PROTOCOLS.includes(protocol)) {
    report.warnings.push({ path: `${at}.tls_verify`, message: `has no effect when 'protocol' is '${protocol}'` })
  }
  return {
    at,
    id: r.id as string | null,
    name: r.name as string | null,
    protocol,
    host: hostName,
    port: portNumber,
    path: servicePath,
    retries: r.retries as number,
    connect_timeout: r.connect_timeout as number,
    write_timeout: r.write_timeout as number,
    read_timeout: r.read_timeout as number,
    tls_verify: r.tls_verify as boolean | null,
    tls_verify_depth: r.tls_verify_depth as number | null,
    ca_certificates: r.ca_certificates as string[] | null,
    client_certificate: refKey(r.client_certificate),
    enabled: r.enabled as boolean,
  }
}
