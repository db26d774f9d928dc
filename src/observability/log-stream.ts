// The log destinations of this worker by target: stdout or a file path, one sink each, shared by the access
// log and every file-log instance naming the same file, and flushed together at worker exit.
import { BoomSink } from './boom-sink.js'
import type { LineSink } from './line-sink.js'
import { pipeDescriptor, PipeSink } from './pipe-sink.js'
import { FD_TARGET } from './stdout-claim.js'
import { ReopeningSink } from './reopening-sink.js'

export type { LineSink }

/** Per worker: one sink per target, shared by the access log and every file-log instance naming it. */
const sinks = new Map<string, LineSink>()

/** The descriptor a target names ('stdout', or `fd:N` once claimStdout ran), null for a file path. */
function descriptorOf(target: string): number | null {
  if (target === 'stdout') return 1
  const m = FD_TARGET.exec(target)
  return m === null ? null : Number(m[1])
}

/** The sink for stdout or a claimed descriptor (batched non-blocking writes to a pipe), a file, or a file reopened per batch. */
export function lineSink(target: string, reopen = false): LineSink {
  const key = (reopen ? 'reopen:' : '') + target
  let sink = sinks.get(key)
  if (sink === undefined) {
    const fd = reopen ? null : descriptorOf(target)
    const pipe = fd === null ? null : pipeDescriptor(fd)
    sink = reopen ? new ReopeningSink(target) : pipe !== null ? new PipeSink(pipe) : new BoomSink(fd ?? target)
    sinks.set(key, sink)
  }
  return sink
}

/** Every sink's buffered lines written out (worker exit). */
export function flushLineSinks(): void {
  for (const sink of sinks.values()) sink.flushSync()
}
