// The PluginEnv a worker hands to every plugin's compile(): its views of the primary's shared tables,
// the settings, its logger and its own row of counters.
import type { Logger } from '../logger.js'
import type { PluginEnv } from '../plugins/types.js'
import type { Settings } from '../settings.js'
import type { CacheStore } from '../shared/cache-store.js'
import type { RateTable } from '../shared/rate-table.js'
import type { WorkerStats } from '../shared/worker-stats.js'

export function createPluginEnv(settings: Settings, rateTable: RateTable, cache: CacheStore, log: Logger, stats: WorkerStats, row: number): PluginEnv {
  return {
    settings,
    rateTable,
    cache,
    log,
    count: (stat, delta = 1) => stats.add(row, stat, delta),
  }
}
