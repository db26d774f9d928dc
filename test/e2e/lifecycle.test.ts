// Process lifecycle end to end (SPEC §1, §9): SIGHUP reload (valid and invalid), SIGTERM drain
// finishing an in-flight request, a killed worker respawned, and the admin endpoints.
import { afterEach, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request } from '../helpers/http.js'
import { echoHandler, startUpstream, type Upstream } from '../helpers/upstream.js'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function setup(delayMs = 0): Promise<{ up: Upstream; gw: RunningGateway; config: object }> {
  const up = await startUpstream((req, res) => (delayMs > 0 ? setTimeout(() => echoHandler(req, res), delayMs) : echoHandler(req, res)))
  cleanups.push(() => up.close())
  const config = { services: [{ name: 'a', url: `http://127.0.0.1:${up.port}`, routes: [{ name: 'a', paths: ['/a'] }] }] }
  const gw = await startGateway(config, { env: { GATEWAY_DRAIN_TIMEOUT_MS: '5000' } })
  cleanups.push(() => gw.stop())
  return { up, gw, config }
}

async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe('reload', () => {
  it('applies a valid config on SIGHUP in every worker', async () => {
    const { up, gw } = await setup()
    expect((await request(gw.url + '/b')).status).toBe(404)
    gw.writeConfig({ services: [{ name: 'b', url: `http://127.0.0.1:${up.port}`, routes: [{ name: 'b', paths: ['/b'] }] }] })
    const mark = gw.logs().length
    gw.proc.kill('SIGHUP')
    await gw.waitForLog('config reloaded', mark)
    const status = (await request(gw.adminUrl + '/status')).json<{ config_hash: string; reloads: number; workers: { threads: { config_hash: string }[] } }>()
    expect(status.reloads).toBe(1)
    await until(async () => (await request(gw.adminUrl + '/status')).json<typeof status>().workers.threads.every((t) => t.config_hash === status.config_hash))
    for (let i = 0; i < 10; i++) expect((await request(gw.url + '/b')).status).toBe(200)
    expect((await request(gw.url + '/a')).status).toBe(404)
  })

  it('keeps the running config when the new file is invalid, logging every problem', async () => {
    const { gw } = await setup()
    gw.writeConfig({ services: [{ name: 'x', url: 'not a url', routes: [{ name: 'r', paths: ['no-slash'] }] }] })
    const mark = gw.logs().length
    gw.proc.kill('SIGHUP')
    await gw.waitForLog('reload rejected', mark)
    const logged = gw.logs().slice(mark)
    expect(logged).toContain('services[0]')
    expect((await request(gw.url + '/a')).status).toBe(200)
  })
})

describe('drain', () => {
  it('finishes an in-flight request on SIGTERM, refuses new connections and exits 0', async () => {
    const { gw } = await setup(800)
    const inflight = request(gw.url + '/a')
    await new Promise((r) => setTimeout(r, 200))
    const exit = gw.stop()
    await new Promise((r) => setTimeout(r, 300))
    await expect(request(gw.url + '/a')).rejects.toThrow()
    const r = await inflight
    expect(r.status).toBe(200)
    expect(await exit).toBe(0)
  })
})

describe('workers', () => {
  it('respawns a killed worker and keeps serving', async () => {
    const { gw } = await setup()
    const killed = await request(gw.adminUrl + '/workers/1', { method: 'DELETE' })
    expect(killed.status).toBe(202)
    await until(async () => {
      const s = (await request(gw.adminUrl + '/status')).json<{ workers: { ready: number; restarts: number } }>()
      return s.workers.ready === 2 && s.workers.restarts === 1
    }, 3000)
    for (let i = 0; i < 20; i++) expect((await request(gw.url + '/a')).status).toBe(200)
  })
})

describe('admin API', () => {
  it('serves /health, /status and /config with secrets redacted', async () => {
    const up = await startUpstream(echoHandler)
    cleanups.push(() => up.close())
    const gw = await startGateway({
      services: [{ name: 'a', url: `http://127.0.0.1:${up.port}`, routes: [{ name: 'a', paths: ['/a'] }] }],
      consumers: [{ username: 'ann', keyauth_credentials: [{ key: 'super-secret' }] }],
    })
    cleanups.push(() => gw.stop())
    const health = await request(gw.adminUrl + '/health')
    expect(health.status).toBe(200)
    await request(gw.url + '/a')
    const status = (await request(gw.adminUrl + '/status')).json<Record<string, unknown>>()
    expect(status.requests).toBeGreaterThanOrEqual(1)
    expect(Number.isInteger(status.requests)).toBe(true)
    expect(status.workers).toMatchObject({ configured: 2, ready: 2 })
    const config = await request(gw.adminUrl + '/config')
    expect(config.body).not.toContain('super-secret')
    expect(config.body).toContain('<redacted>')
  })

  it('requires the bearer token when GATEWAY_ADMIN_TOKEN is set', async () => {
    const gw = await startGateway({ services: [] }, { env: { GATEWAY_ADMIN_TOKEN: 't0ken' } })
    cleanups.push(() => gw.stop())
    expect((await request(gw.adminUrl + '/status')).status).toBe(401)
    expect((await request(gw.adminUrl + '/status', { headers: { authorization: 'Bearer t0ken' } })).status).toBe(200)
  })
})
