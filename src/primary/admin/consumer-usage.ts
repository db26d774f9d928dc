// GET /consumers/{username}/usage (SPEC §9): what each local rate-limiting instance that counts by consumer
// has counted for one consumer, read from the shared table without counting (peek).
import type { Snapshot } from '../../config/types.js'
import { consumerBucket } from '../../plugins/rate-limiting.js'
import { PERIODS, RateLimits, type Period, type RateTable, type WindowType } from '../../shared/rate-table.js'

export interface UsageWindow {
  period: Period
  limit: number
  remaining: number
  used: number
  reset_s: number
}

/** The consumer's usage per plugin instance, or null when no consumer has that username, id or custom_id. */
export function consumerUsage(snapshot: Snapshot, table: RateTable, ref: string, nowMs = Date.now()): unknown {
  const consumer = snapshot.consumers.find((c) => c.username === ref || c.id === ref || c.customId === ref)
  if (consumer === undefined) return null
  const plugins = []
  for (const p of snapshot.plugins) {
    const c = p.config
    if (p.name !== 'rate-limiting' || c.limit_by !== 'consumer' || c.policy !== 'local') continue
    if (p.consumer !== null && p.consumer !== consumer.name) continue
    const given: Partial<Record<Period, number>> = {}
    for (const period of PERIODS) if (typeof c[period] === 'number') given[period] = c[period] as number
    const limits = new RateLimits(given, c.window_type as WindowType)
    const d = table.peekAll(consumerBucket(p.id, consumer.id), limits, nowMs)
    const windows: UsageWindow[] = []
    for (let i = 0; i < d.windows; i++) {
      const remaining = Math.max(0, Math.floor(d.remainingOf[i]!))
      windows.push({ period: limits.periods[i]!, limit: limits.limits[i]!, remaining, used: limits.limits[i]! - remaining, reset_s: Math.ceil(d.resetMsOf[i]! / 1000) })
    }
    plugins.push({ plugin: p.id, service: p.service, route: p.route, window_type: limits.windowType, windows })
  }
  return { consumer: { id: consumer.id, username: consumer.username, custom_id: consumer.customId }, rate_limiting: plugins }
}
