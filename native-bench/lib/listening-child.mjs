// A tracked child process (procs.mjs) that prints `… listening on PORT` when ready: the gRPC and
// WebSocket benchmark upstreams. Resolves { port, pid, stop() }.
import { start, stop, tail } from './procs.mjs'
import { waitUntil } from './net.mjs'

export async function startListeningChild(args, { cwd, name }) {
  const proc = start(process.execPath, args, { cwd, name })
  let port = 0
  const ready = await waitUntil(async () => {
    const m = /listening on (\d+)/.exec(proc.stdout)
    if (m !== null) port = Number(m[1])
    return port !== 0
  }, { timeoutMs: 15000, abort: () => (proc.exited ? `exited (${proc.exitCode ?? proc.signal})` : null) })
  if (!ready.ok) {
    await stop(proc)
    throw new Error(`${name} did not start: ${ready.reason}\n${tail(proc)}`)
  }
  return { port, pid: proc.child.pid, stop: () => stop(proc) }
}
