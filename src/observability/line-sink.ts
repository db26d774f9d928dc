// What the log destinations share: the LineSink contract, the buffer bound, and counting (and now and then
// reporting) the lines that are lost because a destination does not keep up or failed.
import { createLogger, type Logger } from '../logger.js'

/** The largest write POSIX keeps whole on a pipe (Linux: 4096), so lines of several threads never interleave. */
export const PIPE_BUF = 4096
/** Bytes waiting for the disk or the pipe reader, per destination; past it new lines are dropped (and counted). */
export const MAX_BUFFERED = 16 * 1024 * 1024
/** At most one warning about dropped lines per destination in this interval. */
const WARN_INTERVAL_MS = 10_000

let warnLog: Logger | null = null

function warnDropped(target: string, dropped: number): void {
  warnLog ??= createLogger('warn', { component: 'log-sink' })
  warnLog.warn({ target, dropped }, 'log lines dropped: the destination does not keep up (buffer full) or failed')
}

/** A destination lines are written to; `dropped` counts lines refused because the buffer was full. */
export interface LineSink {
  write(line: string): void
  readonly dropped: number
  /** Writes what is buffered before the thread exits (synchronous). */
  flushSync(): void
}

/** Counts lost lines and warns about them at most every WARN_INTERVAL_MS; the base of every sink. */
export class DropCounter {
  dropped = 0
  private warnedAt = 0
  private readonly target: string

  constructor(target: string) {
    this.target = target
  }

  lost(): void {
    this.dropped++
    const now = Date.now()
    if (now - this.warnedAt < WARN_INTERVAL_MS) return
    this.warnedAt = now
    warnDropped(this.target, this.dropped)
  }
}

