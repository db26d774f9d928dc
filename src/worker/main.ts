// Worker thread entry: builds a Runtime from the Snapshot it is given, runs a Listener on the
// shared port, swaps Snapshots on reload and drains on request. Messages: see primary/messages.ts.
import { parentPort, workerData } from 'node:worker_threads'
import { createLogger } from '../logger.js'
import type { PrimaryMessage, WorkerInit } from '../primary/messages.js'
import type { Snapshot } from '../config/types.js'
import { HealthTable } from '../shared/health-table.js'
import { CacheStore } from '../shared/cache-store.js'
import { RateTable } from '../shared/rate-table.js'
import { STAT, WorkerStats } from '../shared/worker-stats.js'
import { createPluginEnv } from './plugin-env.js'
import { closeAll as closeRedisClients } from '../redis/connection.js'
import { Listener } from './listener.js'
import { LogPhase } from './log-phase.js'
import { createAccessLog } from '../observability/access-log.js'
import { Runtime } from './runtime.js'
import { finish as finishObservability, finishSync as finishObservabilitySync } from '../observability/shutdown.js'
import { WorkerMetrics } from '../observability/worker-metrics.js'

const init = workerData as WorkerInit
/** How long a draining worker waits for http-log batches and trace spans to be delivered. */
const OBSERVABILITY_FLUSH_MS = 2000
const port = parentPort!
const log = createLogger(init.settings.logLevel, { worker: init.index })
const health = new HealthTable(init.healthSab, init.healthCapacity)
const stats = new WorkerStats(init.statsSab, init.statsRows)
const env = createPluginEnv(init.settings, RateTable.attach(init.rateSab), CacheStore.attach(init.cacheSab), log, stats, init.index)

function hashCell(hash: string): number {
  return parseInt(hash.slice(0, 8), 16) | 0
}

const metrics = new WorkerMetrics()
const listener = new Listener(init.settings, new Runtime(init.snapshot, health, env, metrics), stats, init.index, new LogPhase(createAccessLog(init.settings), log))
stats.set(init.index, STAT.CONFIG_HASH, hashCell(init.snapshot.hash))

/** The newest Snapshot not applied yet: a burst of reloads is applied once, as its last config. */
let pending: Snapshot | null = null

function applyPending(): void {
  const snapshot = pending!
  pending = null
  try {
    listener.runtime = new Runtime(snapshot, health, env, metrics)
    try {
      listener.updateTls(snapshot)
    } catch (err) {
      // Routing moves on; the TLS listener keeps serving the certificates it has.
      log.error({ err }, 'TLS certificates of the new config could not be loaded; the previous ones stay in use')
    }
    stats.set(init.index, STAT.CONFIG_HASH, hashCell(snapshot.hash))
    port.postMessage({ type: 'applied', hash: snapshot.hash })
  } catch (err) {
    log.error({ err }, 'snapshot rejected by worker')
    port.postMessage({ type: 'apply-failed', hash: snapshot.hash, error: String(err) })
  }
}

port.on('message', (msg: PrimaryMessage) => {
  switch (msg.type) {
    case 'snapshot':
      // Messages queued together are all delivered before the immediate runs, so only the last is built.
      if (pending === null) setImmediate(applyPending)
      pending = msg.snapshot
      break
    case 'metrics':
      port.postMessage({ type: 'metrics', id: msg.id, rows: metrics.snapshot() })
      break
    case 'drain':
      // Queued log batches and spans get a bounded chance to leave before the thread ends.
      void listener.drain().then(() => finishObservability(OBSERVABILITY_FLUSH_MS)).then(() => exit(0))
      break
    case 'terminate':
      exit(1)
      break
  }
})

/**
 * Ends the thread. uWS's sockets must be closed first: a thread that exits while uWS still holds
 * a libuv handle aborts the whole process (Node's CheckedUvLoopClose), so nothing here calls
 * worker.terminate() and every way out goes through app.close().
 */
function exit(code: number): void {
  listener.closeAll()
  finishObservabilitySync()
  closeRedisClients()
  setImmediate(() => process.exit(code))
}

process.on('uncaughtException', (err) => {
  log.fatal({ err }, 'worker crashed; closing its connections so the primary can respawn it')
  exit(1)
})
process.on('unhandledRejection', (err) => {
  log.fatal({ err }, 'unhandled rejection in worker; closing its connections so the primary can respawn it')
  exit(1)
})

listener.listen().then(
  (boundPort) => port.postMessage({ type: 'ready', port: boundPort, tlsPort: listener.tlsPort }),
  // Exiting a thread that holds uWS's loop handle aborts the process: report, and let the primary stop.
  (err: Error) => port.postMessage({ type: 'listen-failed', error: err.message }),
)
