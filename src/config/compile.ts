// ValidConfig → Snapshot: names settled, upstreams linked to the services that name them, health
// slots numbered, route matchers in router form, disabled entities left out. A pure function.
import { createHash } from 'node:crypto'
import type { ConsumerEntity, PluginEntity, RouteEntity, ServiceEntity, ValidConfig } from './model.js'
import type {
  HeaderMatch, PluginInstance, QueryMatch, RouteRecord, ServiceRecord, Snapshot, TargetRecord, UpstreamRecord,
} from './types.js'
import { formatHostPort } from './typedefs.js'

/** JSON with object keys sorted at every level, so equal configs hash equally. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x === undefined ? null : x)).join(',')}]`
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>
    const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`
  }
  return JSON.stringify(v)
}

/** Entity names: the name, else the id, else `<kind>-<index>`; a generated one never takes a written one. */
function nameAll<T>(items: readonly T[], kind: string, written: (t: T) => string | null): string[] {
  const taken = new Set(items.map(written).filter((n): n is string => n !== null))
  return items.map((t, i) => {
    const n = written(t)
    if (n !== null) return n
    let candidate = `${kind}-${i}`
    for (let k = 1; taken.has(candidate); k++) candidate = `${kind}-${i}-${k}`
    taken.add(candidate)
    return candidate
  })
}

function headerMatches(headers: Record<string, string[]>): HeaderMatch[] {
  return Object.keys(headers).map((name) => {
    const values: string[] = []
    const regexes: string[] = []
    for (const v of headers[name]) {
      if (v.startsWith('~*')) regexes.push(v.slice(2))
      else values.push(v.toLowerCase())
    }
    return { name: name.toLowerCase(), values, regexes }
  })
}

function queryMatches(query: Record<string, string[]>): QueryMatch[] {
  return Object.keys(query).map((name) => ({ name, values: [...query[name]] }))
}

function compileRoute(r: RouteEntity, name: string, order: number): RouteRecord {
  return {
    name,
    id: r.id ?? name,
    service: r.service,
    protocols: [...r.protocols],
    methods: [...r.methods],
    hosts: r.hosts.map((h) => h.toLowerCase()),
    paths: [...r.paths],
    headers: headerMatches(r.headers),
    query: queryMatches(r.query),
    snis: r.snis.map((s) => s.toLowerCase()),
    stripPath: r.strip_path,
    preserveHost: r.preserve_host,
    regexPriority: r.regex_priority,
    pathHandling: r.path_handling,
    httpsRedirectStatusCode: r.https_redirect_status_code,
    requestBuffering: r.request_buffering,
    responseBuffering: r.response_buffering,
    order,
  }
}

function consumerName(c: ConsumerEntity): string | null {
  return c.username ?? c.id ?? c.custom_id
}

function compilePlugin(p: PluginEntity, i: number, names: { services: string[]; routes: string[]; consumers: string[] }): PluginInstance {
  return {
    name: p.name,
    id: p.id ?? `plugin-${i}`,
    config: structuredClone(p.config),
    service: p.service === -1 ? null : names.services[p.service],
    route: p.route === -1 ? null : names.routes[p.route],
    consumer: p.consumer === -1 ? null : names.consumers[p.consumer],
  }
}

/**
 * Builds the Snapshot for one validated config. `loadedAt` is the only input that is not part of the
 * config (pass it for a fully deterministic result); the hash covers everything else but `source`.
 */
export function compileSnapshot(config: ValidConfig, source: string, loadedAt: number = Date.now()): Snapshot {
  let slot = 0
  const upstreamIndex = new Map<string, number>()
  const upstreams: UpstreamRecord[] = config.upstreams.map((u, i) => {
    upstreamIndex.set(u.name, i)
    return {
      name: u.name,
      id: u.id ?? u.name,
      algorithm: u.algorithm,
      hashOn: u.hash_on,
      hashOnHeader: u.hash_on_header,
      hashOnCookie: u.hash_on_cookie,
      hashFallback: u.hash_fallback,
      hashFallbackHeader: u.hash_fallback_header,
      hashOnCookiePath: u.hash_on_cookie_path,
      hashOnQueryArg: u.hash_on_query_arg,
      hashFallbackQueryArg: u.hash_fallback_query_arg,
      hashOnUriCapture: u.hash_on_uri_capture,
      hashFallbackUriCapture: u.hash_fallback_uri_capture,
      hostHeader: u.host_header,
      slots: u.slots,
      targets: u.targets.map((t): TargetRecord => ({ target: t.target, host: t.host, port: t.port, weight: t.weight, healthSlot: slot++ })),
      healthchecks: structuredClone(u.healthchecks),
    }
  })

  const serviceNames = nameAll(config.services, 'service', (s) => s.name ?? s.id)
  const services: ServiceRecord[] = config.services.map((s: ServiceEntity, i) => {
    // Kong: a service whose host is an upstream's name is balanced over that upstream's targets.
    const upstream = upstreamIndex.get(s.host) ?? -1
    return {
      name: serviceNames[i],
      id: s.id ?? serviceNames[i],
      protocol: s.protocol,
      host: s.host,
      port: s.port,
      path: s.path === null || s.path === '/' ? '' : s.path,
      retries: s.retries,
      connectTimeout: s.connect_timeout,
      writeTimeout: s.write_timeout,
      readTimeout: s.read_timeout,
      tlsVerify: s.tls_verify ?? false,
      upstream,
      // With an upstream the balancer picks targets; this one is unused and has no health slot (-1).
      target: {
        target: formatHostPort(s.host, s.port), host: s.host, port: s.port, weight: 100, healthSlot: upstream === -1 ? slot++ : -1,
      },
    }
  })

  const routeNames = nameAll(config.routes, 'route', (r) => r.name ?? r.id)
  const routes: RouteRecord[] = []
  config.routes.forEach((r, i) => {
    // Kong: the routes of a disabled service behave as if they did not exist.
    if (r.service !== -1 && !config.services[r.service].enabled) return
    routes.push(compileRoute(r, routeNames[i], i))
  })

  const names = { services: serviceNames, routes: routeNames, consumers: nameAll(config.consumers, 'consumer', consumerName) }
  const plugins = config.plugins.flatMap((p, i) => (p.enabled ? [compilePlugin(p, i, names)] : []))

  const body = { services, routes, upstreams, plugins, healthSlots: slot }
  const hash = createHash('sha256').update(canonicalJson(body)).digest('hex').slice(0, 16)
  return { hash, source, loadedAt, ...body }
}
