// The primary's view of a config file: load + validate + compile in one call, problems already
// formatted as `path: message`, and the Snapshot checked against the shared health table's size.
import { loadConfigFile as loadAndValidate, parseConfigText, type LoadResult } from '../config/load.js'
import { compileSnapshot, type AssignSlots } from '../config/compile.js'
import type { ValidConfig } from '../config/model.js'
import type { Issue } from '../config/schema.js'
import type { Snapshot } from '../config/types.js'
import { DEFAULT_HEALTH_CAPACITY } from '../shared/health-table.js'

export type SourceResult =
  | { ok: true; snapshot: Snapshot; document: unknown; warnings: string[] }
  | { ok: false; errors: string[]; warnings: string[] }

const format = (i: Issue): string => `${i.path}: ${i.message}`

/** `assignSlots`: the running gateway's slot allocator (primary/health-slots), so targets keep their health. */
export function loadConfigFile(path: string, healthCapacity = DEFAULT_HEALTH_CAPACITY, assignSlots?: AssignSlots): SourceResult {
  return compileLoaded(loadAndValidate(path), healthCapacity, assignSlots)
}

/**
 * Config text posted to the admin API, YAML or JSON. `source` names it in problems and is where relative
 * paths in it resolve from (the config file's path: a posted config stands in for that file).
 */
export function loadConfigText(text: string, format: 'yaml' | 'json', source: string, healthCapacity: number, assignSlots?: AssignSlots): SourceResult {
  return compileLoaded(parseConfigText(text, source, { format }), healthCapacity, assignSlots)
}

function compileLoaded(result: LoadResult, healthCapacity: number, assignSlots?: AssignSlots): SourceResult {
  const warnings = result.warnings.map(format)
  if (!result.ok) return { ok: false, errors: result.errors.map(format), warnings }
  const snapshot = compileSnapshot(result.config, result.source, Date.now(), assignSlots)
  if (snapshot.healthSlots > healthCapacity) {
    const targets = snapshot.upstreams.reduce((n, u) => n + u.targets.length, 0) + snapshot.services.filter((s) => s.upstream === -1).length
    return { ok: false, errors: [`${result.source}: ${targets} targets exceed the health table's ${healthCapacity} slots`], warnings }
  }
  return { ok: true, snapshot, document: withoutSecrets(withoutPrepared(result.config), result.secretPaths), warnings }
}

/** GET /config shows the config as written: a plugin's prepared data (a loaded proto's descriptor) is left out. */
function withoutPrepared(config: ValidConfig): ValidConfig {
  if (!config.plugins.some((p) => p.prepared !== undefined)) return config
  return { ...config, plugins: config.plugins.map(({ prepared: _prepared, ...rest }) => rest) }
}

/**
 * Replaces every value that came from a vault reference, so GET /config never shows it. Secret
 * paths are written against the file (`services[0].plugins[1].config.password`); each validated
 * entity remembers where it was written (`at`), which maps them onto the flattened config.
 */
function withoutSecrets(config: ValidConfig, secretPaths: string[]): unknown {
  if (secretPaths.length === 0) return config
  const copy = structuredClone(config)
  const entities: { at: string }[] = [
    ...copy.services, ...copy.routes, ...copy.upstreams, ...copy.consumers, ...copy.plugins, ...copy.certificates, ...copy.ca_certificates,
  ]
  for (const path of secretPaths) {
    let owner: { at: string } | undefined
    for (const e of entities) if (path.startsWith(e.at + '.') && (owner === undefined || e.at.length > owner.at.length)) owner = e
    if (owner === undefined) continue
    const keys = path.slice(owner.at.length + 1).replace(/\[(\d+)\]/g, '.$1').split('.').filter((k) => k !== '')
    let node: unknown = owner
    for (let i = 0; i < keys.length - 1 && node !== null && typeof node === 'object'; i++) node = (node as Record<string, unknown>)[keys[i]!]
    const last = keys[keys.length - 1]
    if (node !== null && typeof node === 'object' && last !== undefined && last in node) (node as Record<string, unknown>)[last] = '<redacted>'
  }
  return copy
}

export function summarize(s: Snapshot): string {
  const targets = s.upstreams.reduce((n, u) => n + u.targets.length, 0)
  return `${s.services.length} services, ${s.routes.length} routes, ${s.upstreams.length} upstreams (${targets} targets), ${s.plugins.length} plugins; hash ${s.hash}`
}
