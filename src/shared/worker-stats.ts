// Per-worker live counters in one SharedArrayBuffer: each worker writes only its own row, the
// primary sums rows for /status. No messages cross threads for these numbers.
//
// Cells are float64, not int32. A counter bumped 50k times a second by one worker passes 2^31 in
// about 12 hours and an Int32Array cell then wraps negative; a double counts every integer exactly up
// to 2^53 (≈5,700 years at that rate). Two other ways were weighed:
//   - Uint32 cells with the primary folding `(now - last) >>> 0` deltas into its own totals: also a
//     plain store per request, but every reader must go through the primary's fold, and the primary
//     must sample each cell at least once per 2^32 increments, so it needs a timer of its own.
//   - BigInt64Array with Atomics.add: exact to 2^63 but allocates a BigInt and costs a locked add
//     per request.
// A Float64Array keeps the per-request cost to one load-add-store on the worker's own cell (a single
// writer per cell, so the read-modify-write loses nothing) and lets any thread read totals directly.
// Atomics refuses float arrays, so reads are plain loads: on the 64-bit platforms the gateway runs on
// (x64, arm64) V8 loads and stores an aligned double with one 8-byte instruction, which does not tear,
// so a reader sees an old value or a new one.
//
// IN_FLIGHT, UPSTREAM_OPEN and UPSTREAM_IDLE are gauges (up and down), the rest counters or values.
// A worker that dies leaves its gauges at whatever it had open; the primary zeroes them (resetGauges)
// before a replacement takes the row, while the counters keep their totals.

const FIELDS = 16
export const STAT = Object.freeze({
  REQUESTS: 0,
  IN_FLIGHT: 1,
  UPSTREAM_OPEN: 2,
  UPSTREAM_IDLE: 3,
  ERRORS: 4,
  /** The config hash each worker runs, as its first 8 hex digits in one int (visible in /status). */
  CONFIG_HASH: 5,
  /** Requests answered 429 by rate-limiting. */
  RATE_LIMITED: 6,
  /** rate-limiting decisions taken by the local table because Redis was unavailable (fault_tolerant). */
  REDIS_FALLBACK: 7,
  /** Requests admitted without counting because the shared rate table was full. */
  RATE_TABLE_FULL: 8,
  CACHE_HIT: 9,
  CACHE_MISS: 10,
  CACHE_BYPASS: 11,
  CACHE_STALE: 12,
})

/** The cells that go up and down with what a worker holds open; meaningless once that worker is gone. */
export const GAUGES: readonly number[] = Object.freeze([STAT.IN_FLIGHT, STAT.UPSTREAM_OPEN, STAT.UPSTREAM_IDLE])

const CELL_BYTES = Float64Array.BYTES_PER_ELEMENT

export class WorkerStats {
  readonly sab: SharedArrayBuffer
  readonly rows: number
  private readonly cells: Float64Array

  static create(rows: number): WorkerStats {
    return new WorkerStats(new SharedArrayBuffer(rows * FIELDS * CELL_BYTES), rows)
  }

  constructor(sab: SharedArrayBuffer, rows: number) {
    this.sab = sab
    this.rows = rows
    this.cells = new Float64Array(sab)
  }

  /** Only the row's own worker calls this (one writer per cell): a plain read-modify-write loses nothing. */
  add(row: number, field: number, delta: number): void {
    this.cells[row * FIELDS + field]! += delta
  }

  set(row: number, field: number, value: number): void {
    this.cells[row * FIELDS + field] = value
  }

  get(row: number, field: number): number {
    return this.cells[row * FIELDS + field]!
  }

  sum(field: number): number {
    let total = 0
    for (let row = 0; row < this.rows; row++) total += this.get(row, field)
    return total
  }

  /**
   * Zeroes a row's gauges, counters untouched. Only for a row no worker writes: the primary calls it when
   * the row's worker has exited and before its replacement starts.
   */
  resetGauges(row: number): void {
    for (const field of GAUGES) this.set(row, field, 0)
  }
}
