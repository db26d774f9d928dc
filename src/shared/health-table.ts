// Per-target health shared by every thread: one 64-byte Int32 record per health slot in a SharedArrayBuffer.
// Lock-free: writes are Atomics, a balancer's check is one plain load, and counters are not a consistent snapshot.

/*
 * Layout (all Int32, little-endian as the platform; one SharedArrayBuffer of `bytesFor(capacity)` bytes):
 *
 *   header, 64 bytes         word 0 MAGIC · 1 LAYOUT_VERSION · 2 capacity · 3 reserved
 *                            bytes 16..23: base epoch in ms (Float64, written once before sharing)
 *   slot i, 64 bytes each    word 0 STATE          HEALTHY (0) | UNHEALTHY (1)
 *   (16 words, so two        word 1 UNTIL          ejected until, whole seconds after base (ceil), 0 = until markUp
 *   targets never share      word 2 TCP            consecutive connect failures  ┐ counted while healthy;
 *   a cache line)            word 3 TIMEOUT        consecutive timeouts          │ cleared by a success
 *                            word 4 HTTP           consecutive HTTP failures     ┘ or by markUp
 *                            word 5 SUCCESSES      consecutive successes, counted only while unhealthy
 *                            word 6 EJECTIONS      HEALTHY→UNHEALTHY transitions (lifetime)
 *                            word 7 TOTAL_FAILURES failures of any kind (lifetime, wraps at 2^31)
 *                            words 8..15 reserved
 *
 * Circuit-breaker states, as a caller sees them through `isHealthy`:
 *   closed     STATE = HEALTHY                         → routable
 *   open       STATE = UNHEALTHY, UNTIL = 0 or future  → skipped by balancers
 *   half-open  STATE = UNHEALTHY, UNTIL passed         → routable again; failure counters were kept,
 *              so the next failure re-opens at once (caller: `recordFailure(...) >= threshold` → markDown),
 *              and `recordSuccess` counts up to the caller's healthy threshold → markUp.
 * Counting follows lua-resty-healthcheck (Kong's checker): successes are not counted while healthy and
 * a success clears the failure counters; a failure clears the success counter.
 *
 * Capacity: the primary allocates the table once with a fixed capacity (DEFAULT_HEALTH_CAPACITY unless
 * it needs more) and never shrinks it; config compile numbers targets into slots, and a reload keeps a
 * target's slot stable and calls `clear(slot)` before reusing a freed one. A reload that needs more slots
 * than `capacity` must allocate a bigger table and hand it to the workers with the new Snapshot.
 */

/** Slots allocated when the config needs fewer: 4096 × 64 B = 256 KiB. */
export const DEFAULT_HEALTH_CAPACITY = 4096

export type FailureKind = 'tcp' | 'timeout' | 'http'

/** What the admin API and metrics show for one slot. */
export interface HealthState {
  slot: number
  /** What balancers see now (closed or half-open). */
  healthy: boolean
  state: 'healthy' | 'unhealthy' | 'half-open'
  /** Epoch ms the ejection ends (second resolution), or null when not ejected or ejected until markUp. */
  ejectedUntil: number | null
  tcpFailures: number
  timeoutFailures: number
  httpFailures: number
  successes: number
  ejections: number
  totalFailures: number
}

const MAGIC = 0x48544231 // "HTB1"
const LAYOUT_VERSION = 1
const HEADER_BYTES = 64
const HEADER_WORDS = HEADER_BYTES >> 2
const H_MAGIC = 0
const H_VERSION = 1
const H_CAPACITY = 2
const H_BASE_BYTE_OFFSET = 16

const SLOT_SHIFT = 4 // 16 words = 64 bytes per slot
const SLOT_BYTES = 4 << SLOT_SHIFT
const STATE = 0
const UNTIL = 1
const TCP = 2
const TIMEOUT = 3
const HTTP = 4
const SUCCESSES = 5
const EJECTIONS = 6
const TOTAL_FAILURES = 7

const HEALTHY = 0
const UNHEALTHY = 1

/** Until-value meaning "no expiry": only markUp (active checker, admin) brings the target back. */
const FOREVER = 0

export class HealthTable {
  /** Bytes of SharedArrayBuffer needed for `slots` slots. */
  static bytesFor(slots: number): number {
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`health table slots must be a positive integer, got ${slots}`)
    return HEADER_BYTES + slots * SLOT_BYTES
  }

  /** Primary-side helper: a fresh SharedArrayBuffer of `capacity` slots, initialised. */
  static create(capacity: number = DEFAULT_HEALTH_CAPACITY, now: () => number = Date.now): HealthTable {
    return new HealthTable(new SharedArrayBuffer(HealthTable.bytesFor(capacity)), capacity, now)
  }

  /** Number of slots; valid slot numbers are 0 … capacity-1. */
  readonly capacity: number
  /** The shared memory to post to workers (they construct over it with the same capacity). */
  readonly sab: SharedArrayBuffer
  private readonly words: Int32Array
  /** Epoch ms that UNTIL values count from (seconds after it). */
  private readonly baseMs: number
  private readonly now: () => number

  /**
   * The first construction over a zeroed buffer initialises the header (the primary does this before
   * posting the buffer); later ones (workers) check it. `now` is injectable for tests (epoch ms).
   */
  constructor(sab: SharedArrayBuffer, slots: number, now: () => number = Date.now) {
    if (sab.byteLength < HealthTable.bytesFor(slots)) {
      throw new RangeError(`health table buffer holds ${sab.byteLength} bytes, ${HealthTable.bytesFor(slots)} needed for ${slots} slots`)
    }
    this.sab = sab
    this.capacity = slots
    this.now = now
    this.words = new Int32Array(sab, 0, HEADER_WORDS + (slots << SLOT_SHIFT))
    const base = new Float64Array(sab, H_BASE_BYTE_OFFSET, 1)
    if (Atomics.load(this.words, H_MAGIC) !== MAGIC) {
      // Not yet initialised. Only the primary gets here, before the buffer is shared, so no race.
      base[0] = Math.floor(now())
      Atomics.store(this.words, H_VERSION, LAYOUT_VERSION)
      Atomics.store(this.words, H_CAPACITY, slots)
      Atomics.store(this.words, H_MAGIC, MAGIC)
    } else {
      if (Atomics.load(this.words, H_VERSION) !== LAYOUT_VERSION) throw new Error('health table layout version mismatch')
      if (Atomics.load(this.words, H_CAPACITY) !== slots) {
        throw new RangeError(`health table was created with ${Atomics.load(this.words, H_CAPACITY)} slots, opened with ${slots}`)
      }
    }
    this.baseMs = base[0]
  }

  /**
   * Hot path (balancers): one load for a healthy target; the clock is read only for an ejected one with
   * an expiry. Half-open (expiry passed) counts as healthy. Plain reads, not Atomics.load (3× slower
   * here, measured): aligned Int32 typed-array reads are tear-free in the ECMAScript memory model, and
   * seeing an ejection one request late is harmless.
   */
  isHealthy(slot: number): boolean {
    const at = HEADER_WORDS + (slot << SLOT_SHIFT)
    if (this.words[at + STATE] === HEALTHY) return true
    const until = this.words[at + UNTIL]
    return until !== FOREVER && this.nowSeconds() >= until
  }

  /** True while the breaker is open or half-open (STATE = UNHEALTHY), whatever the clock says: lets the
   * passive and active checkers tell a half-open target (`isHealthy` too) from a closed one. */
  isMarkedDown(slot: number): boolean {
    return Atomics.load(this.words, HEADER_WORDS + (slot << SLOT_SHIFT) + STATE) === UNHEALTHY
  }

  /**
   * Ejects the target until `untilMs` (epoch ms, rounded up to the next whole second; omitted = until
   * markUp). Called again while ejected it moves the expiry (re-opening a half-open breaker). Returns
   * true only for the call that flipped HEALTHY → UNHEALTHY, so exactly one thread logs the ejection.
   */
  markDown(slot: number, untilMs?: number): boolean {
    const at = HEADER_WORDS + (slot << SLOT_SHIFT)
    Atomics.store(this.words, at + UNTIL, untilMs === undefined ? FOREVER : this.toSeconds(untilMs))
    Atomics.store(this.words, at + SUCCESSES, 0)
    const flipped = Atomics.compareExchange(this.words, at + STATE, HEALTHY, UNHEALTHY) === HEALTHY
    if (flipped) Atomics.add(this.words, at + EJECTIONS, 1)
    return flipped
  }

  /** Brings the target back (active check passed, passive healthy threshold reached, admin): clears all
   * consecutive counters. Returns true only for the call that flipped UNHEALTHY → HEALTHY. */
  markUp(slot: number): boolean {
    const at = HEADER_WORDS + (slot << SLOT_SHIFT)
    Atomics.store(this.words, at + TCP, 0)
    Atomics.store(this.words, at + TIMEOUT, 0)
    Atomics.store(this.words, at + HTTP, 0)
    Atomics.store(this.words, at + SUCCESSES, 0)
    // UNTIL first: a markDown racing in after the flip must keep the expiry it writes.
    Atomics.store(this.words, at + UNTIL, FOREVER)
    return Atomics.compareExchange(this.words, at + STATE, UNHEALTHY, HEALTHY) === UNHEALTHY
  }

  /**
   * Counts one failure of `kind` and returns the new consecutive count for that kind (Atomics.add, so
   * concurrent workers never lose a count). The caller compares it with the configured threshold
   * (Kong's `passive.unhealthy.tcp_failures` / `timeouts` / `http_failures`) and calls markDown.
   */
  recordFailure(slot: number, kind: FailureKind): number {
    const at = HEADER_WORDS + (slot << SLOT_SHIFT)
    if (Atomics.load(this.words, at + SUCCESSES) !== 0) Atomics.store(this.words, at + SUCCESSES, 0)
    Atomics.add(this.words, at + TOTAL_FAILURES, 1)
    const word = at + (kind === 'tcp' ? TCP : kind === 'timeout' ? TIMEOUT : HTTP)
    return Atomics.add(this.words, word, 1) + 1
  }

  /**
   * Counts one success. While healthy it only clears failure counters that are non-zero (no shared
   * write on the common path) and returns 0; while unhealthy (half-open) it returns the new consecutive
   * success count, which the caller compares with `passive.healthy.successes` before calling markUp.
   */
  recordSuccess(slot: number): number {
    const at = HEADER_WORDS + (slot << SLOT_SHIFT)
    if (Atomics.load(this.words, at + STATE) === HEALTHY) {
      if (Atomics.load(this.words, at + TCP) !== 0) Atomics.store(this.words, at + TCP, 0)
      if (Atomics.load(this.words, at + TIMEOUT) !== 0) Atomics.store(this.words, at + TIMEOUT, 0)
      if (Atomics.load(this.words, at + HTTP) !== 0) Atomics.store(this.words, at + HTTP, 0)
      return 0
    }
    return Atomics.add(this.words, at + SUCCESSES, 1) + 1
  }

  /** Zeroes a slot (healthy, no counters): the primary calls it before giving a freed slot to a new target. */
  clear(slot: number): void {
    const at = HEADER_WORDS + (slot << SLOT_SHIFT)
    for (let i = 0; i < 1 << SLOT_SHIFT; i++) Atomics.store(this.words, at + i, 0)
  }

  /** Admin/metrics view of one slot (allocates; not for the request path). */
  inspect(slot: number): HealthState {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.capacity) throw new RangeError(`health slot ${slot} out of range 0..${this.capacity - 1}`)
    const at = HEADER_WORDS + (slot << SLOT_SHIFT)
    const down = Atomics.load(this.words, at + STATE) !== HEALTHY
    const until = Atomics.load(this.words, at + UNTIL)
    const healthy = this.isHealthy(slot)
    return {
      slot,
      healthy,
      state: !down ? 'healthy' : healthy ? 'half-open' : 'unhealthy',
      ejectedUntil: down && until !== FOREVER ? this.baseMs + until * 1000 : null,
      tcpFailures: Atomics.load(this.words, at + TCP),
      timeoutFailures: Atomics.load(this.words, at + TIMEOUT),
      httpFailures: Atomics.load(this.words, at + HTTP),
      successes: Atomics.load(this.words, at + SUCCESSES),
      ejections: Atomics.load(this.words, at + EJECTIONS),
      totalFailures: Atomics.load(this.words, at + TOTAL_FAILURES),
    }
  }

  /** Whole seconds since base, rounded down: an expiry is never reported early. */
  private nowSeconds(): number {
    return Math.floor((this.now() - this.baseMs) / 1000)
  }

  /** Epoch ms → whole seconds after base, rounded up, at least 1 (0 means FOREVER). */
  private toSeconds(epochMs: number): number {
    const s = Math.ceil((epochMs - this.baseMs) / 1000)
    return s < 1 ? 1 : s > 0x7fffffff ? 0x7fffffff : s
  }
}
