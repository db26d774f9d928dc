// Active health checks end to end (SPEC §3, §9): the real gateway with 2 workers ejects failing targets for
// every worker and brings them back, keeps health across a SIGHUP reload, and shows it at GET /upstreams/{name}/health.
import { describe, expect, it } from 'vitest'
import type { RunningGateway } from '../helpers/gateway.js'
import { healthFixtures, poolConfig } from '../helpers/health-fixtures.js'
import { request } from '../helpers/http.js'
import { closedPort, type Upstream } from '../helpers/upstream.js'

const { backend, gateway } = healthFixtures()

const ACTIVE_HTTP = {
  active: {
    http_path: '/healthz',
    healthy: { interval: 0.1, successes: 2 },
    unhealthy: { interval: 0.1, http_failures: 2 },
  },
}

interface HealthBody {
  total: number
  next: null
  data: { target: string; weight: number; health: string; upstream: { id: string; name: string }; data: Record<string, unknown> }[]
}

async function health(gw: RunningGateway, name = 'pool'): Promise<Record<string, string>> {
  const body = (await request(`${gw.adminUrl}/upstreams/${name}/health`)).json<HealthBody>()
  return Object.fromEntries(body.data.map((t) => [t.target, t.health]))
}

async function until(check: () => Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The ports that answered `n` requests to /p (each on a new connection, so both workers take some). */
async function answeredBy(gw: RunningGateway, n = 12): Promise<Set<string>> {
  const ports = new Set<string>()
  for (let i = 0; i < n; i++) {
    const r = await request(gw.url + '/p')
    expect(r.status).toBe(200)
    ports.add(r.body)
  }
  return ports
}

const at = (up: Upstream): string => `127.0.0.1:${up.port}`

describe('active http checks', () => {
  it('eject a target that starts answering 500 for every worker, and bring it back once it recovers', async () => {
    const [a, b] = [await backend(), await backend()]
    const gw = await gateway(poolConfig([at(a), at(b)], ACTIVE_HTTP))
    expect(await answeredBy(gw)).toEqual(new Set([String(a.port), String(b.port)]))

    a.status = 500
    await until(async () => (await health(gw))[at(a)] === 'UNHEALTHY')
    expect((await health(gw))[at(b)]).toBe('HEALTHY')
    expect(await answeredBy(gw, 20)).toEqual(new Set([String(b.port)]))

    a.status = 200
    await until(async () => (await health(gw))[at(a)] === 'HEALTHY')
    expect(await answeredBy(gw)).toEqual(new Set([String(a.port), String(b.port)]))
  })
})

describe('active tcp checks', () => {
  it('eject a target whose port is closed', async () => {
    const live = await backend()
    const dead = `127.0.0.1:${await closedPort()}`
    const gw = await gateway(poolConfig([dead, at(live)], { active: { type: 'tcp', healthy: { interval: 0.1 }, unhealthy: { tcp_failures: 1 } } }))
    await until(async () => (await health(gw))[dead] === 'UNHEALTHY')
    expect(await answeredBy(gw, 20)).toEqual(new Set([String(live.port)]))
  })
})

describe('reload', () => {
  it('keeps the health of a target that stays across SIGHUP, and starts a new target healthy', async () => {
    const [a, b, c] = [await backend(), await backend(), await backend()]
    const gw = await gateway(poolConfig([at(a), at(b)], ACTIVE_HTTP))
    a.status = 500
    await until(async () => (await health(gw))[at(a)] === 'UNHEALTHY')
    a.status = 200

    // No more active probes after the reload: only the carried-over state can keep `a` out.
    gw.writeConfig(poolConfig([at(a), at(c)], { passive: { unhealthy: { http_failures: 3 } } }))
    const mark = gw.logs().length
    gw.proc.kill('SIGHUP')
    await gw.waitForLog('config reloaded', mark)

    expect(await health(gw)).toEqual({ [at(a)]: 'UNHEALTHY', [at(c)]: 'HEALTHY' })
    await until(async () => {
      const status = (await request(gw.adminUrl + '/status')).json<{ config_hash: string; workers: { threads: { config_hash: string }[] } }>()
      return status.workers.threads.every((t) => t.config_hash === status.config_hash)
    })
    expect(await answeredBy(gw, 20)).toEqual(new Set([String(c.port)]))
  })
})

describe('GET /upstreams/{name}/health', () => {
  it('answers Kong’s shape by name or id, HEALTHCHECKS_OFF without checks, and 404 for an unknown upstream', async () => {
    const [a, b] = [await backend(), await backend()]
    const gw = await gateway({
      upstreams: [
        { name: 'pool', id: 'pool-id', healthchecks: ACTIVE_HTTP, targets: [{ target: at(a), weight: 7 }, { target: at(b) }] },
        { name: 'plain', targets: [{ target: at(a) }] },
      ],
    })
    const r = await request(`${gw.adminUrl}/upstreams/pool/health`)
    expect(r.status).toBe(200)
    expect(r.headers['content-type']).toMatch(/^application\/json/)
    const body = r.json<HealthBody>()
    expect(body).toMatchObject({ total: 2, next: null })
    expect(body.data[0]).toEqual({
      target: at(a), weight: 7, upstream: { id: 'pool-id', name: 'pool' }, health: 'HEALTHY',
      data: { host: '127.0.0.1', port: a.port, ejected_until: null, tcp_failures: 0, timeouts: 0, http_failures: 0, successes: 0, ejections: 0, total_failures: 0 },
    })
    expect((await request(`${gw.adminUrl}/upstreams/pool-id/health`)).json()).toEqual(body)
    expect(await health(gw, 'plain')).toEqual({ [at(a)]: 'HEALTHCHECKS_OFF' })
    const missing = await request(`${gw.adminUrl}/upstreams/nope/health`)
    expect(missing.status).toBe(404)
    expect(missing.json()).toEqual({ message: 'Not found' })
  })
})
