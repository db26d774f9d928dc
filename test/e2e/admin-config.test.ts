// POST /config and POST /config/validate end to end (SPEC §9): JSON, YAML and Kong's {"config": …} form,
// every problem listed and nothing applied when invalid, every worker switched, no request dropped meanwhile.
import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request, type Reply } from '../helpers/http.js'
import { echoHandler, startUpstream, type Upstream } from '../helpers/upstream.js'

const TOKEN = 'admin-t0ken'
let up: Upstream
let gw: RunningGateway

interface Status {
  config_hash: string
  reloads: number
  reloads_failed: number
  workers: { threads: { config_hash: string }[] }
}

const service = (name: string, path: string) => ({ name, url: `http://127.0.0.1:${up.port}`, routes: [{ name, paths: [path] }] })

function post(path: string, body: string, contentType: string, token: string | null = TOKEN): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': contentType }
  if (token !== null) headers.authorization = `Bearer ${token}`
  return request(gw.adminUrl + path, { method: 'POST', headers, body })
}

async function status(): Promise<Status> {
  return (await request(gw.adminUrl + '/status', { headers: { authorization: `Bearer ${TOKEN}` } })).json<Status>()
}

beforeAll(async () => {
  up = await startUpstream(echoHandler)
  gw = await startGateway({ services: [service('a', '/a')] }, { env: { GATEWAY_ADMIN_TOKEN: TOKEN } })
})

afterAll(async () => {
  await gw.stop()
  await up.close()
})

describe('POST /config', () => {
  it('applies a JSON document in every worker before answering 201', async () => {
    const reply = await post('/config', JSON.stringify({ _format_version: '3.0', services: [service('b', '/b')] }), 'application/json')
    expect(reply.status).toBe(201)
    const body = reply.json<{ config_hash: string; workers_pending: number[] }>()
    expect(body.workers_pending).toEqual([])
    const s = await status()
    expect(s.config_hash).toBe(body.config_hash)
    expect(s.workers.threads.map((t) => t.config_hash)).toEqual([body.config_hash, body.config_hash])
    for (let i = 0; i < 6; i++) expect((await request(gw.url + '/b')).status).toBe(200)
    expect((await request(gw.url + '/a')).status).toBe(404)
  })

  it('reads YAML, and Kong\'s {"config": "<declarative text>"} form', async () => {
    const yaml = `_format_version: "3.0"\nservices:\n  - name: c\n    url: http://127.0.0.1:${up.port}\n    routes:\n      - name: c\n        paths: [/c]\n`
    expect((await post('/config', yaml, 'application/yaml')).status).toBe(201)
    expect((await request(gw.url + '/c')).status).toBe(200)
    const kong = JSON.stringify({ config: yaml.replace(/\bc\b/g, 'd').replace('/d]', '/kong]') })
    expect((await post('/config', kong, 'application/json')).status).toBe(201)
    expect((await request(gw.url + '/kong')).status).toBe(200)
    expect((await request(gw.url + '/c')).status).toBe(404)
  })

  it('answers 400 listing every problem and changes nothing', async () => {
    const before = await status()
    const bad = { _format_version: '3.0', services: [{ name: 'x', url: 'not a url', routes: [{ name: 'r', paths: ['no-slash'] }] }], plugins: [{ name: 'no-such-plugin' }] }
    const reply = await post('/config', JSON.stringify(bad), 'application/json')
    expect(reply.status).toBe(400)
    const errors = reply.json<{ errors: string[] }>().errors
    expect(errors.length).toBeGreaterThanOrEqual(3)
    expect(errors.some((e) => e.startsWith('services[0].url'))).toBe(true)
    expect(errors.some((e) => e.startsWith('services[0].routes[0].paths[0]'))).toBe(true)
    expect(errors.some((e) => e.startsWith('plugins[0].name'))).toBe(true)
    const after = await status()
    expect(after.config_hash).toBe(before.config_hash)
    expect(after.reloads_failed).toBe(before.reloads_failed + 1)
    expect((await post('/config', '{"services": [', 'application/json')).status).toBe(400)
    expect((await status()).config_hash).toBe(before.config_hash)
  })

  it('needs the admin token', async () => {
    const reply = await post('/config', JSON.stringify({ _format_version: '3.0' }), 'application/json', null)
    expect(reply.status).toBe(401)
  })

  it('drops no request while configs are applied under load', async () => {
    expect((await post('/config', JSON.stringify({ _format_version: '3.0', services: [service('load', '/load')] }), 'application/json')).status).toBe(201)
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
    let stop = false
    const statuses: number[] = []
    const loop = async (): Promise<void> => {
      while (!stop) statuses.push((await request(gw.url + '/load', { agent })).status)
    }
    const loops = Array.from({ length: 8 }, loop)
    for (let i = 0; i < 5; i++) {
      const config = { _format_version: '3.0', services: [{ ...service('load', '/load'), retries: i }] }
      expect((await post('/config', JSON.stringify(config), 'application/json')).status).toBe(201)
    }
    // However fast the configs went through, the load ran alongside them: stop it after a fixed count.
    while (statuses.length < 200) await new Promise((r) => setTimeout(r, 5))
    stop = true
    await Promise.all(loops)
    agent.destroy()
    expect(statuses.filter((s) => s !== 200)).toEqual([])
  })
})

describe('POST /config/validate', () => {
  it('checks a config without applying it', async () => {
    const before = await status()
    const reply = await post('/config/validate', JSON.stringify({ _format_version: '3.0', services: [service('v', '/v')] }), 'application/json')
    expect(reply.status).toBe(200)
    expect(reply.json<{ config_hash: string }>().config_hash).not.toBe(before.config_hash)
    expect((await status()).config_hash).toBe(before.config_hash)
    expect((await request(gw.url + '/v')).status).toBe(404)
    const bad = await post('/config/validate', 'services:\n  - name: 5\n', 'text/yaml')
    expect(bad.status).toBe(400)
    expect(bad.json<{ errors: string[] }>().errors.length).toBeGreaterThan(0)
  })
})
