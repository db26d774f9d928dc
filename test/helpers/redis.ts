// Redis for tests. Two kinds of suite (SPEC §1: redis-server on PATH or GATEWAY_TEST_REDIS_URL, never a silent skip):
//  - startTestRedis(): any Redis will do. GATEWAY_TEST_REDIS_URL when set (a Redis the tests share with others:
//    nothing is flushed, suites keep to keys named by random ids, in the URL's database), else a private
//    redis-server as below.
//  - startRedis() / startRedisCluster() / useRedisCluster(): private redis-server processes, for suites that stop,
//    hang or restart Redis, flush it, or need a cluster: one node on a free loopback port, or a 3-master Redis
//    Cluster. Nothing persists (--save '' --appendonly no, a temp dir each); close() ends them.
// When what a suite needs is missing, it fails with a message saying how to get it (redisSourceFor).
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { accessSync, constants as fsConstants, mkdtempSync, rmSync, statSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'
import { Redis, type RedisOptions } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'
import {
  createRedisClient, redisTargetFromUrl, resolveRedisTarget, RedisConfigError, type RedisClient, type RedisConf, type RedisTarget,
} from '../../src/redis/connection.js'

const run = promisify(execFile)

/** The variable naming a Redis the tests may use instead of starting redis-server. */
export const TEST_REDIS_URL_VAR = 'GATEWAY_TEST_REDIS_URL'

const INSTALL =
  'install Redis 7 (Debian/Ubuntu: apt-get install -y redis-server, which also brings redis-cli; macOS: brew install redis)'

/** What a suite needs: any Redis it can write its own keys to, or private redis-server processes it controls. */
export type RedisNeed = 'any' | 'private' | 'cluster'

/** Where a suite's Redis comes from, or why it cannot run. */
export type RedisSource =
  | { kind: 'url'; url: string }
  | { kind: 'spawn' }
  | { kind: 'missing'; message: string }

/**
 * The choice, without side effects (unit-tested): GATEWAY_TEST_REDIS_URL (non-blank) serves 'any' suites, even when
 * redis-server is on PATH, because setting it is an explicit request to use that Redis; otherwise, and always for
 * 'private' and 'cluster' suites, redis-server on PATH (and redis-cli for a cluster). Missing → a message naming both
 * ways, and saying when GATEWAY_TEST_REDIS_URL cannot help.
 */
export function redisSourceFor(
  need: RedisNeed,
  env: Readonly<Record<string, string | undefined>>,
  onPath: (binary: string) => boolean,
): RedisSource {
  const url = env[TEST_REDIS_URL_VAR]?.trim() ?? ''
  if (need === 'any' && url !== '') return { kind: 'url', url }
  const binaries = need === 'cluster' ? ['redis-server', 'redis-cli'] : ['redis-server']
  const missing = binaries.filter((b) => !onPath(b))
  if (missing.length === 0) return { kind: 'spawn' }
  const notFound = `${missing.join(' and ')} ${missing.length > 1 ? 'were' : 'was'} not found on PATH.`
  if (need === 'any') {
    return { kind: 'missing', message: `${notFound} This test needs a Redis: ${INSTALL} so that the tests start a private redis-server, or set ${TEST_REDIS_URL_VAR}=redis://host:port/db to a Redis the tests may write their own keys to (nothing is flushed).` }
  }
  const why = need === 'cluster'
    ? 'This test starts its own 3-master Redis Cluster'
    : 'This test starts its own redis-server (it stops, hangs, restarts or flushes it)'
  const set = url === '' ? '' : ` (it is set to ${redactRedisUrl(url)}, which serves only the tests that just need a Redis)`
  return { kind: 'missing', message: `${notFound} ${why}, which ${TEST_REDIS_URL_VAR} cannot stand in for${set}. To run it, ${INSTALL}.` }
}

/** Whether an executable file named `binary` is in one of PATH's directories. */
export function onPath(binary: string, path = process.env.PATH ?? ''): boolean {
  return path.split(delimiter).filter((d) => d !== '').some((dir) => {
    const file = join(dir, binary)
    try {
      accessSync(file, fsConstants.X_OK)
      return statSync(file).isFile()
    } catch {
      return false
    }
  })
}

/** Throws the 'missing' message unless redis-server (and redis-cli) can be started for `need`. */
function requireBinaries(need: 'private' | 'cluster'): void {
  const source = redisSourceFor(need, process.env, (b) => onPath(b))
  if (source.kind === 'missing') throw new Error(source.message)
}

export interface RedisNode {
  host: string
  port: number
}

export interface RedisServer extends RedisNode {
  /** redis://127.0.0.1:<port> */
  url: string
  /** SIGTERM and wait for the process to exit (the port stays reserved for restart). */
  stop(): Promise<void>
  /** Starts redis-server again on the same port, empty. */
  restart(): Promise<void>
  /** SIGSTOP: connections stay open but nothing is answered (a hung Redis). */
  pause(): void
  /** SIGCONT after pause(). */
  resume(): void
  /** Stops the process (if running) and removes its directory. */
  close(): Promise<void>
}

export interface RedisClusterServer {
  nodes: RedisNode[]
  /** redis://127.0.0.1:<p1>,127.0.0.1:<p2>,… (GATEWAY_REDIS_URL's cluster form) */
  url: string
  close(): Promise<void>
}

/** Every process this module started and has not stopped, killed if the test process exits early. */
const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL')
})

/** `count` distinct free loopback ports (all held open together, so they differ). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer()
      s.once('error', reject)
      s.listen(0, '127.0.0.1', () => resolve(s))
    })),
  )
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  return ports
}

/** Spawns redis-server and resolves once it accepts connections; rejects with its output if it exits first. */
function spawnRedis(port: number, dir: string, extra: string[] = []): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', ...extra]
  const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(new Error(`redis-server on port ${port} did not become ready in 10 s:\n${out}`))
    }, 10_000)
    const onData = (d: Buffer): void => {
      out += d.toString()
      if (!out.includes('Ready to accept connections')) return
      clearTimeout(timer)
      proc.stdout!.off('data', onData)
      proc.stdout!.resume()
      live.add(proc)
      proc.once('exit', () => live.delete(proc))
      resolve(proc)
    }
    proc.stdout!.on('data', onData)
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()))
    proc.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      reject(err.code === 'ENOENT' ? new Error(`redis-server could not be started (not on PATH): ${INSTALL}.`) : err)
    })
    proc.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`redis-server on port ${port} exited (${code ?? signal}) before it was ready:\n${out}`))
    })
  })
}

/** redis-server on free ports (the first is its port; `extra` may use the others), retried when another
 * process takes a port between the probe and redis-server's bind. */
async function spawnOnFreePorts(dir: string, count = 1, extra: (ports: number[]) => string[] = () => []): Promise<{ proc: ChildProcess; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const ports = await freePorts(count)
    try {
      return { proc: await spawnRedis(ports[0]!, dir, extra(ports)), port: ports[0]! }
    } catch (err) {
      if (attempt >= 5 || !/Address already in use/.test((err as Error).message)) throw err
    }
  }
}

function stopProcess(proc: ChildProcess | null): Promise<void> {
  if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    proc.once('exit', () => resolve())
    proc.kill('SIGCONT')
    proc.kill('SIGTERM')
  })
}

/** One redis-server on a free 127.0.0.1 port, in its own temp dir. */
export async function startRedis(): Promise<RedisServer> {
  requireBinaries('private')
  const dir = mkdtempSync(join(tmpdir(), 'gw-redis-'))
  const started = await spawnOnFreePorts(dir)
  let proc: ChildProcess | null = started.proc
  const port = started.port
  return {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      await stopProcess(proc)
      proc = null
    },
    async restart() {
      await stopProcess(proc)
      proc = await spawnRedis(port, dir)
    },
    pause() {
      proc?.kill('SIGSTOP')
    },
    resume() {
      proc?.kill('SIGCONT')
    },
    async close() {
      await stopProcess(proc)
      proc = null
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** A Redis a suite may write its own keys to (startTestRedis): never stopped or flushed by the tests. */
export interface TestRedis {
  host: string
  port: number
  /** For redisTargetFromUrl / GATEWAY_REDIS_URL: GATEWAY_TEST_REDIS_URL as given, or redis://127.0.0.1:<port>. */
  url: string
  database: number
  /** True for GATEWAY_TEST_REDIS_URL: other suites and users share it, so keys must be unique to the test. */
  shared: boolean
  /** The plugin's `redis` block (Kong 3.6+ fields) for this Redis: host, port, database, credentials, ssl. */
  conf: RedisConf
  /** Options for a plain ioredis connection (to look at what was stored): host, port, db, credentials, TLS. */
  options: RedisOptions
  /** Ends a private redis-server; for GATEWAY_TEST_REDIS_URL nothing (keys expire or stay, nothing is flushed). */
  close(): Promise<void>
}

/** `url` with any password replaced by ***, for messages. */
export function redactRedisUrl(url: string): string {
  return url.replace(/(\/\/[^:@/]*:)[^@/]*@/g, '$1***@')
}

/** GATEWAY_TEST_REDIS_URL → where to connect; one node only (a comma list is a cluster, which this does not stand for). */
export function testRedisTarget(url: string): RedisTarget {
  let target: RedisTarget
  try {
    target = redisTargetFromUrl(url, TEST_REDIS_URL_VAR)
  } catch (err) {
    // eslint-disable-next-line preserve-caught-error -- the original message (and so a cause) holds the password
    throw new Error(redactRedisUrl((err as Error).message))
  }
  if (target.cluster) {
    throw new RedisConfigError(`${TEST_REDIS_URL_VAR}=${JSON.stringify(redactRedisUrl(url))}: name one Redis node (redis://host:port/db); the cluster tests start their own redis-server cluster`)
  }
  return target
}

/**
 * A Redis for a suite that only reads and writes its own keys (named by random ids, never FLUSHDB / FLUSHALL /
 * SCRIPT FLUSH, never stopped): GATEWAY_TEST_REDIS_URL when set, else a private redis-server. Fails with a message
 * saying how to get one when neither is there, and when GATEWAY_TEST_REDIS_URL does not answer PING.
 */
export async function startTestRedis(): Promise<TestRedis> {
  const source = redisSourceFor('any', process.env, (b) => onPath(b))
  if (source.kind === 'missing') throw new Error(source.message)
  if (source.kind === 'spawn') {
    const server = await startRedis()
    return {
      host: server.host, port: server.port, url: server.url, database: 0, shared: false,
      conf: { host: server.host, port: server.port },
      options: { host: server.host, port: server.port },
      close: () => server.close(),
    }
  }
  const t = testRedisTarget(source.url)
  const node = t.nodes[0]!
  const options: RedisOptions = {
    host: node.host,
    port: node.port,
    db: t.database,
    username: t.username ?? undefined,
    password: t.password ?? undefined,
    tls: t.tls ? { rejectUnauthorized: t.tls.verify } : undefined,
  }
  const probe = new Redis({ ...options, lazyConnect: true, connectTimeout: 3000, commandTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null })
  probe.on('error', () => {})
  try {
    await probe.connect()
    await probe.ping()
  } catch (err) {
    throw new Error(`${TEST_REDIS_URL_VAR}=${redactRedisUrl(source.url)}: no answer to PING (${(err as Error).message}). Start that Redis, fix the URL, or unset it to have the tests start redis-server.`, { cause: err })
  } finally {
    probe.disconnect()
  }
  return {
    host: node.host, port: node.port, url: source.url, database: t.database, shared: true,
    conf: {
      host: node.host, port: node.port, database: t.database, username: t.username, password: t.password,
      ...(t.tls ? { ssl: true, ssl_verify: t.tls.verify } : {}),
    },
    options,
    close: async () => {},
  }
}

async function clusterInfo(port: number): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'cluster', 'info'])
  return stdout
}

/**
 * A Redis Cluster of `n` masters (no replicas) on free ports, slots spread by `redis-cli --cluster create`.
 * Resolves once every node reports cluster_state:ok and knows all `n` nodes.
 */
export async function startRedisCluster(n = 3): Promise<RedisClusterServer> {
  requireBinaries('cluster')
  const dirs: string[] = []
  const procs: ChildProcess[] = []
  const nodes: RedisNode[] = []
  const close = async (): Promise<void> => {
    await Promise.all(procs.map((p) => stopProcess(p)))
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < n; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'gw-redis-cluster-'))
      dirs.push(dir)
      // The bus port is set explicitly (Redis 7 cluster-port) rather than port + 10000, which may be taken or > 65535.
      const { proc, port } = await spawnOnFreePorts(dir, 2, (ports) => [
        '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000', '--cluster-port', String(ports[1]),
      ])
      procs.push(proc)
      nodes.push({ host: '127.0.0.1', port })
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((x) => `127.0.0.1:${x.port}`), '--cluster-replicas', '0', '--cluster-yes'])
    const deadline = Date.now() + 20_000
    for (const node of nodes) {
      while (true) {
        const info = await clusterInfo(node.port)
        if (info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${n}`)) break
        if (Date.now() > deadline) throw new Error(`cluster node ${node.port} not ready in 20 s:\n${info}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  } catch (err) {
    await close()
    throw err
  }
  return { nodes, url: `redis://${nodes.map((x) => `127.0.0.1:${x.port}`).join(',')}`, close }
}

/** A cluster for one test file: its masters (plain connections, to look at where keys landed) and gateway clients. */
export interface ClusterFixture {
  server(): RedisClusterServer
  masters(): Redis[]
  /** A new cluster client as the gateway makes them (closed after the file), for `target` or the nodes. */
  client(target?: RedisTarget): { client: RedisClient; target: RedisTarget }
}

/** Starts a 3-master cluster before the file's tests and closes it, its masters and clients after them. */
export function useRedisCluster(): ClusterFixture {
  let cluster: RedisClusterServer | undefined
  let masters: Redis[] = []
  const clients: RedisClient[] = []
  beforeAll(async () => {
    cluster = await startRedisCluster(3)
    masters = cluster.nodes.map((n) => new Redis({ host: n.host, port: n.port }))
  })
  afterAll(async () => {
    for (const c of clients) c.disconnect()
    for (const m of masters) m.disconnect()
    await cluster?.close()
  })
  return {
    server: () => cluster!,
    masters: () => masters,
    client(given) {
      const target = given ?? resolveRedisTarget({ cluster_nodes: cluster!.nodes.map((n) => ({ ip: n.host, port: n.port })) }, undefined)
      const client = createRedisClient(target)
      clients.push(client)
      return { client, target }
    },
  }
}
