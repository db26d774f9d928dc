// The worker threads of one gateway: start, respawn a worker that dies (within a second),
// broadcast Snapshots, and drain them all on shutdown.
import net from 'node:net'
import { Worker } from 'node:worker_threads'
import type { Logger } from '../logger.js'
import type { Snapshot } from '../config/types.js'
import type { PrimaryMessage, WorkerInit, WorkerMessage } from './messages.js'
import type { RowSnapshot } from '../observability/worker-metrics.js'
import { mergeRows, toSnapshots } from '../observability/metrics-merge.js'
import { WorkerStats } from '../shared/worker-stats.js'

const WORKER_URL = new URL('../worker/main.js', import.meta.url)
/** A worker that dies this soon after starting is respawned after a pause, not in a tight loop. */
const RESPAWN_DELAY_MS = 200

interface Slot {
  worker: Worker | null
  ready: boolean
  appliedHash: string
  /** The worker's metrics rows at the last scrape (kept for the retired totals when it dies). */
  metrics: RowSnapshot[]
}

/** How long a scrape waits for a worker's rows before using what it answered last time. */
const METRICS_WAIT_MS = 1000

export class WorkerSet {
  readonly count: number
  restarts = 0
  /** The proxy port all workers share. */
  port = 0
  /** The TLS port all workers share, null when GATEWAY_TLS_PORT is off. */
  tlsPort: number | null = null
  private readonly slots: Slot[]
  private readonly makeInit: (index: number) => WorkerInit
  private readonly log: Logger
  private stopping = false
  /** Metrics of workers that died, summed: counters stay monotonic across respawns. */
  private retired: RowSnapshot[] = []
  private scrapeId = 0
  private readonly scrapes = new Map<number, (rows: RowSnapshot[]) => void>()
  /** Called whenever a worker reports a Snapshot applied (whenApplied waits through these). */
  private readonly appliedListeners = new Set<() => void>()
  /** The primary's view of the workers' live counters (the buffer every WorkerInit carries), made at the first spawn. */
  private stats: WorkerStats | null = null

  constructor(count: number, makeInit: (index: number) => WorkerInit, log: Logger) {
    this.count = count
    this.makeInit = makeInit
    this.log = log
    this.slots = Array.from({ length: count }, () => ({ worker: null, ready: false, appliedHash: '', metrics: [] }))
  }

  /**
   * Starts every worker on `port` (and `tlsPort` when not null); resolves once all listen, rejects if one
   * cannot. uSockets only sets SO_REUSEPORT for a non-zero port, so port 0 (tests) is first resolved to a free port.
   */
  async start(port: number, host: string, tlsPort: number | null = null): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      const free = await freePorts(host, (port === 0 ? 1 : 0) + (tlsPort === 0 ? 1 : 0))
      this.port = port !== 0 ? port : free.shift()!
      this.tlsPort = tlsPort === null || tlsPort !== 0 ? tlsPort : free.shift()!
      const spawned = await Promise.allSettled(this.slots.map((_, i) => this.spawn(i)))
      const failed = spawned.find((r) => r.status === 'rejected')
      if (failed === undefined) return this.port
      // GATEWAY_PORT=0: between releasing the probed port and the workers binding it, another process
      // may take it. Stop this attempt's workers and probe again.
      if ((port !== 0 && tlsPort !== 0) || attempt >= FREE_PORT_ATTEMPTS) throw failed.reason
      this.log.warn({ port: this.port, tlsPort: this.tlsPort, err: String(failed.reason) }, 'the probed free port was taken meanwhile; probing another')
      await this.stopAll()
    }
  }

  /** Ends every worker thread (through the terminate message) and waits for them, without respawning. */
  private async stopAll(): Promise<void> {
    const exits = this.slots.map((slot) => {
      const worker = slot.worker
      slot.worker = null
      slot.ready = false
      if (worker === null) return Promise.resolve()
      return new Promise<void>((resolve) => {
        worker.once('exit', () => resolve())
        worker.postMessage({ type: 'terminate' } satisfies PrimaryMessage)
      })
    })
    await within(Promise.all(exits), 5000)
  }

  private spawn(index: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const init = this.makeInit(index)
      init.settings = { ...init.settings, port: this.port, tlsPort: this.tlsPort }
      const worker = new Worker(WORKER_URL, { workerData: init })
      const stats = (this.stats ??= new WorkerStats(init.statsSab, init.statsRows))
      const slot = this.slots[index]!
      slot.worker = worker
      slot.ready = false
      slot.appliedHash = init.snapshot.hash
      let started = false
      worker.on('message', (msg: WorkerMessage) => {
        if (msg.type === 'ready') {
          started = true
          slot.ready = true
          resolve(msg.port)
        } else if (msg.type === 'listen-failed') {
          // It cannot serve: end it (without the exit handler respawning it) and let the caller decide.
          if (slot.worker === worker) slot.worker = null
          worker.postMessage({ type: 'terminate' } satisfies PrimaryMessage)
          reject(new Error(`worker ${index}: ${msg.error}`))
        } else if (msg.type === 'applied') {
          slot.appliedHash = msg.hash
          for (const listener of this.appliedListeners) listener()
        } else if (msg.type === 'metrics') {
          slot.metrics = msg.rows
          this.scrapes.get(msg.id)?.(msg.rows)
        } else if (msg.type === 'apply-failed') {
          this.log.error({ worker: index, error: msg.error }, 'worker could not apply the new config')
        }
      })
      worker.on('error', (err) => this.log.error({ err, worker: index }, 'worker crashed'))
      worker.on('exit', (code) => {
        // Whatever the thread had in flight or open died with it: its gauges (not its counters) go back to
        // zero, unless a replacement already owns the row (a worker that exits is never slot.worker again).
        if (slot.worker === worker || slot.worker === null) stats.resetGauges(init.index)
        if (slot.worker !== worker) return
        slot.worker = null
        slot.ready = false
        if (!started) return reject(new Error(`worker ${index} exited with code ${code} before listening`))
        if (this.stopping) return
        this.retire(slot)
        this.restarts++
        this.log.warn({ worker: index, code }, 'worker died; respawning')
        this.respawn(index, RESPAWN_DELAY_MS)
      })
    })
  }

  /** Respawns worker `index` after `delayMs`; a failed respawn is retried with a doubling delay (capped). */
  private respawn(index: number, delayMs: number): void {
    setTimeout(() => {
      if (this.stopping) return
      this.spawn(index).catch((err: Error) => {
        this.log.error({ err, worker: index, retryInMs: Math.min(delayMs * 2, RESPAWN_MAX_DELAY_MS) }, 'respawn failed')
        this.respawn(index, Math.min(delayMs * 2, RESPAWN_MAX_DELAY_MS))
      })
    }, delayMs)
  }

  /**
   * Resolves once every running worker reports `hash` applied, or after `timeoutMs`, with the indexes of the
   * workers still on another config (a worker that is down gets the current Snapshot when it respawns).
   */
  whenApplied(hash: string, timeoutMs: number): Promise<number[]> {
    const pending = (): number[] => this.slots.flatMap((s, i) => (s.worker !== null && s.appliedHash !== hash ? [i] : []))
    return new Promise((resolve) => {
      if (pending().length === 0) return resolve([])
      const done = (): void => {
        clearTimeout(timer)
        this.appliedListeners.delete(check)
        resolve(pending())
      }
      const check = (): void => {
        if (pending().length === 0) done()
      }
      const timer = setTimeout(done, timeoutMs)
      this.appliedListeners.add(check)
    })
  }

  /**
   * Every worker's metrics rows (SPEC §10: counts merged over all workers): each running worker is asked
   * for its rows; one that does not answer within a second is counted with its last answer. The rows of
   * workers that died are included once, as the retired totals.
   */
  async scrapeMetrics(): Promise<RowSnapshot[][]> {
    const asks = this.slots.map((slot) => {
      const worker = slot.worker
      if (worker === null) return Promise.resolve(slot.metrics)
      const id = ++this.scrapeId
      return new Promise<RowSnapshot[]>((resolve) => {
        const timer = setTimeout(() => finish(slot.metrics), METRICS_WAIT_MS)
        const finish = (rows: RowSnapshot[]): void => {
          clearTimeout(timer)
          this.scrapes.delete(id)
          resolve(rows)
        }
        this.scrapes.set(id, finish)
        worker.postMessage({ type: 'metrics', id } satisfies PrimaryMessage)
      })
    })
    const rows = await Promise.all(asks)
    // Read after the wait: a worker that died meanwhile has moved its rows into `retired`.
    return [this.retired, ...rows]
  }

  /** A dead worker's last rows join the retired totals (what it counted since the last scrape is lost). */
  private retire(slot: Slot): void {
    if (slot.metrics.length === 0) return
    this.retired = toSnapshots(mergeRows(mergeRows(new Map(), this.retired), slot.metrics))
    slot.metrics = []
  }

  broadcast(snapshot: Snapshot): void {
    const msg: PrimaryMessage = { type: 'snapshot', snapshot }
    for (const slot of this.slots) slot.worker?.postMessage(msg)
  }

  /**
   * Ends a worker thread at once, as a crash would: its connections are cut and the set respawns it.
   * It is asked to exit rather than terminate()d, because ending a thread that still holds uWS's
   * libuv handles aborts the process.
   */
  kill(index: number): boolean {
    const worker = this.slots[index]?.worker
    if (!worker) return false
    worker.postMessage({ type: 'terminate' } satisfies PrimaryMessage)
    return true
  }

  info(): { index: number; ready: boolean; configHash: string; threadId: number }[] {
    return this.slots.map((s, index) => ({ index, ready: s.ready, configHash: s.appliedHash, threadId: s.worker?.threadId ?? -1 }))
  }

  allReady(): boolean {
    return this.slots.every((s) => s.ready)
  }

  /** SPEC §1: every worker stops accepting and finishes in-flight requests, bounded by `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    this.stopping = true
    const drained = this.slots.map((slot) => {
      const worker = slot.worker
      if (worker === null) return Promise.resolve()
      return new Promise<void>((resolve) => {
        worker.once('exit', () => resolve())
        worker.postMessage({ type: 'drain' } satisfies PrimaryMessage)
      })
    })
    const all = Promise.all(drained)
    if (await within(all, timeoutMs)) return
    // Past the drain bound: cut what is left, and give each worker a moment to close its sockets.
    for (const slot of this.slots) slot.worker?.postMessage({ type: 'terminate' } satisfies PrimaryMessage)
    await within(all, 1000)
  }
}

/** Resolves true when `p` settles within `ms`, false otherwise. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))
  const done = await Promise.race([p.then(() => true), timeout])
  clearTimeout(timer)
  return done
}

const FREE_PORT_ATTEMPTS = 5
const RESPAWN_MAX_DELAY_MS = 5000

/** `count` distinct free ports on `host` (all bound at once, then released) for GATEWAY_PORT / GATEWAY_TLS_PORT=0. */
async function freePorts(host: string, count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, host, () => resolve(server))
  })))
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  return ports
}
