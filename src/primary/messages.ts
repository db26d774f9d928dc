// Messages between the primary and its worker threads (structured clone over the worker port).
// Nothing here is sent per request: only start-up data, Snapshots, metrics scrapes and lifecycle commands.
import type { Snapshot } from '../config/types.js'
import type { Settings } from '../settings.js'
import type { RowSnapshot } from '../observability/worker-metrics.js'

export interface WorkerInit {
  index: number
  settings: Settings
  snapshot: Snapshot
  healthSab: SharedArrayBuffer
  healthCapacity: number
  statsSab: SharedArrayBuffer
  statsRows: number
  rateSab: SharedArrayBuffer
  cacheSab: SharedArrayBuffer
}

export type PrimaryMessage =
  | { type: 'snapshot'; snapshot: Snapshot }
  | { type: 'metrics'; id: number }
  | { type: 'drain' }
  | { type: 'terminate' }

export type WorkerMessage =
  | { type: 'ready'; port: number; tlsPort: number | null }
  | { type: 'applied'; hash: string }
  | { type: 'apply-failed'; hash: string; error: string }
  | { type: 'listen-failed'; error: string }
  | { type: 'drained' }
  | { type: 'metrics'; id: number; rows: RowSnapshot[] }
