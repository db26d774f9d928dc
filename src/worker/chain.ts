// Per-route plugin chains, resolved at Snapshot time with Kong's precedence (most specific scope
// wins), sorted by priority; the runner stays synchronous until a plugin returns a promise.
import type { PluginInstance, RouteRecord, Snapshot } from '../config/types.js'
import { plugins } from '../plugins/index.js'
import { OPEN } from './context.js'
import { CONTINUE, DONE, type PluginDefinition, type PluginEnv, type PluginRequest, type PhaseResult } from '../plugins/types.js'

export interface ChainEntry {
  name: string
  priority: number
  access: (ctx: PluginRequest, conf: unknown) => PhaseResult
  conf: unknown
}

/** One route's access chain, and the chains that replace it once an auth plugin identified a consumer. */
export interface Chain {
  entries: ChainEntry[]
  /** Consumer id → the chain with that consumer's scoped plugins; null when no plugin is consumer-scoped. */
  byConsumer: Map<string, ChainEntry[]> | null
}

/**
 * Kong's precedence for one plugin name (kong/runloop/plugins_iterator.lua), most specific first:
 * consumer+route+service, consumer+route, consumer+service, route+service, consumer, route, service,
 * global. -1 when the instance does not apply to this route (and, for consumer scopes, this consumer).
 */
function specificity(p: PluginInstance, route: RouteRecord, serviceKeys: string[], consumer: string | null): number {
  const onRoute = p.route !== null && (p.route === route.name || p.route === route.id)
  const onService = p.service !== null && serviceKeys.includes(p.service)
  if (p.route !== null && !onRoute) return -1
  if (p.service !== null && !onService) return -1
  if (p.consumer !== null) {
    if (p.consumer !== consumer) return -1
    return onRoute && onService ? 8 : onRoute ? 7 : onService ? 6 : 4
  }
  return onRoute && onService ? 5 : onRoute ? 3 : onService ? 2 : 1
}

function byPriority(a: ChainEntry, b: ChainEntry): number {
  return b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
}

/** Builds chains for every route; each plugin instance is compiled once and shared by its routes. */
export function buildChains(snapshot: Snapshot, env: PluginEnv): (Chain | null)[] {
  const compiled = new Map<PluginInstance, unknown>()
  const entry = (instance: PluginInstance): ChainEntry | null => {
    const def = plugins[instance.name] as PluginDefinition<unknown> | undefined
    if (def === undefined || def.phases.access === undefined) return null
    let conf = compiled.get(instance)
    if (conf === undefined) {
      conf = def.compile(instance.config, env, { id: instance.id, route: instance.route, service: instance.service, snapshot })
      compiled.set(instance, conf)
    }
    return { name: def.name, priority: def.priority, access: def.phases.access, conf }
  }
  const scopedConsumers = new Set(snapshot.plugins.flatMap((p) => (p.consumer === null ? [] : [p.consumer])))
  const consumerIds = new Map(snapshot.consumers.map((c) => [c.name, c.id]))

  const chainFor = (route: RouteRecord, serviceKeys: string[], consumer: string | null): ChainEntry[] => {
    const chosen = new Map<string, { score: number; instance: PluginInstance }>()
    for (const p of snapshot.plugins) {
      const score = specificity(p, route, serviceKeys, consumer)
      if (score < 0) continue
      const prev = chosen.get(p.name)
      if (prev === undefined || score > prev.score) chosen.set(p.name, { score, instance: p })
    }
    const entries: ChainEntry[] = []
    for (const { instance } of chosen.values()) {
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
    return entries.length === 0 && byConsumer === null ? null : { entries, byConsumer }
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
