// Routing rules end to end (SPEC §3): hosts, methods, headers, paths, regex priority, strip_path,
// preserve_host and the query matcher, through the real gateway with 2 workers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request } from '../helpers/http.js'
import { echoHandler, startUpstream, type Upstream } from '../helpers/upstream.js'

let up: Upstream
let gw: RunningGateway

interface Echo { url: string; headers: Record<string, string> }

beforeAll(async () => {
  up = await startUpstream(echoHandler)
  const url = `http://127.0.0.1:${up.port}`
  gw = await startGateway({
    services: [
      {
        name: 'svc', url: `${url}/base`,
        routes: [
          { name: 'prefix', paths: ['/api'] },
          { name: 'prefix-long', paths: ['/api/v2'] },
          { name: 'keep-path', paths: ['/keep'], strip_path: false },
          { name: 'regex-low', paths: ['~/items/\\d+$'], regex_priority: 1 },
          { name: 'host-exact', hosts: ['api.example.com'], paths: ['/h'] },
          { name: 'host-wild', hosts: ['*.wild.test'], paths: ['/h'] },
          { name: 'host-wild-suffix', hosts: ['suffix.*'], paths: ['/h'] },
          { name: 'methods', methods: ['POST'], paths: ['/m'] },
          { name: 'headers', headers: { 'x-version': ['2'] }, paths: ['/hv'] },
          { name: 'preserve', paths: ['/preserve'], preserve_host: true },
          { name: 'query-v1', paths: ['/q'], query: { version: ['1'] } },
          { name: 'query-v2', paths: ['/q'], query: { version: ['2'] } },
        ],
      },
      {
        name: 'svc-high', url: `${url}/high`,
        routes: [{ name: 'regex-high', paths: ['~/items/[0-9]+$'], regex_priority: 5, strip_path: false }],
      },
    ],
  })
})

afterAll(async () => {
  await gw?.stop()
  await up?.close()
})

async function echo(path: string, opts: Parameters<typeof request>[1] = {}): Promise<{ status: number; echo: Echo; route?: string }> {
  const r = await request(gw.url + path, opts)
  return { status: r.status, echo: r.status === 200 ? r.json<Echo>() : ({} as Echo) }
}

describe('routing', () => {
  it('strips the matched prefix and joins the service path', async () => {
    const r = await echo('/api/users?id=7')
    expect(r.status).toBe(200)
    expect(r.echo.url).toBe('/base/users?id=7')
  })

  it('prefers the longest matching prefix', async () => {
    const r = await echo('/api/v2/x')
    expect(r.echo.url).toBe('/base/x')
  })

  it('keeps the path when strip_path is false', async () => {
    const r = await echo('/keep/a')
    expect(r.echo.url).toBe('/base/keep/a')
  })

  it('picks the regex route with the higher regex_priority', async () => {
    const r = await echo('/items/42')
    expect(r.status).toBe(200)
    expect(r.echo.url).toBe('/high/items/42')
  })

  it('matches exact and wildcard hosts, ignoring the port', async () => {
    expect((await echo('/h', { headers: { host: 'api.example.com:8000' } })).status).toBe(200)
    expect((await echo('/h', { headers: { host: 'a.wild.test' } })).status).toBe(200)
    expect((await echo('/h', { headers: { host: 'suffix.org' } })).status).toBe(200)
    expect((await echo('/h', { headers: { host: 'other.test' } })).status).toBe(404)
  })

  it('matches methods', async () => {
    expect((await echo('/m', { method: 'POST', body: '' })).status).toBe(200)
    expect((await echo('/m')).status).toBe(404)
  })

  it('matches headers', async () => {
    expect((await echo('/hv', { headers: { 'x-version': '2' } })).status).toBe(200)
    expect((await echo('/hv', { headers: { 'x-version': '3' } })).status).toBe(404)
  })

  it('sends the target host unless preserve_host is on', async () => {
    const plain = await echo('/api/x', { headers: { host: 'client.example' } })
    expect(plain.echo.headers.host).toBe(`127.0.0.1:${up.port}`)
    const kept = await echo('/preserve', { headers: { host: 'client.example' } })
    expect(kept.echo.headers.host).toBe('client.example')
  })

  it('routes by query parameter (query matcher extension)', async () => {
    expect((await echo('/q?version=1')).status).toBe(200)
    expect((await echo('/q?version=2')).status).toBe(200)
    expect((await echo('/q?version=3')).status).toBe(404)
  })

  it('answers 404 with Kong\'s JSON error when nothing matches', async () => {
    const r = await request(gw.url + '/nothing-here', { headers: { 'x-request-id': 'abc-123' } })
    expect(r.status).toBe(404)
    expect(r.headers['content-type']).toContain('application/json')
    expect(r.json()).toEqual({ message: 'no Route matched with those values', request_id: 'abc-123' })
  })
})
