// The `gateway` command (SPEC §1): validate's output and exit codes, --help, --version, settings
// errors naming the variable, and start-up failures (bad config, port in use) exiting 1, never aborting.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { CLI, startGateway, writeTempConfig, type RunningGateway } from '../helpers/gateway.js'
import { request } from '../helpers/http.js'

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 })
  return { code: r.status, signal: r.signal, out: r.stdout + r.stderr }
}

const children = new Set<ChildProcess>()
const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  children.clear()
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** Like run, without blocking this process (a port it holds must stay held while the child starts). */
function runAsync(args: string[], env: Record<string, string>): Promise<{ code: number | null; signal: string | null; out: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const timer = setTimeout(() => child.kill('SIGKILL'), 25_000)
  return new Promise((resolve) => child.once('exit', (code, signal) => {
    clearTimeout(timer)
    resolve({ code, signal, out })
  }))
}

/** A port held by this process on 127.0.0.1 (no SO_REUSEPORT, so nothing else can bind it). */
async function busyPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise((resolve) => server.close(resolve)))
  return (server.address() as net.AddressInfo).port
}

const VALID = { services: [{ name: 's', url: 'http://127.0.0.1:1', routes: [{ name: 'r', paths: ['/x'] }] }] }
/** Start-up env for tests: every listener on a free port, two workers. */
const FREE = { GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: '0', GATEWAY_ADMIN_PORT: '0', GATEWAY_WORKERS: '2' }

describe('gateway CLI', () => {
  it('prints help and version', () => {
    expect(run(['--help']).out).toContain('gateway start')
    expect(run(['--version']).out.trim()).toMatch(/^\d+\.\d+\.\d+/)
  })

  it('validate exits 0 with a summary for a valid file', () => {
    const path = writeTempConfig({ services: [{ name: 's', url: 'http://127.0.0.1:1', routes: [{ name: 'r', paths: ['/x'] }] }] })
    const r = run(['validate', '-c', path])
    expect(r.code).toBe(0)
    expect(r.out).toContain('OK')
  })

  it('validate lists every problem as path: message and exits 1', () => {
    const path = writeTempConfig({
      services: [{ name: 's', url: 'http://127.0.0.1:1', routes: [{ name: 'r', paths: ['/x', 'nope'] }, { name: 'r2', paths: ['/y'], bogus: 1 }] }],
      plugins: [{ name: 'no-such-plugin' }],
    })
    const r = run(['validate', '-c', path])
    expect(r.code).toBe(1)
    expect(r.out).toContain('services[0].routes[0].paths[1]:')
    expect(r.out).toContain('services[0].routes[1].bogus:')
    expect(r.out).toContain('plugins[0]')
  })

  it('refuses to start with an invalid setting, naming the variable', () => {
    const r = run(['start'], { GATEWAY_WORKERS: 'many' })
    expect(r.code).not.toBe(0)
    expect(r.out).toContain('GATEWAY_WORKERS')
  })

  it('validate exits 1 (not 2) for an invalid variable, listing every one with the config problems', () => {
    const path = writeTempConfig({ services: [{ name: 's', url: 'http://127.0.0.1:1', routes: [{ name: 'r', paths: ['nope'] }] }] })
    const r = run(['validate', '-c', path], { GATEWAY_HOST: 'not-an-ip', GATEWAY_DRAIN_TIMEOUT_MS: 'soon' })
    expect(r.code).toBe(1)
    expect(r.out).toContain('GATEWAY_HOST="not-an-ip":')
    expect(r.out).toContain('GATEWAY_DRAIN_TIMEOUT_MS="soon":')
    expect(r.out).toContain('services[0].routes[0].paths[0]:')
    expect(r.out).toContain('3 problem(s)')
  })

  it('validate makes the start-time checks: a TLS port with no certificate exits 1', () => {
    const path = writeTempConfig(VALID)
    const r = run(['validate', '-c', path], { GATEWAY_TLS_PORT: '8443' })
    expect(r.code).toBe(1)
    expect(r.out).toContain('GATEWAY_TLS_PORT is set but there is no certificate')
    expect(r.out).not.toContain('OK')
  })

  it('refuses to start with an invalid GATEWAY_HOST / GATEWAY_ADMIN_HOST, exit 1 naming each', () => {
    const r = run(['start', '-c', writeTempConfig(VALID)], { ...FREE, GATEWAY_HOST: 'not-an-ip', GATEWAY_ADMIN_HOST: 'not-an-ip' })
    expect(r.code).toBe(1)
    expect(r.out).toContain('GATEWAY_HOST="not-an-ip"')
    expect(r.out).toContain('GATEWAY_ADMIN_HOST="not-an-ip"')
  })

  it('start with an invalid config file exits 1 listing every problem as path: message', () => {
    const path = writeTempConfig({
      services: [{ name: 's', url: 'http://127.0.0.1:1', routes: [{ name: 'r', paths: ['/x', 'nope'] }] }],
      plugins: [{ name: 'no-such-plugin' }],
    })
    const r = run(['start', '-c', path], FREE)
    expect(r.code).toBe(1)
    expect(r.out).toMatch(/^services\[0\]\.routes\[0\]\.paths\[1\]: .+/m)
    expect(r.out).toMatch(/^plugins\[0\]\S*: .+/m)
    expect(r.out).toContain('not starting')
    expect(r.out).not.toContain('gateway started')
  })

  it('start --workers 3 runs three workers', async () => {
    const gw: RunningGateway = await startGateway(VALID, { args: ['--workers', '3'] })
    cleanups.push(() => gw.stop())
    const status = (await request(gw.adminUrl + '/status')).json<{ workers: { configured: number; ready: number; threads: unknown[] } }>()
    expect(status.workers.configured).toBe(3)
    expect(status.workers.threads).toHaveLength(3)
    expect(status.workers.ready).toBe(3)
  })

  it.each([
    ['GATEWAY_ADMIN_PORT', 'admin API'],
    ['GATEWAY_PORT', 'proxy listener'],
  ])('start with %s already in use stops its workers and exits 1 naming it (no abort)', async (variable, what) => {
    const port = await busyPort()
    const r = await runAsync(['start', '-c', writeTempConfig(VALID)], { ...FREE, GATEWAY_WORKERS: '3', [variable]: String(port) })
    expect(r.signal).toBeNull()
    expect(r.code).toBe(1)
    expect(r.out).toContain(`${what} failed to start`)
    expect(r.out).toContain(`${variable}=${port}`)
    expect(r.out).not.toContain('uv_loop_close')
  })

  it('shipped config/gateway.yaml is valid', () => {
    const r = run(['validate', '-c', new URL('../../config/gateway.yaml', import.meta.url).pathname])
    expect(r.code).toBe(0)
  })
})
