// The worker threads of one gateway: start, respawn a worker that dies (within a second),
// broadcast Snapshots, and drain them all on shutdown.
import { Worker } from 'node:worker_threads'
import type { Logger } from '../logger.js'
import type { Snapshot } from '../config/types.js'
import type { PrimaryMessage, WorkerInit, WorkerMessage } from './messages.js'

const WORKER_URL = new URL('../worker/main.js', import.meta.url)
/** A worker that dies this soon after starting is respawned after a pause, not in a tight loop. */
const RESPAWN_DELAY_MS = 200

interface Slot {
  worker: Worker | null
  ready: boolean
  appliedHash: string
}

export class WorkerSet {
  readonly count: number
  restarts = 0
  /** The proxy port all workers share, once worker 0 has bound it. */
  port = 0
  private readonly slots: Slot[]
  private readonly makeInit: (index: number) => WorkerInit
  private readonly log: Logger
  private stopping = false

  constructor(count: number, makeInit: (index: number) => WorkerInit, log: Logger) {
    this.count = count
    this.makeInit = makeInit
    this.log = log
    this.slots = Array.from({ length: count }, () => ({ worker: null, ready: false, appliedHash: '' }))
  }

  /**
   * Starts every worker; resolves with the bound port once all listen, rejects if one cannot.
   * Worker 0 binds first so that port 0 (tests) resolves to one real port the others then share.
   */
  async start(): Promise<number> {
    this.port = await this.spawn(0)
    await Promise.all(this.slots.slice(1).map((_, i) => this.spawn(i + 1)))
    return this.port
  }

  private spawn(index: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const init = this.makeInit(index)
      if (this.port !== 0) init.settings = { ...init.settings, port: this.port }
      const worker = new Worker(WORKER_URL, { workerData: init })
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
        } else if (msg.type === 'applied') {
          slot.appliedHash = msg.hash
        } else if (msg.type === 'apply-failed') {
          this.log.error({ worker: index, error: msg.error }, 'worker could not apply the new config')
        }
      })
      worker.on('error', (err) => this.log.error({ err, worker: index }, 'worker crashed'))
      worker.on('exit', (code) => {
        if (slot.worker !== worker) return
        slot.worker = null
        slot.ready = false
        if (!started) return reject(new Error(`worker ${index} exited with code ${code} before listening`))
        if (this.stopping) return
        this.restarts++
        this.log.warn({ worker: index, code }, 'worker died; respawning')
        setTimeout(() => {
          if (!this.stopping) this.spawn(index).catch((err: Error) => this.log.error({ err, worker: index }, 'respawn failed'))
        }, RESPAWN_DELAY_MS)
      })
    })
  }

  broadcast(snapshot: Snapshot): void {
    const msg: PrimaryMessage = { type: 'snapshot', snapshot }
    for (const slot of this.slots) slot.worker?.postMessage(msg)
  }

  /** Ends a worker thread at once, as a crash would (admin API); the set respawns it. */
  kill(index: number): boolean {
    const worker = this.slots[index]?.worker
    if (!worker) return false
    void worker.terminate()
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
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))
    await Promise.race([Promise.all(drained), timeout])
    clearTimeout(timer)
    await Promise.all(this.slots.map((s) => s.worker?.terminate()))
  }
}
