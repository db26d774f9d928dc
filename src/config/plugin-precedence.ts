// Kong's plugin precedence over a Snapshot (kong/runloop/plugins_iterator.lua): which instance of each
// plugin applies to a route (and consumer). Used to build the workers' chains, metrics labels and the dashboard.
import type { PluginInstance, RouteRecord, Snapshot } from './types.js'

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

/** Plugin name → the instance that applies to `route` (and `consumer`, when not null) by Kong's precedence. */
export function applicablePlugins(snapshot: Snapshot, route: RouteRecord, serviceKeys: string[], consumer: string | null): Map<string, PluginInstance> {
  const chosen = new Map<string, { score: number; instance: PluginInstance }>()
  for (const p of snapshot.plugins) {
    const score = specificity(p, route, serviceKeys, consumer)
    if (score < 0) continue
    const prev = chosen.get(p.name)
    if (prev === undefined || score > prev.score) chosen.set(p.name, { score, instance: p })
  }
  return new Map([...chosen].map(([name, c]) => [name, c.instance]))
}
