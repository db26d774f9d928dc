// WebSocket relay throughput: N concurrent `ws` clients each echoing one message at a time against a `ws`
// echo server, directly and through the gateway (1 worker), in the same run. Bar: gateway ≥ 0.5× direct.
// Each round measures both, in alternating order; the verdict is the median of the per-round ratios, since
// on a shared 2-core VM the direct figure alone swings by a third between measurements a minute apart.
// Run with `node --import tsx native-bench/ws-bench.ts` after `npm run build` (it starts dist/cli.js, or
// BENCH_GATEWAY_CLI to compare builds). Env: WS_BENCH_CLIENTS (32), WS_BENCH_SIZE bytes (64),
// WS_BENCH_SECONDS per measurement (5), WS_BENCH_ROUNDS (3), WS_BENCH_CHECK=1 exits 1 under the bar,
// WS_BENCH_FLOOR=1 adds lib/ws-stack-floor.mjs (the least relay on this stack) to every round for reference.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'

const CLIENTS = Number(process.env.WS_BENCH_CLIENTS ?? 32)
const SIZE = Number(process.env.WS_BENCH_SIZE ?? 64)
const SECONDS = Number(process.env.WS_BENCH_SECONDS ?? 5)
const ROUNDS = Math.max(1, Number(process.env.WS_BENCH_ROUNDS ?? 3))
const FLOOR = process.env.WS_BENCH_FLOOR === '1'
const WARMUP_MS = 1000
const BAR = 0.5
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI = resolve(ROOT, process.env.BENCH_GATEWAY_CLI || join('dist', 'cli.js'))

/** The echo server runs in its own process, so neither side of the comparison shares a core with it more than the other. */
const ECHO_SERVER = `
import { WebSocketServer } from 'ws'
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })))
wss.on('listening', () => console.log(JSON.stringify({ port: wss.address().port })))
`

const children: ChildProcess[] = []
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
})

/** Starts a child and resolves with the first stdout/stderr line that `pick` accepts. */
function startChild<T>(args: string[], env: NodeJS.ProcessEnv, pick: (line: string) => T | null): Promise<T> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT })
  children.push(child)
  return new Promise((resolve, reject) => {
    let buffered = ''
    const onData = (d: Buffer): void => {
      buffered += d.toString()
      for (const line of buffered.split('\n')) {
        const found = pick(line)
        if (found !== null) return resolve(found)
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited (${code}): ${buffered}`)))
  })
}

/** The port a child prints as its first `{"port":N}` line. */
function portLine(line: string): number | null {
  if (!line.startsWith('{"port"')) return null
  return (JSON.parse(line) as { port: number }).port
}

function startEcho(): Promise<number> {
  return startChild(['--input-type=module', '-e', ECHO_SERVER], process.env, portLine)
}

function startFloor(upstreamPort: number): Promise<number> {
  return startChild([join(ROOT, 'native-bench', 'lib', 'ws-stack-floor.mjs'), String(upstreamPort)], process.env, portLine)
}

function startGateway(upstreamPort: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'ws-bench-'))
  const config = join(dir, 'gateway.json')
  writeFileSync(config, JSON.stringify({
    _format_version: '3.0',
    services: [{ name: 'echo', url: `ws://127.0.0.1:${upstreamPort}`, routes: [{ name: 'echo', protocols: ['ws'], paths: ['/'] }] }],
  }))
  const env = { ...process.env, GATEWAY_PORT: '0', GATEWAY_HOST: '127.0.0.1', GATEWAY_ADMIN_PORT: '0', GATEWAY_WORKERS: '1', GATEWAY_LOG_LEVEL: 'info', GATEWAY_ACCESS_LOG: 'off' }
  return startChild([CLI, 'start', '-c', config], env, (line) => {
    if (!line.includes('"gateway started"')) return null
    return (JSON.parse(line) as { port: number }).port
  })
}

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

/** Echo round trips per second of CLIENTS clients, each with one message in flight, over SECONDS. */
async function measure(url: string): Promise<number> {
  const sockets = await Promise.all(Array.from({ length: CLIENTS }, () => open(url)))
  const payload = Buffer.alloc(SIZE, 0x61)
  let counting = false
  let count = 0
  let running = true
  for (const ws of sockets) {
    ws.on('message', () => {
      if (counting) count++
      if (running) ws.send(payload)
    })
    ws.send(payload)
  }
  await new Promise((r) => setTimeout(r, WARMUP_MS))
  counting = true
  const start = process.hrtime.bigint()
  await new Promise((r) => setTimeout(r, SECONDS * 1000))
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9
  counting = false
  running = false
  await Promise.all(sockets.map((ws) => new Promise((r) => {
    ws.once('close', r)
    ws.close()
  })))
  return count / elapsed
}

/** Middle value (mean of the two middle ones for an even count). */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
const echoPort = await startEcho()
const urls: Record<string, string> = { direct: `ws://127.0.0.1:${echoPort}/`, gateway: `ws://127.0.0.1:${await startGateway(echoPort)}/` }
if (FLOOR) urls.floor = `ws://127.0.0.1:${await startFloor(echoPort)}/`
const rows = Object.keys(urls)
const labels: Record<string, string> = { direct: 'direct', gateway: 'gateway (1 worker)', floor: 'stack floor' }
console.log(`ws-bench: ${CLIENTS} clients, ${SIZE}-byte messages, ${SECONDS} s each, ${ROUNDS} rounds (echo round trips per second)`)
const rounds: Record<string, number>[] = []
for (let i = 0; i < ROUNDS; i++) {
  // Each round starts one row later, so no row always runs first.
  const shift = i % rows.length
  const got: Record<string, number> = {}
  for (const row of [...rows.slice(shift), ...rows.slice(0, shift)]) got[row] = await measure(urls[row]!)
  rounds.push(got)
  console.log(`  round ${i + 1}: ${rows.map((r) => `${labels[r]} ${fmt(got[r]!)} msg/s`).join(', ')}; ratio ${(got.gateway! / got.direct!).toFixed(2)}`)
}
const ratioOf = (row: string): number[] => rounds.map((r) => r[row]! / r.direct!)
const spread = (values: number[]): string => `${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}`
for (const row of rows) console.log(`  ${labels[row]!.padEnd(19)} ${fmt(median(rounds.map((r) => r[row]!)))} msg/s (median)`)
const ratio = median(ratioOf('gateway'))
console.log(`  ratio               ${ratio.toFixed(2)} median of rounds, spread ${spread(ratioOf('gateway'))} (bar ≥ ${BAR})`)
if (FLOOR) console.log(`  stack floor ratio   ${median(ratioOf('floor')).toFixed(2)} median of rounds, spread ${spread(ratioOf('floor'))} (reference)`)
for (const c of children) c.kill('SIGTERM')
if (process.env.WS_BENCH_CHECK === '1' && ratio < BAR) process.exitCode = 1
