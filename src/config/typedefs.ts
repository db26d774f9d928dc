// Reusable field types, after Kong's kong/db/schema/typedefs.lua: hosts, ports, paths, header names,
// router paths and hosts with wildcards. Messages follow Kong's wording where Kong has one.
import { isIP } from 'node:net'
import { any, arrayOf, int, mapOf, noop, num, setOf, str, type Field, type StringField } from './schema.js'
import { compileHeaderRegex, compilePathRegex, regexError } from './regex.js'
import { normalizePath } from './uri.js'

const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?'
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`)

export interface HostPort {
  /** Host name or IP, IPv6 without brackets. */
  host: string
  port: number | null
  kind: 'name' | 'ipv4' | 'ipv6'
}

/** Splits `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6; null when it is none of them. */
export function parseHostPort(s: string): HostPort | null {
  let host = s
  let portText: string | null = null
  if (s.startsWith('[')) {
    const end = s.indexOf(']')
    if (end === -1) return null
    host = s.slice(1, end)
    const rest = s.slice(end + 1)
    if (rest !== '') {
      if (!rest.startsWith(':')) return null
      portText = rest.slice(1)
    }
    if (isIP(host) !== 6) return null
  } else {
    const colons = s.split(':').length - 1
    if (colons === 1) {
      host = s.slice(0, s.indexOf(':'))
      portText = s.slice(s.indexOf(':') + 1)
    } else if (colons > 1) {
      return isIP(s) === 6 ? { host: s, port: null, kind: 'ipv6' } : null
    }
  }
  let port: number | null = null
  if (portText !== null) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) return null
    port = Number(portText)
  }
  const ip = isIP(host)
  if (ip === 4) return { host, port, kind: 'ipv4' }
  if (ip === 6) return { host, port, kind: 'ipv6' }
  if (host.length === 0 || host.length > 253 || !HOSTNAME.test(host)) return null
  return { host, port, kind: 'name' }
}

/** `host:port` with IPv6 in brackets. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

export function hostError(s: string): string | null {
  const p = parseHostPort(s)
  if (p === null) return `invalid value: ${s}`
  if (p.port !== null) return 'must not have a port'
  return null
}

/** A host name or IP without a port (Kong typedefs.host). */
export const host = (o?: { required?: boolean }): StringField => str({ ...o, custom: hostError })

/** Kong typedefs.sni: a host name, not an IP, no port. */
export function sniError(s: string): string | null {
  const p = parseHostPort(s)
  if (p === null) return `invalid value: ${s}`
  if (p.kind !== 'name') return 'must not be an IP'
  if (p.port !== null) return 'must not have a port'
  return null
}
export const sni = (): StringField => str({ custom: sniError })

export const port = (def?: number): Field => int({ between: [0, 65535], default: def })

/** Kong's nonzero timeout in milliseconds. */
export const timeout = (def: number): Field => int({ between: [1, 2 ** 31 - 2], default: def })

const HEADER_NAME = /^[A-Za-z0-9_-]+$/
export function headerNameError(s: string): string | null {
  return HEADER_NAME.test(s) ? null : `bad header name '${s}', allowed characters are A-Z, a-z, 0-9, '_', and '-'`
}
export const headerName = (o?: { required?: boolean; default?: string }): StringField => str({ ...o, custom: headerNameError })

const UTF8_NAME = /^[\p{L}\p{N}._~-]+$/u
export const name = (): StringField => str({
  custom: (s: string) => UTF8_NAME.test(s) ? null
    : `invalid value '${s}': the only accepted ascii characters are alphanumerics or ., -, _, and ~`,
})

const PATH_CHARS = /^\/[A-Za-z0-9._~/%:@!$&'()*+,;=-]*$/
function percentError(path: string): string | null {
  const bad = /%(?![0-9A-Fa-f]{2})/.exec(path)
  return bad === null ? null : `invalid url-encoded value: '${path.slice(bad.index, bad.index + 3)}'`
}

/** Kong typedefs.path (a service path, a health check path). */
export function pathError(path: string): string | null {
  if (!path.startsWith('/')) return 'must start with "/"'
  if (path.includes('//')) return 'must not have empty segments'
  if (!PATH_CHARS.test(path)) return `invalid path: '${path}' (characters outside of the reserved list of RFC 3986 found)`
  return percentError(path)
}
export const path = (o?: { default?: string }): StringField => str({ ...o, custom: pathError })

/** Kong typedefs.router_path: `/prefix` (normalized) or `~/regex` (must compile). */
export function routerPathError(p: string): string | null {
  if (p.startsWith('~')) {
    if (!p.startsWith('~/')) return 'a regex path must start with "~/"'
    if (p.includes('//')) return 'must not have empty segments'
    return regexError(p.slice(1), compilePathRegex)
  }
  if (!p.startsWith('/')) return 'must start with "/"'
  if (p.includes('//')) return 'must not have empty segments'
  const pct = percentError(p)
  if (pct !== null) return pct
  const normalized = normalizePath(p)
  return normalized === p ? null : `non-normalized path, consider use '${normalized}' instead`
}

/** Kong typedefs.hosts element: at most one wildcard, as the leftmost or rightmost label; a port is allowed. */
export function wildcardHostError(h: string): string | null {
  const stars = h.split('*').length - 1
  if (stars > 1) return 'invalid wildcard: must have at most one wildcard'
  if (stars === 1 && !h.startsWith('*.') && !/\.\*(:\d+)?$/.test(h)) {
    return 'invalid wildcard: must be placed at leftmost or rightmost label'
  }
  const p = parseHostPort(h.replace('*', 'wildcard'))
  return p === null ? `invalid value: ${h}` : null
}

/** Route header values: plain values, or `~*regex` (Kong 3 header regex). */
export function headerValueError(v: string): string | null {
  return v.startsWith('~*') ? regexError(v.slice(2), compileHeaderRegex) : null
}

/** An absolute http:// or https:// URL (Kong's typedefs.url, narrowed to what an HTTP client can call). */
export function httpUrlError(s: string): string | null {
  let u: URL
  try {
    u = new URL(s)
  } catch {
    return 'must be an absolute http or https URL'
  }
  return u.protocol === 'http:' || u.protocol === 'https:' ? null : 'must be an absolute http or https URL'
}
export const httpUrl = (o?: { required?: boolean }): StringField => str({ ...o, custom: httpUrlError })

export const httpMethod = (): StringField => str({ match: /^[A-Z]+$/, matchError: 'must be an upper-case HTTP method' })

/** Status code lists in health checks (Kong: 100–999). */
export const httpStatuses = (def: number[]): Field => arrayOf(int({ between: [100, 999] }), { default: def })

/** Header map as in routes and active health checks: name → list of values. */
export const headersMap = (valueCheck?: (v: string) => string | null): Field =>
  mapOf(str({ custom: headerNameError }), arrayOf(str({ custom: valueCheck ?? (() => null) }), { minLength: 1 }))

// Kong bookkeeping fields: accepted everywhere, meaningless here.
export const id = (): Field => noop(str(), 'accepted for Kong compatibility; used only to resolve references and as a fallback name')
export const tags = (): Field => noop(setOf(str()))
export const timestamp = (): Field => noop(num())

/** A foreign key as written in declarative config: a name or id, or `{ id }` / `{ name }` as decK writes it. */
export function refKey(v: unknown): string | null {
  if (typeof v === 'string') return v
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as { id?: unknown; name?: unknown }
    if (typeof o.id === 'string') return o.id
    if (typeof o.name === 'string') return o.name
  }
  return null
}
export const ref = (o?: { required?: boolean }): Field => any({
  ...o,
  custom: (v: unknown) => refKey(v) === null || refKey(v) === '' ? 'expected a name or id (or a record with one)' : null,
})

/** The foreign key to the parent, on a nested entity: implied by the nesting, so it must not be written. */
export const parentRef = (parent: string): Field => any({ custom: () => `must not be set on an entity nested in a ${parent}` })
