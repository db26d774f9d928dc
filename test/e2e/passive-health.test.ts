// Passive health checks end to end (SPEC §4, README "Health checks"): the real gateway with 2 workers counts
// proxied outcomes into the shared health table, ejects a target for every worker at once, and half-opens it.
import http from 'node:http'
import { describe, expect, it } from 'vitest'
import type { RunningGateway } from '../helpers/gateway.js'
import { healthFixtures, poolConfig, type Backend } from '../helpers/health-fixtures.js'
import { request } from '../helpers/http.js'
import { closedPort, startRawUpstream, type Upstream } from '../helpers/upstream.js'

const { backend, gateway, track } = healthFixtures()

const at = (up: Upstream): string => `127.0.0.1:${up.port}`

interface TargetHealth {
  target: string
  health: string
  data: { ejected_until: number | null; tcp_failures: number; timeouts: number; http_failures: number; successes: number; ejections: number; total_failures: number }
}

async function health(gw: RunningGateway): Promise<Record<string, TargetHealth>> {
  const body = (await request(`${gw.adminUrl}/upstreams/pool/health`)).json<{ data: TargetHealth[] }>()
  return Object.fromEntries(body.data.map((t) => [t.target, t]))
}

async function healthOf(gw: RunningGateway, target: string): Promise<TargetHealth> {
  return (await health(gw))[target]!
}

/** Polls `check` every 25 ms; fails after `timeoutMs`. */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** GET /p on a new connection (so the kernel spreads them over both workers). */
async function get(gw: RunningGateway): Promise<{ status: number; body: string }> {
  const r = await request(gw.url + '/p')
  return { status: r.status, body: r.body }
}

/** One keep-alive client connection, checked to stay the same socket: every request lands on one worker. */
class Pinned {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  private localPort = 0

  constructor(private readonly base: string) {}

  get(path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.get(this.base + path, { agent: this.agent }, (res) => {
        const port = res.socket.localPort!
        if (this.localPort === 0) this.localPort = port
        else if (port !== this.localPort) return reject(new Error('the gateway closed a pinned keep-alive connection'))
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (body += c))
        res.on('end', () => resolve({ status: res.statusCode!, body }))
      })
      req.on('error', reject)
    })
  }

  close(): void {
    this.agent.destroy()
  }
}

async function workerRequests(gw: RunningGateway): Promise<number[]> {
  const s = (await request(gw.adminUrl + '/status')).json<{ workers: { threads: { index: number; requests: number }[] } }>()
  return s.workers.threads.map((t) => t.requests)
}

/**
 * One keep-alive connection per worker thread, found by sending an unrouted request (404: no balancer
 * involved) on fresh connections and seeing whose request counter moved in GET /status.
 */
async function connectionPerWorker(gw: RunningGateway, workers = 2): Promise<Pinned[]> {
  const found: (Pinned | undefined)[] = new Array(workers)
  for (let attempt = 0; attempt < 40 && found.includes(undefined); attempt++) {
    const conn = new Pinned(gw.url)
    const before = await workerRequests(gw)
    expect((await conn.get('/which-worker')).status).toBe(404)
    const after = await workerRequests(gw)
    const moved = after.findIndex((n, i) => n !== before[i])
    if (moved >= 0 && found[moved] === undefined) {
      found[moved] = conn
      track(async () => conn.close())
    } else {
      conn.close()
    }
  }
  if (found.includes(undefined)) throw new Error('could not reach every worker thread in 40 connections')
  return found as Pinned[]
}

describe('passive http checks', () => {
  it('eject a target after http_failures 500s counted across both workers, for every worker at once', async () => {
    const [a, b] = [await backend(), await backend()]
    const gw = await gateway(poolConfig([at(a), at(b)], { passive: { unhealthy: { http_statuses: [500], http_failures: 3 } } }))
    const [w0, w1] = await connectionPerWorker(gw)
    a.status = 500

    /** Sends on `conn` until `a` has answered `n` more 500s (round-robin reaches it within 2 requests each). */
    const failuresVia = async (conn: Pinned, n: number): Promise<void> => {
      const target = a.requests() + n
      for (let i = 0; i < 4 * n && a.requests() < target; i++) {
        const r = await conn.get('/p')
        expect(r.status).toBe(r.body === String(a.port) ? 500 : 200)
      }
      expect(a.requests()).toBe(target)
    }
    // One failure through worker 0 and two through worker 1: neither worker alone reaches 3.
    await failuresVia(w0, 1)
    await failuresVia(w1, 1)
    expect((await healthOf(gw, at(a))).data).toMatchObject({ http_failures: 2, ejections: 0 })
    expect((await healthOf(gw, at(a))).health).toBe('HEALTHY')
    await failuresVia(w1, 1)

    const ejected = await healthOf(gw, at(a))
    expect(ejected.health).toBe('UNHEALTHY')
    expect(ejected.data).toMatchObject({ http_failures: 3, ejections: 1, total_failures: 3 })
    // Default passive ejection: 10 s (no active.unhealthy.interval), at whole-second resolution.
    const nowS = Date.now() / 1000
    expect(ejected.data.ejected_until).toBeGreaterThanOrEqual(nowS + 8)
    expect(ejected.data.ejected_until).toBeLessThanOrEqual(nowS + 12)
    expect((await healthOf(gw, at(b))).health).toBe('HEALTHY')

    // Worker 0 saw a single failure yet skips `a` as well: every request goes to b.
    const seen = a.requests()
    for (let i = 0; i < 8; i++) {
      for (const conn of [w0, w1]) expect(await conn.get('/p')).toEqual({ status: 200, body: String(b.port) })
    }
    expect(a.requests()).toBe(seen)
    // Exactly one worker reports the transition.
    expect(gw.logs().split('passive health check ejected a target').length - 1).toBe(1)
  })

  it('does not count statuses outside unhealthy.http_statuses, and a success resets the count', async () => {
    const [a, b] = [await backend(), await backend()]
    const gw = await gateway(poolConfig([at(a), at(b)], { passive: { unhealthy: { http_statuses: [500], http_failures: 2 } } }))
    a.status = 503 // Kong's default unhealthy list has 503; this one does not
    for (let i = 0; i < 6; i++) await get(gw)
    expect(a.requests()).toBeGreaterThanOrEqual(2)
    expect((await healthOf(gw, at(a))).data).toMatchObject({ http_failures: 0, total_failures: 0 })

    // 500, 200, 500: never two in a row.
    const hitA = async (): Promise<void> => {
      const target = a.requests() + 1
      for (let i = 0; i < 8 && a.requests() < target; i++) await get(gw)
      expect(a.requests()).toBe(target)
    }
    a.status = 500
    await hitA()
    a.status = 200
    await hitA()
    a.status = 500
    await hitA()
    const h = await healthOf(gw, at(a))
    expect(h.health).toBe('HEALTHY')
    expect(h.data).toMatchObject({ http_failures: 1, total_failures: 2, ejections: 0 })
  })
})

describe('passive tcp checks', () => {
  it('retries a closed port on the other target, then skips it without connecting once tcp_failures is reached', async () => {
    const live = await backend()
    const dead = `127.0.0.1:${await closedPort()}`
    const gw = await gateway(poolConfig([dead, at(live)], { passive: { unhealthy: { tcp_failures: 2 } } }, { retries: 2 }))

    let sent = 0
    await until(async () => {
      sent++
      expect(await get(gw)).toEqual({ status: 200, body: String(live.port) })
      return (await healthOf(gw, dead)).health === 'UNHEALTHY'
    }, 'closed target ejected')
    expect(sent).toBeLessThanOrEqual(6)
    const ejected = await healthOf(gw, dead)
    expect(ejected.data).toMatchObject({ tcp_failures: 2, total_failures: 2, ejections: 1 })

    // Ejected: no more connect attempts (each would count a failure), and no retry delay either.
    for (let i = 0; i < 20; i++) expect(await get(gw)).toEqual({ status: 200, body: String(live.port) })
    expect((await healthOf(gw, dead)).data).toMatchObject({ tcp_failures: 2, total_failures: 2, ejections: 1 })
  })
})

describe('passive timeouts', () => {
  it('ejects a target that accepts and never answers after the first read timeout', async () => {
    const live = await backend()
    const stall = await startRawUpstream(() => null)
    track(() => stall.close())
    const gw = await gateway(poolConfig([at(stall), at(live)], { passive: { unhealthy: { timeouts: 1 } } }, { retries: 1, read_timeout: 200 }))

    // The attempt that times out is retried on the live target: the client never sees it.
    for (let i = 0; i < 6 && stall.requests() === 0; i++) expect(await get(gw)).toEqual({ status: 200, body: String(live.port) })
    expect(stall.requests()).toBe(1)
    const ejected = await healthOf(gw, at(stall))
    expect(ejected.health).toBe('UNHEALTHY')
    expect(ejected.data).toMatchObject({ timeouts: 1, total_failures: 1, ejections: 1 })

    const connections = stall.connections()
    const started = performance.now()
    for (let i = 0; i < 10; i++) expect(await get(gw)).toEqual({ status: 200, body: String(live.port) })
    // Ten requests that never waited on a 200 ms read timeout.
    expect(performance.now() - started).toBeLessThan(1500)
    expect(stall.requests()).toBe(1)
    expect(stall.connections()).toBe(connections)
  })
})

describe('half-open recovery', () => {
  // A 1 s ejection: active.unhealthy.interval is the passive ejection time. It also probes ejected targets,
  // so the probe is `tcp` (no HTTP request counted by the backend) with healthy.successes 0 (it never restores).
  const HALF_OPEN_CHECKS = (httpFailures: number): object => ({
    active: { type: 'tcp', unhealthy: { interval: 1 } },
    passive: { healthy: { successes: 2 }, unhealthy: { http_statuses: [500], http_failures: httpFailures } },
  })

  /** Sends requests on new connections until `a` has answered one more; returns that response. */
  async function nextFrom(gw: RunningGateway, a: Backend, b: Backend): Promise<{ status: number; body: string }> {
    const target = a.requests() + 1
    for (let i = 0; i < 8; i++) {
      const r = await get(gw)
      if (a.requests() === target) return r
      expect(r).toEqual({ status: 200, body: String(b.port) })
    }
    throw new Error('the half-open target got no traffic')
  }

  async function ejectThenHalfOpen(gw: RunningGateway, a: Backend, b: Backend, failures: number): Promise<void> {
    a.status = 500
    for (let i = 0; i < failures; i++) expect(await nextFrom(gw, a, b)).toEqual({ status: 500, body: String(a.port) })
    expect((await healthOf(gw, at(a))).health).toBe('UNHEALTHY')
    const seen = a.requests()
    for (let i = 0; i < 4; i++) expect(await get(gw)).toEqual({ status: 200, body: String(b.port) })
    expect(a.requests()).toBe(seen)
    await until(async () => (await healthOf(gw, at(a))).health === 'HALF_OPEN', 'half-open after the ejection time', 3000)
  }

  it('routes to the target again after the ejection time and closes the breaker after healthy.successes', async () => {
    const [a, b] = [await backend(), await backend()]
    const gw = await gateway(poolConfig([at(a), at(b)], HALF_OPEN_CHECKS(1)))
    await ejectThenHalfOpen(gw, a, b, 1)

    a.status = 200
    expect(await nextFrom(gw, a, b)).toEqual({ status: 200, body: String(a.port) })
    const probation = await healthOf(gw, at(a))
    expect(probation.health).toBe('HALF_OPEN')
    expect(probation.data.successes).toBe(1)

    expect(await nextFrom(gw, a, b)).toEqual({ status: 200, body: String(a.port) })
    const closed = await healthOf(gw, at(a))
    expect(closed.health).toBe('HEALTHY')
    expect(closed.data).toMatchObject({ ejected_until: null, successes: 0, http_failures: 0, ejections: 1 })
    await gw.waitForLog('passive health check: target healthy again', 0, 2000)
  })

  it('re-ejects a half-open target on its first failure, below http_failures', async () => {
    const [a, b] = [await backend(), await backend()]
    const gw = await gateway(poolConfig([at(a), at(b)], HALF_OPEN_CHECKS(3)))
    await ejectThenHalfOpen(gw, a, b, 3)

    expect(await nextFrom(gw, a, b)).toEqual({ status: 500, body: String(a.port) })
    const reopened = await healthOf(gw, at(a))
    expect(reopened.health).toBe('UNHEALTHY')
    expect(reopened.data.ejected_until).toBeGreaterThan(Date.now() / 1000)
    expect(reopened.data).toMatchObject({ ejections: 1, total_failures: 4 })
    await gw.waitForLog('"reopened":true', 0, 2000)

    const seen = a.requests()
    for (let i = 0; i < 6; i++) expect(await get(gw)).toEqual({ status: 200, body: String(b.port) })
    expect(a.requests()).toBe(seen)
  })
})
