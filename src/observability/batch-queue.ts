// Kong's plugin queue (kong/tools/queue.lua semantics) for log senders: entries are batched up to
// max_batch_size or max_coalescing_delay, failed batches retried with doubling delays, and the queue is bounded.

export interface QueueOptions {
  /** Entries per batch. */
  maxBatchSize: number
  /** Seconds after the first waiting entry before a smaller batch is sent. */
  maxCoalescingDelay: number
  /** Entries that may wait; past it the oldest is dropped. */
  maxEntries: number
  /** Bytes that may wait (sum of entry lengths), null for no limit; past it the oldest are dropped. */
  maxBytes: number | null
  /** Seconds after a batch's first failure before it is given up. */
  maxRetryTime: number
  /** Seconds before the first retry; each next one doubles, up to maxRetryDelay. */
  initialRetryDelay: number
  maxRetryDelay: number
  /** Further attempts after the first, at most (null: only maxRetryTime bounds them). */
  maxRetries: number | null
  /** 1: one batch in flight at a time (order kept); -1: batches are sent without waiting for each other. */
  concurrencyLimit: 1 | -1
}

/** Sends one batch; rejects (or resolves false) when it has to be retried. */
export type BatchHandler = (batch: string[]) => Promise<boolean>

/** What happened to entries, for logs and tests. */
export interface QueueCounts {
  queued: number
  sent: number
  /** Dropped because the queue was full. */
  dropped: number
  /** Given up after the retries ran out. */
  failed: number
  retries: number
}

/** Below this many consumed slots the array is not compacted (STYLE 2.11: by index, never shift()). */
const COMPACT_AT = 1024

export class BatchQueue {
  readonly counts: QueueCounts = { queued: 0, sent: 0, dropped: 0, failed: 0, retries: 0 }
  private entries: string[] = []
  private head = 0
  private bytes = 0
  private inFlight = 0
  private timer: NodeJS.Timeout | null = null
  private readonly opts: QueueOptions
  private readonly handler: BatchHandler
  private readonly onLoss: (what: 'dropped' | 'failed', count: number) => void
  private idle: (() => void) | null = null
  /** Set by flush(): everything waiting goes out now, whatever the batch size. */
  private flushing = false

  constructor(opts: QueueOptions, handler: BatchHandler, onLoss: (what: 'dropped' | 'failed', count: number) => void = () => {}) {
    this.opts = opts
    this.handler = handler
    this.onLoss = onLoss
  }

  /** Entries waiting (not yet handed to the handler). */
  get size(): number {
    return this.entries.length - this.head
  }

  /** Queues one entry; never blocks, never throws. A full queue drops its oldest entry (Kong does the same). */
  add(entry: string): void {
    this.entries.push(entry)
    this.bytes += entry.length
    this.counts.queued++
    const max = this.opts.maxBytes
    while (this.size > this.opts.maxEntries || (max !== null && this.bytes > max && this.size > 0)) this.dropOldest()
    this.schedule()
  }

  private dropOldest(): void {
    this.bytes -= this.entries[this.head]!.length
    this.entries[this.head++] = ''
    this.counts.dropped++
    this.onLoss('dropped', this.counts.dropped)
    this.compact()
  }

  private compact(): void {
    if (this.head < COMPACT_AT || this.head * 2 < this.entries.length) return
    this.entries = this.entries.slice(this.head)
    this.head = 0
  }

  private schedule(): void {
    if (this.size === 0 || (this.opts.concurrencyLimit === 1 && this.inFlight > 0)) return
    if (this.flushing || this.size >= this.opts.maxBatchSize || this.opts.maxBatchSize === 1) {
      if (this.timer !== null) clearTimeout(this.timer)
      this.timer = null
      this.sendNext()
      return
    }
    if (this.timer === null) this.timer = setTimeout(this.onDelay, this.opts.maxCoalescingDelay * 1000)
  }

  private readonly onDelay = (): void => {
    this.timer = null
    if (this.opts.concurrencyLimit === 1 && this.inFlight > 0) return
    this.sendNext()
  }

  private sendNext(): void {
    const n = Math.min(this.size, this.opts.maxBatchSize)
    if (n === 0) return
    const batch = this.entries.slice(this.head, this.head + n)
    for (let i = 0; i < n; i++) this.bytes -= batch[i]!.length
    this.entries.fill('', this.head, this.head + n)
    this.head += n
    this.compact()
    this.inFlight++
    void this.attempt(batch, 0, 0)
    // Unlimited concurrency: what is left goes out as well, in further batches.
    if (this.opts.concurrencyLimit === -1) this.schedule()
  }

  private async attempt(batch: string[], tries: number, firstFailure: number): Promise<void> {
    let ok: boolean
    try {
      ok = await this.handler(batch)
    } catch {
      ok = false
    }
    if (ok) return this.settled(batch, 'sent')
    const now = Date.now()
    const since = tries === 0 ? now : firstFailure
    const delay = Math.min(this.opts.initialRetryDelay * 2 ** tries, this.opts.maxRetryDelay) * 1000
    const outOfTime = now + delay - since > this.opts.maxRetryTime * 1000
    const outOfTries = this.opts.maxRetries !== null && tries >= this.opts.maxRetries
    if (outOfTime || outOfTries) return this.settled(batch, 'failed')
    this.counts.retries++
    setTimeout(() => void this.attempt(batch, tries + 1, since), delay)
  }

  private settled(batch: string[], how: 'sent' | 'failed'): void {
    this.counts[how] += batch.length
    if (how === 'failed') this.onLoss('failed', this.counts.failed)
    this.inFlight--
    this.schedule()
    if (this.inFlight === 0 && this.size === 0 && this.idle !== null) this.idle()
  }

  /**
   * Sends what is waiting now (no coalescing delay) and resolves when nothing is in flight or after
   * `timeoutMs` (worker exit: what is still queued then is lost).
   */
  flush(timeoutMs: number): Promise<void> {
    this.flushing = true
    this.schedule()
    if (this.inFlight === 0 && this.size === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      this.idle = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }
}
