// Transcoded vs plain through one gateway worker: /plain goes to an HTTP upstream (NGINX, else node:http),
// /v1/shelves/1 through grpc-gateway to a gRPC upstream; same load generator, then requests/s, p50/p99, CPU
// per request of gateway and upstream, and the ratio (bar ≥ 0.5).
//   node --import tsx native-bench/grpc-bench.ts   (BENCH_DURATION, BENCH_CONNECTIONS, BENCH_THREADS, BENCH_LOADER,
//   GRPC_BENCH_UPSTREAM = lean (default: lib/grpc-bench-server.ts on the gateway's HTTP/2 code) | node-http2 | grpc-js)
// Upstreams run as child processes so they do not share a core's event loop with the load generator.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

/** The shared bench helpers are untyped .mjs; these are the parts used here. */
interface LoadResult { rps: number; p50Ms: number; p99Ms: number; errors: number }
interface Loader { version: string; run(url: string, o: { connections: number; durationS: number; threads: number }): Promise<LoadResult> }
interface Proc { stdout: string; exited: boolean; exitCode: number | null; signal: string | null; child: { pid?: number } }
interface Stoppable { stop(): Promise<unknown>; proc?: Proc; kind?: string }
interface BenchLib {
  chooseLoader(root: string): Loader | null
  freePorts(n: number): Promise<number[]>
  get(url: string, timeoutMs: number): Promise<{ status: number }>
  installCleanup(): void
  startListeningChild(args: string[], o: { cwd: string; name: string }): Promise<{ port: number; pid: number | undefined; stop: () => Promise<unknown> }>
  startGateway(root: string, o: { workers: number; port: number; adminPort: number; config: object }): Promise<Stoppable>
  startNodeUpstream(port: number): Promise<Stoppable>
  findNginx(): string | null
  upstreamConf(prefix: string, port: number): string
  startNginx(bin: string, o: { role: string; port: number; conf: (prefix: string) => string }): Promise<Stoppable>
}

const lib = async (name: string): Promise<Partial<BenchLib>> => (await import(`./lib/${name}.mjs`)) as Partial<BenchLib>
const { chooseLoader, freePorts, get, installCleanup, startListeningChild, startGateway, startNodeUpstream, findNginx, upstreamConf, startNginx } = Object.assign(
  {}, ...(await Promise.all(['load', 'net', 'procs', 'gateway', 'upstream', 'nginx', 'listening-child'].map(lib))),
) as BenchLib

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const SELF = fileURLToPath(import.meta.url)
const BAR = 0.5
const UPSTREAMS = ['lean', 'node-http2', 'grpc-js'] as const
type UpstreamKind = (typeof UPSTREAMS)[number]

function positive(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not "${raw}"`)
  return n
}

/** Child mode for grpc-js: the bookstore gRPC server (the e2e helper), printing its port. */
async function serveGrpc(): Promise<void> {
  const { startBookstore } = await import('../test/helpers/grpc-bookstore.js')
  const store = await startBookstore()
  // The helper records every call for the tests; a benchmark must not grow without bound.
  setInterval(() => (store.calls.length = 0), 1000).unref()
  console.log(`grpc upstream listening on ${store.port}`)
  const bye = (): void => void store.close().then(() => process.exit(0))
  process.on('SIGTERM', bye)
  process.on('SIGINT', bye)
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc (0 where there is none). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}

function startGrpcUpstream(kind: UpstreamKind): Promise<{ port: number; pid: number | undefined; stop: () => Promise<unknown> }> {
  const args = kind === 'grpc-js' ? [SELF, '--grpc-upstream'] : [path.join(ROOT, 'native-bench/lib/grpc-bench-server.ts'), kind, '0']
  return startListeningChild(['--import', 'tsx', ...args], { cwd: ROOT, name: `grpc upstream (${kind})` })
}

interface Row {
  name: string; rps: number; p50Ms: number; p99Ms: number; errors: number
  gatewayCpu: number; upstreamCpu: number; gatewayUsPerRequest: number; upstreamUsPerRequest: number
}

/** The plain row's upstream: NGINX when installed (as the other native benches), else the node:http one. */
async function startPlainUpstream(port: number): Promise<Stoppable> {
  const bin = findNginx()
  if (bin === null) return startNodeUpstream(port)
  const nginx = await startNginx(bin, { role: 'upstream', port, conf: (prefix) => upstreamConf(prefix, port) })
  return { ...nginx, kind: 'nginx', stop: () => nginx.stop() }
}

async function main(): Promise<void> {
  const durationS = positive('BENCH_DURATION', 10)
  const warmupS = positive('BENCH_WARMUP', 3)
  const connections = positive('BENCH_CONNECTIONS', 64)
  const threads = positive('BENCH_THREADS', 2)
  const loader = chooseLoader(ROOT)
  if (loader === null) throw new Error('no load generator: install wrk (apt-get install -y wrk) or npm install autocannon')
  installCleanup()
  const kind = (process.env.GRPC_BENCH_UPSTREAM ?? 'lean') as UpstreamKind
  if (!UPSTREAMS.includes(kind)) throw new Error(`GRPC_BENCH_UPSTREAM must be one of ${UPSTREAMS.join(', ')}, not "${kind}"`)
  const [httpPort, port, adminPort] = await freePorts(3)
  const http = await startPlainUpstream(httpPort)
  const grpc = await startGrpcUpstream(kind)
  const config = {
    _format_version: '3.0',
    services: [
      { name: 'plain', url: `http://127.0.0.1:${httpPort}`, routes: [{ name: 'plain', paths: ['/plain'] }] },
      {
        name: 'bookstore', url: `grpc://127.0.0.1:${grpc.port}`,
        routes: [{ name: 'bookstore', paths: ['/v1/'], strip_path: false }],
        plugins: [{ name: 'grpc-gateway', config: { proto: path.join(ROOT, 'test/fixtures/grpc/bookstore.proto') } }],
      },
    ],
  }
  const gateway = await startGateway(ROOT, { workers: 1, port, adminPort, config })
  try {
    const urls: [string, string][] = [['plain', `http://127.0.0.1:${port}/plain`], ['transcoded', `http://127.0.0.1:${port}/v1/shelves/1`]]
    for (const [name, url] of urls) {
      const probe = await get(url, 2000)
      if (probe.status !== 200) throw new Error(`${name} probe ${url} answered ${probe.status}`)
    }
    console.log(`loader: ${loader.version}; ${connections} connections, ${durationS}s after ${warmupS}s warm-up; gateway 1 worker;` +
      ` upstreams: ${http.kind ?? 'node:http'} (plain), ${kind} (gRPC)`)
    const plainPid = http.proc?.child.pid
    const rows: Row[] = []
    for (const [name, url] of urls) {
      await loader.run(url, { connections, durationS: warmupS, threads })
      // NGINX's workers are its children: their CPU is not in the master's /proc stat, so the plain row's upstream shows 0 then.
      const upstreamPid = name === 'plain' ? plainPid : grpc.pid
      const gw0 = cpuSeconds(gateway.proc?.child.pid)
      const up0 = cpuSeconds(upstreamPid)
      const r = await loader.run(url, { connections, durationS, threads })
      const gatewayCpu = (100 * (cpuSeconds(gateway.proc?.child.pid) - gw0)) / durationS
      const upstreamCpu = (100 * (cpuSeconds(upstreamPid) - up0)) / durationS
      rows.push({
        name, rps: r.rps, p50Ms: r.p50Ms, p99Ms: r.p99Ms, errors: r.errors, gatewayCpu, upstreamCpu,
        gatewayUsPerRequest: (gatewayCpu * 10_000) / r.rps, upstreamUsPerRequest: (upstreamCpu * 10_000) / r.rps,
      })
    }
    // CPU % of one core during the measured run: shows which process was the bottleneck on a shared machine.
    console.log('row          req/s      p50 ms   p99 ms   errors  gateway cpu%  upstream cpu%  gateway µs/req  upstream µs/req')
    for (const r of rows) {
      console.log(`${r.name.padEnd(12)} ${r.rps.toFixed(0).padStart(9)} ${r.p50Ms.toFixed(2).padStart(9)} ${r.p99Ms.toFixed(2).padStart(8)} ${String(r.errors).padStart(8)}` +
        ` ${r.gatewayCpu.toFixed(0).padStart(13)} ${r.upstreamCpu.toFixed(0).padStart(14)} ${r.gatewayUsPerRequest.toFixed(1).padStart(15)} ${r.upstreamUsPerRequest.toFixed(1).padStart(16)}`)
    }
    const ratio = rows[1]!.rps / rows[0]!.rps
    console.log(`ratio transcoded/plain: ${ratio.toFixed(2)} (bar ≥ ${BAR}: ${ratio >= BAR ? 'met' : 'NOT met'})`)
    // What the ratio would be were the gateway worker the only bottleneck (upstreams and loader on other cores).
    console.log(`gateway CPU per request, plain/transcoded: ${(rows[0]!.gatewayUsPerRequest / rows[1]!.gatewayUsPerRequest).toFixed(2)}`)
    process.exitCode = ratio >= BAR && rows.every((r) => r.errors === 0) ? 0 : 1
  } finally {
    await gateway.stop()
    await grpc.stop()
    await http.stop()
  }
}

if (process.argv.includes('--grpc-upstream')) await serveGrpc()
else await main()
