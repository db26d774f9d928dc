// A file (or stdout that is a regular file or a socket) written through pino's sonic-boom: asynchronous
// writes of whole lines, bounded by MAX_BUFFERED; large writes to files (O_APPEND keeps a write whole on Linux).
import { fstatSync } from 'node:fs'
import { pino } from 'pino'
import { DropCounter, MAX_BUFFERED, PIPE_BUF, type LineSink } from './line-sink.js'

type SonicBoom = ReturnType<typeof pino.destination>

/** Bytes per write to a regular file (fewer syscalls under load). */
const FILE_WRITE = 256 * 1024

function isRegularFile(fd: number): boolean {
  try {
    return fstatSync(fd).isFile()
  } catch {
    return false
  }
}

/** A file path, or a descriptor (stdout that is a file or socket): a file gets FILE_WRITE, anything else PIPE_BUF writes. */
export class BoomSink extends DropCounter implements LineSink {
  readonly boom: SonicBoom
  /** The destination reported an error: it writes nothing more, so lines are counted as lost. */
  private failed = false

  constructor(target: string | number) {
    super(String(target))
    this.boom = pino.destination(typeof target === 'number'
      ? { fd: target, sync: false, maxWrite: isRegularFile(target) ? FILE_WRITE : PIPE_BUF, maxLength: MAX_BUFFERED }
      : { dest: target, sync: false, append: true, mkdir: true, maxWrite: FILE_WRITE, maxLength: MAX_BUFFERED })
    this.boom.on('drop', () => this.lost())
    // A failing disk or a closed pipe must not crash the worker: the line is lost, the request is not.
    this.boom.on('error', () => {
      this.failed = true
      this.lost()
    })
  }

  write(line: string): void {
    if (this.failed) this.lost()
    else this.boom.write(line)
  }

  flushSync(): void {
    if (this.failed) return
    try {
      this.boom.flushSync()
    } catch {
      // not open yet, or the descriptor is gone: nothing more can be written
    }
  }
}

