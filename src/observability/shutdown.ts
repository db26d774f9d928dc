// What the worker must finish before its thread ends: log lines still buffered, queued http-log batches and
// trace spans not exported yet. Modules register here; the worker calls finish() on drain, finishSync() on a crash.
import { flushLineSinks } from './log-stream.js'

type Finisher = (timeoutMs: number) => Promise<void>

const finishers = new Set<Finisher>()

/** Registers work to finish at worker exit (a queue's flush, a tracer provider's shutdown). */
export function atWorkerExit(fn: Finisher): void {
  finishers.add(fn)
}

/** Flushes everything within `timeoutMs` (never rejects), then writes out the buffered log lines. */
export async function finish(timeoutMs: number): Promise<void> {
  flushLineSinks()
  await Promise.all([...finishers].map((fn) => fn(timeoutMs).catch(() => undefined)))
  flushLineSinks()
}

/** The synchronous part only (the thread is ending now): buffered log lines. */
export function finishSync(): void {
  flushLineSinks()
}
