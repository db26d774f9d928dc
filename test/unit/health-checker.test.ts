// Active health checks (primary/health-checker): lua-resty-healthcheck counting on a real HealthTable, and
// the checker against real loopback servers (thresholds, per-state intervals, concurrency, reload, stop).
import http from 'node:http'
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { compileSnapshot } from '../../src/config/compile.js'
import type { ActiveChecks, Snapshot } from '../../src/config/types.js'
import { validateConfig } from '../../src/config/validate.js'
import { createLogger } from '../../src/logger.js'
import { HealthChecker, recordProbe } from '../../src/primary/health-checker.js'
import type { ProbeResult } from '../../src/primary/health-probe.js'
import { HealthTable } from '../../src/shared/health-table.js'

const OK: ProbeResult = { kind: 'status', status: 200 }
const ERROR: ProbeResult = { kind: 'status', status: 500 }
const TCP: ProbeResult = { kind: 'tcp' }
const TIMEOUT: ProbeResult = { kind: 'timeout' }

function checks(extra: Partial<ActiveChecks> = {}): ActiveChecks {
  return {
    type: 'http', timeoutMs: 1000, concurrency: 10, httpPath: '/', httpsSni: null, httpsVerifyCertificate: true, headers: {},
    healthyIntervalMs: 1000, healthyStatuses: [200, 302], successes: 2, unhealthyIntervalMs: 1000, unhealthyStatuses: [500, 503],
    tcpFailures: 2, timeouts: 2, httpFailures: 3, ...extra,
  }
}

describe('recordProbe', () => {
  it('ejects at a kind’s threshold of consecutive failures, with no expiry', () => {
    const table = HealthTable.create(4)
    const c = checks()
    expect([recordProbe(table, 0, ERROR, c), recordProbe(table, 0, ERROR, c), recordProbe(table, 0, ERROR, c)]).toEqual([null, null, 'ejected'])
    expect([recordProbe(table, 1, TCP, c), recordProbe(table, 1, TCP, c)]).toEqual([null, 'ejected'])
    expect([recordProbe(table, 2, TIMEOUT, c), recordProbe(table, 2, TIMEOUT, c)]).toEqual([null, 'ejected'])
    expect(table.inspect(0)).toMatchObject({ state: 'unhealthy', ejectedUntil: null, httpFailures: 3 })
  })

  it('counts a tcp connect as a success and a status line that is not HTTP as an HTTP failure', () => {
    const table = HealthTable.create(2)
    const c = checks({ type: 'tcp', httpFailures: 1 })
    recordProbe(table, 0, TCP, c)
    recordProbe(table, 0, { kind: 'connected' }, c)
    expect(recordProbe(table, 0, TCP, c)).toBeNull()
    expect(recordProbe(table, 1, { kind: 'status', status: 0 }, c)).toBe('ejected')
  })

  it('clears failure counts on a success and ignores statuses in neither list', () => {
    const table = HealthTable.create(1)
    const c = checks()
    recordProbe(table, 0, TCP, c)
    recordProbe(table, 0, OK, c)
    recordProbe(table, 0, { kind: 'status', status: 404 }, c)
    expect(recordProbe(table, 0, TCP, c)).toBeNull()
    expect(table.inspect(0)).toMatchObject({ state: 'healthy', tcpFailures: 1 })
  })

  it('restores an ejected target after `successes` successes in a row', () => {
    const table = HealthTable.create(1)
    const c = checks()
    table.markDown(0)
    expect(recordProbe(table, 0, OK, c)).toBeNull()
    expect(recordProbe(table, 0, TIMEOUT, c)).toBeNull() // resets the run, does not re-eject
    expect(recordProbe(table, 0, OK, c)).toBeNull()
    expect(recordProbe(table, 0, OK, c)).toBe('restored')
    expect(table.inspect(0)).toMatchObject({ state: 'healthy', ejections: 1, timeoutFailures: 0 })
  })

  it('treats a threshold of 0 as that counter being off', () => {
    const table = HealthTable.create(2)
    const c = checks({ tcpFailures: 0, successes: 0 })
    for (let i = 0; i < 5; i++) expect(recordProbe(table, 0, TCP, c)).toBeNull()
    expect(table.inspect(0)).toMatchObject({ state: 'healthy', tcpFailures: 0 })
    table.markDown(1)
    for (let i = 0; i < 5; i++) expect(recordProbe(table, 1, OK, c)).toBeNull()
    expect(table.inspect(1).state).toBe('unhealthy')
  })
})

// --- the checker against real servers ---------------------------------------------------------------

const log = createLogger('silent')
const closers: (() => unknown)[] = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

interface Backend {
  port: number
  status: number
  probes: number
}

async function backend(delayMs = 0, inFlight?: { now: number; max: number }): Promise<Backend> {
  const b: Backend = { port: 0, status: 200, probes: 0 }
  const server = http.createServer((_req, res) => {
    b.probes++
    if (inFlight !== undefined) inFlight.max = Math.max(inFlight.max, ++inFlight.now)
    setTimeout(() => {
      if (inFlight !== undefined) inFlight.now--
      res.writeHead(b.status).end()
    }, delayMs)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  b.port = (server.address() as net.AddressInfo).port
  closers.push(() => new Promise((r) => server.close(r)))
  closers.push(() => server.closeAllConnections())
  return b
}

function snapshot(ports: number[], healthchecks: Record<string, unknown>, weights: number[] = []): Snapshot {
  const targets = ports.map((p, i) => ({ target: `127.0.0.1:${p}`, weight: weights[i] ?? 100 }))
  const r = validateConfig({ _format_version: '3.0', upstreams: [{ name: 'up', healthchecks, targets }] })
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'))
  return compileSnapshot(r.config, '/gw.yaml', 0)
}

function running(table: HealthTable): HealthChecker {
  const checker = new HealthChecker(table, log)
  closers.push(() => checker.stop())
  return checker
}

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const ACTIVE = {
  active: { healthy: { interval: 0.02, successes: 2 }, unhealthy: { interval: 0.02, http_failures: 2, tcp_failures: 1 } },
}

describe('HealthChecker', () => {
  it('ejects a target that answers 500 and restores it once it answers 200 again', async () => {
    const [a, b] = [await backend(), await backend()]
    const table = HealthTable.create(4)
    running(table).update(snapshot([a.port, b.port], ACTIVE))
    a.status = 500
    await until(() => !table.isHealthy(0))
    expect(table.isHealthy(1)).toBe(true)
    a.status = 200
    await until(() => table.isHealthy(0))
    expect(table.inspect(0)).toMatchObject({ state: 'healthy', ejections: 1 })
  })

  it('probes only the states whose interval is set', async () => {
    const [up, down] = [await backend(), await backend()]
    const table = HealthTable.create(4)
    table.markDown(1)
    running(table).update(snapshot([up.port, down.port], { active: { unhealthy: { interval: 0.02, http_failures: 1 }, healthy: { successes: 1 } } }))
    await until(() => table.isHealthy(1))
    await sleep(100)
    expect(up.probes).toBe(0)
  })

  it('never probes a target of weight 0', async () => {
    const [zero, live] = [await backend(), await backend()]
    running(HealthTable.create(4)).update(snapshot([zero.port, live.port], ACTIVE, [0, 100]))
    await until(() => live.probes >= 3)
    expect(zero.probes).toBe(0)
  })

  it('keeps at most `concurrency` probes in flight', async () => {
    const inFlight = { now: 0, max: 0 }
    const backends = [await backend(30, inFlight), await backend(30, inFlight), await backend(30, inFlight), await backend(30, inFlight)]
    running(HealthTable.create(8)).update(snapshot(backends.map((b) => b.port), { active: { ...ACTIVE.active, concurrency: 2 } }))
    await until(() => backends.every((b) => b.probes >= 2))
    expect(inFlight.max).toBe(2)
  })

  it('on update, stops the old probes and starts the new Snapshot’s, whose targets keep their table state', async () => {
    const [a, b] = [await backend(), await backend()]
    const table = HealthTable.create(4)
    const checker = running(table)
    checker.update(snapshot([a.port], ACTIVE))
    a.status = 500
    await until(() => !table.isHealthy(0))
    const bBefore = b.probes
    checker.update(snapshot([a.port, b.port], { active: { healthy: { interval: 0.02 }, unhealthy: { http_failures: 2 } } }))
    // An unhealthy-interval probe of the old config may be on the wire at the update; it reaches the server
    // (same event loop) before the new checker's first probe of b completes a round trip.
    await until(() => b.probes > bBefore)
    const probed = a.probes
    await until(() => b.probes >= bBefore + 3)
    expect(a.probes).toBe(probed) // ejected, and the new config probes healthy targets only
    expect(table.isHealthy(0)).toBe(false)
  })

  it('puts the targets of an upstream whose health checks were turned off back in rotation', async () => {
    const table = HealthTable.create(2)
    table.markDown(0)
    running(table).update(snapshot([1], {}))
    expect(table.inspect(0).state).toBe('healthy')
  })

  it('stops probing on stop(), closing probes in flight', async () => {
    let open = 0
    let accepted = 0
    const server = net.createServer((s) => {
      accepted++
      open++
      s.on('close', () => open--)
      s.resume()
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    closers.push(() => new Promise((r) => server.close(r)))
    const checker = running(HealthTable.create(2))
    checker.update(snapshot([(server.address() as net.AddressInfo).port], { active: { timeout: 10, healthy: { interval: 0.02 } } }))
    await until(() => open === 1)
    checker.stop()
    await until(() => open === 0)
    await sleep(80)
    expect(accepted).toBe(1)
  })
})
