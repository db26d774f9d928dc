// Private redis-server processes for tests: one node on a free loopback port (stop/restart/pause for outages)
// or a 3-master Redis Cluster. Nothing persists (--save '' --appendonly no, a temp dir each); close() ends them.
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'
import { createRedisClient, resolveRedisTarget, type RedisClient, type RedisTarget } from '../../src/redis/connection.js'

const run = promisify(execFile)

const INSTALL_HINT =
  'redis-server was not found on PATH. Install Redis 7 (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) to run the Redis tests.'

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
      reject(err.code === 'ENOENT' ? new Error(INSTALL_HINT) : err)
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

async function clusterInfo(port: number): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'cluster', 'info'])
  return stdout
}

/**
 * A Redis Cluster of `n` masters (no replicas) on free ports, slots spread by `redis-cli --cluster create`.
 * Resolves once every node reports cluster_state:ok and knows all `n` nodes.
 */
export async function startRedisCluster(n = 3): Promise<RedisClusterServer> {
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
