// Starts the real gateway CLI (dist/cli.js) as a child process with a temporary config,
// on port 0 for both listeners, and reports the ports it bound from its start-up log line.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url))

export interface RunningGateway {
  proc: ChildProcess
  port: number
  adminPort: number
  /** The TLS listener's port (GATEWAY_TLS_PORT), null when it is off. */
  tlsPort: number | null
  url: string
  adminUrl: string
  configPath: string
  /** Everything the process wrote to stderr (JSON log lines) and stdout so far, in arrival order (offsets only grow). */
  logs(): string
  /** Rewrites the config file (does not signal). */
  writeConfig(config: object): void
  /** Resolves when a log line containing `text` has appeared (after `from` characters). */
  waitForLog(text: string, from?: number, timeoutMs?: number): Promise<void>
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>
}

export interface GatewayOptions {
  workers?: number
  env?: Record<string, string>
  args?: string[]
}

export function writeTempConfig(config: object, dir = mkdtempSync(join(tmpdir(), 'gw-'))): string {
  const path = join(dir, 'gateway.json')
  writeFileSync(path, JSON.stringify({ _format_version: '3.0', ...config }, null, 2))
  return path
}

export async function startGateway(config: object, opts: GatewayOptions = {}): Promise<RunningGateway> {
  const configPath = writeTempConfig(config)
  const proc = spawn(process.execPath, [CLI, 'start', '-c', configPath, ...(opts.args ?? [])], {
    env: {
      ...process.env,
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_ADMIN_PORT: '0',
      GATEWAY_WORKERS: String(opts.workers ?? 2),
      GATEWAY_LOG_LEVEL: 'info',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // One string for both streams: `waitForLog(text, from)` offsets stay valid whichever stream grows.
  let output = ''
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()))
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()))
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  const logs = (): string => output
  const waitForLog = async (text: string, from = 0, timeoutMs = 15_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs
    while (!logs().slice(from).includes(text)) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`gateway exited (${proc.exitCode ?? proc.signalCode}) before "${text}":\n${logs()}`)
      if (Date.now() > deadline) throw new Error(`timed out waiting for "${text}":\n${logs()}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  await waitForLog('"gateway started"')
  const line = logs().split('\n').find((l) => l.includes('"gateway started"'))!
  const started = JSON.parse(line) as { port: number; admin: string; tlsPort?: number | null }
  const adminPort = Number(started.admin.split(':').pop())
  return {
    proc,
    port: started.port,
    adminPort,
    tlsPort: started.tlsPort ?? null,
    url: `http://127.0.0.1:${started.port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    configPath,
    logs,
    writeConfig: (c) => writeFileSync(configPath, JSON.stringify({ _format_version: '3.0', ...c }, null, 2)),
    waitForLog,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
}
