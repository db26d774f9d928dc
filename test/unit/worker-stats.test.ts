// The shared per-worker counters (src/shared/worker-stats): counts past 2^31 and 2^32 without wrapping,
// rows summed, and a dead worker's gauges zeroed while its counters keep their totals.
import { describe, expect, it } from 'vitest'
import { GAUGES, STAT, WorkerStats } from '../../src/shared/worker-stats.js'

describe('WorkerStats', () => {
  it('counts past 2^31 and 2^32 without wrapping', () => {
    const stats = WorkerStats.create(2)
    stats.set(0, STAT.REQUESTS, 2 ** 31 - 1)
    stats.add(0, STAT.REQUESTS, 1)
    expect(stats.get(0, STAT.REQUESTS)).toBe(2 ** 31)
    stats.set(1, STAT.REQUESTS, 2 ** 32 - 1)
    stats.add(1, STAT.REQUESTS, 1)
    expect(stats.get(1, STAT.REQUESTS)).toBe(2 ** 32)
    expect(stats.sum(STAT.REQUESTS)).toBe(2 ** 31 + 2 ** 32)
    // Exact up to 2^53.
    stats.set(0, STAT.ERRORS, 2 ** 53 - 2)
    stats.add(0, STAT.ERRORS, 1)
    expect(stats.get(0, STAT.ERRORS)).toBe(2 ** 53 - 1)
    expect(Number.isSafeInteger(stats.get(0, STAT.ERRORS))).toBe(true)
  })

  it('shares its cells through the SharedArrayBuffer (another thread attaches to the same rows)', () => {
    const primary = WorkerStats.create(2)
    const worker = new WorkerStats(primary.sab, primary.rows)
    for (let i = 0; i < 1000; i++) worker.add(1, STAT.REQUESTS, 1)
    worker.add(1, STAT.IN_FLIGHT, 3)
    worker.add(1, STAT.IN_FLIGHT, -1)
    expect(primary.get(1, STAT.REQUESTS)).toBe(1000)
    expect(primary.get(1, STAT.IN_FLIGHT)).toBe(2)
    expect(primary.get(0, STAT.REQUESTS)).toBe(0)
  })

  it('keeps a signed config hash cell as it was set', () => {
    const stats = WorkerStats.create(1)
    const cell = parseInt('deadbeef', 16) | 0
    stats.set(0, STAT.CONFIG_HASH, cell)
    expect(stats.get(0, STAT.CONFIG_HASH)).toBe(cell)
  })

  it('resetGauges zeroes one row\'s gauges only; counters and other rows keep their values', () => {
    const stats = WorkerStats.create(2)
    for (const row of [0, 1]) {
      stats.add(row, STAT.REQUESTS, 10 + row)
      stats.add(row, STAT.ERRORS, 2)
      stats.add(row, STAT.CACHE_HIT, 4)
      stats.add(row, STAT.IN_FLIGHT, 5)
      stats.add(row, STAT.UPSTREAM_OPEN, 6)
      stats.add(row, STAT.UPSTREAM_IDLE, 3)
    }
    stats.resetGauges(0)
    expect(GAUGES).toEqual([STAT.IN_FLIGHT, STAT.UPSTREAM_OPEN, STAT.UPSTREAM_IDLE])
    for (const gauge of GAUGES) expect(stats.get(0, gauge)).toBe(0)
    expect(stats.get(0, STAT.REQUESTS)).toBe(10)
    expect(stats.get(0, STAT.ERRORS)).toBe(2)
    expect(stats.get(0, STAT.CACHE_HIT)).toBe(4)
    expect(stats.get(1, STAT.IN_FLIGHT)).toBe(5)
    expect(stats.get(1, STAT.UPSTREAM_OPEN)).toBe(6)
    expect(stats.get(1, STAT.UPSTREAM_IDLE)).toBe(3)
    expect(stats.sum(STAT.REQUESTS)).toBe(21)
    expect(stats.sum(STAT.IN_FLIGHT)).toBe(5)
  })
})
