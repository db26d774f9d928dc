// Micro-benchmark of the worker's per-request JavaScript: routing, context, head building, the
// exchange, response parsing and relay, with uWS's request/response replaced by plain objects and
// the upstream socket's reads fed by hand. uWS's native costs are left out on purpose; the upstream
// socket write is real and takes about two thirds of the time on the development VM, where loopback
// syscalls are costly. Run through tsx, module getters add ~30 %. Run: node --import tsx native-bench/hot-path-bench.ts
import net from 'node:net'
import { compileSnapshot } from '../src/config/compile.js'
import { validateConfig } from '../src/config/validate.js'
import { readSettings } from '../src/settings.js'
import { HealthTable } from '../src/shared/health-table.js'
import { WorkerStats } from '../src/shared/worker-stats.js'
import { createLogger } from '../src/logger.js'
import { CacheStore } from '../src/shared/cache-store.js'
import { RateTable } from '../src/shared/rate-table.js'
import { Listener } from '../src/worker/listener.js'
import { createPluginEnv } from '../src/worker/plugin-env.js'
import { Runtime } from '../src/worker/runtime.js'
import { LogPhase } from '../src/worker/log-phase.js'
import { WorkerMetrics } from '../src/observability/worker-metrics.js'

/** HOT_PATH_PLUGINS=rate-limiting adds a local rate limit to the route (its per-request cost). */
const PLUGINS = process.env.HOT_PATH_PLUGINS === 'rate-limiting' ? [{ name: 'rate-limiting', config: { year: 33554431, policy: 'local', limit_by: 'ip' } }] : []
const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 23 Nov 2026 20:50:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\nhello world\n')
const ADDRESS = new Uint8Array([127, 0, 0, 1]).buffer
const REQUEST_HEADERS: [string, string][] = [
  ['host', 'api.example.com'], ['user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36'],
  ['accept', 'application/json, text/plain, */*'], ['accept-language', 'en-GB,en;q=0.9'], ['accept-encoding', 'gzip, deflate, br'],
  ['authorization', 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abc'], ['cookie', 'session=abc123; theme=dark'], ['referer', 'https://app.example.com/'],
  ['x-forwarded-for', '203.0.113.9'], ['connection', 'keep-alive'],
]

/** Stands in for uWS's stack-allocated request. */
const req = {
  getCaseSensitiveMethod: () => 'GET',
  getUrl: () => '/api/users',
  getQuery: () => 'page=2',
  forEach(cb: (k: string, v: string) => void) {
    for (const [k, v] of REQUEST_HEADERS) cb(k, v)
  },
}

let written = 0
/** Stands in for uWS's response: accepts every write at once. */
function makeRes() {
  return {
    onAborted() {},
    onData() {},
    onWritable() {},
    pause() {},
    resume() {},
    getRemoteAddress: () => ADDRESS,
    cork(fn: () => void) { fn() },
    writeStatus(s: string) { written += s.length; return this },
    writeHeader(k: Uint8Array | string, v: Uint8Array | string) { written += k.length + v.length; return this },
    getWriteOffset: () => written,
    tryEnd(c: Uint8Array) { written += c.length; return [true, true] },
    end(c?: Uint8Array | string) { written += c === undefined ? 0 : c.length; return this },
    endWithoutBody() { return this },
    close() { return this },
  }
}

async function main(): Promise<void> {
  // An upstream that swallows request heads; responses are fed to the connection by hand.
  const sink = net.createServer((s) => s.on('data', () => {}))
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()))
  const port = (sink.address() as net.AddressInfo).port
  const validated = validateConfig({ _format_version: '3.0', services: [{ name: 's', url: `http://127.0.0.1:${port}`, routes: [{ name: 'r', paths: ['/api'] }], plugins: PLUGINS }] })
  if (!validated.ok) throw new Error('bench config is invalid')
  const snapshot = compileSnapshot(validated.config, 'bench')
  const health = HealthTable.create(64)
  const settings = readSettings({ GATEWAY_WORKERS: '1' })
  const stats = WorkerStats.create(1)
  const log = createLogger('silent')
  const env = createPluginEnv(settings, RateTable.allocate(1024), CacheStore.allocate(1024 * 1024), log, stats, 0)
  const listener = new Listener(settings, new Runtime(snapshot, health, env, new WorkerMetrics()), stats, 0, new LogPhase(null, log))
  // The plain listener's handler, as uWS calls it (the TLS listener passes its own origin).
  const inner = listener as unknown as { onRequest: (res: unknown, r: unknown, origin: unknown) => void; plain: unknown }
  const onRequest = (res: unknown, r: unknown): void => inner.onRequest.call(listener, res, r, inner.plain)

  // First request opens the pooled connection; wait for it to connect.
  let conn: { onRead(n: number, b: Buffer): boolean } | null = null
  const feed = (): void => {
    conn ??= (listener.pool as unknown as { live: Set<{ onRead(n: number, b: Buffer): boolean }> }).live.values().next().value ?? null
    RESPONSE.copy(READ)
    conn!.onRead(RESPONSE.length, READ)
  }
  const READ = Buffer.allocUnsafe(64 * 1024)
  onRequest(makeRes(), req)
  await new Promise((r) => setTimeout(r, 50))
  feed()

  const N = 200_000
  for (let round = 0; round < 5; round++) {
    // Batches of 32 with a turn of the event loop between them, so upstream writes flush as they
    // would in production instead of queueing in the socket.
    let busy = 0
    for (let i = 0; i < N; i += 32) {
      const t0 = performance.now()
      for (let j = 0; j < 32; j++) {
        onRequest(makeRes(), req)
        feed()
      }
      busy += performance.now() - t0
      await new Promise((r) => setImmediate(r))
    }
    const ns = (busy * 1e6) / N
    if (round >= 2) console.log(`hot path (GET, 10 browser-like request headers, 6-header response): ${ns.toFixed(0)} ns/request`)
  }
  listener.closeAll()
  sink.close()
  process.exit(0)
}

void main()
