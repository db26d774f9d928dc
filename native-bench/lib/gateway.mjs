// Starts this gateway's CLI (dist/cli.js) for the benchmark with a one-route config pointing at
// the benchmark upstream, waits for the admin /health to answer 200, and stops it afterwards.
import { createHmac, generateKeyPairSync, sign } from 'node:crypto'
import { existsSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { makeTempDir, removeTempDir, start, stop, tail } from './procs.mjs'
import { get, waitUntil } from './net.mjs'

/** The CLI to start: BENCH_GATEWAY_CLI (relative to the project root) or dist/cli.js. */
export function gatewayCli(root, env = process.env) {
  return path.resolve(root, env.BENCH_GATEWAY_CLI || path.join('dist', 'cli.js'))
}

const RATE_LIMIT = { name: 'rate-limiting', config: { second: 65535, policy: 'local', limit_by: 'ip' } }
const JWT_ISSUER = 'native-bench'
const HS_SECRET = 'native-bench-hs256-secret-of-32-bytes!'
const RSA = generateKeyPairSync('rsa', { modulusLength: 2048 })

const b64url = (data) => Buffer.from(data).toString('base64url')

/** A token as a client of the JWT rows sends it (signed here with node:crypto, verified by the gateway). */
function jwtFor(alg) {
  const head = `${b64url(JSON.stringify({ alg, typ: 'JWT' }))}.${b64url(JSON.stringify({ iss: JWT_ISSUER, exp: Math.floor(Date.now() / 1000) + 86400 }))}`
  const sig = alg === 'HS256' ? createHmac('sha256', HS_SECRET).update(head).digest() : sign('sha256', Buffer.from(head), RSA.privateKey)
  return `${head}.${b64url(sig)}`
}

/**
 * The scenario rows: plugins on the bench service, consumers, and the headers the load generator sends.
 * The plain proxy has none; the others pay a full decision on every request.
 */
export const SCENARIOS = {
  plain: () => ({ plugins: [], consumers: [], headers: {} }),
  // One bucket (the client IP) with a limit the load never reaches.
  'rate-limit': () => ({ plugins: [RATE_LIMIT], consumers: [], headers: {} }),
  // The same decision without the five RateLimit-* / X-RateLimit-* response headers: splits the limiter's
  // cost into its logic and the bytes of Kong's headers (which the load generator also has to parse).
  'rate-limit-quiet': () => ({ plugins: [{ ...RATE_LIMIT, config: { ...RATE_LIMIT.config, hide_client_headers: true } }], consumers: [], headers: {} }),
  // After the first request every request is a hit served from the shared store.
  cache: () => ({ plugins: [{ name: 'proxy-cache', config: { strategy: 'memory', content_type: ['text/plain'], cache_ttl: 3600 } }], consumers: [], headers: {} }),
  'key-auth-rl': () => ({
    plugins: [{ name: 'key-auth', config: {} }, RATE_LIMIT],
    consumers: [{ username: 'bench', keyauth_credentials: [{ key: 'native-bench-key' }] }],
    headers: { apikey: 'native-bench-key' },
  }),
  'jwt-hs256': () => ({
    plugins: [{ name: 'jwt', config: {} }],
    consumers: [{ username: 'bench', jwt_secrets: [{ key: JWT_ISSUER, algorithm: 'HS256', secret: HS_SECRET }] }],
    headers: { authorization: `Bearer ${jwtFor('HS256')}` },
  }),
  'jwt-rs256': () => ({
    plugins: [{ name: 'jwt', config: {} }],
    consumers: [{ username: 'bench', jwt_secrets: [{ key: JWT_ISSUER, algorithm: 'RS256', rsa_public_key: RSA.publicKey.export({ type: 'spki', format: 'pem' }) }] }],
    headers: { authorization: `Bearer ${jwtFor('RS256')}` },
  }),
}

export function benchConfig(upstreamPort, scenario = SCENARIOS.plain()) {
  return {
    _format_version: '3.0',
    services: [
      {
        name: 'bench',
        url: `http://127.0.0.1:${upstreamPort}`,
        routes: [{ name: 'bench', paths: ['/'] }],
        plugins: scenario.plugins,
      },
    ],
    consumers: scenario.consumers,
  }
}

/** Environment for the gateway child: the caller's GATEWAY_* values, then the bench's own. */
export function gatewayEnv({ workers, port, adminPort, configPath }, env = process.env) {
  const out = { ...env }
  // An admin token would make /health answer 401 to our readiness poll.
  delete out.GATEWAY_ADMIN_TOKEN
  return {
    ...out,
    GATEWAY_CONFIG: configPath,
    GATEWAY_WORKERS: String(workers),
    GATEWAY_HOST: '127.0.0.1',
    GATEWAY_PORT: String(port),
    GATEWAY_ADMIN_HOST: '127.0.0.1',
    GATEWAY_ADMIN_PORT: String(adminPort),
    GATEWAY_LOG_LEVEL: env.GATEWAY_LOG_LEVEL ?? 'warn',
    // NGINX runs with access_log off; so does the gateway unless the caller asks otherwise.
    GATEWAY_ACCESS_LOG: env.GATEWAY_ACCESS_LOG ?? 'off',
    GATEWAY_DRAIN_TIMEOUT_MS: env.GATEWAY_DRAIN_TIMEOUT_MS ?? '1000',
  }
}

/**
 * Start `node dist/cli.js start -c <tmp config>`; resolves { proc, port, env, configPath, stop() } once
 * GET /health on the admin port is 200. The config is `config` when given, else the one-route bench config
 * for `upstreamPort` and `scenario`. Throws an Error with a clear message (and the gateway's last output
 * lines) if it is not built, exits, or does not become healthy.
 */
export async function startGateway(root, { workers, port, adminPort, upstreamPort, scenario = SCENARIOS.plain(), config, env: extraEnv = {}, timeoutMs = 20000 }) {
  const cli = gatewayCli(root)
  if (!existsSync(cli)) throw new Error(`${path.relative(root, cli) || cli} is missing: run npm run build first`)
  const dir = makeTempDir('native-bench-gateway-')
  const configPath = path.join(dir, 'gateway.json')
  writeFileSync(configPath, `${JSON.stringify(config ?? benchConfig(upstreamPort, scenario), null, 2)}\n`)
  const env = { ...gatewayEnv({ workers, port, adminPort, configPath }), ...extraEnv }
  const proc = start(process.execPath, [cli, 'start', '-c', configPath], { env, cwd: root, name: `gateway (${workers})` })
  const cleanup = () => removeTempDir(dir)
  const ready = await waitUntil(async () => (await get(`http://127.0.0.1:${adminPort}/health`, 1000)).status === 200, {
    timeoutMs,
    abort: () => (proc.exited ? `it exited (${proc.spawnError?.message ?? `code ${proc.exitCode ?? proc.signal}`})` : null),
  })
  if (!ready.ok) {
    await stop(proc, { graceMs: 3000 })
    cleanup()
    const out = tail(proc)
    throw new Error(`gateway (GATEWAY_WORKERS=${workers}) did not become healthy: ${ready.reason}${out ? `\n--- gateway output ---\n${out}` : ''}`)
  }
  return {
    proc,
    port,
    adminPort,
    env,
    configPath,
    async stop() {
      await stop(proc, { signal: 'SIGTERM', graceMs: 5000 })
      cleanup()
    },
  }
}
