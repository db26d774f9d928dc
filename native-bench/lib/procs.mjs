// Child-process bookkeeping for the benchmark: every process started here is tracked and
// ended on normal exit, on an uncaught error and on SIGINT/SIGTERM/SIGHUP.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

const children = new Set()
const tempDirs = new Set()

/** A private temp directory that is removed by `removeTempDir` or, at the latest, on exit. */
export function makeTempDir(prefix) {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

export function removeTempDir(dir) {
  tempDirs.delete(dir)
  rmSync(dir, { recursive: true, force: true })
}

function removeAllTempDirs() {
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true })
    } catch {
      // best effort
    }
  }
  tempDirs.clear()
}
const TAIL_BYTES = 16 * 1024

/**
 * Spawn a tracked child. stdout/stderr are piped and the last 16 KiB of each are kept (so a
 * failing child can be explained) unless `passThrough` is set, in which case they are also
 * written to our own stdout/stderr as they arrive.
 */
export function start(command, args, { env, cwd, passThrough = false, name = command } = {}) {
  const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  const proc = {
    name,
    child,
    stdout: '',
    stderr: '',
    exited: false,
    exitCode: null,
    signal: null,
    spawnError: null,
  }
  const keep = (key, chunk) => {
    const text = proc[key] + chunk.toString('utf8')
    proc[key] = text.length > TAIL_BYTES ? text.slice(text.length - TAIL_BYTES) : text
  }
  child.stdout.on('data', (chunk) => {
    keep('stdout', chunk)
    if (passThrough) process.stdout.write(chunk)
  })
  child.stderr.on('data', (chunk) => {
    keep('stderr', chunk)
    if (passThrough) process.stderr.write(chunk)
  })
  proc.done = new Promise((resolve) => {
    child.on('error', (err) => {
      proc.spawnError = err
      proc.exited = true
      children.delete(proc)
      resolve(proc)
    })
    child.on('exit', (code, signal) => {
      proc.exited = true
      proc.exitCode = code
      proc.signal = signal
      children.delete(proc)
      // 'exit' may fire before the pipes are drained; give them a tick.
      setImmediate(() => resolve(proc))
    })
  })
  children.add(proc)
  return proc
}

/** Ask a child to stop (SIGTERM), then SIGKILL it if it is still there after `graceMs`. */
export async function stop(proc, { signal = 'SIGTERM', graceMs = 5000 } = {}) {
  if (!proc || proc.exited) return
  try {
    proc.child.kill(signal)
  } catch {
    // already gone
  }
  let timer
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(() => resolve(true), graceMs)
  })
  const late = await Promise.race([proc.done.then(() => false), timedOut])
  clearTimeout(timer)
  if (late && !proc.exited) {
    try {
      proc.child.kill('SIGKILL')
    } catch {
      // already gone
    }
    await proc.done
  }
}

/** Last lines of a child's output, for error messages. */
export function tail(proc, lines = 15) {
  const text = `${proc.stderr}\n${proc.stdout}`.trim()
  return text.split('\n').slice(-lines).join('\n')
}

function killAllSync(signal) {
  for (const proc of children) {
    try {
      // nginx: SIGTERM is its fast shutdown and ends its workers too; node: drains then exits.
      proc.child.kill(signal)
    } catch {
      // already gone
    }
  }
}

let installed = false
/** Install exit/signal handlers once; `onSignal` runs (sync) before we exit on a signal. */
export function installCleanup(onSignal = () => {}) {
  if (installed) return
  installed = true
  process.on('exit', () => {
    killAllSync('SIGTERM')
    removeAllTempDirs()
  })
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      process.stderr.write(`\n${sig}: stopping child processes\n`)
      try {
        onSignal()
      } catch {
        // best effort
      }
      killAllSync('SIGTERM')
      process.exit(sig === 'SIGINT' ? 130 : 143)
    })
  }
  process.on('uncaughtException', (err) => {
    process.stderr.write(`${err?.stack ?? err}\n`)
    killAllSync('SIGTERM')
    process.exit(1)
  })
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`${err?.stack ?? err}\n`)
    killAllSync('SIGTERM')
    process.exit(1)
  })
}
