// WebSocket relay throughput: N concurrent `ws` clients each echoing one message at a time against a `ws`
// echo server, directly and through the gateway (1 worker), in the same run. Bar: gateway ≥ 0.5× direct.
// Each round measures every row, starting one row later than the round before; the verdict is the median
// of the per-round ratios, since on a shared 2-core VM the direct figure alone swings by a third between
// measurements a minute apart.
// Run with `node --import tsx native-bench/ws-bench.ts` after `npm run build` (it starts dist/cli.js, or
// BENCH_GATEWAY_CLI to compare builds). Env: WS_BENCH_CLIENTS (32), WS_BENCH_SIZE bytes (64),
// WS_BENCH_SECONDS per measurement (5), WS_BENCH_ROUNDS (3), WS_BENCH_CHECK=1 exits 1 under the bar,
// WS_BENCH_FLOOR=1 adds lib/ws-stack-floor.mjs (the least relay on this stack) to every round for reference.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'

/** The shared bench helpers are untyped .mjs; these are the parts used here. */
interface Started { port: number; stop(): Promise<unknown> }
interface BenchLib {
  freePorts(n: number): Promise<number[]>
  installCleanup(): void
  startListeningChild(args: string[], o: { cwd: string; name: string }): Promise<Started>
  startGateway(root: string, o: { workers: number; port: number; adminPort: number; config: object }): Promise<Started>
  median(values: number[]): number
}
const lib = async (name: string): Promise<Partial<BenchLib>> => (await import(`./lib/${name}.mjs`)) as Partial<BenchLib>
const { freePorts, installCleanup, startListeningChild, startGateway, median } = Object.assign(
  {}, ...(await Promise.all(['net', 'procs', 'listening-child', 'gateway', 'stats'].map(lib))),
) as BenchLib

const CLIENTS = Number(process.env.WS_BENCH_CLIENTS ?? 32)
const SIZE = Number(process.env.WS_BENCH_SIZE ?? 64)
const SECONDS = Number(process.env.WS_BENCH_SECONDS ?? 5)
const ROUNDS = Math.max(1, Number(process.env.WS_BENCH_ROUNDS ?? 3))
const FLOOR = process.env.WS_BENCH_FLOOR === '1'
const WARMUP_MS = 1000
const BAR = 0.5
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const LIB = path.join(ROOT, 'native-bench', 'lib')

/** A one-route ws service to the echo server, 1 worker (lib/gateway.mjs; BENCH_GATEWAY_CLI picks the build). */
async function startWsGateway(upstreamPort: number): Promise<Started> {
  const [port, adminPort] = await freePorts(2)
  const config = {
    _format_version: '3.0',
    services: [{ name: 'echo', url: `ws://127.0.0.1:${upstreamPort}`, routes: [{ name: 'echo', protocols: ['ws'], paths: ['/'] }] }],
  }
  return startGateway(ROOT, { workers: 1, port: port!, adminPort: adminPort!, config })
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

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
installCleanup()
// Every server runs in its own process, so no side of the comparison shares an event loop with another.
const echo = await startListeningChild([path.join(LIB, 'ws-echo-server.mjs')], { cwd: ROOT, name: 'ws echo' })
const servers: Started[] = [echo, await startWsGateway(echo.port)]
if (FLOOR) servers.push(await startListeningChild([path.join(LIB, 'ws-stack-floor.mjs'), String(echo.port)], { cwd: ROOT, name: 'ws stack floor' }))
const urls: Record<string, string> = { direct: `ws://127.0.0.1:${echo.port}/`, gateway: `ws://127.0.0.1:${servers[1]!.port}/` }
if (FLOOR) urls.floor = `ws://127.0.0.1:${servers[2]!.port}/`
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
for (const server of servers) await server.stop()
if (process.env.WS_BENCH_CHECK === '1' && ratio < BAR) process.exitCode = 1
