// stdout as a pipe or terminal: chunks of whole lines up to PIPE_BUF, written once per event-loop turn on a
// non-blocking descriptor of its own, so the worker never waits for the reader and lines never interleave.
import { constants, fstatSync, openSync, writeSync } from 'node:fs'
import { DropCounter, MAX_BUFFERED, PIPE_BUF, type LineSink } from './line-sink.js'

/**
 * stdout when it is a pipe or terminal: lines are gathered into chunks of at most PIPE_BUF bytes and written once
 * per event-loop turn, synchronously, on a descriptor of its own opened O_NONBLOCK (/proc/self/fd/1), so a full
 * pipe answers EAGAIN (the chunks wait, bounded, and are retried) instead of blocking the worker. Each chunk is one
 * atomic write, so the lines of all workers stay whole. Measured against sonic-boom's asynchronous writes, which
 * must stay at PIPE_BUF per write here and then manage ~4 KiB per event-loop turn: at 50 lines per turn those
 * dropped half the lines, this drops none.
 */
export class PipeSink extends DropCounter implements LineSink {
  private readonly fd: number
  /** Chunks ready to write, from `head` on; `filling` is the one lines are still appended to. */
  private chunks: (string | Buffer)[] = []
  private head = 0
  private filling = ''
  private fillingBytes = 0
  private buffered = 0
  private scheduled = false
  private failed = false

  constructor(fd: number) {
    super(`fd ${fd}`)
    this.fd = fd
  }

  write(line: string): void {
    const bytes = Buffer.byteLength(line)
    if (this.failed || this.buffered + bytes > MAX_BUFFERED) return this.lost()
    if (this.fillingBytes + bytes > PIPE_BUF && this.fillingBytes > 0) this.seal()
    this.filling += line
    this.fillingBytes += bytes
    this.buffered += bytes
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.flush)
    }
  }

  private seal(): void {
    this.chunks.push(this.filling)
    this.filling = ''
    this.fillingBytes = 0
  }

  /** Writes until done or the pipe is full (then tries again shortly); never blocks, never throws. */
  private readonly flush = (): void => {
    this.scheduled = false
    if (this.fillingBytes > 0) this.seal()
    while (this.head < this.chunks.length) {
      const chunk = this.chunks[this.head]!
      let written: number
      try {
        written = typeof chunk === 'string' ? writeSync(this.fd, chunk) : writeSync(this.fd, chunk)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return this.retrySoon()
        this.failed = true
        return this.lost()
      }
      const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
      this.buffered -= written
      // Only a line longer than PIPE_BUF can be written in part: the rest goes next.
      if (written < size) this.chunks[this.head] = (typeof chunk === 'string' ? Buffer.from(chunk) : chunk).subarray(written)
      else this.chunks[this.head++] = ''
    }
    this.chunks = []
    this.head = 0
  }

  private retrySoon(): void {
    if (this.scheduled) return
    this.scheduled = true
    setTimeout(this.flush, 10)
  }

  flushSync(): void {
    this.flush()
  }
}

/**
 * A non-blocking descriptor for `fd` when it is a pipe or terminal, else null (a file or socket: sonic-boom's).
 * Descriptor 1 is reopened (/proc/self/fd/1) rather than switched to O_NONBLOCK, which would change it for every
 * holder of that open file; a descriptor claimStdout opened is non-blocking already.
 */
export function pipeDescriptor(fd: number): number | null {
  try {
    const stat = fstatSync(fd)
    if (!stat.isFIFO() && !stat.isCharacterDevice()) return null
    return fd === 1 ? openSync('/proc/self/fd/1', constants.O_WRONLY | constants.O_NONBLOCK) : fd
  } catch {
    return null
  }
}
