// The node:http benchmark upstream (lib/node-upstream.mjs) as a tracked child process: started on a
// port, ready once it answers, stopped with the run. Used by native-bench and load-tests.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { start, stop, tail } from './procs.mjs'
import { get, waitUntil } from './net.mjs'

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'node-upstream.mjs')

/** Resolves { kind, port, stop() } once GET / answers 200; throws with the child's output otherwise. */
export async function startNodeUpstream(port) {
  const proc = start(process.execPath, [SCRIPT, String(port)], { name: 'node upstream' })
  const ready = await waitUntil(async () => (await get(`http://127.0.0.1:${port}/`)).status === 200, {
    timeoutMs: 10000,
    abort: () => (proc.exited ? `exited (${proc.exitCode ?? proc.signal})` : null),
  })
  if (!ready.ok) {
    await stop(proc)
    throw new Error(`node upstream did not start: ${ready.reason}\n${tail(proc)}`)
  }
  return { kind: 'node:http (1 process)', port, stop: () => stop(proc) }
}
