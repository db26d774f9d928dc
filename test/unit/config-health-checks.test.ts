// Kong's healthchecks record compiled into the Snapshot's ActiveChecks / PassiveChecks (config/health-checks):
// null when off, seconds to milliseconds, thresholds and status lists carried, the half-open interval chosen.
import { describe, expect, it } from 'vitest'
import { compileSnapshot } from '../../src/config/compile.js'
import { DEFAULT_PASSIVE_EJECT_MS } from '../../src/config/health-checks.js'
import type { UpstreamRecord } from '../../src/config/types.js'
import { validateConfig } from '../../src/config/validate.js'

function upstreamWith(healthchecks: Record<string, unknown>): UpstreamRecord {
  const r = validateConfig({ _format_version: '3.0', upstreams: [{ name: 'up', healthchecks }] })
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'))
  return compileSnapshot(r.config, '/gw.yaml', 0).upstreams[0]
}

describe('active checks', () => {
  it('are off (null) with Kong defaults: both intervals 0', () => {
    expect(upstreamWith({}).activeChecks).toBeNull()
  })

  it('carry every field, intervals and timeout in milliseconds', () => {
    const u = upstreamWith({
      active: {
        type: 'https', timeout: 0.5, concurrency: 3, http_path: '/status', https_sni: 'svc.example', https_verify_certificate: false,
        headers: { 'x-probe': ['1', '2'] },
        healthy: { interval: 2, successes: 2, http_statuses: [200] },
        unhealthy: { interval: 0.25, tcp_failures: 1, timeouts: 3, http_failures: 4, http_statuses: [500] },
      },
    })
    expect(u.activeChecks).toEqual({
      type: 'https', timeoutMs: 500, concurrency: 3, httpPath: '/status', httpsSni: 'svc.example', httpsVerifyCertificate: false,
      headers: { 'x-probe': ['1', '2'] },
      healthyIntervalMs: 2000, healthyStatuses: [200], successes: 2,
      unhealthyIntervalMs: 250, unhealthyStatuses: [500], tcpFailures: 1, timeouts: 3, httpFailures: 4,
    })
  })

  it('are on when only unhealthy targets are probed', () => {
    expect(upstreamWith({ active: { unhealthy: { interval: 1 } } }).activeChecks).toMatchObject({ healthyIntervalMs: 0, unhealthyIntervalMs: 1000, headers: {} })
  })
})

describe('passive checks', () => {
  it('are off (null) while every unhealthy threshold is 0, even with a success threshold', () => {
    expect(upstreamWith({}).passiveChecks).toBeNull()
    expect(upstreamWith({ passive: { healthy: { successes: 3 } } }).passiveChecks).toBeNull()
  })

  it('carry Kong’s status lists and thresholds, ejecting for the default half-open interval', () => {
    expect(upstreamWith({ passive: { unhealthy: { http_failures: 3 }, healthy: { successes: 2 } } }).passiveChecks).toEqual({
      countStatuses: true,
      healthyStatuses: [200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308],
      successes: 2,
      unhealthyStatuses: [429, 500, 503],
      tcpFailures: 0,
      timeouts: 0,
      httpFailures: 3,
      ejectMs: DEFAULT_PASSIVE_EJECT_MS,
    })
  })

  it('eject for active.unhealthy.interval when it is set', () => {
    expect(upstreamWith({ passive: { unhealthy: { timeouts: 2 } }, active: { unhealthy: { interval: 3 } } }).passiveChecks?.ejectMs).toBe(3000)
  })

  it('with type tcp judge connections only: statuses are not counted', () => {
    const p = upstreamWith({ passive: { type: 'tcp', unhealthy: { tcp_failures: 2, http_failures: 5 } } }).passiveChecks
    expect(p).toMatchObject({ countStatuses: false, healthyStatuses: [], unhealthyStatuses: [], tcpFailures: 2, httpFailures: 0 })
    expect(upstreamWith({ passive: { type: 'tcp', unhealthy: { http_failures: 5 } } }).passiveChecks).toBeNull()
  })
})
