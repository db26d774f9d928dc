// Turns the schema-validated document into a ValidConfig: nested entities flattened in file order,
// references by name or id resolved, duplicates reported, plugin configs checked by their own schema.
import type {
  CaCertificateEntity, CertificateEntity, ConsumerEntity, Credential, PluginEntity, ValidConfig,
} from './model.js'
import { isPlainObject, joinPath, validateRecord, type Report, type Schema } from './schema.js'
import { entityIndex, type EntityIndex } from './entity-index.js'
import { sniError } from './typedefs.js'
import { finishService } from './entities/services.js'
import { finishRoute } from './entities/routes.js'
import { finishTarget, finishUpstream, targetKey } from './entities/upstreams.js'
import { CREDENTIALS, type CredentialKind } from './entities/consumers.js'
import { sniSchema } from './entities/certificates.js'

/**
 * What validation needs from the plugin registry, by name: each plugin's config schema and, for checks
 * that depend on the process environment (e.g. GATEWAY_REDIS_URL), `checkEnv` returning problems as
 * `{ field, message }` relative to the config record.
 */
export type PluginSchemas = Readonly<Record<string, {
  readonly schema: Schema
  readonly checkEnv?: (config: Record<string, unknown>, env: Readonly<Record<string, string | undefined>>) => readonly { field: string; message: string }[]
  /** Kong's `consumer = typedefs.no_consumer`: the plugin identifies consumers, so it cannot be scoped to one. */
  readonly noConsumer?: boolean
  /** Primary-side loading (files relative to the config's directory); see PluginDefinition.prepare. */
  readonly prepare?: (config: Record<string, unknown>, baseDir: string) =>
    { ok: true; data: unknown } | { ok: false; problems: readonly { field: string; message: string }[] }
}>>

export type Env = Readonly<Record<string, string | undefined>>

type Tree = Record<string, unknown>

/** The plain-object elements of an array field, with their positions (invalid ones were reported already). */
function objects(v: unknown): [Tree, number][] {
  if (!Array.isArray(v)) return []
  const out: [Tree, number][] = []
  v.forEach((x: unknown, i: number) => {
    if (isPlainObject(x)) out.push([x, i])
  })
  return out
}

interface PendingPlugin {
  raw: Tree
  at: string
  /** Scope implied by nesting; undefined = read the reference written on the plugin. */
  service?: number
  route?: number
  consumer?: number
}

interface Ctx {
  cfg: ValidConfig
  report: Report
  services: EntityIndex
  routes: EntityIndex
  consumers: EntityIndex
  upstreams: EntityIndex
  certificates: EntityIndex
  caCertificates: EntityIndex
  plugins: PendingPlugin[]
}

function nestedPlugins(ctx: Ctx, owner: Tree, at: string, scope: Omit<PendingPlugin, 'raw' | 'at'>): void {
  for (const [p, i] of objects(owner.plugins)) ctx.plugins.push({ raw: p, at: `${at}.plugins[${i}]`, ...scope })
}

function addRoute(ctx: Ctx, r: Tree, at: string, service: number): void {
  const index = ctx.cfg.routes.length
  ctx.cfg.routes.push(finishRoute(r, at, service))
  ctx.routes.add('name', r.name as string | null, index, at)
  ctx.routes.add('id', r.id as string | null, index, at)
  nestedPlugins(ctx, r, at, { route: index })
}

function flattenServices(ctx: Ctx, tree: Tree): void {
  for (const [s, i] of objects(tree.services)) {
    const at = `services[${i}]`
    const index = ctx.cfg.services.length
    ctx.cfg.services.push(finishService(s, at, ctx.report))
    ctx.services.add('name', s.name as string | null, index, at)
    ctx.services.add('id', s.id as string | null, index, at)
    nestedPlugins(ctx, s, at, { service: index })
    for (const [r, j] of objects(s.routes)) addRoute(ctx, r, `${at}.routes[${j}]`, index)
  }
  for (const [r, k] of objects(tree.routes)) {
    const at = `routes[${k}]`
    addRoute(ctx, r, at, ctx.services.resolve(r.service, `${at}.service`))
  }
}

/** Credential fields that must be unique across all consumers (Kong's unique constraints). */
const UNIQUE_CREDENTIAL_FIELD: Partial<Record<CredentialKind, string>> = {
  keyauth_credentials: 'key',
  basicauth_credentials: 'username',
  jwt_secrets: 'key',
  oauth2_credentials: 'client_id',
}

function flattenConsumers(ctx: Ctx, tree: Tree): void {
  const seen = new Map<string, string>()
  for (const [c, i] of objects(tree.consumers)) {
    const at = `consumers[${i}]`
    const index = ctx.cfg.consumers.length
    const consumer: ConsumerEntity = {
      at, id: c.id as string | null, username: c.username as string | null, custom_id: c.custom_id as string | null,
      keyauth_credentials: [], basicauth_credentials: [], jwt_secrets: [], acls: [], oauth2_credentials: [],
    }
    for (const kind of Object.keys(CREDENTIALS) as CredentialKind[]) {
      const unique = UNIQUE_CREDENTIAL_FIELD[kind]
      for (const [cred, j] of objects(c[kind])) {
        consumer[kind].push(cred as Credential)
        if (unique === undefined || typeof cred[unique] !== 'string') continue
        // The value may be a secret: the message names where the twin is, never the value.
        const key = `${kind}|${cred[unique] as string}`
        const credAt = `${at}.${kind}[${j}]`
        const prev = seen.get(key)
        if (prev !== undefined) ctx.report.errors.push({ path: `${credAt}.${unique}`, message: `duplicate ${unique} (also at ${prev})` })
        else seen.set(key, credAt)
      }
    }
    ctx.cfg.consumers.push(consumer)
    ctx.consumers.add('username', consumer.username, index, at)
    ctx.consumers.add('custom_id', consumer.custom_id, index, at)
    ctx.consumers.add('id', consumer.id, index, at)
    nestedPlugins(ctx, c, at, { consumer: index })
  }
}

function flattenUpstreams(ctx: Ctx, tree: Tree): void {
  for (const [u, i] of objects(tree.upstreams)) {
    const at = `upstreams[${i}]`
    const index = ctx.cfg.upstreams.length
    const upstream = finishUpstream(u, at)
    ctx.cfg.upstreams.push(upstream)
    ctx.upstreams.add('name', upstream.name, index, at)
    ctx.upstreams.add('id', upstream.id, index, at)
  }
  for (const [t, k] of objects(tree.targets)) {
    const at = `targets[${k}]`
    const u = ctx.upstreams.resolve(t.upstream, `${at}.upstream`)
    if (u !== -1) ctx.cfg.upstreams[u].targets.push(finishTarget(t, at))
  }
  for (const upstream of ctx.cfg.upstreams) {
    const seen = new Map<string, string>()
    for (const t of upstream.targets) {
      const key = targetKey(t)
      const prev = seen.get(key)
      if (prev !== undefined) ctx.report.errors.push({ path: `${t.at}.target`, message: `duplicate target '${key}' in upstream '${upstream.name}' (also at ${prev})` })
      else seen.set(key, t.at)
    }
  }
}

function certificateSnis(ctx: Ctx, c: Tree, at: string): string[] {
  const names: string[] = []
  if (!Array.isArray(c.snis)) return names
  c.snis.forEach((s: unknown, i: number) => {
    const p = joinPath(`${at}.snis`, i)
    if (typeof s === 'string') {
      const err = sniError(s.startsWith('*.') ? s.slice(2) : s)
      if (err !== null) ctx.report.errors.push({ path: p, message: err })
      else names.push(s)
      return
    }
    const rec = validateRecord(sniSchema(true), s, p, ctx.report)
    if (rec !== undefined && typeof rec.name === 'string') names.push(rec.name)
  })
  return names
}

function flattenCertificates(ctx: Ctx, tree: Tree): void {
  for (const [c, i] of objects(tree.certificates)) {
    const at = `certificates[${i}]`
    const index = ctx.cfg.certificates.length
    const cert: CertificateEntity = {
      at, id: c.id as string | null, cert: c.cert as string, key: c.key as string,
      cert_alt: c.cert_alt as string | null, key_alt: c.key_alt as string | null, snis: certificateSnis(ctx, c, at),
    }
    ctx.cfg.certificates.push(cert)
    ctx.certificates.add('id', cert.id, index, at)
  }
  for (const [s, k] of objects(tree.snis)) {
    const at = `snis[${k}]`
    const c = ctx.certificates.resolve(s.certificate, `${at}.certificate`)
    if (c !== -1 && typeof s.name === 'string') ctx.cfg.certificates[c].snis.push(s.name)
  }
  const seen = new Map<string, string>()
  for (const cert of ctx.cfg.certificates) {
    for (const name of cert.snis) {
      const prev = seen.get(name.toLowerCase())
      if (prev !== undefined) ctx.report.errors.push({ path: `${cert.at}.snis`, message: `duplicate sni '${name}' (also on ${prev})` })
      else seen.set(name.toLowerCase(), cert.at)
    }
  }
  for (const [c, i] of objects(tree.ca_certificates)) {
    const at = `ca_certificates[${i}]`
    const ca: CaCertificateEntity = { at, id: c.id as string | null, cert: c.cert as string, cert_digest: c.cert_digest as string | null }
    ctx.caCertificates.add('id', ca.id, ctx.cfg.ca_certificates.length, at)
    ctx.cfg.ca_certificates.push(ca)
  }
}

/** Service and upstream references to certificates must name existing ones. */
function checkCertificateRefs(ctx: Ctx, tree: Tree): void {
  for (const [s, i] of objects(tree.services)) {
    ctx.certificates.resolve(s.client_certificate, `services[${i}].client_certificate`)
    if (Array.isArray(s.ca_certificates)) {
      s.ca_certificates.forEach((ref: unknown, k: number) => ctx.caCertificates.resolve(ref, `services[${i}].ca_certificates[${k}]`))
    }
  }
  for (const [u, i] of objects(tree.upstreams)) ctx.certificates.resolve(u.client_certificate, `upstreams[${i}].client_certificate`)
}

function resolvePlugins(ctx: Ctx, registry: PluginSchemas, env: Env, baseDir: string): void {
  const scopes = new Map<string, string>()
  for (const p of ctx.plugins) {
    const name = p.raw.name as string
    const plugin: PluginEntity = {
      at: p.at,
      id: p.raw.id as string | null,
      name,
      instance_name: p.raw.instance_name as string | null,
      config: {},
      enabled: p.raw.enabled as boolean,
      service: p.service ?? ctx.services.resolve(p.raw.service, `${p.at}.service`),
      route: p.route ?? ctx.routes.resolve(p.raw.route, `${p.at}.route`),
      consumer: p.consumer ?? ctx.consumers.resolve(p.raw.consumer, `${p.at}.consumer`),
    }
    const def = typeof name === 'string' && Object.hasOwn(registry, name) ? registry[name] : undefined
    if (def === undefined) {
      if (typeof name === 'string') ctx.report.errors.push({ path: `${p.at}.name`, message: `unknown plugin '${name}'` })
    } else {
      const raw = p.raw.config === null ? undefined : p.raw.config
      if (def.noConsumer === true && plugin.consumer !== -1) {
        ctx.report.errors.push({ path: `${p.at}.consumer`, message: `the '${name}' plugin cannot be scoped to a consumer (value must be null)` })
      }
      const errorsBefore = ctx.report.errors.length
      plugin.config = validateRecord(def.schema, raw, `${p.at}.config`, ctx.report) ?? {}
      if (def.checkEnv !== undefined && ctx.report.errors.length === errorsBefore) {
        for (const e of def.checkEnv(plugin.config, env)) ctx.report.errors.push({ path: joinPath(`${p.at}.config`, e.field), message: e.message })
      }
      if (def.prepare !== undefined && ctx.report.errors.length === errorsBefore) {
        const prepared = def.prepare(plugin.config, baseDir)
        if (prepared.ok) plugin.prepared = prepared.data
        else for (const e of prepared.problems) ctx.report.errors.push({ path: joinPath(`${p.at}.config`, e.field), message: e.message })
      }
    }
    // Kong allows one instance of a plugin per scope (its cache key: name, route, service, consumer).
    const key = `${name}|${plugin.service}|${plugin.route}|${plugin.consumer}`
    const prev = scopes.get(key)
    if (prev !== undefined) ctx.report.errors.push({ path: p.at, message: `plugin '${name}' is already configured for this scope (at ${prev})` })
    else scopes.set(key, p.at)
    ctx.cfg.plugins.push(plugin)
  }
}

/** `baseDir`: where relative paths in plugin configs resolve (the config file's directory). */
export function flatten(
  tree: Tree, formatVersion: string, registry: PluginSchemas, report: Report, env: Env = process.env, baseDir: string = process.cwd(),
): ValidConfig {
  const ctx: Ctx = {
    cfg: {
      format_version: formatVersion, services: [], routes: [], upstreams: [], consumers: [], plugins: [],
      certificates: [], ca_certificates: [],
    },
    report,
    services: entityIndex('service', report, ['name', 'id']),
    routes: entityIndex('route', report, ['name', 'id']),
    consumers: entityIndex('consumer', report, ['username', 'id', 'custom_id']),
    upstreams: entityIndex('upstream', report, ['name', 'id']),
    certificates: entityIndex('certificate', report, ['id']),
    caCertificates: entityIndex('ca_certificate', report, ['id']),
    plugins: [],
  }
  flattenServices(ctx, tree)
  flattenConsumers(ctx, tree)
  flattenUpstreams(ctx, tree)
  flattenCertificates(ctx, tree)
  checkCertificateRefs(ctx, tree)
  for (const [p, i] of objects(tree.plugins)) ctx.plugins.push({ raw: p, at: `plugins[${i}]` })
  resolvePlugins(ctx, registry, env, baseDir)
  return ctx.cfg
}
