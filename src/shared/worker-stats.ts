// Per-worker live counters in one SharedArrayBuffer: each worker adds to its own row with Atomics,
// the primary sums rows for /status. No messages cross threads for these numbers.

const FIELDS = 8
export const STAT = Object.freeze({
  REQUESTS: 0,
  IN_FLIGHT: 1,
  UPSTREAM_OPEN: 2,
  UPSTREAM_IDLE: 3,
  ERRORS: 4,
  /** The config hash each worker runs, as its first 8 hex digits in one int (visible in /status). */
  CONFIG_HASH: 5,
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

  add(row: number, field: number, delta: number): void {
    Atomics.add(this.cells, row * FIELDS + field, delta)
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
