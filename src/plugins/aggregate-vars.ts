// Where the aggregate plugin's request data comes from: named captures of the matched route's regex
// paths (compiled once per Snapshot), and the client's query and headers that may be forwarded.
import { compilePathRegex } from '../config/regex.js'
import { normalizePath } from '../config/uri.js'
import type { RouteRecord, Snapshot } from '../config/types.js'
import { alwaysDropped } from '../worker/upstream-head.js'
import { decodeFormComponent, parseFormArgs } from './query-string.js'
import { FROM_CAPTURE, FROM_HEADER, type TemplateVar, type VarSource } from './aggregate-template.js'
import type { PluginRequest, PluginScope } from './types.js'

const NAMED_GROUP = /\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/g
const NO_CAPTURES: Readonly<Record<string, string>> = Object.freeze(Object.create(null) as Record<string, string>)

/** The routes a plugin instance applies to (its route, its service's routes, or all for a global one). */
function routesInScope(snapshot: Snapshot, scope: PluginScope): RouteRecord[] {
  return snapshot.routes.filter((r) => {
    if (scope.route !== null) return r.name === scope.route || r.id === scope.route
    if (scope.service === null) return true
    const service = snapshot.services[r.service]
    return service !== undefined && (service.name === scope.service || service.id === scope.service)
  })
}

/** Names of the groups a path regex captures. */
export function captureNames(pattern: string): string[] {
  return [...pattern.matchAll(NAMED_GROUP)].map((m) => m[1]!)
}

/** Per route id: the route's regex paths that capture names, compiled as the router compiles them. */
export class RouteCaptures {
  private readonly byRoute = new Map<string, RegExp[]>()

  /** `needed`: the capture names the templates use; returns, per route in scope, the names it lacks. */
  constructor(snapshot: Snapshot, scope: PluginScope, needed: readonly string[], missing: (route: string, names: string[]) => void) {
    for (const route of routesInScope(snapshot, scope)) {
      const regexes: RegExp[] = []
      const names = new Set<string>()
      for (const p of route.paths) {
        if (!p.startsWith('~')) continue
        const groups = captureNames(p.slice(1))
        if (groups.length === 0) continue
        for (const g of groups) names.add(g)
        regexes.push(compilePathRegex(p.slice(1)))
      }
      if (regexes.length > 0) this.byRoute.set(route.id, regexes)
      const lacking = needed.filter((n) => !names.has(n))
      if (lacking.length > 0) missing(route.name, lacking)
    }
  }

  /** The named captures of the first of the route's regex paths that matches `path` (as the router saw it). */
  captures(routeId: string, path: string): Readonly<Record<string, string>> {
    const regexes = this.byRoute.get(routeId)
    if (regexes === undefined) return NO_CAPTURES
    const normalized = normalizePath(path)
    for (const re of regexes) {
      re.lastIndex = 0
      const m = re.exec(normalized)
      if (m !== null && m.groups !== undefined) return m.groups
    }
    return NO_CAPTURES
  }
}

/** A path capture as text: %-escapes decoded (they are encoded again into the backend URL), or as it is when malformed. */
function decodeCapture(raw: string): string {
  if (raw.indexOf('%') === -1) return raw
  try {
    return decodeURIComponent(raw)
  } catch {
    return raw
  }
}

/** One request's variable values, each looked up on first use; a missing one is ''. */
export class RequestVars implements VarSource {
  private captured: Readonly<Record<string, string>> | null = null
  private query: Record<string, unknown> | null = null
  private readonly ctx: PluginRequest
  private readonly routes: RouteCaptures

  constructor(ctx: PluginRequest, routes: RouteCaptures) {
    this.ctx = ctx
    this.routes = routes
  }

  value(v: TemplateVar): string {
    if (v.from === FROM_CAPTURE) {
      this.captured ??= this.routes.captures(this.ctx.routeId, this.ctx.path)
      const raw = this.captured[v.name]
      return raw === undefined ? '' : decodeCapture(raw)
    }
    if (v.from === FROM_HEADER) return this.ctx.headers.get(v.name) ?? ''
    this.query ??= parseFormArgs(this.ctx.query)
    const q = this.query[v.name]
    const first = Array.isArray(q) ? q[0] : q
    return typeof first === 'string' ? first : ''
  }
}

/** The client's query parameters whose (decoded) names are listed, as written; `null` = all of them. */
export function forwardedQuery(raw: string, names: ReadonlySet<string> | null): string {
  if (names === null || raw === '') return raw
  let out = ''
  for (const part of raw.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const rawKey = eq === -1 ? part : part.slice(0, eq)
    if (!names.has(decodeFormComponent(rawKey) ?? rawKey)) continue
    out += out === '' ? part : '&' + part
  }
  return out
}

function forwardable(name: string): boolean {
  return !alwaysDropped(name) && name !== 'accept-encoding'
}

/**
 * The client's headers to forward (lower-case names listed, or all for `null`), never hop-by-hop ones nor
 * those the gateway sets; Accept-Encoding neither, since backend bodies are read as JSON, uncompressed.
 */
export function forwardedHeaders(headers: ReadonlyMap<string, string>, names: ReadonlySet<string> | null): Record<string, string> {
  const out: Record<string, string> = {}
  if (names === null) {
    for (const [name, value] of headers) if (forwardable(name)) out[name] = value
    return out
  }
  for (const name of names) {
    const value = headers.get(name)
    if (value !== undefined && forwardable(name)) out[name] = value
  }
  return out
}
