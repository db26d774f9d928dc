// WebSocket relay throughput: N concurrent `ws` clients each echoing one message at a time against a `ws`
// echo server, directly and through the gateway (1 worker), in the same run. Bar: gateway ≥ 0.5× direct.
// Run with `node --import tsx native-bench/ws-bench.ts` after `npm run build` (it starts dist/cli.js).
// Env: WS_BENCH_CLIENTS (32), WS_BENCH_SIZE bytes (64), WS_BENCH_SECONDS per measurement (5), WS_BENCH_CHECK=1 exits 1 under the bar.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'

const CLIENTS = Number(process.env.WS_BENCH_CLIENTS ?? 32)
const SIZE = Number(process.env.WS_BENCH_SIZE ?? 64)
const SECONDS = Number(process.env.WS_BENCH_SECONDS ?? 5)
const WARMUP_MS = 1000
const BAR = 0.5
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

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
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: fileURLToPath(new URL('..', import.meta.url)) })
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

function startEcho(): Promise<number> {
  return startChild(['--input-type=module', '-e', ECHO_SERVER], process.env, (line) => {
    if (!line.startsWith('{"port"')) return null
    return (JSON.parse(line) as { port: number }).port
  })
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

const echoPort = await startEcho()
const gatewayPort = await startGateway(echoPort)
const direct = await measure(`ws://127.0.0.1:${echoPort}/`)
const gateway = await measure(`ws://127.0.0.1:${gatewayPort}/`)
const ratio = gateway / direct
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
console.log(`ws-bench: ${CLIENTS} clients, ${SIZE}-byte messages, ${SECONDS} s each (echo round trips per second)`)
console.log(`  direct            ${fmt(direct)} msg/s`)
console.log(`  gateway, 1 worker ${fmt(gateway)} msg/s`)
console.log(`  ratio             ${ratio.toFixed(2)} (bar ≥ ${BAR})`)
for (const c of children) c.kill('SIGTERM')
if (process.env.WS_BENCH_CHECK === '1' && ratio < BAR) process.exitCode = 1
