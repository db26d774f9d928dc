// Unit tests for shared/rate-table: exact counting per window, sliding weights, calendar windows, slot claim and
// reclaim, fail-open on a full table, multi-window rollback; the cross-thread tests run the real module in worker_threads.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  DEFAULT_RATELIMIT_SLOTS, MAX_RATE_LIMIT, PERIODS, RateDecision, RateLimits, RateTable, type Period,
} from '../../src/shared/rate-table.js'

const SOURCE = fileURLToPath(new URL('../../src/shared/rate-table.ts', import.meta.url))
/** Allocation time of every table here; test clocks are after it. */
const EPOCH = Date.UTC(2026, 0, 1)
const MINUTE = 60_000
/** 2026-03-10 12:00:00.000 UTC: the start of a minute (and of an hour, a day). */
const T0 = Date.UTC(2026, 2, 10, 12, 0, 0)

function table(slots = 1024): RateTable {
  return RateTable.allocate(slots, { epochMs: EPOCH, seed: 7 })
}

/** Admissions out of `n` consume calls. */
function admitted(t: RateTable, key: string, limit: number, period: Period, type: 'fixed' | 'sliding', now: number, n: number): number {
  let ok = 0
  for (let i = 0; i < n; i++) if (t.consume(key, limit, period, type, now).admitted) ok++
  return ok
}

describe('RateTable layout', () => {
  it('sizes a 64-byte header plus 16 bytes per slot, for a power-of-two slot count', () => {
    expect(RateTable.bytesFor(1)).toBe(80)
    expect(RateTable.bytesFor(DEFAULT_RATELIMIT_SLOTS)).toBe(64 + DEFAULT_RATELIMIT_SLOTS * 16)
    expect(() => RateTable.bytesFor(0)).toThrow(RangeError)
    expect(() => RateTable.bytesFor(1000)).toThrow(/power of two/)
    expect(() => RateTable.allocate(3)).toThrow(RangeError)
    expect(RateTable.allocate().slots).toBe(65536)
  })

  it('refuses a buffer that was not allocated as a rate table, or was truncated, or has another layout version', () => {
    expect(() => new RateTable(new SharedArrayBuffer(RateTable.bytesFor(16)))).toThrow(/bad magic/)
    const t = table(16)
    const truncated = new SharedArrayBuffer(RateTable.bytesFor(8))
    new Uint8Array(truncated).set(new Uint8Array(t.sab, 0, truncated.byteLength))
    expect(() => RateTable.attach(truncated)).toThrow(/expected for 16 slots/)
    const other = table(16)
    new Int32Array(other.sab)[1] = 99
    expect(() => RateTable.attach(other.sab)).toThrow(/layout version/)
  })

  it('a worker view over the same buffer shares the counts', () => {
    const primary = table(64)
    const worker = RateTable.attach(primary.sab)
    expect(worker.slots).toBe(64)
    expect(worker.baseMs).toBe(primary.baseMs)
    expect(admitted(primary, 'k', 3, 'minute', 'fixed', T0, 2)).toBe(2)
    expect(admitted(worker, 'k', 3, 'minute', 'fixed', T0, 5)).toBe(1)
    expect(worker.locate('k', 'minute')).toBe(primary.locate('k', 'minute'))
  })
})

describe('fixed windows', () => {
  it('admits exactly N of N+1 requests in one window, counting down remaining', () => {
    const t = table()
    for (let i = 0; i < 10; i++) {
      const d = t.consume('k', 10, 'minute', 'fixed', T0 + 5000)
      expect(d.admitted).toBe(true)
      expect(d.degraded).toBe(false)
      expect(d.remaining).toBe(9 - i)
      expect(d.limit).toBe(10)
      expect(d.resetMs).toBe(55_000)
    }
    const d = t.consume('k', 10, 'minute', 'fixed', T0 + 5000)
    expect(d.admitted).toBe(false)
    expect(d.remaining).toBe(0)
    expect(d.resetMs).toBe(55_000)
  })

  it('counts only admitted requests, so a flood of rejections does not extend the block', () => {
    const t = table()
    expect(admitted(t, 'k', 5, 'second', 'fixed', T0, 1000)).toBe(5)
    expect(t.peek('k', 5, 'second', 'fixed', T0).remaining).toBe(0)
    expect(admitted(t, 'k', 5, 'second', 'fixed', T0 + 1000, 1000)).toBe(5)
    expect(t.peek('k', 6, 'second', 'fixed', T0 + 1000).remaining).toBe(1)
  })

  it('starts a fresh count at the next calendar window, not one period after the first request', () => {
    const t = table()
    expect(admitted(t, 'k', 3, 'minute', 'fixed', T0 + 59_999, 5)).toBe(3)
    expect(t.consume('k', 3, 'minute', 'fixed', T0 + 59_999).resetMs).toBe(1)
    expect(admitted(t, 'k', 3, 'minute', 'fixed', T0 + MINUTE, 5)).toBe(3)
  })

  it('charges the cost and rejects a cost above the limit without counting it', () => {
    const t = table()
    expect(t.consume('k', 10, 'hour', 'fixed', T0, 4).remaining).toBe(6)
    expect(t.consume('k', 10, 'hour', 'fixed', T0, 11).admitted).toBe(false)
    expect(t.consume('k', 10, 'hour', 'fixed', T0, 7).admitted).toBe(false)
    const d = t.consume('k', 10, 'hour', 'fixed', T0, 6)
    expect(d.admitted).toBe(true)
    expect(d.remaining).toBe(0)
    expect(() => t.consume('k', 10, 'hour', 'fixed', T0, 0)).toThrow(RangeError)
    expect(() => t.consume('k', 10, 'hour', 'fixed', T0, 1.5)).toThrow(RangeError)
  })

  it('rejects everything with a limit of 0, without taking a slot', () => {
    const t = table()
    const d = t.consume('k', 0, 'day', 'fixed', T0)
    expect(d.admitted).toBe(false)
    expect(d.remaining).toBe(0)
    expect(t.locate('k', 'day')).toBe(-1)
  })

  it('takes every limit up to the packable maximum of its period and rejects anything else clearly', () => {
    const t = table()
    for (const period of PERIODS) {
      const max = MAX_RATE_LIMIT[period]
      const d = t.consume(`max-${period}`, max, period, 'fixed', T0, max)
      expect(d.admitted).toBe(true)
      expect(d.remaining).toBe(0)
      expect(t.consume(`max-${period}`, max, period, 'fixed', T0).admitted).toBe(false)
      expect(() => t.consume('k', max + 1, period, 'fixed', T0)).toThrow(new RegExp(`per ${period} must be an integer from 0 to ${max}`))
      expect(() => new RateLimits({ [period]: max + 1 })).toThrow(RangeError)
    }
    expect(MAX_RATE_LIMIT).toEqual({ second: 65535, minute: 262143, hour: 1048575, day: 4194303, month: 16777215, year: 33554431 })
    expect(() => t.consume('k', 2.5, 'minute', 'fixed', T0)).toThrow(RangeError)
    expect(() => t.consume('k', -1, 'minute', 'fixed', T0)).toThrow(RangeError)
    expect(() => t.consume('k', 1, 'week' as Period, 'fixed', T0)).toThrow(/period must be one of/)
    expect(() => new RateLimits({})).toThrow(/needs a limit/)
    expect(() => new RateLimits({ fortnight: 3 } as Partial<Record<Period, number>>)).toThrow(/period must be one of/)
  })

  it('uses calendar months in UTC: January ends on the 31st, February after 28 or 29 days', () => {
    const t = table()
    const lastMsOfJan = Date.UTC(2026, 0, 31, 23, 59, 59, 999)
    expect(admitted(t, 'm', 2, 'month', 'fixed', Date.UTC(2026, 0, 1), 1)).toBe(1)
    expect(admitted(t, 'm', 2, 'month', 'fixed', lastMsOfJan, 3)).toBe(1)
    expect(t.consume('m', 2, 'month', 'fixed', lastMsOfJan).resetMs).toBe(1)
    const feb1 = Date.UTC(2026, 1, 1)
    const d = t.consume('m', 2, 'month', 'fixed', feb1)
    expect(d.admitted).toBe(true)
    expect(d.resetMs).toBe(28 * 86_400_000)
    const t2 = RateTable.allocate(64, { epochMs: Date.UTC(2028, 0, 1) })
    expect(t2.consume('m', 2, 'month', 'fixed', Date.UTC(2028, 1, 1)).resetMs).toBe(29 * 86_400_000)
    expect(t2.consume('m', 2, 'month', 'fixed', Date.UTC(2028, 11, 31, 12)).resetMs).toBe(12 * 3_600_000)
  })

  it('uses calendar years in UTC: Dec 31 and Jan 1 are different windows', () => {
    const t = table()
    const dec31 = Date.UTC(2026, 11, 31, 23, 59, 59, 0)
    expect(admitted(t, 'y', 3, 'year', 'fixed', Date.UTC(2026, 5, 1), 2)).toBe(2)
    expect(admitted(t, 'y', 3, 'year', 'fixed', dec31, 3)).toBe(1)
    expect(t.consume('y', 3, 'year', 'fixed', dec31).resetMs).toBe(1000)
    const jan1 = Date.UTC(2027, 0, 1)
    const d = t.consume('y', 3, 'year', 'fixed', jan1)
    expect(d.remaining).toBe(2)
    expect(d.resetMs).toBe(365 * 86_400_000)
  })
})

describe('sliding windows', () => {
  it('weighs the previous window by the part of it still inside the sliding window', () => {
    const t = table()
    expect(admitted(t, 'k', 10, 'minute', 'sliding', T0 + 1000, 10)).toBe(10)
    // 30% into the next minute: 70% of the previous 10 still count (7), so exactly 3 more.
    const at = T0 + MINUTE + 18_000
    const first = t.consume('k', 10, 'minute', 'sliding', at)
    expect(first.remaining).toBe(2)
    expect(first.resetMs).toBe(42_000) // room left: until the window ends
    expect(admitted(t, 'k', 10, 'minute', 'sliding', at, 10)).toBe(2)
  })

  it('counts the previous window in full at the window start, so a boundary burst cannot double the rate', () => {
    const t = table()
    expect(admitted(t, 'k', 10, 'minute', 'sliding', T0 + 59_999, 10)).toBe(10)
    expect(admitted(t, 'k', 10, 'minute', 'sliding', T0 + MINUTE, 10)).toBe(0)
    const f = table()
    expect(admitted(f, 'k', 10, 'minute', 'fixed', T0 + 59_999, 10)).toBe(10)
    expect(admitted(f, 'k', 10, 'minute', 'fixed', T0 + MINUTE, 10)).toBe(10) // what sliding prevents
  })

  it('rounds the weighted previous count up, so a fraction of a request is never admitted', () => {
    const t = table()
    expect(admitted(t, 'k', 3, 'second', 'sliding', T0, 3)).toBe(3)
    // 1 ms into the next second: 3 × 999/1000 = 2.997 → remaining floor(0.003) = 0.
    const d = t.peek('k', 3, 'second', 'sliding', T0 + 1001)
    expect(d.remaining).toBe(0)
    expect(d.admitted).toBe(false)
    // 667 ms in: 3 × 333/1000 = 0.999 → 2 left; 666 ms in: 1.002 → 1 left.
    expect(t.peek('k', 3, 'second', 'sliding', T0 + 1667).remaining).toBe(2)
    expect(t.peek('k', 3, 'second', 'sliding', T0 + 1666).remaining).toBe(1)
  })

  it('forgets the previous count after a whole idle window', () => {
    const t = table()
    expect(admitted(t, 'k', 4, 'hour', 'sliding', T0, 4)).toBe(4)
    expect(admitted(t, 'k', 4, 'hour', 'sliding', T0 + 2 * 3_600_000, 9)).toBe(4)
  })

  it('reports, when full, the exact ms until one request is admitted again', () => {
    const t = table()
    expect(admitted(t, 'k', 10, 'minute', 'sliding', T0, 10)).toBe(10)
    const at = T0 + MINUTE + 7_000
    expect(admitted(t, 'k', 10, 'minute', 'sliding', at, 10)).toBe(1) // 10 × 53/60 = 8.83 → 1 more
    const d = t.consume('k', 10, 'minute', 'sliding', at)
    expect(d.admitted).toBe(false)
    const wait = d.resetMs // d is the table's reusable decision: the next call overwrites it
    expect(wait).toBe(5000) // 1 + 10 × 48/60 + 1 = 10
    expect(t.peek('k', 10, 'minute', 'sliding', at + wait - 1).admitted).toBe(false)
    expect(t.peek('k', 10, 'minute', 'sliding', at + wait).admitted).toBe(true)
  })

  it('reports a wait into the next window when the current count alone fills the limit', () => {
    const t = table()
    expect(admitted(t, 'k', 4, 'second', 'sliding', T0 + 200, 4)).toBe(4)
    const d = t.consume('k', 4, 'second', 'sliding', T0 + 200, 2)
    expect(d.admitted).toBe(false)
    // Next second, 4 × (1 - f) + 2 <= 4 → f >= 0.5: at T0 + 1500.
    expect(d.resetMs).toBe(1300)
    expect(t.consume('k', 4, 'second', 'sliding', T0 + 1499, 2).admitted).toBe(false)
    expect(t.consume('k', 4, 'second', 'sliding', T0 + 1500, 2).admitted).toBe(true)
  })

  it('weighs a calendar month by its own length', () => {
    const t = table()
    expect(admitted(t, 'm', 31, 'month', 'sliding', Date.UTC(2026, 0, 15), 31)).toBe(31)
    // Feb 8 00:00: 7 of 28 days elapsed, 75% of January's 31 still count (23.25) → 7 left.
    expect(t.peek('m', 31, 'month', 'sliding', Date.UTC(2026, 1, 8)).remaining).toBe(7)
  })
})

describe('several windows (consumeAll)', () => {
  it('admits only while every window admits and counts in all of them', () => {
    const t = table()
    const limits = new RateLimits({ minute: 7, second: 5 }, 'fixed')
    expect(limits.periods).toEqual(['second', 'minute'])
    let ok = 0
    for (let i = 0; i < 8; i++) if (t.consumeAll('u', limits, T0).admitted) ok++
    expect(ok).toBe(5)
    const d = t.consumeAll('u', limits, T0 + 1000)
    expect(d.admitted).toBe(true)
    expect(d.windows).toBe(2)
    expect([d.remainingOf[0], d.remainingOf[1]]).toEqual([4, 1])
    expect([d.periodOf[0], d.periodOf[1]]).toEqual(['second', 'minute'])
    expect(d.binding).toBe(1)
    expect(d.limit).toBe(7)
    expect(d.resetMs).toBe(59_000)
  })

  it('rolls back the earlier windows when a later one rejects', () => {
    const t = table()
    const limits = new RateLimits({ second: 5, minute: 7 }, 'fixed')
    let ok = 0
    for (let i = 0; i < 5; i++) if (t.consumeAll('u', limits, T0).admitted) ok++
    for (let i = 0; i < 5; i++) if (t.consumeAll('u', limits, T0 + 1000).admitted) ok++
    expect(ok).toBe(7)
    const d = t.consumeAll('u', limits, T0 + 1000)
    expect(d.admitted).toBe(false)
    expect(d.binding).toBe(1)
    expect(d.remainingOf[0]).toBe(3) // the second window holds only the 2 admitted requests
    expect(t.peek('u', 5, 'second', 'fixed', T0 + 1000).remaining).toBe(3)
    expect(t.peek('u', 7, 'minute', 'fixed', T0 + 1000).remaining).toBe(0)
  })

  it('rolls back a sliding window too, restoring its remaining and reset', () => {
    const t = table()
    const limits = new RateLimits({ second: 3, hour: 4 })
    expect(limits.sliding).toBe(true)
    for (let i = 0; i < 4; i++) expect(t.consumeAll('u', limits, T0 + 2000 * i).admitted).toBe(true)
    const d = t.consumeAll('u', limits, T0 + 10_000)
    expect(d.admitted).toBe(false)
    expect(d.remainingOf[0]).toBe(3)
    expect(d.resetMsOf[0]).toBe(1000)
    expect(t.peek('u', 3, 'second', 'sliding', T0 + 10_000).remaining).toBe(3)
  })

  it('picks the window with the least remaining for the summary, ties going to the longer period', () => {
    const t = table()
    const d = t.consumeAll('u', new RateLimits({ second: 3, minute: 3, hour: 10 }, 'fixed'), T0)
    expect(d.binding).toBe(1)
    expect(d.remaining).toBe(2)
    expect(d.resetMs).toBe(MINUTE)
    const p = t.peekAll('u', new RateLimits({ second: 3, minute: 3, hour: 10 }, 'fixed'), T0)
    expect([p.remainingOf[0], p.remainingOf[1], p.remainingOf[2]]).toEqual([2, 2, 9])
  })

  it('fills the decision object it is given and leaves the table default alone', () => {
    const t = table()
    const mine = new RateDecision()
    const d = t.consumeAll('u', new RateLimits({ day: 2 }), T0, 1, mine)
    expect(d).toBe(mine)
    expect(mine.remaining).toBe(1)
    expect(t.decision.windows).toBe(0)
  })
})

describe('slots', () => {
  it('probes keys that share a home slot into distinct slots, each counted on its own', () => {
    const t = table(64)
    const byHome = new Map<number, string[]>()
    for (let i = 0; i < 400; i++) {
      const key = `consumer-${i}`
      const home = t.homeSlot(key, 'minute')
      byHome.set(home, [...(byHome.get(home) ?? []), key])
    }
    const group = [...byHome.values()].sort((a, b) => b.length - a.length)[0].slice(0, 6)
    expect(group.length).toBeGreaterThanOrEqual(4)
    for (const key of group) expect(admitted(t, key, 2, 'minute', 'fixed', T0, 1)).toBe(1)
    const slots = group.map((key) => t.locate(key, 'minute'))
    expect(new Set(slots).size).toBe(group.length)
    for (const key of group) expect(admitted(t, key, 2, 'minute', 'fixed', T0, 5)).toBe(1)
  })

  it('keeps one key\'s periods in separate slots', () => {
    const t = table()
    expect(admitted(t, 'k', 2, 'second', 'fixed', T0, 2)).toBe(2)
    expect(admitted(t, 'k', 2, 'minute', 'fixed', T0, 3)).toBe(2)
    expect(t.locate('k', 'second')).not.toBe(t.locate('k', 'minute'))
  })

  it('fails open with degraded set and counts fullCount when the probe window is full', () => {
    const t = table(32) // the probe window is the whole table
    for (let i = 0; i < 32; i++) expect(t.consume(`k${i}`, 5, 'minute', 'fixed', T0).degraded).toBe(false)
    expect(t.fullCount).toBe(0)
    const d = t.consume('one-too-many', 5, 'minute', 'fixed', T0)
    expect(d).toMatchObject({ admitted: true, degraded: true, remaining: 5, resetMs: MINUTE })
    expect(d.degradedOf[0]).toBe(1)
    t.consume('one-too-many', 5, 'minute', 'fixed', T0)
    expect(t.fullCount).toBe(2)
    expect(t.usage(T0)).toEqual({ slots: 32, used: 32, active: 32, fullCount: 2, busyCount: 0 })
    // One window later the previous window still weighs on sliding decisions: not reclaimable yet.
    expect(t.consume('one-too-many', 5, 'minute', 'fixed', T0 + MINUTE).degraded).toBe(true)
  })

  it('reclaims slots whose windows have expired, and the old keys start fresh elsewhere', () => {
    const t = table(32)
    for (let i = 0; i < 32; i++) expect(admitted(t, `old${i}`, 5, 'minute', 'fixed', T0, 5)).toBe(5)
    const later = T0 + 2 * MINUTE
    expect(t.usage(later)).toMatchObject({ used: 32, active: 0 })
    for (let i = 0; i < 16; i++) {
      const d = t.consume(`new${i}`, 5, 'minute', 'fixed', later)
      expect(d.degraded).toBe(false)
      expect(d.remaining).toBe(4)
    }
    expect(t.fullCount).toBe(0)
    for (let i = 0; i < 16; i++) expect(admitted(t, `old${i}`, 5, 'minute', 'fixed', later, 6)).toBe(5)
    expect(t.usage(later)).toMatchObject({ used: 32, active: 32 })
  })

  it('reuses a key\'s own expired slot rather than claiming another', () => {
    const t = table()
    expect(admitted(t, 'k', 1, 'minute', 'fixed', T0, 1)).toBe(1)
    const slot = t.locate('k', 'minute')
    expect(admitted(t, 'k', 1, 'minute', 'fixed', T0 + 10 * MINUTE, 3)).toBe(1)
    expect(t.locate('k', 'minute')).toBe(slot)
  })

  /** Writes a PENDING state into `slot` as a claimant would (layout: 64-byte header, 16-byte slots, state second). */
  function pend(t: RateTable, slot: number, nowMs: number, published: boolean, nonce: bigint): void {
    const stamp = Math.floor((nowMs - t.baseMs) / 1000)
    const hi = (0x80000000 | (published ? 0x20000000 : 0) | stamp) >>> 0
    new BigInt64Array(t.sab)[8 + 2 * slot + 1] = BigInt.asIntN(64, (BigInt(hi) << 32n) | nonce)
  }

  it('kills a claim its thread left unpublished (e.g. terminated) and claims the key again, without degrading', () => {
    const t = table(64)
    expect(admitted(t, 'k', 3, 'minute', 'fixed', T0, 1)).toBe(1)
    pend(t, t.locate('k', 'minute'), T0, false, 12345n)
    expect(t.locate('k', 'minute')).toBe(-1)
    expect(t.consume('k', 3, 'minute', 'fixed', T0 + 1000)).toMatchObject({ admitted: true, degraded: false, remaining: 2 })
    expect(t.locate('k', 'minute')).toBeGreaterThanOrEqual(0)
    expect(t.busyCount).toBe(0)
  })

  it('settles a claim its thread left published, in the same slot', () => {
    const t = table(64)
    expect(admitted(t, 'k', 3, 'minute', 'fixed', T0, 1)).toBe(1)
    const slot = t.locate('k', 'minute')
    pend(t, slot, T0, true, 777n)
    expect(t.consume('k', 3, 'minute', 'fixed', T0 + 1000)).toMatchObject({ admitted: true, degraded: false, remaining: 2 })
    expect(t.locate('k', 'minute')).toBe(slot)
    expect(t.busyCount).toBe(0)
  })

  it('treats claims that died before publishing a fingerprint as taken until they are stale, then reclaims them', () => {
    const t = table(4)
    for (let slot = 0; slot < 4; slot++) pend(t, slot, T0, false, BigInt(slot))
    expect(t.consume('k', 3, 'minute', 'fixed', T0 + 1000)).toMatchObject({ admitted: true, degraded: true })
    expect(t.fullCount).toBe(1)
    expect(t.consume('k', 3, 'minute', 'fixed', T0 + 3000)).toMatchObject({ admitted: true, degraded: false, remaining: 2 })
    expect(t.usage(T0 + 3000)).toMatchObject({ used: 1, fullCount: 1, busyCount: 0 })
  })

  it('peek never claims a slot and never counts', () => {
    const t = table()
    const d = t.peek('k', 5, 'minute', 'sliding', T0)
    expect(d).toMatchObject({ admitted: true, remaining: 5, resetMs: MINUTE })
    expect(t.locate('k', 'minute')).toBe(-1)
    t.consume('k', 5, 'minute', 'sliding', T0)
    expect(t.peek('k', 5, 'minute', 'sliding', T0).remaining).toBe(4)
    expect(t.peek('k', 5, 'minute', 'sliding', T0).remaining).toBe(4)
    expect(t.usage(T0)).toMatchObject({ used: 1, active: 1 })
  })
})

describe('RateTable across worker threads', () => {
  let dir = ''
  let moduleUrl = ''
  let workerFile = ''

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rate-table-'))
    const js = ts.transpileModule(await readFile(SOURCE, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText
    await writeFile(join(dir, 'rate-table.mjs'), js)
    moduleUrl = pathToFileURL(join(dir, 'rate-table.mjs')).href
    workerFile = join(dir, 'hammer.mjs')
    await writeFile(workerFile, `
      import { workerData, parentPort } from 'node:worker_threads'
      const { RateTable, RateLimits } = await import(workerData.moduleUrl)
      const { mode, n, now, limit, keys, phases } = workerData
      const t = RateTable.attach(workerData.sab)
      const go = new Int32Array(workerData.go)
      const bar = new Int32Array(workerData.barrier)
      const barrier = (parties) => {
        const gen = Atomics.load(bar, 1)
        if (Atomics.add(bar, 0, 1) + 1 === parties) { Atomics.store(bar, 0, 0); Atomics.add(bar, 1, 1); Atomics.notify(bar, 1) }
        else while (Atomics.load(bar, 1) === gen) Atomics.wait(bar, 1, gen) // a late notify may wake it early
      }
      parentPort.postMessage('ready')
      Atomics.wait(go, 0, 0) // start every worker together
      let ok = 0
      let degraded = 0
      const perKey = new Int32Array(keys * phases)
      if (mode === 'hot') {
        for (let i = 0; i < n; i++) if (t.consume('hot', limit, 'minute', 'fixed', now).admitted) ok++
      } else if (mode === 'multi') {
        const limits = new RateLimits({ minute: 100, hour: 60 }, 'fixed')
        for (let i = 0; i < n; i++) if (t.consumeAll('multi', limits, now).admitted) ok++
      } else {
        // 'keys': every worker walks the same new keys at once, so first claims of one key race.
        // 'phases': the same, 2 minutes apart per phase, in lockstep, so expired slots are reclaimed all along.
        for (let p = 0; p < phases; p++) {
          const at = now + p * 120000
          for (let k = 0; k < keys; k++) {
            const key = k % 4 === 0 ? 'shared-' + k : 'p' + p + '-' + k
            for (let r = 0; r < n; r++) {
              const d = t.consume(key, limit, 'minute', mode === 'keys' ? 'sliding' : 'fixed', at)
              if (d.degraded) degraded++
              else if (d.admitted) perKey[p * keys + k]++
            }
          }
          if (mode === 'phases') barrier(workerData.parties)
        }
      }
      parentPort.postMessage({ ok, degraded, perKey })
    `)
  })
  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  interface Outcome { ok: number; degraded: number; perKey: Int32Array }

  async function hammer(t: RateTable, workers: number, job: Record<string, unknown>): Promise<Outcome[]> {
    const go = new SharedArrayBuffer(4)
    const barrier = new SharedArrayBuffer(8)
    const threads: Worker[] = []
    const ready: Promise<void>[] = []
    const done: Promise<Outcome>[] = []
    const data = { moduleUrl, sab: t.sab, go, barrier, parties: workers, keys: 0, phases: 1, ...job }
    for (let w = 0; w < workers; w++) {
      const worker = new Worker(workerFile, { workerData: data })
      threads.push(worker)
      ready.push(new Promise((resolve, reject) => {
        worker.once('message', () => resolve())
        worker.once('error', reject)
      }))
      done.push(new Promise((resolve, reject) => {
        worker.on('message', (m: unknown) => { if (typeof m === 'object' && m !== null) resolve(m as Outcome) })
        worker.once('error', reject)
      }))
    }
    try {
      await Promise.all(ready)
      Atomics.store(new Int32Array(go), 0, 1)
      Atomics.notify(new Int32Array(go), 0)
      return await Promise.all(done)
    } finally {
      for (const w of threads) await w.terminate()
    }
  }

  it('4 workers making 1000 attempts on one key with a limit of 100 admit exactly 100', async () => {
    const t = table(1024)
    const results = await hammer(t, 4, { mode: 'hot', n: 250, now: T0, limit: 100 })
    expect(results.reduce((sum, r) => sum + r.ok, 0)).toBe(100)
    expect(t.peek('hot', 100, 'minute', 'fixed', T0).remaining).toBe(0)
    expect(t.peek('hot', 150, 'minute', 'fixed', T0).remaining).toBe(50) // nothing but admissions was counted
  })

  it('4 workers claiming the same 2000 new keys at once admit exactly the limit of each key', async () => {
    const keys = 2000
    const t = table(8192)
    const results = await hammer(t, 4, { mode: 'keys', n: 2, now: T0, limit: 3, keys })
    expect({ full: t.fullCount, busy: t.busyCount }).toEqual({ full: 0, busy: 0 })
    expect(results.reduce((sum, r) => sum + r.degraded, 0)).toBe(0)
    for (let k = 0; k < keys; k++) expect(results.reduce((sum, r) => sum + r.perKey[k], 0)).toBe(3)
    expect(t.usage(T0)).toMatchObject({ used: keys, active: keys })
  })

  it('4 workers on two windows admit exactly the tighter limit and leave the looser one at it', async () => {
    const t = table(1024)
    const results = await hammer(t, 4, { mode: 'multi', n: 250, now: T0 })
    expect(results.reduce((sum, r) => sum + r.ok, 0)).toBe(60)
    expect(t.peek('multi', 100, 'minute', 'fixed', T0).remaining).toBe(40)
    expect(t.peek('multi', 60, 'hour', 'fixed', T0).remaining).toBe(0)
  })

  it('4 workers in lockstep phases that reclaim expired slots all along admit exactly the limit per key and window', async () => {
    const keys = 80
    const phases = 12
    const t = table(256)
    const results = await hammer(t, 4, { mode: 'phases', n: 2, now: T0, limit: 2, keys, phases })
    expect({ full: t.fullCount, busy: t.busyCount }).toEqual({ full: 0, busy: 0 })
    expect(results.reduce((sum, r) => sum + r.degraded, 0)).toBe(0)
    for (let i = 0; i < keys * phases; i++) expect(results.reduce((sum, r) => sum + r.perKey[i], 0)).toBe(2)
    expect(t.usage(T0 + (phases - 1) * 120_000).active).toBe(keys)
  })
})
