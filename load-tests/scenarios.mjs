// The load-test scenarios: one gateway config with a route per scenario (plugins from native-bench's
// SCENARIOS), the request each sends, and the reload scenario's config flip.
import { fileURLToPath } from 'node:url'
import { SCENARIOS } from '../native-bench/lib/gateway.mjs'

const BOOKSTORE_PROTO = fileURLToPath(new URL('../test/fixtures/grpc/bookstore.proto', import.meta.url))

/** Scenario id → the native-bench plugin scenario it reuses. */
const PLUGIN_ROUTES = { plain: 'plain', 'key-auth-rl': 'key-auth-rl', cache: 'cache', jwt: 'jwt-hs256' }

export const HTTP_SCENARIOS = [
  { id: 'plain', label: 'plain proxy' },
  { id: 'key-auth-rl', label: 'key-auth + rate-limiting' },
  { id: 'cache', label: 'proxy-cache hit' },
  { id: 'jwt', label: 'jwt (HS256)' },
]

/** The protocol scenarios' paths on the gateway: a transcoded unary call (GetShelf) and the WebSocket echo route. */
export const GRPC_PATH = '/v1/shelves/1'
export const WS_PATH = '/ws'

/**
 * The gateway config: one service per scenario on the shared upstream, each consumer renamed after its
 * scenario so the scenarios' consumers do not clash. `generation` changes the reload scenario's
 * rate limit, so every reload compiles a different Snapshot.
 */
export function gatewayConfig(upstreamPort, generation = 0, extra = { grpcPort: 0, wsPort: 0 }) {
  const services = []
  const consumers = []
  const headers = {}
  for (const [id, from] of Object.entries(PLUGIN_ROUTES)) {
    const scenario = SCENARIOS[from]()
    services.push({
      name: id,
      url: `http://127.0.0.1:${upstreamPort}`,
      routes: [{ name: id, paths: [`/${id}`] }],
      plugins: scenario.plugins.map((p) => (p.name === 'rate-limiting' ? { ...p, config: { ...p.config, second: 65535 - generation } } : p)),
    })
    for (const c of scenario.consumers) consumers.push({ ...c, username: id })
    headers[id] = scenario.headers
  }
  if (extra.grpcPort !== 0) {
    services.push({
      name: 'grpc', url: `grpc://127.0.0.1:${extra.grpcPort}`,
      routes: [{ name: 'grpc', paths: ['/v1/'], strip_path: false }],
      plugins: [{ name: 'grpc-gateway', config: { proto: BOOKSTORE_PROTO } }],
    })
  }
  if (extra.wsPort !== 0) services.push({ name: 'ws', url: `ws://127.0.0.1:${extra.wsPort}`, routes: [{ name: 'ws', paths: ['/ws'], protocols: ['ws'] }] })
  return { config: { _format_version: '3.0', services, consumers }, headers }
}
