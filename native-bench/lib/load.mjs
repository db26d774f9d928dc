// Load generators: wrk when installed (preferred: C, multi-threaded, HdrHistogram-style
// percentiles), else autocannon (programmatic API, same connections/duration, pipelining 1).
// Both return the same shape: { rps, p50Ms, p99Ms, errors, requests, non2xx, socketErrors, raw }.
import { existsSync } from 'node:fs'
import { execFileSync, spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { start, tail } from './procs.mjs'

/** Path of wrk (BENCH_WRK, /usr/bin/wrk, /usr/local/bin/wrk, then PATH), or null. */
export function findWrk(env = process.env) {
  if (env.BENCH_WRK) return existsSync(env.BENCH_WRK) ? env.BENCH_WRK : null
  for (const p of ['/usr/bin/wrk', '/usr/local/bin/wrk']) if (existsSync(p)) return p
  try {
    return execFileSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).trim() || null
  } catch {
    return null
  }
}

/** `wrk debian/4.1.0-3+b2 [epoll] ...` — wrk -v prints its banner then the usage and exits 1. */
export function wrkVersion(bin) {
  const r = spawnSync(bin, ['-v'], { encoding: 'utf8' })
  const first = `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim()
  return first.replace(/\s+Copyright.*$/, '') || 'unknown'
}

/** autocannon's version if it resolves from the project, else null. */
export function autocannonVersion(root) {
  try {
    const require = createRequire(`${root}/package.json`)
    return require('autocannon/package.json').version
  } catch {
    return null
  }
}

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60000, h: 3600000 }

/** "93.00us" | "1.23ms" | "2.00s" | "1.00m" -> milliseconds. */
export function wrkTimeToMs(text) {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim())
  if (!m) return NaN
  return Number(m[1]) * UNIT_MS[m[2]]
}

/** Parse wrk --latency output. Throws if the essential lines are missing. */
export function parseWrk(out) {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out)
  const p50 = /^\s+50%\s+(\S+)/m.exec(out)
  const p99 = /^\s+99%\s+(\S+)/m.exec(out)
  if (!rps || !p50 || !p99) throw new Error(`could not parse wrk output:\n${out}`)
  const total = /^\s+(\d+) requests in ([\d.]+\w+)/m.exec(out)
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)
  const socketErrors = sock
    ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] }
    : { connect: 0, read: 0, write: 0, timeout: 0 }
  const non = non2xx ? Number(non2xx[1]) : 0
  return {
    rps: Number(rps[1]),
    p50Ms: wrkTimeToMs(p50[1]),
    p99Ms: wrkTimeToMs(p99[1]),
    requests: total ? Number(total[1]) : null,
    non2xx: non,
    socketErrors,
    errors: non + socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout,
  }
}

/** One wrk run; resolves the parsed result (with the raw text) or throws. */
export async function runWrk(bin, url, { connections, durationS, threads, headers = {} }) {
  const t = Math.max(1, Math.min(threads, connections))
  const args = ['-t', String(t), '-c', String(connections), '-d', `${durationS}s`, '--latency', '--timeout', '5s']
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`)
  args.push(url)
  const proc = start(bin, args, { name: 'wrk' })
  await proc.done
  if (proc.spawnError) throw new Error(`wrk could not start: ${proc.spawnError.message}`)
  if (proc.exitCode !== 0) throw new Error(`wrk exited ${proc.exitCode ?? proc.signal}:\n${tail(proc)}`)
  return { ...parseWrk(proc.stdout), raw: proc.stdout }
}

/** One autocannon run (in this process, pipelining 1). */
export async function runAutocannon(root, url, { connections, durationS, headers = {} }) {
  const require = createRequire(`${root}/package.json`)
  const autocannon = require('autocannon')
  const result = await autocannon({ url, connections, duration: durationS, pipelining: 1, headers })
  const non2xx = result.non2xx ?? 0
  const errors = (result.errors ?? 0) + non2xx
  return {
    rps: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    non2xx,
    socketErrors: { errors: result.errors ?? 0, timeouts: result.timeouts ?? 0 },
    errors,
    raw: null,
  }
}

/** Pick the load generator: BENCH_LOADER=wrk|autocannon forces one; otherwise wrk, else autocannon. */
export function chooseLoader(root, env = process.env) {
  const wrk = findWrk(env)
  const acVersion = autocannonVersion(root)
  const forced = env.BENCH_LOADER
  if (forced && forced !== 'wrk' && forced !== 'autocannon') throw new Error(`BENCH_LOADER must be wrk or autocannon, not "${forced}"`)
  if ((forced === 'wrk' || !forced) && wrk) {
    return { name: 'wrk', version: wrkVersion(wrk), run: (url, o) => runWrk(wrk, url, o) }
  }
  if (forced === 'wrk') throw new Error('BENCH_LOADER=wrk but wrk is not installed (apt-get install -y wrk)')
  if (acVersion) {
    return { name: 'autocannon', version: `autocannon ${acVersion}`, run: (url, o) => runAutocannon(root, url, o) }
  }
  return null
}
