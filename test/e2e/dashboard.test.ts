// The admin dashboard end to end (SPEC §9): the real gateway (2 workers) behind an upstream with one live and one
// dead target, driven through Debian's Chromium: token prompt, routes, target health, and live charts of fixed traffic.
import { inflateSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromium, type Browser, type Page } from 'playwright-core'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request } from '../helpers/http.js'
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js'

const TOKEN = 'dashboard-test-token'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
/** The requests/s series colour (#2563eb) and the chart's plot box in CSS px (canvas 220 px high: top 26, bottom 34). */
const REQUESTS_BLUE = [0x25, 0x63, 0xeb] as const
const PLOT_TOP = 26
const PLOT_BASELINE = 220 - 34

const REGEX_PATH = '~/items/(?<id>\\d+)$'

function config(live: number, dead: number): object {
  return {
    upstreams: [{
      name: 'pool',
      healthchecks: { active: { type: 'tcp', healthy: { interval: 0.2 }, unhealthy: { interval: 0.2, tcp_failures: 1 } } },
      targets: [{ target: `127.0.0.1:${live}` }, { target: `127.0.0.1:${dead}` }],
    }],
    services: [{
      name: 'svc', host: 'pool', port: 80,
      routes: [
        { name: 'cached', paths: ['/cached'], plugins: [{ name: 'proxy-cache', config: { strategy: 'memory' } }, { name: 'rate-limiting', config: { hour: 6, policy: 'local' } }] },
        { name: 'plain', paths: ['/plain'], methods: ['GET'] },
        { name: 'items', paths: [REGEX_PATH], hosts: ['api.example.com'] },
      ],
    }],
  }
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium's screenshots are) into rows of pixels. */
function decodePng(png: Buffer): { width: number; height: number; pixel(x: number, y: number): [number, number, number] } {
  let offset = 8
  let width = 0
  let height = 0
  let channels = 0
  const data: Buffer[] = []
  while (offset < png.length) {
    const length = png.readUInt32BE(offset)
    const type = png.toString('latin1', offset + 4, offset + 8)
    const body = png.subarray(offset + 8, offset + 8 + length)
    if (type === 'IHDR') {
      width = body.readUInt32BE(0)
      height = body.readUInt32BE(4)
      expect([body[8], body[12]]).toEqual([8, 0]) // bit depth 8, no interlace
      channels = body[9] === 6 ? 4 : body[9] === 2 ? 3 : 0
      expect(channels).toBeGreaterThan(0)
    } else if (type === 'IDAT') data.push(body)
    offset += 12 + length
  }
  const raw = inflateSync(Buffer.concat(data))
  const stride = width * channels
  const out = Buffer.alloc(height * stride)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i]!
      const a = i >= channels ? out[y * stride + i - channels]! : 0
      const b = y > 0 ? out[(y - 1) * stride + i]! : 0
      const c = i >= channels && y > 0 ? out[(y - 1) * stride + i - channels]! : 0
      const p = a + b - c
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter]!
      out[y * stride + i] = (x + predictor) & 0xff
    }
  }
  return { width, height, pixel: (x, y) => [out[y * stride + x * channels]!, out[y * stride + x * channels + 1]!, out[y * stride + x * channels + 2]!] }
}

/** Pixels of the requests/s line strictly above the chart's zero line (the legend swatch sits above PLOT_TOP). */
async function seriesPixelsAboveZero(page: Page): Promise<number> {
  const image = decodePng(await page.locator('#chart-requests').screenshot())
  let count = 0
  for (let y = PLOT_TOP + 2; y < PLOT_BASELINE - 3; y++) {
    for (let x = 0; x < image.width; x++) {
      const [r, g, b] = image.pixel(x, y)
      if (Math.abs(r - REQUESTS_BLUE[0]) + Math.abs(g - REQUESTS_BLUE[1]) + Math.abs(b - REQUESTS_BLUE[2]) < 30) count++
    }
  }
  return count
}

const text = async (page: Page, selector: string): Promise<string> => ((await page.locator(selector).textContent()) ?? '').trim()

let live: Upstream
let gw: RunningGateway
let browser: Browser
let page: Page
const pageProblems: string[] = []
const pageRequests: string[] = []
let deadTarget = ''
let liveTarget = ''

beforeAll(async () => {
  live = await startUpstream((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.end(`ok ${req.url}`)
  })
  const dead = await closedPort()
  liveTarget = `127.0.0.1:${live.port}`
  deadTarget = `127.0.0.1:${dead}`
  gw = await startGateway(config(live.port, dead), { workers: 2, env: { GATEWAY_ADMIN_TOKEN: TOKEN } })
  const auth = { authorization: `Bearer ${TOKEN}` }
  await until(async () => {
    const body = (await request(`${gw.adminUrl}/upstreams/pool/health`, { headers: auth })).json<{ data: { target: string; health: string }[] }>()
    return body.data.some((t) => t.target === deadTarget && t.health === 'UNHEALTHY')
  }, 'the dead target to be ejected')
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS })
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } })
  page.on('pageerror', (err) => pageProblems.push(`pageerror: ${err.message}`))
  page.on('console', (msg) => {
    // 401s while no valid token is given are expected; anything else (a CSP violation, a script error) is not.
    if (msg.type() === 'error' && !msg.text().includes('401')) pageProblems.push(`console: ${msg.text()}`)
  })
  page.on('request', (r) => pageRequests.push(r.url()))
})

afterAll(async () => {
  await browser?.close()
  await gw?.stop()
  await live?.close()
})

describe('dashboard', () => {
  it('serves the page without the token, with a CSP that allows no other origin, and its data only with the token', async () => {
    for (const path of ['/', '/dashboard']) {
      const r = await request(gw.adminUrl + path)
      expect(r.status).toBe(200)
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(r.headers['content-security-policy']).toMatch(/^default-src 'none'; script-src 'sha256-[^']+'; style-src 'sha256-[^']+'; connect-src 'self'/)
      expect(r.body).toContain('<canvas id="chart-requests"')
    }
    expect((await request(gw.adminUrl + '/dashboard/data')).status).toBe(401)
    expect((await request(gw.adminUrl + '/dashboard/data', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
    const data = await request(gw.adminUrl + '/dashboard/data', { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(data.status).toBe(200)
    expect(data.json<{ routes: { name: string }[] }>().routes.map((r) => r.name)).toEqual(['cached', 'plain', 'items'])
  })

  it('asks for the token, says when it is refused, and opens with the right one', async () => {
    await page.goto(gw.adminUrl + '/')
    await page.locator('#token-form').waitFor({ state: 'visible' })
    expect(await page.locator('#board').isHidden()).toBe(true)
    expect(await text(page, '#token-message')).toContain('requires its admin token')

    await page.fill('#token', 'not-the-token')
    await page.click('#token-form button[type=submit]')
    await until(async () => (await text(page, '#token-message')).includes('refused'), 'the refusal message')
    expect(await page.locator('#token-form').isVisible()).toBe(true)

    await page.fill('#token', TOKEN)
    await page.click('#token-form button[type=submit]')
    await page.locator('#board').waitFor({ state: 'visible' })
    expect(await page.locator('#token-form').isHidden()).toBe(true)
    expect(await page.evaluate('sessionStorage.getItem("gateway-admin-token")')).toBe(TOKEN)
  })

  it('lists routes with their paths, hosts, methods and plugins in execution order, as text', async () => {
    const rows = page.locator('#routes tbody tr')
    await until(async () => (await rows.count()) === 3, 'three route rows')
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-route')))).toEqual(['cached', 'plain', 'items'])
    const cells = async (route: string): Promise<string[]> => (await page.locator(`#routes tr[data-route="${route}"] td`).allTextContents()).map((t) => t.trim())
    expect(await cells('cached')).toEqual(['cached', 'svc', 'http, https', 'any', 'any', '/cached', 'rate-limitingproxy-cache'])
    expect(await cells('plain')).toEqual(['plain', 'svc', 'http, https', 'GET', 'any', '/plain', 'none'])
    // The regex's `<id>` is shown as written: it went in as text, not markup.
    expect(await cells('items')).toEqual(['items', 'svc', 'http, https', 'any', 'api.example.com', REGEX_PATH, 'none'])
    expect(await page.locator('#routes id').count()).toBe(0)
    expect(await page.locator('#routes tr[data-route="cached"] .tag').allTextContents()).toEqual(['rate-limiting', 'proxy-cache'])
    expect((await page.locator('#services tbody td').allTextContents()).map((t) => t.trim())).toEqual(['svc', 'http', 'pool', '80', '/', 'pool'])
  })

  it("shows each target's health with its colour, as GET /upstreams/{name}/health computes it", async () => {
    const health = (target: string) => page.locator(`#upstreams table[data-upstream="pool"] tr[data-target="${target}"]`)
    await health(deadTarget).waitFor()
    expect(await health(liveTarget).getAttribute('data-health')).toBe('HEALTHY')
    expect(await health(deadTarget).getAttribute('data-health')).toBe('UNHEALTHY')
    expect(await health(liveTarget).locator('.badge').textContent()).toBe('HEALTHY')
    expect(await health(deadTarget).locator('.badge').textContent()).toBe('UNHEALTHY')
    const colour = (target: string) => page.evaluate(`getComputedStyle(document.querySelector('tr[data-target="${target}"] .badge')).backgroundColor`)
    expect(await colour(liveTarget)).toBe('rgb(22, 163, 74)')
    expect(await colour(deadTarget)).toBe('rgb(220, 38, 38)')
  })

  it('shows every worker on the running config hash', async () => {
    const status = (await request(gw.adminUrl + '/status', { headers: { authorization: `Bearer ${TOKEN}` } })).json<{ config_hash: string }>()
    expect(await text(page, '#config-hash')).toBe(status.config_hash)
    await until(async () => (await page.locator('#workers tbody tr').count()) === 2, 'two worker rows')
    const hashes = await page.locator('#workers tbody tr td:nth-child(3)').allTextContents()
    expect(hashes).toEqual([status.config_hash, status.config_hash])
  })

  it('charts the traffic sent: request, error, rate-limit and cache figures per window, and a line above zero', async () => {
    // Traffic is sent only after the sampler's baseline exists, so every request falls in a window in view.
    await until(async () => Number(await page.locator('#chart-requests').getAttribute('data-points')) >= 1, 'the first window')
    expect(await text(page, '#view-requests')).toBe('0')
    expect(await seriesPixelsAboveZero(page)).toBe(0)

    const statuses: number[] = []
    for (let i = 0; i < 10; i++) statuses.push((await request(gw.url + '/cached')).status)
    for (let i = 0; i < 20; i++) statuses.push((await request(gw.url + '/plain')).status)
    for (let i = 0; i < 3; i++) statuses.push((await request(gw.url + '/nowhere')).status)
    const count = (s: number) => statuses.filter((x) => x === s).length
    expect([count(200), count(429), count(404)]).toEqual([26, 4, 3])

    await until(async () => (await text(page, '#view-requests')) === '33', 'the 33 requests to be in view')
    expect(await text(page, '#view-errors')).toBe('3')
    expect(await text(page, '#view-limited')).toBe('4')
    expect(await text(page, '#view-hits')).toBe('5')
    expect(await text(page, '#view-misses')).toBe('1')
    expect(await text(page, '#fig-cache')).toBe('83.3 %')
    expect(await text(page, '#rl-rejected')).toBe('4')
    expect(await text(page, '#cache-hit-miss')).toBe('5 / 1')

    const requests = page.locator('#chart-requests')
    expect(Number(await requests.getAttribute('data-points'))).toBeGreaterThanOrEqual(2)
    expect(Number(await requests.getAttribute('data-peak'))).toBeGreaterThan(0)
    expect(Number(await page.locator('#chart-errors').getAttribute('data-peak'))).toBeGreaterThan(0)
    expect(Object.keys(JSON.parse((await page.locator('#chart-latency').getAttribute('data-latest'))!))).toEqual(['p50_ms', 'p95_ms', 'p99_ms'])
    expect(await seriesPixelsAboveZero(page)).toBeGreaterThan(20)
  })

  it('charts the latency of the requests sent: its windows hold every duration /status counts', async () => {
    const status = (await request(gw.adminUrl + '/status', { headers: { authorization: `Bearer ${TOKEN}` } })).json<{ latency: { request_ms: { count: number } } }>()
    const timed = status.latency.request_ms.count
    // The 30 routed requests at least (26 answered upstream or from cache, 4 refused by rate-limiting).
    expect(timed).toBeGreaterThanOrEqual(30)
    await until(async () => (await text(page, '#view-timed')) === String(timed), `${timed} timed requests in view`)
    expect(Number(await page.locator('#chart-latency').getAttribute('data-peak'))).toBeGreaterThan(0)
  })

  it('made no request outside the admin API and raised no script or CSP error', () => {
    expect(pageRequests.length).toBeGreaterThan(2)
    for (const url of pageRequests) expect(url.startsWith(gw.adminUrl + '/') || url.startsWith('data:')).toBe(true)
    expect(pageProblems).toEqual([])
  })
})

describe('dashboard without GATEWAY_ADMIN_TOKEN', () => {
  it('opens the board at once, without a token prompt', async () => {
    const open = await startGateway({ services: [{ name: 'solo', url: `http://127.0.0.1:${live.port}`, routes: [{ name: 'only', paths: ['/only'] }] }] }, { workers: 2 })
    const context = await browser.newContext()
    try {
      const p = await context.newPage()
      await p.goto(open.adminUrl + '/dashboard')
      await p.locator('#board').waitFor({ state: 'visible' })
      expect(await p.locator('#token-form').isHidden()).toBe(true)
      expect(await p.locator('#forget').isHidden()).toBe(true)
      expect(await p.locator('#routes tbody tr').getAttribute('data-route')).toBe('only')
      expect(await p.locator('#upstreams').textContent()).toContain('No upstreams')
    } finally {
      await context.close()
      await open.stop()
    }
  })
})
