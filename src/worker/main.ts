// Worker thread entry: builds a Runtime from the Snapshot it is given, runs a Listener on the
// shared port, swaps Snapshots on reload and drains on request. Messages: see primary/messages.ts.
import { parentPort, workerData } from 'node:worker_threads'
import { createLogger } from '../logger.js'
import type { PrimaryMessage, WorkerInit } from '../primary/messages.js'
import { HealthTable } from '../shared/health-table.js'
import { CacheStore } from '../shared/cache-store.js'
import { RateTable } from '../shared/rate-table.js'
import { STAT, WorkerStats } from '../shared/worker-stats.js'
import { createPluginEnv } from './plugin-env.js'
import { closeAll as closeRedisClients } from '../redis/connection.js'
import { Listener } from './listener.js'
import { Runtime } from './runtime.js'

const init = workerData as WorkerInit
const port = parentPort!
const log = createLogger(init.settings.logLevel, { worker: init.index })
const health = new HealthTable(init.healthSab, init.healthCapacity)
const stats = new WorkerStats(init.statsSab, init.statsRows)
const env = createPluginEnv(init.settings, RateTable.attach(init.rateSab), CacheStore.attach(init.cacheSab), log, stats, init.index)

function hashCell(hash: string): number {
  return parseInt(hash.slice(0, 8), 16) | 0
}

const listener = new Listener(init.settings, new Runtime(init.snapshot, health, env), stats, init.index)
stats.set(init.index, STAT.CONFIG_HASH, hashCell(init.snapshot.hash))

port.on('message', (msg: PrimaryMessage) => {
  switch (msg.type) {
    case 'snapshot':
      try {
        listener.runtime = new Runtime(msg.snapshot, health, env)
        try {
          listener.updateTls(msg.snapshot)
        } catch (err) {
          // Routing moves on; the TLS listener keeps serving the certificates it has.
          log.error({ err }, 'TLS certificates of the new config could not be loaded; the previous ones stay in use')
        }
        stats.set(init.index, STAT.CONFIG_HASH, hashCell(msg.snapshot.hash))
        port.postMessage({ type: 'applied', hash: msg.snapshot.hash })
      } catch (err) {
        log.error({ err }, 'snapshot rejected by worker')
        port.postMessage({ type: 'apply-failed', hash: msg.snapshot.hash, error: String(err) })
      }
      break
    case 'drain':
      void listener.drain().then(() => exit(0))
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
