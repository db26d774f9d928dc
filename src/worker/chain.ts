// Per-route plugin chains, resolved at Snapshot time with Kong's precedence (most specific scope
// wins), sorted by priority; the runner stays synchronous until a plugin returns a promise.
import type { PluginInstance, RouteRecord, Snapshot } from '../config/types.js'
import { plugins } from '../plugins/index.js'
import { applicablePlugins } from '../config/plugin-precedence.js'
import { withGatewayTracing } from '../plugins/opentelemetry.js'
import { OPEN } from './context.js'
import { CONTINUE, DONE, type PluginDefinition, type PluginEnv, type PluginRequest, type PhaseResult, type RequestLog } from '../plugins/types.js'

export interface ChainEntry {
  name: string
  priority: number
  /** null for a plugin with only a log phase. */
  access: ((ctx: PluginRequest, conf: unknown) => PhaseResult) | null
  log: ((log: RequestLog, conf: unknown) => void) | null
  conf: unknown
}

/** One route's access chain, and the chains that replace it once an auth plugin identified a consumer. */
export interface Chain {
  entries: ChainEntry[]
  /** Some entry (of any consumer's chain too) has a log phase. */
  logs: boolean
  /** Consumer id → the chain with that consumer's scoped plugins; null when no plugin is consumer-scoped. */
  byConsumer: Map<string, ChainEntry[]> | null
}

function byPriority(a: ChainEntry, b: ChainEntry): number {
  return b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
}

/** Builds chains for every route; each plugin instance is compiled once and shared by its routes. */
export function buildChains(config: Snapshot, env: PluginEnv): (Chain | null)[] {
  // GATEWAY_OTEL_ENDPOINT traces every route through an implicit global opentelemetry instance.
  const snapshot = withGatewayTracing(config, env.settings)
  const compiled = new Map<PluginInstance, unknown>()
  const entry = (instance: PluginInstance): ChainEntry | null => {
    const def = plugins[instance.name] as PluginDefinition<unknown> | undefined
    if (def === undefined || (def.phases.access === undefined && def.phases.log === undefined)) return null
    let conf = compiled.get(instance)
    if (conf === undefined) {
      conf = def.compile(instance.config, env, { id: instance.id, route: instance.route, service: instance.service, prepared: instance.prepared, snapshot })
      compiled.set(instance, conf)
    }
    return { name: def.name, priority: def.priority, access: def.phases.access ?? null, log: def.phases.log ?? null, conf }
  }
  const scopedConsumers = new Set(snapshot.plugins.flatMap((p) => (p.consumer === null ? [] : [p.consumer])))
  const consumerIds = new Map(snapshot.consumers.map((c) => [c.name, c.id]))

  const chainFor = (route: RouteRecord, serviceKeys: string[], consumer: string | null): ChainEntry[] => {
    const entries: ChainEntry[] = []
    for (const instance of applicablePlugins(snapshot, route, serviceKeys, consumer).values()) {
      const e = entry(instance)
      if (e !== null) entries.push(e)
    }
    return entries.sort(byPriority)
  }

  return snapshot.routes.map((route) => {
    const service = snapshot.services[route.service]
    const serviceKeys = service ? [service.name, service.id] : []
    const entries = chainFor(route, serviceKeys, null)
    let byConsumer: Map<string, ChainEntry[]> | null = null
    for (const name of scopedConsumers) {
      const id = consumerIds.get(name)
      if (id === undefined) continue
      byConsumer ??= new Map()
      byConsumer.set(id, chainFor(route, serviceKeys, name))
    }
    if (entries.length === 0 && byConsumer === null) return null
    const hasLog = (list: ChainEntry[]): boolean => list.some((e) => e.log !== null)
    return { entries, byConsumer, logs: hasLog(entries) || (byConsumer !== null && [...byConsumer.values()].some(hasLog)) }
  })
}

/** Where `entries` continues after `done` ran: the first entry that sorts after it. */
function resumeAt(entries: ChainEntry[], done: ChainEntry): number {
  let i = 0
  while (i < entries.length && byPriority(entries[i]!, done) <= 0) i++
  return i
}

/** The entries to continue with: the consumer's chain when the plugin that just ran identified one. */
function chainAfter(ctx: PluginRequest, chain: Chain, entries: ChainEntry[], before: PluginRequest['consumer']): ChainEntry[] {
  if (ctx.consumer === before || ctx.consumer === null || chain.byConsumer === null) return entries
  return chain.byConsumer.get(ctx.consumer.id) ?? chain.entries
}

/**
 * Runs access phases of `entries` from `from`. When a plugin identifies a consumer (ctx.consumer
 * changes) and the route has plugins scoped to consumers, the rest runs from that consumer's chain, as
 * Kong re-resolves plugins after authentication. Returns CONTINUE when every plugin let the request
 * through, DONE when one answered, or a promise when a plugin needed I/O (the rest runs after it).
 */
export function runAccess(ctx: PluginRequest & { state: number }, chain: Chain, entries: ChainEntry[] = chain.entries, from = 0): PhaseResult {
  for (let i = from; i < entries.length; i++) {
    const entry = entries[i]!
    if (entry.access === null) continue
    const before = ctx.consumer
    const result = entry.access(ctx, entry.conf)
    if (result === DONE) return DONE
    if (result === CONTINUE) {
      const next = chainAfter(ctx, chain, entries, before)
      if (next !== entries) return runAccess(ctx, chain, next, resumeAt(next, entry))
      continue
    }
    return result.then((r) => {
      if (r === DONE || ctx.state !== OPEN) return DONE
      const next = chainAfter(ctx, chain, entries, before)
      return runAccess(ctx, chain, next, next === entries ? i + 1 : resumeAt(next, entry))
    })
  }
  return CONTINUE
}

/**
 * Kong's log phase for a finished request: the log functions of the chain that applied to it (the
 * consumer's, when an auth plugin identified one), in priority order. A throwing plugin is logged by the
 * caller's handler and does not stop the others.
 */
export function runLog(chain: Chain, log: RequestLog, onError: (plugin: string, err: unknown) => void): void {
  const consumer = log.request.consumer
  const entries = consumer !== null && chain.byConsumer !== null ? (chain.byConsumer.get(consumer.id) ?? chain.entries) : chain.entries
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!
    if (entry.log === null) continue
    try {
      entry.log(log, entry.conf)
    } catch (err) {
      onError(entry.name, err)
    }
  }
}
