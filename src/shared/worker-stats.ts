// Per-worker live counters in one SharedArrayBuffer: each worker writes only its own row, the
// primary sums rows for /status. No messages cross threads for these numbers.

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

export class WorkerStats {
  readonly sab: SharedArrayBuffer
  readonly rows: number
  private readonly cells: Int32Array

  static create(rows: number): WorkerStats {
    return new WorkerStats(new SharedArrayBuffer(rows * FIELDS * 4), rows)
  }

  constructor(sab: SharedArrayBuffer, rows: number) {
    this.sab = sab
    this.rows = rows
    this.cells = new Int32Array(sab)
  }

  /**
   * A row has one writer (its worker), so a plain read-modify-write loses nothing and costs less than
   * Atomics.add; aligned Int32 accesses are tear-free, so readers see an old or a new value.
   */
  add(row: number, field: number, delta: number): void {
    this.cells[row * FIELDS + field]! += delta
  }

  set(row: number, field: number, value: number): void {
    Atomics.store(this.cells, row * FIELDS + field, value)
  }

  get(row: number, field: number): number {
    return Atomics.load(this.cells, row * FIELDS + field)
  }

  sum(field: number): number {
    let total = 0
    for (let row = 0; row < this.rows; row++) total += this.get(row, field)
    return total
  }
}
