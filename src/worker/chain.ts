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
export type Chain = ChainEntry[]

/**
 * Kong's precedence for one plugin name (kong/runloop/plugins_iterator.lua), consumer scopes aside:
 * route+service > route > service > global. Consumer-scoped instances are resolved after auth.
 */
function specificity(p: PluginInstance, route: RouteRecord, serviceKeys: string[]): number {
  if (p.consumer !== null) return -1
  const onRoute = p.route !== null && (p.route === route.name || p.route === route.id)
  const onService = p.service !== null && serviceKeys.includes(p.service)
  if (p.route !== null && !onRoute) return -1
  if (p.service !== null && !onService) return -1
  if (onRoute && onService) return 3
  if (onRoute) return 2
  if (onService) return 1
  return 0
}

export function buildChains(snapshot: Snapshot, env: PluginEnv): (Chain | null)[] {
  // One compiled config per plugin instance, shared by every route it applies to.
  const compiled = new Map<PluginInstance, unknown>()
  return snapshot.routes.map((route) => {
    const service = snapshot.services[route.service]
    const serviceKeys = service ? [service.name, service.id] : []
    const chosen = new Map<string, { score: number; instance: PluginInstance }>()
    for (const p of snapshot.plugins) {
      const score = specificity(p, route, serviceKeys)
      if (score < 0) continue
      const prev = chosen.get(p.name)
      if (prev === undefined || score > prev.score) chosen.set(p.name, { score, instance: p })
    }
    const chain: Chain = []
    for (const { instance } of chosen.values()) {
      const def = plugins[instance.name] as PluginDefinition<unknown> | undefined
      if (def === undefined || def.phases.access === undefined) continue
      let conf = compiled.get(instance)
      if (conf === undefined) {
        conf = def.compile(instance.config, env, { id: instance.id, route: instance.route, service: instance.service })
        compiled.set(instance, conf)
      }
      chain.push({ name: def.name, priority: def.priority, access: def.phases.access, conf })
    }
    chain.sort((a, b) => b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    return chain.length === 0 ? null : chain
  })
}

/**
 * Runs access phases from `from`. Returns CONTINUE when every plugin let the request through,
 * DONE when one answered, or a promise when a plugin needed I/O (the rest then runs after it).
 */
export function runAccess(ctx: PluginRequest & { state: number }, chain: Chain, from: number): PhaseResult {
  for (let i = from; i < chain.length; i++) {
    const entry = chain[i]!
    const result = entry.access(ctx, entry.conf)
    if (result === CONTINUE) continue
    if (result === DONE) return DONE
    return result.then((r) => (r === DONE || ctx.state !== OPEN ? DONE : runAccess(ctx, chain, i + 1)))
  }
  return CONTINUE
}
