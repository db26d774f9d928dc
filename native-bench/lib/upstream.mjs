// HTTP servers native-bench runs as tracked child processes, ready once GET / answers 200 and stopped
// with the run: the node:http benchmark upstream (lib/node-upstream.mjs, also used by load-tests) and
// the stack-floor reference proxy (lib/stack-floor.mjs).
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { start, stop, tail } from './procs.mjs'
import { get, waitUntil } from './net.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))

/** Starts `node <script> ...args` and resolves { port, stop() } once GET http://127.0.0.1:port/ is 200. */
async function startHttpChild(name, script, port, args) {
  const proc = start(process.execPath, [path.join(HERE, script), ...args.map(String)], { name })
  const ready = await waitUntil(async () => (await get(`http://127.0.0.1:${port}/`)).status === 200, {
    timeoutMs: 10000,
    abort: () => (proc.exited ? `exited (${proc.exitCode ?? proc.signal})` : null),
  })
  if (!ready.ok) {
    await stop(proc)
    throw new Error(`${name} did not start: ${ready.reason}\n${tail(proc)}`)
  }
  return { port, stop: () => stop(proc) }
}

/** The node:http upstream on `port`: resolves { kind, port, stop() }; throws with the child's output otherwise. */
export async function startNodeUpstream(port) {
  return { kind: 'node:http (1 process)', ...(await startHttpChild('node upstream', 'node-upstream.mjs', port, [port])) }
}

/** The stack-floor proxy on `port` relaying to `upstreamPort` (needs dist/, npm run build). */
export function startStackFloor(port, upstreamPort) {
  return startHttpChild('stack floor', 'stack-floor.mjs', port, [port, upstreamPort])
}
