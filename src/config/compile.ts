// ValidConfig → Snapshot: names settled, upstreams linked to the services that name them, health
// slots numbered, route matchers in router form, disabled entities left out. A pure function.
import { createHash } from 'node:crypto'
import type { ConsumerEntity, Credential, PluginEntity, RouteEntity, ServiceEntity, ValidConfig } from './model.js'
import type {
  ConsumerRecord, CredentialRecord,
  HeaderMatch, PluginInstance, QueryMatch, RouteRecord, ServiceRecord, Snapshot, TargetRecord, UpstreamRecord,
} from './types.js'
import { formatHostPort } from './typedefs.js'
import { compileActiveChecks, compilePassiveChecks } from './health-checks.js'
import { compileTls, serviceTls, upstreamClientCertificate } from './compile-tls.js'

/**
 * Gives health slots to targets, one per identity in the order given. The default numbers them 0…n-1;
 * the primary passes its allocator (primary/health-slots) so a target keeps its slot across reloads.
 */
export type AssignSlots = (identities: readonly string[]) => number[]

const sequentialSlots: AssignSlots = (identities) => identities.map((_, i) => i)

/** What keeps a target's health across reloads (Kong: upstream + target): the upstream's id, else its name, and host:port. */
export function upstreamTargetIdentity(upstreamId: string, host: string, port: number): string {
  return `upstream ${upstreamId} ${formatHostPort(host.toLowerCase(), port)}`
}

/** The same for the single target of a service without an upstream: the service's id (else name) and host:port. */
export function serviceTargetIdentity(serviceId: string, host: string, port: number): string {
  return `service ${serviceId} ${formatHostPort(host.toLowerCase(), port)}`
}

/** Identity → health slot for every target of a Snapshot that has one. */
export function healthIdentities(s: Snapshot): Map<string, number> {
  const slots = new Map<string, number>()
  for (const u of s.upstreams) for (const t of u.targets) slots.set(upstreamTargetIdentity(u.id, t.host, t.port), t.healthSlot)
  for (const svc of s.services) if (svc.upstream === -1) slots.set(serviceTargetIdentity(svc.id, svc.host, svc.port), svc.target.healthSlot)
  return slots
}

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

function credentials(list: Credential[], kind: string, consumer: string): CredentialRecord[] {
  return list.map((c, i) => ({ ...structuredClone(c), id: (c.id as string | null) ?? `${kind}:${consumer}:${i}` }))
}

function compileConsumer(c: ConsumerEntity, name: string): ConsumerRecord {
  return {
    id: c.id ?? c.username ?? c.custom_id ?? name,
    name,
    username: c.username,
    customId: c.custom_id,
    groups: c.acls.map((a) => a.group as string),
    keyauth: credentials(c.keyauth_credentials, 'key-auth', name),
    basicauth: credentials(c.basicauth_credentials, 'basic-auth', name),
    jwt: credentials(c.jwt_secrets, 'jwt', name),
    oauth2: credentials(c.oauth2_credentials, 'oauth2', name),
  }
}

/**
 * A plugin without an id is known by its scope, which Kong keeps unique per plugin name, so its shared
 * state (rate-limit buckets, cache entries) carries over a reload that moves it within the file.
 */
function compilePlugin(p: PluginEntity, names: { services: string[]; routes: string[]; consumers: string[] }): PluginInstance {
  const service = p.service === -1 ? null : names.services[p.service]!
  const route = p.route === -1 ? null : names.routes[p.route]!
  const consumer = p.consumer === -1 ? null : names.consumers[p.consumer]!
  return {
    name: p.name,
    id: p.id ?? `${p.name}:${service ?? '*'}:${route ?? '*'}:${consumer ?? '*'}`,
    config: structuredClone(p.config),
    ...(p.prepared === undefined ? {} : { prepared: p.prepared }),
    service,
    route,
    consumer,
  }
}

/**
 * Builds the Snapshot for one validated config. `loadedAt` and the slot numbers from `assignSlots` are
 * the only inputs that are not part of the config (pass them for a fully deterministic result); the hash
 * covers everything else but `source`.
 */
export function compileSnapshot(
  config: ValidConfig, source: string, loadedAt: number = Date.now(), assignSlots: AssignSlots = sequentialSlots,
): Snapshot {
  const upstreamIndex = new Map(config.upstreams.map((u, i) => [u.name, i]))
  const serviceNames = nameAll(config.services, 'service', (s) => s.name ?? s.id)
  // Kong: a service whose host is an upstream's name is balanced over that upstream's targets.
  const serviceUpstream = config.services.map((s) => upstreamIndex.get(s.host) ?? -1)

  // Slots in one call, in the order the records below take them: upstream targets, then lone service targets.
  const identities: string[] = []
  for (const u of config.upstreams) for (const t of u.targets) identities.push(upstreamTargetIdentity(u.id ?? u.name, t.host, t.port))
  config.services.forEach((s, i) => {
    if (serviceUpstream[i] === -1) identities.push(serviceTargetIdentity(s.id ?? serviceNames[i], s.host, s.port))
  })
  const slots = assignSlots(identities)
  let taken = 0

  const upstreams: UpstreamRecord[] = config.upstreams.map((u) => {
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
      clientCertificate: upstreamClientCertificate(u, config),
      slots: u.slots,
      targets: u.targets.map((t): TargetRecord => ({ target: t.target, host: t.host, port: t.port, weight: t.weight, healthSlot: slots[taken++] })),
      healthchecks: structuredClone(u.healthchecks),
      activeChecks: compileActiveChecks(u.healthchecks),
      passiveChecks: compilePassiveChecks(u.healthchecks),
    }
  })

  const services: ServiceRecord[] = config.services.map((s: ServiceEntity, i) => {
    const upstream = serviceUpstream[i]
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
      ...serviceTls(s, config),
      upstream,
      // With an upstream the balancer picks targets; this one is unused and has no health slot (-1).
      target: {
        target: formatHostPort(s.host, s.port), host: s.host, port: s.port, weight: 100, healthSlot: upstream === -1 ? slots[taken++] : -1,
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
  const plugins = config.plugins.flatMap((p) => (p.enabled ? [compilePlugin(p, names)] : []))

  const consumers = config.consumers.map((c, i) => compileConsumer(c, names.consumers[i]!))
  const body = { services, routes, upstreams, plugins, consumers, tls: compileTls(config), healthSlots: slots.reduce((size, slot) => Math.max(size, slot + 1), 0) }
  const hash = createHash('sha256').update(canonicalJson(body)).digest('hex').slice(0, 16)
  return { hash, source, loadedAt, ...body }
}
