// Graceful shutdown end to end (SPEC §1, §9): SIGTERM and SIGINT both drain — the listener closes
// within 1 s (new connections refused), GET /health answers 503 while the drain lasts, the in-flight
// request finishes and the process exits 0.
import { afterEach, describe, expect, it } from 'vitest'
import { startGateway } from '../helpers/gateway.js'
import { request } from '../helpers/http.js'
import { echoHandler, startUpstream } from '../helpers/upstream.js'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** The upstream holds every request this long, so the drain lasts at least that. */
const UPSTREAM_DELAY_MS = 2000

async function refused(url: string): Promise<boolean> {
  return request(url).then(() => false, () => true)
}

describe.each(['SIGTERM', 'SIGINT'] as const)('%s', (signal) => {
  it('drains: /health 503, new connections refused, in-flight request finishes, exit 0', async () => {
    const up = await startUpstream((req, res) => setTimeout(() => echoHandler(req, res), UPSTREAM_DELAY_MS))
    cleanups.push(() => up.close())
    const gw = await startGateway(
      { services: [{ name: 'a', url: `http://127.0.0.1:${up.port}`, routes: [{ name: 'a', paths: ['/a'] }] }] },
      { env: { GATEWAY_DRAIN_TIMEOUT_MS: '8000' } },
    )
    cleanups.push(() => gw.stop())
    expect((await request(gw.adminUrl + '/health')).status).toBe(200)

    const inflight = request(gw.url + '/a')
    let settled = false
    void inflight.finally(() => (settled = true))
    // Let the request reach the upstream before signalling.
    const deadline = Date.now() + 2000
    while (up.requests() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    expect(up.requests()).toBe(1)

    const exited = new Promise<number | null>((resolve) => gw.proc.once('exit', (code) => resolve(code)))
    const signalledAt = Date.now()
    gw.proc.kill(signal)
    await gw.waitForLog('"draining"')

    // Readiness goes down at once and stays down for the whole drain.
    const health = await request(gw.adminUrl + '/health')
    expect(health.status).toBe(503)
    expect(health.json()).toEqual({ status: 'unavailable' })

    // The proxy listener closes within 1 s of the signal.
    while (!(await refused(gw.url + '/a'))) {
      expect(Date.now() - signalledAt).toBeLessThan(1000)
      await new Promise((r) => setTimeout(r, 25))
    }
    expect(Date.now() - signalledAt).toBeLessThan(1000)

    // Still draining (the in-flight request has not been answered yet): /health is still 503.
    expect((await request(gw.adminUrl + '/health')).status).toBe(503)
    expect(settled).toBe(false)

    const r = await inflight
    expect(r.status).toBe(200)
    expect(r.json<{ method: string }>().method).toBe('GET')
    expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(UPSTREAM_DELAY_MS - 500)
    expect(await exited).toBe(0)
    expect(gw.logs()).toContain('"stopped"')
  })
})
