// The body of GET /upstreams/{name}/health (primary/admin/upstream-health): Kong's shape, lookup by name or
// id, each target's health from the shared table, and HEALTHCHECKS_OFF for an upstream that checks nothing.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { compileSnapshot } from '../../src/config/compile.js'
import type { Snapshot } from '../../src/config/types.js'
import { validateConfig } from '../../src/config/validate.js'
import { upstreamHealth } from '../../src/primary/admin/upstream-health.js'
import { HealthTable } from '../../src/shared/health-table.js'

function snapshot(): Snapshot {
  const r = validateConfig({
    _format_version: '3.0',
    upstreams: [
      {
        name: 'checked', id: 'u-1', healthchecks: { passive: { unhealthy: { tcp_failures: 1 } } },
        targets: [{ target: '10.0.0.1:80' }, { target: '10.0.0.2:80', weight: 5 }, { target: '10.0.0.3:80' }],
      },
      { name: 'plain', targets: [{ target: '10.0.0.4:80' }] },
    ],
  })
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'))
  return compileSnapshot(r.config, '/gw.yaml', 0)
}

afterEach(() => {
  vi.useRealTimers()
})

describe('upstreamHealth', () => {
  it('lists every target with its health and counters, found by name or by id', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(1_800_000_000_000)
    const table = HealthTable.create(8)
    table.recordFailure(1, 'tcp')
    table.markDown(1, Date.now() + 10_000)
    table.markDown(2, Date.now() + 1_000)
    vi.setSystemTime(1_800_000_002_000)
    const body = upstreamHealth(snapshot(), table, 'checked')
    expect(upstreamHealth(snapshot(), table, 'u-1')).toEqual(body)
    expect(body).toEqual({
      total: 3,
      next: null,
      data: [
        {
          target: '10.0.0.1:80', weight: 100, upstream: { id: 'u-1', name: 'checked' }, health: 'HEALTHY',
          data: { host: '10.0.0.1', port: 80, ejected_until: null, tcp_failures: 0, timeouts: 0, http_failures: 0, successes: 0, ejections: 0, total_failures: 0 },
        },
        {
          target: '10.0.0.2:80', weight: 5, upstream: { id: 'u-1', name: 'checked' }, health: 'UNHEALTHY',
          data: { host: '10.0.0.2', port: 80, ejected_until: 1_800_000_010, tcp_failures: 1, timeouts: 0, http_failures: 0, successes: 0, ejections: 1, total_failures: 1 },
        },
        expect.objectContaining({ target: '10.0.0.3:80', health: 'HALF_OPEN' }),
      ],
    })
  })

  it('says HEALTHCHECKS_OFF for an upstream without active or passive checks', () => {
    expect(upstreamHealth(snapshot(), HealthTable.create(8), 'plain')?.data.map((t) => t.health)).toEqual(['HEALTHCHECKS_OFF'])
  })

  it('returns null for an unknown upstream', () => {
    expect(upstreamHealth(snapshot(), HealthTable.create(8), 'nope')).toBeNull()
  })
})
