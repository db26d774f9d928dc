// Kong's file-log `reopen`: a file opened anew for each batch of lines, so log rotation (a moved file)
// takes effect at once; one appendFile in flight, lines arriving meanwhile form the next batch.
import { appendFile } from 'node:fs'
import { DropCounter, MAX_BUFFERED, type LineSink } from './line-sink.js'

export class ReopeningSink extends DropCounter implements LineSink {
  private pending = ''
  private writing = false
  private readonly path: string

  constructor(path: string) {
    super(path)
    this.path = path
  }

  write(line: string): void {
    if (this.pending.length + line.length > MAX_BUFFERED) return this.lost()
    this.pending += line
    if (!this.writing) this.next()
  }

  private next(): void {
    const batch = this.pending
    this.pending = ''
    this.writing = true
    appendFile(this.path, batch, (err) => {
      if (err) this.lost()
      this.writing = false
      if (this.pending !== '') this.next()
    })
  }

  flushSync(): void {
    // appendFile cannot be finished synchronously; what is pending is written by the running batch chain.
  }
}

