// Admin API token (SPEC §2 GATEWAY_ADMIN_TOKEN, §9) end to end: the Bearer scheme is matched
// case-insensitively (RFC 9110 §11.1), and with a token set every admin path but the dashboard
// page answers 401 without it — unknown paths too, so the path set cannot be probed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request } from '../helpers/http.js'

const TOKEN = 't0ken-Secret'

describe('admin token', () => {
  let gw: RunningGateway
  beforeAll(async () => {
    gw = await startGateway({ services: [] }, { env: { GATEWAY_ADMIN_TOKEN: TOKEN } })
  })
  afterAll(async () => {
    await gw.stop()
  })

  const status = async (path: string, authorization?: string, method = 'GET'): Promise<number> =>
    (await request(gw.adminUrl + path, { method, headers: authorization === undefined ? {} : { authorization } })).status

  it('accepts the auth scheme in any case and with more than one space', async () => {
    for (const header of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER ${TOKEN}`, `bEaReR ${TOKEN}`, `Bearer   ${TOKEN}`]) {
      expect(await status('/status', header), header).toBe(200)
    }
  })

  it('refuses a wrong token, another scheme or a malformed header', async () => {
    const basic = `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`
    for (const header of ['', 'Bearer', 'Bearer ', `Bearer${TOKEN}`, `Bearer ${TOKEN.toLowerCase()}`, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Token ${TOKEN}`, basic, TOKEN]) {
      const r = await request(gw.adminUrl + '/status', { headers: { authorization: header } })
      expect(r.status, JSON.stringify(header)).toBe(401)
      expect(r.headers['www-authenticate']).toBe('Bearer')
    }
  })

  it('answers 401 for unknown paths without the token and 404 with it', async () => {
    for (const path of ['/nope', '/status/', '/admin/secret', '/workers', '/dashboard/other']) {
      const r = await request(gw.adminUrl + path)
      expect(r.status, path).toBe(401)
      expect(r.body).not.toContain('Not found')
      expect(await status(path, `bearer ${TOKEN}`), path).toBe(404)
    }
    // A known path with a method it does not serve looks the same as an unknown one.
    expect(await status('/status', undefined, 'POST')).toBe(401)
    expect(await status('/status', `Bearer ${TOKEN}`, 'POST')).toBe(404)
    expect(await status('/upstreams/none/health')).toBe(401)
    expect(await status('/upstreams/none/health', `Bearer ${TOKEN}`)).toBe(404)
  })

  it('serves the dashboard page without the token but guards its data', async () => {
    for (const path of ['/', '/dashboard']) {
      const page = await request(gw.adminUrl + path)
      expect(page.status, path).toBe(200)
      expect(page.headers['content-type']).toContain('text/html')
    }
    expect(await status('/dashboard/data')).toBe(401)
    expect(await status('/dashboard/data', `bearer ${TOKEN}`)).toBe(200)
    // Only GET of the page is open.
    expect(await status('/', undefined, 'POST')).toBe(401)
  })

  it('guards every admin endpoint', async () => {
    const guarded: [string, string][] = [
      ['GET', '/status'], ['GET', '/health'], ['GET', '/metrics'], ['GET', '/config'], ['POST', '/config'],
      ['POST', '/config/validate'], ['POST', '/cache/invalidate'], ['DELETE', '/proxy-cache'], ['DELETE', '/proxy-cache/k'],
      ['GET', '/proxy-cache/k'], ['GET', '/consumers/ann/usage'], ['DELETE', '/workers/0'], ['GET', '/dashboard/data'],
    ]
    for (const [method, path] of guarded) expect(await status(path, undefined, method), `${method} ${path}`).toBe(401)
    // The refused DELETE /workers/0 ended nothing.
    const s = (await request(gw.adminUrl + '/status', { headers: { authorization: `Bearer ${TOKEN}` } })).json<{ workers: { restarts: number } }>()
    expect(s.workers.restarts).toBe(0)
  })
})

describe('admin without a token', () => {
  it('answers unknown paths 404 and known ones without Authorization', async () => {
    const gw = await startGateway({ services: [] })
    try {
      expect((await request(gw.adminUrl + '/nope')).status).toBe(404)
      expect((await request(gw.adminUrl + '/status')).status).toBe(200)
      expect((await request(gw.adminUrl + '/dashboard/data')).status).toBe(200)
    } finally {
      await gw.stop()
    }
  })
})
