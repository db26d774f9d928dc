// Passive health counting (upstream/passive-health) on a real HealthTable: Kong's thresholds and status lists,
// ejection shared by every view of the table, and the half-open breaker after the ejection interval.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { PassiveChecks } from '../../src/config/types.js'
import { HealthTable } from '../../src/shared/health-table.js'
import {
  PASSIVE_EJECTED, PASSIVE_REOPENED, PASSIVE_RESTORED, PASSIVE_UNCHANGED, recordOutcome, type UpstreamOutcome,
} from '../../src/upstream/passive-health.js'

const T0 = Date.UTC(2026, 0, 1)
const TCP: UpstreamOutcome = { kind: 'tcp' }
const TIMEOUT: UpstreamOutcome = { kind: 'timeout' }
const status = (s: number): UpstreamOutcome => ({ kind: 'status', status: s })

function checks(extra: Partial<PassiveChecks> = {}): PassiveChecks {
  return {
    countStatuses: true, healthyStatuses: [200, 201, 302], successes: 2, unhealthyStatuses: [429, 500, 503],
    tcpFailures: 2, timeouts: 3, httpFailures: 2, ejectMs: 10_000, ...extra,
  }
}

let table: HealthTable
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(T0)
  table = HealthTable.create(4)
})
afterEach(() => {
  vi.useRealTimers()
})

/** Ejects slot 0 through two tcp failures. */
function eject(c: PassiveChecks = checks()): void {
  recordOutcome(table, 0, TCP, c)
  expect(recordOutcome(table, 0, TCP, c)).toBe(PASSIVE_EJECTED)
}

describe('counting while healthy', () => {
  it('ejects a target at each kind’s threshold of consecutive failures', () => {
    const c = checks()
    expect(recordOutcome(table, 0, TCP, c)).toBe(PASSIVE_UNCHANGED)
    expect(recordOutcome(table, 0, TCP, c)).toBe(PASSIVE_EJECTED)
    expect(recordOutcome(table, 1, TIMEOUT, c)).toBe(PASSIVE_UNCHANGED)
    expect(recordOutcome(table, 1, TIMEOUT, c)).toBe(PASSIVE_UNCHANGED)
    expect(recordOutcome(table, 1, TIMEOUT, c)).toBe(PASSIVE_EJECTED)
    expect(recordOutcome(table, 2, status(500), c)).toBe(PASSIVE_UNCHANGED)
    expect(recordOutcome(table, 2, status(503), c)).toBe(PASSIVE_EJECTED)
    expect([0, 1, 2, 3].map((s) => table.isHealthy(s))).toEqual([false, false, false, true])
  })

  it('ejects for every thread: another view of the same memory sees it, and counts from both views add up', () => {
    const other = new HealthTable(table.sab, table.capacity)
    const c = checks()
    expect(recordOutcome(table, 0, TCP, c)).toBe(PASSIVE_UNCHANGED)
    expect(recordOutcome(other, 0, TCP, c)).toBe(PASSIVE_EJECTED)
    expect(table.isHealthy(0)).toBe(false)
    expect(table.inspect(0)).toMatchObject({ state: 'unhealthy', ejections: 1, ejectedUntil: T0 + 10_000 })
  })

  it('starts counting again after a success', () => {
    const c = checks()
    recordOutcome(table, 0, TCP, c)
    expect(recordOutcome(table, 0, status(200), c)).toBe(PASSIVE_UNCHANGED)
    expect(recordOutcome(table, 0, TCP, c)).toBe(PASSIVE_UNCHANGED)
    expect(table.isHealthy(0)).toBe(true)
  })

  it('does not count a kind whose threshold is 0', () => {
    const c = checks({ timeouts: 0 })
    for (let i = 0; i < 10; i++) expect(recordOutcome(table, 0, TIMEOUT, c)).toBe(PASSIVE_UNCHANGED)
    expect(table.inspect(0)).toMatchObject({ state: 'healthy', timeoutFailures: 0, totalFailures: 0 })
  })

  it('judges statuses by Kong’s lists: healthy first, then unhealthy or an invalid response (0); others are ignored', () => {
    const c = checks({ httpFailures: 1, healthyStatuses: [200, 500] })
    expect(recordOutcome(table, 0, status(500), c)).toBe(PASSIVE_UNCHANGED)
    expect(recordOutcome(table, 0, status(404), c)).toBe(PASSIVE_UNCHANGED)
    expect(table.inspect(0).httpFailures).toBe(0)
    expect(recordOutcome(table, 0, status(0), c)).toBe(PASSIVE_EJECTED)
  })

  it('with type tcp counts every response as a success', () => {
    const c = checks({ countStatuses: false, healthyStatuses: [], unhealthyStatuses: [], httpFailures: 0 })
    recordOutcome(table, 0, TCP, c)
    expect(recordOutcome(table, 0, status(503), c)).toBe(PASSIVE_UNCHANGED)
    expect(recordOutcome(table, 0, TCP, c)).toBe(PASSIVE_UNCHANGED)
    expect(table.isHealthy(0)).toBe(true)
  })
})

describe('half-open breaker', () => {
  it('keeps the target out until the ejection interval has passed, then routes to it again', () => {
    eject()
    vi.setSystemTime(T0 + 9_000)
    expect(table.isHealthy(0)).toBe(false)
    vi.setSystemTime(T0 + 10_000)
    expect(table.isHealthy(0)).toBe(true)
    expect(table.inspect(0).state).toBe('half-open')
  })

  it('re-opens at the first failure of any counted kind while half-open', () => {
    eject()
    vi.setSystemTime(T0 + 10_000)
    expect(recordOutcome(table, 0, status(500), checks())).toBe(PASSIVE_REOPENED)
    expect(table.isHealthy(0)).toBe(false)
    expect(table.inspect(0)).toMatchObject({ ejections: 1, ejectedUntil: T0 + 20_000 })
  })

  it('closes after `successes` consecutive successes', () => {
    eject()
    vi.setSystemTime(T0 + 10_000)
    expect(recordOutcome(table, 0, status(200), checks())).toBe(PASSIVE_UNCHANGED)
    expect(recordOutcome(table, 0, status(201), checks())).toBe(PASSIVE_RESTORED)
    expect(table.inspect(0)).toMatchObject({ state: 'healthy', tcpFailures: 0, successes: 0 })
    expect(recordOutcome(table, 0, TCP, checks())).toBe(PASSIVE_UNCHANGED)
  })

  it('needs the successes in a row: a failure in between re-opens and restarts the count', () => {
    eject()
    vi.setSystemTime(T0 + 10_000)
    recordOutcome(table, 0, status(200), checks())
    expect(recordOutcome(table, 0, TIMEOUT, checks())).toBe(PASSIVE_REOPENED)
    vi.setSystemTime(T0 + 20_000)
    expect(recordOutcome(table, 0, status(200), checks())).toBe(PASSIVE_UNCHANGED)
    expect(table.inspect(0).state).toBe('half-open')
  })

  it('stays half-open on successes when `successes` is 0', () => {
    const c = checks({ successes: 0 })
    eject(c)
    vi.setSystemTime(T0 + 10_000)
    for (let i = 0; i < 5; i++) expect(recordOutcome(table, 0, status(200), c)).toBe(PASSIVE_UNCHANGED)
    expect(table.inspect(0).state).toBe('half-open')
  })

  it('leaves an open breaker alone when a request that was already in flight fails', () => {
    eject()
    vi.setSystemTime(T0 + 5_000)
    expect(recordOutcome(table, 0, TCP, checks())).toBe(PASSIVE_UNCHANGED)
    expect(table.inspect(0).ejectedUntil).toBe(T0 + 10_000)
  })

  it('never shortens an ejection without expiry (active checker, admin)', () => {
    table.markDown(0)
    vi.setSystemTime(T0 + 3_600_000)
    expect(recordOutcome(table, 0, TCP, checks())).toBe(PASSIVE_UNCHANGED)
    expect(table.inspect(0)).toMatchObject({ state: 'unhealthy', ejectedUntil: null })
  })
})
