// Exact rate-limit counters shared by every thread: one open-addressing table of keyed window states in a SharedArrayBuffer.
// Lock-free: check and count are one 64-bit compareExchange of a packed window state, so any number of workers admit exactly `limit`.

/*
 * Layout (one SharedArrayBuffer of `bytesFor(slots)` bytes, platform byte order):
 *
 *   header, 64 bytes     Int32 word 0 MAGIC · 1 LAYOUT_VERSION · 2 slots · 3 probe limit · 4/5 hash seed
 *                        · 6 claim sequence (nonce of PENDING states) · 7 reserved
 *                        bytes 32..39  base epoch in ms (Float64, written once before sharing)
 *                        bytes 40..47  fullCount (BigInt64): decisions degraded because no slot was claimable
 *                        bytes 48..55  busyCount (BigInt64): decisions degraded because a claim stayed in progress
 *   slot i, 16 bytes     BigInt64 0  fingerprint of (key, period); 0 only in a never-used slot
 *   (4 per cache line)   BigInt64 1  state, one of:
 *
 *   state (64 bits)      bit 63..0
 *     EMPTY              0                                           never claimed (its fingerprint is 0)
 *     LIVE               0 | period:3 | index:I | cur:C | prev:C     (I + 2C = 60; period 1..6, so the word is > 0)
 *     PENDING            1 | 0 | published:1 | stamp:29 | nonce:32   being claimed (stamp: whole seconds after base;
 *                                                                 published: the fingerprint word is the claimant's)
 *     DEAD               1 | 1 | 0…                                  a killed or abandoned claim: matches no key, claimable
 *
 *   LIVE fields: `index` = window number of the period, counted from the base epoch's window (clamped to
 *   0 … 2^I-1); `cur` = requests counted in window `index`; `prev` = requests counted in window `index`-1.
 *   Counts only ever hold admitted requests, so they never exceed the limit, and the limit is capped at 2^C-1:
 *
 *     period   I (index)  span of I from base      C (count)  MAX_RATE_LIMIT
 *     second   28         8.5 years                16             65,535
 *     minute   24         31 years                 18            262,143
 *     hour     20         119 years                20          1,048,575
 *     day      16         179 years                22          4,194,303
 *     month    12         341 years                24         16,777,215
 *     year     10         1024 years               25         33,554,431
 *
 *   The base epoch is the allocation time minus BASE_MARGIN_MS (7 days), so the table counts correctly for
 *   8.5 years minus a week of primary uptime (after that per-second windows stop advancing, which can only
 *   under-admit; the primary allocates a new table on every start).
 *   A limit above MAX_RATE_LIMIT is rejected with a RangeError (RateLimits / consume), never clamped silently.
 *
 * Windows. `fixed` counts per calendar window in UTC (Kong OSS): second, minute, hour, day, month (1st 00:00
 * to 1st 00:00), year (Jan 1 to Jan 1); admitted if cur + cost <= limit. `sliding` (default; Kong's advanced
 * limiter, Cloudflare) uses the same calendar windows and weighs the previous one by the part of it still
 * inside a sliding window of one period ending now: estimate = cur + prev × (windowEnd - now) / windowLength,
 * admitted if estimate + cost <= limit. Month and year use calendar windows for both types (a 31-day month
 * weighs its predecessor by its own length), so one slot's state means the same thing for either type.
 *
 * Keys. A slot is found by a 64-bit fingerprint of (key, period): two 32-bit string hashes (FNV-1a and a
 * murmur-style multiply-xorshift, seeded per table so probe chains cannot be precomputed), each finalised
 * with the period mixed in. Linear probing from `fp & (slots-1)` over at most `probe` slots (RATE_PROBE_LIMIT,
 * or the whole table when smaller). Two keys share a slot only if their 64-bit fingerprints collide.
 *
 * Every consume is: find the key's LIVE slot (or claim one), then one compareExchange loop on its state.
 * Invariants, with the reasoning behind each:
 *   1. At most one LIVE slot per fingerprint. A lookup scans the key's whole probe window before it claims,
 *      so an existing LIVE slot is always found, wherever it sits. Concurrent first claims of one key are
 *      settled after the fact: a claimant CASes the slot's state to PENDING, stores its fingerprint, marks
 *      the PENDING published, and then settles it (settle): rescan the probe window, and activate
 *      (PENDING → LIVE by CAS) only if no other slot of the fingerprint wins. Sequentially consistent
 *      Atomics make this Dekker's pattern: of two claims, at least one's rescan (made after its own
 *      fingerprint store) sees the other's fingerprint. A LIVE slot, or a fresh PENDING one earlier in the
 *      probe order, makes the seer's claim DEAD; a PENDING one later in the order (or stale) is killed
 *      (→ DEAD by CAS), so its activation CAS fails. Activation and death are one CAS on a PENDING value
 *      no other claim shares (nonce), so exactly one of them happens to each claim.
 *      Helping: a lookup that meets a published PENDING with its own fingerprint settles it itself (its
 *      rescan also follows that fingerprint's store), so a claimant descheduled mid-claim holds nobody up.
 *      An unpublished PENDING with the key's fingerprint (a claimant between taking the slot and storing
 *      its fingerprint, or another key taking this key's DEAD slot) is waited for KILL_UNPUBLISHED_AFTER
 *      rescans, then killed: killing a claim is always safe (its claimant starts over).
 *   2. A slot is reclaimed only when its state no longer affects any decision: LIVE with index <= the
 *      current window of its own period - 2 (neither its `cur` nor its `prev` is read again), or DEAD, or
 *      a PENDING older than STALE_PENDING_MS (its claimant died before publishing, e.g. worker.terminate()).
 *      Reclaiming is a CAS of exactly that state to PENDING, so it races fairly with a counter on that state.
 *      A key's own expired slot is never reclaimed by the key: it is found as LIVE and its window rolled.
 *   3. A counter never counts into a slot that changed owner (the reclaim race): it reads the fingerprint,
 *      then the state, then the fingerprint again, and CASes the state it read. If it read the new owner's
 *      state, the second fingerprint read already shows the new owner (the new owner writes its fingerprint
 *      before activating). If a reclaim completes between its reads and its CAS, the CAS fails, because a
 *      reclaimed slot never again holds a state equal to one it held before: the new LIVE state has either
 *      another period or, for the same period, an index at least 2 windows later; indexes never go back
 *      (a state from a thread whose clock is ahead is treated as the current window, not rewound).
 *   4. Only admitted requests are counted, and the admission test and the increment are the same CAS.
 *
 * Full table: when no slot of the probe window is LIVE for the key or claimable, the decision is
 * `{ admitted: true, degraded: true }` (fail-open, as Kong does when its counter store errors) and fullCount
 * is incremented for the metric. Nothing ever waits on another thread or locks: the only retry loops are
 * CAS loops (each failure means another thread's CAS succeeded) and the lookup's rescans while the key's
 * slot is being claimed, bounded by MAX_CLAIM_ATTEMPTS; should they run out (not seen in stress tests,
 * since published claims are helped and unpublished ones killed) the decision degrades the same way and
 * counts in busyCount.
 *
 * Several windows (RateLimits, consumeAll): each window is reserved in order (admission + count in one CAS);
 * if a later window rejects, the earlier reservations are taken back (a CAS decrement of the same window, or
 * of `prev` if that window has since rolled). A request is thus counted in every window or in none: never
 * over-admitted. A concurrent request may briefly see a reservation that is then rolled back, so it can be
 * rejected by a count that ends lower: the error is conservative (momentary under-admission only).
 */

/** GATEWAY_RATELIMIT_SLOTS default: 65536 slots × 16 B = 1 MiB. */
export const DEFAULT_RATELIMIT_SLOTS = 65536
/** Slots a key may be stored in, starting at its home slot (the table size when that is smaller). */
export const RATE_PROBE_LIMIT = 32

export type Period = 'second' | 'minute' | 'hour' | 'day' | 'month' | 'year'
export type WindowType = 'sliding' | 'fixed'

/** Periods in ascending length, the order RateLimits reserves them in. */
export const PERIODS: readonly Period[] = Object.freeze(['second', 'minute', 'hour', 'day', 'month', 'year'])

/** Largest limit each period can count (see the layout table above). */
export const MAX_RATE_LIMIT: Readonly<Record<Period, number>> = Object.freeze({
  second: 65535, minute: 262143, hour: 1048575, day: 4194303, month: 16777215, year: 33554431,
})

/** At most one window per period in one decision. */
export const MAX_WINDOWS = 6

/** What GET /consumers/{username}/usage and the metrics read (allocates; not for the request path). */
export interface RateTableUsage {
  slots: number
  /** LIVE slots (claimed by a key, whether or not its windows have expired). */
  used: number
  /** LIVE slots whose state still affects a decision at `nowMs`. */
  active: number
  /** Decisions degraded because the key's probe window had no claimable slot (fail-open). */
  fullCount: number
  /** Decisions degraded because the key's slot stayed mid-claim (fail-open). */
  busyCount: number
}

const MAGIC = 0x52544231 // "RTB1"
const LAYOUT_VERSION = 1
const HEADER_BYTES = 64
const HEADER_WORDS = HEADER_BYTES >> 2
const H_MAGIC = 0
const H_VERSION = 1
const H_SLOTS = 2
const H_PROBE = 3
const H_SEED_A = 4
const H_SEED_B = 5
const H_CLAIM_SEQ = 6
const H_BASE_BYTE_OFFSET = 32
const H_FULL_BIG = 5 // BigInt64 index of byte 40
const H_BUSY_BIG = 6 // BigInt64 index of byte 48

const SLOT_BYTES = 16
const SLOT_WORD_SHIFT = 2 // 4 Int32 words per slot
const SLOT_BIG_SHIFT = 1 // 2 BigInt64 words per slot
const HEADER_BIGS = HEADER_BYTES >> 3
const ST = 1 // state is the slot's second BigInt64
/** Int32 halves of a BigInt64 depend on byte order; every platform Node ships on is little-endian. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1
const FP_LO = LITTLE_ENDIAN ? 0 : 1
const FP_HI = LITTLE_ENDIAN ? 1 : 0
const ST_LO = LITTLE_ENDIAN ? 2 : 3
const ST_HI = LITTLE_ENDIAN ? 3 : 2

// State word, high 32 bits (hi) as Int32: > 0 LIVE, 0 EMPTY (lo is 0 too), < 0 PENDING or DEAD.
const PERIOD_SHIFT = 28
const INDEX_FIELD_MASK = 0x0fffffff
const DEAD_BIT = 0x40000000
const PUBLISHED_BIT = 0x20000000
const PENDING_HI = 0x80000000 | 0
const STAMP_MASK = 0x1fffffff
const DEAD_STATE = BigInt.asIntN(64, 0xc0000000_00000000n)

/** A PENDING claim older than this is presumed dead (its thread was terminated) and may be reclaimed. */
const STALE_PENDING_MS = 2000
/** Rescans while the key's own slot is PENDING before the decision degrades (busyCount). */
const MAX_CLAIM_ATTEMPTS = 256
/** Rescans before an unpublished claim on the key's fingerprint is presumed descheduled and killed. */
const KILL_UNPUBLISHED_AFTER = 32
/** The base epoch sits this far before allocation, so slightly earlier clocks still get index >= 0. */
const BASE_MARGIN_MS = 7 * 86_400_000

const SECOND_MS = 1000
const DAY_MS = 86_400_000
const MONTHS_PER_YEAR = 12
const UNIX_YEAR = 1970

// Period codes (state bits 60..62) and their per-code constants, indexed by code.
const P_SECOND = 1
const P_MINUTE = 2
const P_HOUR = 3
const P_DAY = 4
const P_MONTH = 5
const P_YEAR = 6
const PERIOD_NAMES: readonly Period[] = ['second', 'second', 'minute', 'hour', 'day', 'month', 'year'] // [0] unused
const FIXED_LENGTH_MS = [0, 1000, 60_000, 3_600_000, DAY_MS, 0, 0] // month and year are calendar lengths
const COUNT_BITS = [0, 16, 18, 20, 22, 24, 25]
const STATE_FIELD_BITS = 60
const MAX_COUNT = COUNT_BITS.map((c) => (c === 0 ? 0 : 2 ** c - 1))
const PREV_MASK = COUNT_BITS.map((c) => (c === 0 ? 0 : 2 ** c - 1))
/** `cur` straddles the halves: its low 32-C bits end the lo word, the rest start the hi word. */
const CUR_HI_MASK = COUNT_BITS.map((c) => (c === 0 ? 0 : 2 ** (2 * c - 32) - 1))
const CUR_HI_MUL = COUNT_BITS.map((c) => (c === 0 ? 0 : 2 ** (32 - c)))
const INDEX_SHIFT = COUNT_BITS.map((c) => (c === 0 ? 0 : 2 * c - 32))
const MAX_INDEX = COUNT_BITS.map((c) => (c === 0 ? 0 : 2 ** (STATE_FIELD_BITS - 2 * c) - 1))
/** One request in `cur`, as a state delta. */
const CUR_ONE: readonly bigint[] = COUNT_BITS.map((c) => 1n << BigInt(c))

// findSlot results below 0.
const FULL = -1
const BUSY = -2
const NOT_FOUND = -3
// reserve results.
const ADMIT = 0
const REJECT = 1
const LOST = 2 // the slot changed owner between lookup and CAS: look it up again

function periodCode(period: string): number {
  switch (period) {
    case 'second': return P_SECOND
    case 'minute': return P_MINUTE
    case 'hour': return P_HOUR
    case 'day': return P_DAY
    case 'month': return P_MONTH
    case 'year': return P_YEAR
    default: return 0
  }
}

function checkLimit(period: Period, code: number, limit: number): void {
  if (code === 0) throw new RangeError(`rate limit period must be one of ${PERIODS.join(', ')}, got ${String(period)}`)
  if (!Number.isInteger(limit) || limit < 0 || limit > MAX_COUNT[code]) {
    throw new RangeError(`rate limit per ${period} must be an integer from 0 to ${MAX_COUNT[code]}, got ${limit}`)
  }
}

/** murmur3's 32-bit finaliser: a bijection that spreads every input bit over the word. */
function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

/** Days since 1970-01-01 of a proleptic Gregorian date (month 1..12); H. Hinnant's days_from_civil. */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/** Months since January 1970 of the UTC day `days` (since 1970-01-01); civil_from_days without the day. */
function monthsFromDays(days: number): number {
  const z = days + 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153) // 0 = March
  const month0 = mp < 10 ? mp + 2 : mp - 10 // 0 = January
  const year = yoe + era * 400 + (month0 < 2 ? 1 : 0)
  return (year - UNIX_YEAR) * MONTHS_PER_YEAR + month0
}

/** Window number of `ms` counted from the Unix epoch's window. */
function absoluteIndex(code: number, ms: number): number {
  if (code < P_MONTH) return Math.floor(ms / FIXED_LENGTH_MS[code])
  const months = monthsFromDays(Math.floor(ms / DAY_MS))
  return code === P_MONTH ? months : Math.floor(months / MONTHS_PER_YEAR)
}

/** Epoch ms at which absolute window `abs` starts. */
function absoluteStart(code: number, abs: number): number {
  if (code < P_MONTH) return abs * FIXED_LENGTH_MS[code]
  if (code === P_YEAR) return daysFromCivil(UNIX_YEAR + abs, 1, 1) * DAY_MS
  const years = Math.floor(abs / MONTHS_PER_YEAR)
  return daysFromCivil(UNIX_YEAR + years, abs - years * MONTHS_PER_YEAR + 1, 1) * DAY_MS
}

/**
 * Limits of one rate-limiting plugin instance, validated and ordered once per config (never per request):
 * `new RateLimits({ second: 5, minute: 100 }, 'sliding')`. Throws a RangeError naming the period for a
 * limit that is not an integer in 0 … MAX_RATE_LIMIT[period], an unknown period, or no limit at all.
 */
export class RateLimits {
  readonly count: number
  readonly sliding: boolean
  readonly windowType: WindowType
  /** Period names, ascending. */
  readonly periods: readonly Period[]
  /** Period codes and limits, in the same order. */
  readonly codes: Int32Array
  readonly limits: Float64Array

  constructor(limits: Partial<Record<Period, number>>, windowType: WindowType = 'sliding') {
    if (windowType !== 'sliding' && windowType !== 'fixed') throw new RangeError(`window type must be sliding or fixed, got ${String(windowType)}`)
    for (const name of Object.keys(limits)) {
      if (periodCode(name) === 0) throw new RangeError(`rate limit period must be one of ${PERIODS.join(', ')}, got ${name}`)
    }
    const periods: Period[] = []
    for (const period of PERIODS) {
      const limit = limits[period]
      if (limit === undefined || limit === null) continue
      checkLimit(period, periodCode(period), limit)
      periods.push(period)
    }
    if (periods.length === 0) throw new RangeError(`at least one of ${PERIODS.join(', ')} needs a limit`)
    this.count = periods.length
    this.windowType = windowType
    this.sliding = windowType === 'sliding'
    this.periods = Object.freeze(periods)
    this.codes = Int32Array.from(periods, periodCode)
    this.limits = Float64Array.from(periods, (p) => limits[p] as number)
  }
}

/**
 * The answer to consume/peek. Methods fill the object they are given (by default one per RateTable,
 * overwritten by the next call), so the request path creates no objects; the only garbage per decision is
 * the short-lived BigInts the BigInt64Array load/CAS needs (measured ~90 B on a rejection, ~160 B on an
 * admission, all freed by the young-generation scavenger). The summary fields describe the
 * binding window: the one that rejected, else the one with the least remaining (a tie goes to the longer
 * period, as Kong picks the window for RateLimit-* headers); `…Of[i]` describe every window, for the
 * X-RateLimit-*-<Window> headers.
 */
export class RateDecision {
  /** Whether the request may proceed (also true when degraded). */
  admitted = true
  /** A window had no slot (table full or claim stuck): that window was not enforced (fail-open). */
  degraded = false
  /** Index of the binding window in the per-window arrays. */
  binding = 0
  limit = 0
  /** Requests of cost 1 still admissible after this one (floor, >= 0). */
  remaining = 0
  /** fixed: ms until the window ends. sliding: the same while there is room; when full (or rejected), ms
   * until a request of this cost (1 after an admission) would be admitted if nothing else arrives. */
  resetMs = 0
  /** Number of windows in the arrays below. */
  windows = 0
  readonly periodOf: Period[] = new Array<Period>(MAX_WINDOWS).fill('second')
  readonly limitOf = new Float64Array(MAX_WINDOWS)
  readonly remainingOf = new Float64Array(MAX_WINDOWS)
  readonly resetMsOf = new Float64Array(MAX_WINDOWS)
  /** 1 where that window was degraded (not enforced), else 0. */
  readonly degradedOf = new Uint8Array(MAX_WINDOWS)
}

export interface RateTableOptions {
  /** Allocation time (epoch ms) the window indexes count from; default Date.now(). */
  epochMs?: number
  /** Hash seed (tests); default random. */
  seed?: number
}

export class RateTable {
  /** Bytes of SharedArrayBuffer needed for `slots` slots. */
  static bytesFor(slots: number): number {
    if (!Number.isInteger(slots) || slots < 1 || slots > 2 ** 26 || (slots & (slots - 1)) !== 0) {
      throw new RangeError(`rate table slots must be a power of two from 1 to 2^26, got ${slots}`)
    }
    return HEADER_BYTES + slots * SLOT_BYTES
  }

  /** Primary side: a fresh, initialised table of `slots` slots (GATEWAY_RATELIMIT_SLOTS) to post to workers. */
  static allocate(slots: number = DEFAULT_RATELIMIT_SLOTS, options: RateTableOptions = {}): RateTable {
    const sab = new SharedArrayBuffer(RateTable.bytesFor(slots))
    const words = new Int32Array(sab, 0, HEADER_WORDS)
    const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32)
    // Not shared yet: plain initialisation, MAGIC last.
    new Float64Array(sab, H_BASE_BYTE_OFFSET, 1)[0] = Math.floor(options.epochMs ?? Date.now()) - BASE_MARGIN_MS
    words[H_VERSION] = LAYOUT_VERSION
    words[H_SLOTS] = slots
    words[H_PROBE] = Math.min(RATE_PROBE_LIMIT, slots)
    words[H_SEED_A] = fmix32(seed | 0)
    words[H_SEED_B] = fmix32((seed ^ 0x5bd1e995) | 0)
    Atomics.store(words, H_MAGIC, MAGIC)
    return new RateTable(sab)
  }

  /** Worker side: a view over the primary's table (same as `new RateTable(sab)`). */
  static attach(sab: SharedArrayBuffer): RateTable {
    return new RateTable(sab)
  }

  readonly slots: number
  readonly sab: SharedArrayBuffer
  /** Epoch ms that window indexes count from. */
  readonly baseMs: number
  /** Filled by calls that are not given a decision object. */
  readonly decision = new RateDecision()
  private readonly words: Int32Array
  private readonly bigs: BigInt64Array
  private readonly mask: number
  private readonly probe: number
  private readonly seedA: number
  private readonly seedB: number
  /** absoluteIndex(code, baseMs) per period code. */
  private readonly baseIndex = new Float64Array(PERIOD_NAMES.length)
  // Per-call scratch (one thread owns an instance): hash of the key, fingerprint, window bounds.
  private hashA = 0
  private hashB = 0
  private fpLo = 0
  private fpHi = 0
  private boundStart = 0
  private boundEnd = 0
  private boundCode = 0
  private boundIndex = -1
  private cacheNow = Number.NaN
  private cacheValid = 0
  private readonly cacheIndex = new Float64Array(PERIOD_NAMES.length)
  // Per-window bookkeeping of the current multi-window call, for rollback.
  private readonly slotOf = new Int32Array(MAX_WINDOWS)
  private readonly fpLoOf = new Int32Array(MAX_WINDOWS)
  private readonly fpHiOf = new Int32Array(MAX_WINDOWS)
  private readonly indexOf = new Float64Array(MAX_WINDOWS)
  private readonly endOf = new Float64Array(MAX_WINDOWS)

  /** Checks the header the primary wrote (magic, version, slot count against the buffer size). */
  constructor(sab: SharedArrayBuffer) {
    if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < HEADER_BYTES + SLOT_BYTES) {
      throw new RangeError('rate table needs a SharedArrayBuffer from RateTable.allocate')
    }
    const header = new Int32Array(sab, 0, HEADER_WORDS)
    if (Atomics.load(header, H_MAGIC) !== MAGIC) throw new Error('rate table buffer was not initialised by RateTable.allocate (bad magic)')
    if (Atomics.load(header, H_VERSION) !== LAYOUT_VERSION) throw new Error('rate table layout version mismatch')
    const slots = Atomics.load(header, H_SLOTS)
    if (sab.byteLength !== RateTable.bytesFor(slots)) {
      throw new RangeError(`rate table buffer holds ${sab.byteLength} bytes, ${RateTable.bytesFor(slots)} expected for ${slots} slots`)
    }
    this.slots = slots
    this.sab = sab
    this.mask = slots - 1
    this.probe = Atomics.load(header, H_PROBE)
    if (this.probe < 1 || this.probe > slots) throw new RangeError(`rate table probe limit ${this.probe} out of range`)
    this.seedA = Atomics.load(header, H_SEED_A)
    this.seedB = Atomics.load(header, H_SEED_B)
    this.words = new Int32Array(sab)
    this.bigs = new BigInt64Array(sab)
    this.baseMs = new Float64Array(sab, H_BASE_BYTE_OFFSET, 1)[0]
    for (let code = P_SECOND; code <= P_YEAR; code++) this.baseIndex[code] = absoluteIndex(code, this.baseMs)
  }

  /** Decisions degraded because a key's probe window was full (for the metric). */
  get fullCount(): number {
    return Number(Atomics.load(this.bigs, H_FULL_BIG))
  }

  /** Decisions degraded because a key's slot stayed mid-claim past MAX_CLAIM_ATTEMPTS rescans. */
  get busyCount(): number {
    return Number(Atomics.load(this.bigs, H_BUSY_BIG))
  }

  /**
   * Checks a request of `cost` against `limit` per `period` for `key` and, only if admitted, counts it, in
   * one atomic step. `nowMs` is epoch ms (Date.now() in production). Throws a RangeError for an unknown
   * period or a limit outside 0 … MAX_RATE_LIMIT[period] or a cost that is not a positive integer.
   * A cost above the limit is rejected without counting.
   */
  consume(key: string, limit: number, period: Period, windowType: WindowType, nowMs: number, cost = 1, out: RateDecision = this.decision): RateDecision {
    const code = periodCode(period)
    checkLimit(period, code, limit)
    if (!(Number.isInteger(cost) && cost >= 1)) throw new RangeError(`rate limit cost must be a positive integer, got ${cost}`)
    this.hashKey(key)
    out.windows = 1
    out.degraded = false
    out.degradedOf[0] = 0
    out.admitted = this.consumeWindow(0, code, limit, windowType !== 'fixed', nowMs, cost, out) === ADMIT
    return this.summarise(out, 0)
  }

  /**
   * The same for every window of `limits`: admitted only if every window admits, and then counted in all of
   * them; on a rejection, reservations already made in earlier windows are rolled back (see the header).
   * A rejection stops at the rejecting window (`binding`): the `…Of[i]` entries after it are not filled
   * (they hold the previous call's values); peek those windows if their headers are needed.
   */
  consumeAll(key: string, limits: RateLimits, nowMs: number, cost = 1, out: RateDecision = this.decision): RateDecision {
    if (!(Number.isInteger(cost) && cost >= 1)) throw new RangeError(`rate limit cost must be a positive integer, got ${cost}`)
    this.hashKey(key)
    const n = limits.count
    const sliding = limits.sliding
    out.windows = n
    out.degraded = false
    for (let j = 0; j < n; j++) {
      out.degradedOf[j] = 0
      if (this.consumeWindow(j, limits.codes[j], limits.limits[j], sliding, nowMs, cost, out) === REJECT) {
        for (let i = 0; i < j; i++) {
          if (this.slotOf[i] < 0) continue
          this.release(this.slotOf[i], this.fpLoOf[i], this.fpHiOf[i], limits.codes[i], this.indexOf[i], cost)
          out.remainingOf[i] += cost
          if (sliding) out.resetMsOf[i] = Math.max(0, Math.ceil(this.endOf[i] - nowMs))
        }
        out.admitted = false
        return this.summarise(out, j)
      }
    }
    out.admitted = true
    return this.summarise(out, -1)
  }

  /** What a request of cost 1 would get now, without counting it (the usage endpoint). Never claims a slot. */
  peek(key: string, limit: number, period: Period, windowType: WindowType, nowMs: number, out: RateDecision = this.decision): RateDecision {
    const code = periodCode(period)
    checkLimit(period, code, limit)
    this.hashKey(key)
    out.windows = 1
    out.degraded = false
    out.degradedOf[0] = 0
    out.admitted = this.peekWindow(0, code, limit, windowType !== 'fixed', nowMs, 1, out)
    return this.summarise(out, out.admitted ? -1 : 0)
  }

  /** peek for every window of `limits`. */
  peekAll(key: string, limits: RateLimits, nowMs: number, out: RateDecision = this.decision): RateDecision {
    this.hashKey(key)
    out.windows = limits.count
    out.degraded = false
    let rejectedBy = -1
    for (let j = 0; j < limits.count; j++) {
      out.degradedOf[j] = 0
      if (!this.peekWindow(j, limits.codes[j], limits.limits[j], limits.sliding, nowMs, 1, out) && rejectedBy < 0) rejectedBy = j
    }
    out.admitted = rejectedBy < 0
    return this.summarise(out, rejectedBy)
  }

  /** Slot counts and degradation counters (scans the whole table; admin and metrics only). */
  usage(nowMs: number): RateTableUsage {
    let used = 0
    let active = 0
    for (let slot = 0; slot < this.slots; slot++) {
      const hi = Atomics.load(this.words, HEADER_WORDS + (slot << SLOT_WORD_SHIFT) + ST_HI)
      if (hi <= 0) continue
      used++
      const code = hi >>> PERIOD_SHIFT
      if (((hi & INDEX_FIELD_MASK) >>> INDEX_SHIFT[code]) > this.relativeIndex(code, nowMs) - 2) active++
    }
    return { slots: this.slots, used, active, fullCount: this.fullCount, busyCount: this.busyCount }
  }

  /** The slot holding (key, period), or -1 (tests and debugging). */
  locate(key: string, period: Period): number {
    const code = periodCode(period)
    if (code === 0) throw new RangeError(`unknown rate limit period ${String(period)}`)
    this.hashKey(key)
    this.fingerprint(code)
    const slot = this.findSlot(code, 0, false)
    return slot < 0 ? -1 : slot
  }

  /** The first slot (key, period) probes (tests and debugging). */
  homeSlot(key: string, period: Period): number {
    this.hashKey(key)
    this.fingerprint(periodCode(period))
    return this.fpLo & this.mask
  }

  // ------------------------------------------------------------------------------------------ per window

  /** Finds (or claims) the slot of window j and reserves in it; degraded windows admit. Returns ADMIT or REJECT. */
  private consumeWindow(j: number, code: number, limit: number, sliding: boolean, nowMs: number, cost: number, out: RateDecision): number {
    out.periodOf[j] = PERIOD_NAMES[code]
    out.limitOf[j] = limit
    this.slotOf[j] = -1
    if (cost > limit) {
      this.peekWindow(j, code, limit, sliding, nowMs, cost, out)
      return REJECT
    }
    this.fingerprint(code)
    this.fpLoOf[j] = this.fpLo
    this.fpHiOf[j] = this.fpHi
    for (;;) {
      const slot = this.findSlot(code, nowMs, true)
      if (slot < 0) {
        Atomics.add(this.bigs, slot === FULL ? H_FULL_BIG : H_BUSY_BIG, 1n)
        this.bounds(code, this.relativeIndex(code, nowMs))
        out.degraded = true
        out.degradedOf[j] = 1
        out.remainingOf[j] = limit
        out.resetMsOf[j] = Math.max(0, Math.ceil(this.boundEnd - nowMs))
        return ADMIT
      }
      const result = this.reserve(j, slot, code, limit, sliding, nowMs, cost, out)
      if (result !== LOST) {
        if (result === ADMIT) this.slotOf[j] = slot
        return result
      }
    }
  }

  /**
   * One CAS loop on the slot's state: roll the window forward if time moved on, decide, and count only an
   * admission. A rejection writes nothing (the roll is recomputed by the next call). Returns LOST when the
   * slot no longer belongs to the fingerprint (invariant 3).
   */
  private reserve(j: number, slot: number, code: number, limit: number, sliding: boolean, nowMs: number, cost: number, out: RateDecision): number {
    const at = HEADER_WORDS + (slot << SLOT_WORD_SHIFT)
    const st = HEADER_BIGS + (slot << SLOT_BIG_SHIFT) + ST
    const fpLo = this.fpLo
    const fpHi = this.fpHi
    const now = this.relativeIndex(code, nowMs)
    for (;;) {
      const s = Atomics.load(this.bigs, st)
      if (Atomics.load(this.words, at + FP_LO) !== fpLo || Atomics.load(this.words, at + FP_HI) !== fpHi) return LOST
      const hi = Number(s >> 32n)
      if (hi <= 0) return LOST // PENDING: being taken (it had expired); DEAD
      const lo = Number(BigInt.asUintN(32, s))
      let index = (hi & INDEX_FIELD_MASK) >>> INDEX_SHIFT[code]
      let cur = (lo >>> COUNT_BITS[code]) + (hi & CUR_HI_MASK[code]) * CUR_HI_MUL[code]
      let prev = lo & PREV_MASK[code]
      let rolled = false
      if (index < now) {
        prev = index === now - 1 ? cur : 0
        cur = 0
        index = now
        rolled = true
      }
      this.bounds(code, index)
      const admitted = this.admits(limit, cur, prev, sliding, nowMs, cost)
      if (admitted) {
        const next = rolled ? encode(code, index, cur + cost, prev) : cost === 1 ? s + CUR_ONE[code] : s + CUR_ONE[code] * BigInt(cost)
        if (Atomics.compareExchange(this.bigs, st, s, next) !== s) continue
        cur += cost
      }
      this.indexOf[j] = index
      this.endOf[j] = this.boundEnd
      this.report(j, code, index, limit, cur, prev, sliding, nowMs, admitted ? 1 : cost, out)
      return admitted ? ADMIT : REJECT
    }
  }

  /** Takes back a reservation of `cost` made in window `index` of the slot (consumeAll rollback). */
  private release(slot: number, fpLo: number, fpHi: number, code: number, index: number, cost: number): void {
    const at = HEADER_WORDS + (slot << SLOT_WORD_SHIFT)
    const st = HEADER_BIGS + (slot << SLOT_BIG_SHIFT) + ST
    for (;;) {
      const s = Atomics.load(this.bigs, st)
      if (Atomics.load(this.words, at + FP_LO) !== fpLo || Atomics.load(this.words, at + FP_HI) !== fpHi) return
      const hi = Number(s >> 32n)
      if (hi <= 0 || hi >>> PERIOD_SHIFT !== code) return // reclaimed: the reservation had expired anyway
      const lo = Number(BigInt.asUintN(32, s))
      const stateIndex = (hi & INDEX_FIELD_MASK) >>> INDEX_SHIFT[code]
      let cur = (lo >>> COUNT_BITS[code]) + (hi & CUR_HI_MASK[code]) * CUR_HI_MUL[code]
      let prev = lo & PREV_MASK[code]
      if (stateIndex === index) cur = Math.max(0, cur - cost)
      else if (stateIndex === index + 1) prev = Math.max(0, prev - cost) // the window rolled: our count is `prev` now
      else return // two windows on: the reservation no longer counts
      if (Atomics.compareExchange(this.bigs, st, s, encode(code, stateIndex, cur, prev)) === s) return
    }
  }

  /** peek of one window: fills out[j] as if a request of `cost` arrived now; returns whether it would be admitted. */
  private peekWindow(j: number, code: number, limit: number, sliding: boolean, nowMs: number, cost: number, out: RateDecision): boolean {
    out.periodOf[j] = PERIOD_NAMES[code]
    out.limitOf[j] = limit
    this.fingerprint(code)
    const now = this.relativeIndex(code, nowMs)
    let index = now
    let cur = 0
    let prev = 0
    const slot = this.findSlot(code, nowMs, false)
    if (slot >= 0) {
      const s = Atomics.load(this.bigs, HEADER_BIGS + (slot << SLOT_BIG_SHIFT) + ST)
      const at = HEADER_WORDS + (slot << SLOT_WORD_SHIFT)
      const hi = Number(s >> 32n)
      if (hi > 0 && hi >>> PERIOD_SHIFT === code && Atomics.load(this.words, at + FP_LO) === this.fpLo && Atomics.load(this.words, at + FP_HI) === this.fpHi) {
        const lo = Number(BigInt.asUintN(32, s))
        index = (hi & INDEX_FIELD_MASK) >>> INDEX_SHIFT[code]
        cur = (lo >>> COUNT_BITS[code]) + (hi & CUR_HI_MASK[code]) * CUR_HI_MUL[code]
        prev = lo & PREV_MASK[code]
        if (index < now) {
          prev = index === now - 1 ? cur : 0
          cur = 0
          index = now
        }
      }
    }
    this.bounds(code, index)
    const admitted = cost <= limit && this.admits(limit, cur, prev, sliding, nowMs, cost)
    this.report(j, code, index, limit, cur, prev, sliding, nowMs, cost, out)
    return admitted
  }

  /** fixed: cur + cost <= limit. sliding: cur + cost + prev × (end - now) / length <= limit, in integers. */
  private admits(limit: number, cur: number, prev: number, sliding: boolean, nowMs: number, cost: number): boolean {
    const room = limit - cur - cost
    if (room < 0) return false
    if (!sliding || prev === 0) return true
    const length = this.boundEnd - this.boundStart
    return prev * this.overlapMs(nowMs) <= room * length
  }

  /** The part of the previous window still inside a sliding window of one period ending now, in ms. */
  private overlapMs(nowMs: number): number {
    const length = this.boundEnd - this.boundStart
    const left = this.boundEnd - nowMs
    return left > length ? length : left < 0 ? 0 : left
  }

  /**
   * Fills remaining and reset of window j from the state after the decision (bounds of `index` already set;
   * they are overwritten when the reset falls in the next window). `need`: the cost the reset waits for.
   */
  private report(j: number, code: number, index: number, limit: number, cur: number, prev: number, sliding: boolean, nowMs: number, need: number, out: RateDecision): void {
    const end = this.boundEnd
    const length = end - this.boundStart
    const weighted = sliding && prev > 0 ? Math.ceil((prev * this.overlapMs(nowMs)) / length) : 0
    const remaining = limit - cur - weighted
    out.remainingOf[j] = remaining > 0 ? remaining : 0
    if (!sliding || remaining >= need) {
      out.resetMsOf[j] = Math.max(0, Math.ceil(end - nowMs))
      return
    }
    // Sliding and short of `need`: wait until the weighted part has decayed enough, with no other traffic.
    let wait: number
    if (need <= limit - cur) {
      // In this window (prev > 0 here): prev × (end - t) / length <= limit - cur - need.
      wait = end - nowMs - Math.floor(((limit - cur - need) * length) / prev)
    } else {
      // Next window, where cur becomes the weighted previous count (cur > 0 here).
      this.bounds(code, index + 1)
      const nextLength = this.boundEnd - this.boundStart
      wait = need > limit ? this.boundEnd - nowMs : this.boundEnd - nowMs - Math.floor(((limit - need) * nextLength) / cur)
    }
    out.resetMsOf[j] = Math.max(1, Math.ceil(wait))
  }

  /** Copies the binding window (the rejecting one, else the least remaining, ties to the longer period) into the summary. */
  private summarise(out: RateDecision, rejectedBy: number): RateDecision {
    let b = rejectedBy
    if (b < 0) {
      b = 0
      for (let j = 1; j < out.windows; j++) if (out.remainingOf[j] <= out.remainingOf[b]) b = j
    }
    out.binding = b
    out.limit = out.limitOf[b]
    out.remaining = out.remainingOf[b]
    out.resetMs = out.resetMsOf[b]
    return out
  }

  // ------------------------------------------------------------------------------------------ slots

  /**
   * The LIVE slot of the current fingerprint; else, with `claim`, a slot newly claimed for it (claimSlot).
   * Negative: FULL (nothing claimable in the probe window), BUSY (its slot stayed PENDING), NOT_FOUND (peek).
   * The whole probe window is scanned before claiming, up to the first EMPTY slot (EMPTY never comes back, so
   * no key was ever placed past it), so an existing LIVE slot is found wherever it sits (invariant 1).
   * A published claim for the same fingerprint is settled here rather than waited for (helping), so a
   * claimant that is descheduled mid-claim does not hold up other threads.
   */
  private findSlot(code: number, nowMs: number, claim: boolean): number {
    const words = this.words
    const fpLo = this.fpLo
    const fpHi = this.fpHi
    const mask = this.mask
    const home = fpLo & mask
    for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
      let candidate = -1
      let pending = false
      for (let k = 0; k < this.probe; k++) {
        const at = HEADER_WORDS + (((home + k) & mask) << SLOT_WORD_SHIFT)
        const lo = Atomics.load(words, at + FP_LO)
        const hi = Atomics.load(words, at + FP_HI)
        if (lo === fpLo && hi === fpHi) {
          const sh = Atomics.load(words, at + ST_HI)
          if (sh > 0) return (home + k) & mask
          if (sh < 0 && (sh & DEAD_BIT) === 0 && !this.stale(sh, nowMs)) {
            // PENDING with our fingerprint. Published: our key's claim, which we may settle ourselves.
            // Unpublished: our key's claim about to publish, or our DEAD slot being taken: wait for it a
            // little, then kill it (its claimant restarts; always safe), since its thread may be descheduled.
            if (claim) {
              if ((sh & PUBLISHED_BIT) !== 0) {
                const slot = this.help(code, home, k, nowMs)
                if (slot >= 0) return slot
              } else if (attempt >= KILL_UNPUBLISHED_AFTER) {
                this.killUnpublished((home + k) & mask)
              }
            }
            pending = true
            continue
          }
        } else if (lo !== 0 || hi !== 0) {
          if (!claim || candidate >= 0) continue // not EMPTY, and nothing more to learn from its state
        }
        const sh = Atomics.load(words, at + ST_HI)
        if (sh === 0 && Atomics.load(words, at + ST_LO) === 0) {
          if (candidate < 0) candidate = k
          break // EMPTY: the chain ends here
        }
        if (claim && candidate < 0 && this.claimable(sh, nowMs)) candidate = k
      }
      if (!claim) return NOT_FOUND
      if (pending) continue
      if (candidate < 0) return FULL
      const slot = this.claimSlot(code, home, candidate, nowMs)
      if (slot >= 0) return slot
    }
    return BUSY
  }

  /**
   * Claims probe position `candidate` for the current fingerprint: CAS its state (as read now, still
   * claimable) to a unique unpublished PENDING, store the fingerprint, mark the PENDING published, then
   * settle it. Returns the slot, or -1 to rescan.
   */
  private claimSlot(code: number, home: number, candidate: number, nowMs: number): number {
    const slot = (home + candidate) & this.mask
    const at = HEADER_WORDS + (slot << SLOT_WORD_SHIFT)
    const st = HEADER_BIGS + (slot << SLOT_BIG_SHIFT) + ST
    const seen = Atomics.load(this.bigs, st)
    if (seen !== 0n && !this.claimable(Number(seen >> 32n), nowMs)) return -1
    const nonce = Atomics.add(this.words, H_CLAIM_SEQ, 1)
    const stamp = this.stamp(nowMs)
    // Both values exist before the slot is taken: nothing allocates (or can start a GC) while it is unpublished.
    const unpublished = pendingState(stamp, nonce, 0)
    const published = pendingState(stamp, nonce, PUBLISHED_BIT)
    if (Atomics.compareExchange(this.bigs, st, seen, unpublished) !== seen) return -1
    Atomics.store(this.words, at + FP_LO, this.fpLo)
    Atomics.store(this.words, at + FP_HI, this.fpHi)
    if (Atomics.compareExchange(this.bigs, st, unpublished, published) !== unpublished) return -1 // killed
    return this.settle(code, home, candidate, published, nowMs)
  }

  /** Turns the slot's state to DEAD if it is (still) an unpublished PENDING. */
  private killUnpublished(slot: number): void {
    const st = HEADER_BIGS + (slot << SLOT_BIG_SHIFT) + ST
    const state = Atomics.load(this.bigs, st)
    const sh = Number(state >> 32n)
    if (sh < 0 && (sh & (DEAD_BIT | PUBLISHED_BIT)) === 0) Atomics.compareExchange(this.bigs, st, state, DEAD_STATE)
  }

  /**
   * Settles the published claim at probe position `k` on behalf of its claimant, if it still is one for
   * the current fingerprint (state read, then fingerprint re-read: invariant 3's pattern). Returns the
   * slot once LIVE, or -1 to rescan.
   */
  private help(code: number, home: number, k: number, nowMs: number): number {
    const slot = (home + k) & this.mask
    const at = HEADER_WORDS + (slot << SLOT_WORD_SHIFT)
    const state = Atomics.load(this.bigs, HEADER_BIGS + (slot << SLOT_BIG_SHIFT) + ST)
    const sh = Number(state >> 32n)
    if (!(sh < 0 && (sh & (DEAD_BIT | PUBLISHED_BIT)) === PUBLISHED_BIT)) return -1
    if (Atomics.load(this.words, at + FP_LO) !== this.fpLo || Atomics.load(this.words, at + FP_HI) !== this.fpHi) return -1
    return this.settle(code, home, k, state, nowMs)
  }

  /**
   * Invariant 1. The published claim `pending` at probe position `candidate` (its fingerprint already
   * visible) becomes LIVE only if a rescan of the probe window, made after that fingerprint was stored, finds
   * no other slot of the fingerprint that wins: a LIVE one, or a fresh PENDING one earlier in the probe order,
   * makes this claim DEAD; a PENDING one later in the order (or stale) is killed. Claimant and helpers may
   * settle the same claim at once; its activation or death is one CAS on `pending`, so exactly one happens.
   * Returns the slot once LIVE, or -1 to rescan.
   */
  private settle(code: number, home: number, candidate: number, pending: bigint, nowMs: number): number {
    const words = this.words
    const bigs = this.bigs
    const fpLo = this.fpLo
    const fpHi = this.fpHi
    const mask = this.mask
    const slot = (home + candidate) & mask
    const st = HEADER_BIGS + (slot << SLOT_BIG_SHIFT) + ST
    for (let k = 0; k < this.probe; k++) {
      if (k === candidate) continue
      const other = (home + k) & mask
      const oat = HEADER_WORDS + (other << SLOT_WORD_SHIFT)
      const lo = Atomics.load(words, oat + FP_LO)
      const hi = Atomics.load(words, oat + FP_HI)
      if (lo === fpLo && hi === fpHi) {
        const ost = HEADER_BIGS + (other << SLOT_BIG_SHIFT) + ST
        for (;;) {
          const state = Atomics.load(bigs, ost)
          const sh = Number(state >> 32n)
          if (sh > 0 || (sh < 0 && (sh & DEAD_BIT) === 0 && k < candidate && !this.stale(sh, nowMs))) {
            // The key already has a LIVE slot, or an earlier claim that wins: this claim dies; rescan.
            Atomics.compareExchange(bigs, st, pending, DEAD_STATE)
            return -1
          }
          if (sh === 0 || (sh & DEAD_BIT) !== 0) break
          if (Atomics.compareExchange(bigs, ost, state, DEAD_STATE) === state) break // a later claim loses
        }
      } else if (lo === 0 && hi === 0 && Atomics.load(words, oat + ST_HI) === 0 && Atomics.load(words, oat + ST_LO) === 0) {
        break // EMPTY: nothing past it
      }
    }
    const live = encode(code, this.relativeIndex(code, nowMs), 0, 0)
    const was = Atomics.compareExchange(bigs, st, pending, live)
    // Lost the race to settle it: fine if a helper (or the claimant) made it LIVE for us.
    return was === pending || was === live ? slot : -1
  }

  /** Whether a non-EMPTY state (its high word) may be taken by another key (invariant 2). */
  private claimable(sh: number, nowMs: number): boolean {
    if (sh > 0) {
      const code = sh >>> PERIOD_SHIFT
      return code >= P_SECOND && code <= P_YEAR && ((sh & INDEX_FIELD_MASK) >>> INDEX_SHIFT[code]) <= this.relativeIndex(code, nowMs) - 2
    }
    if (sh === 0) return true
    return (sh & DEAD_BIT) !== 0 || this.stale(sh, nowMs)
  }

  /** Whether a PENDING state (its high word) was claimed more than STALE_PENDING_MS ago. */
  private stale(sh: number, nowMs: number): boolean {
    return (this.stamp(nowMs) - (sh & STAMP_MASK)) * SECOND_MS > STALE_PENDING_MS
  }

  /** Whole seconds after base, clamped to the PENDING stamp field. */
  private stamp(nowMs: number): number {
    const s = Math.floor((nowMs - this.baseMs) / SECOND_MS)
    return s >= 0 ? (s < STAMP_MASK ? s : STAMP_MASK) : 0
  }

  // ------------------------------------------------------------------------------------------ keys and time

  /** Two 32-bit hashes of the key's UTF-16 code units (FNV-1a, and a murmur-style multiply-xorshift), seeded. */
  private hashKey(key: string): void {
    let a = 0x811c9dc5 ^ this.seedA
    let b = this.seedB
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i)
      a = Math.imul(a ^ c, 0x01000193)
      b = Math.imul(b ^ c, 0x5bd1e995)
      b ^= b >>> 15
    }
    this.hashA = a ^ key.length
    this.hashB = b
  }

  /** The 64-bit fingerprint of (hashed key, period) into fpLo/fpHi; never 0 (0 marks an unused slot). */
  private fingerprint(code: number): void {
    let lo = fmix32(this.hashA ^ Math.imul(code, 0x9e3779b1))
    const hi = fmix32((this.hashB + Math.imul(code, 0x7feb352d)) | 0)
    if (lo === 0 && hi === 0) lo = 1
    this.fpLo = lo
    this.fpHi = hi
  }

  /** The current window of `code` at `nowMs`, counted from base (clamped to the index field); cached per nowMs. */
  private relativeIndex(code: number, nowMs: number): number {
    if (nowMs !== this.cacheNow) {
      this.cacheNow = nowMs
      this.cacheValid = 0
    } else if ((this.cacheValid & (1 << code)) !== 0) {
      return this.cacheIndex[code]
    }
    let rel = absoluteIndex(code, nowMs) - this.baseIndex[code]
    if (!(rel >= 0)) rel = 0
    else if (rel > MAX_INDEX[code]) rel = MAX_INDEX[code]
    this.cacheIndex[code] = rel
    this.cacheValid |= 1 << code
    return rel
  }

  /** Sets boundStart/boundEnd (epoch ms) of window `rel` of `code` (memoised: calendar maths is not free). */
  private bounds(code: number, rel: number): void {
    if (code === this.boundCode && rel === this.boundIndex) return
    this.boundCode = code
    this.boundIndex = rel
    const abs = rel + this.baseIndex[code]
    this.boundStart = absoluteStart(code, abs)
    this.boundEnd = absoluteStart(code, abs + 1)
  }
}

/** A PENDING state word: no other claim shares it (nonce from the header's claim sequence). */
function pendingState(stamp: number, nonce: number, published: number): bigint {
  return BigInt.asIntN(64, (BigInt((PENDING_HI | published | stamp) >>> 0) << 32n) | BigInt(nonce >>> 0))
}

/** A LIVE state word (see the layout). `index` and the counts are within their fields (callers ensure it). */
function encode(code: number, index: number, cur: number, prev: number): bigint {
  const c = COUNT_BITS[code]
  const lo = (prev | (cur << c)) >>> 0
  const hi = (code << PERIOD_SHIFT) | (index << INDEX_SHIFT[code]) | (cur >>> (32 - c))
  return (BigInt(hi) << 32n) | BigInt(lo)
}
