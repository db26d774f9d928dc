// Response cache shared by every worker thread: an 8-way index and a segmented ring slab in one SharedArrayBuffer.
// Lock-free: writers append records and publish them under a per-entry seqlock; readers copy out and re-check, so a torn read is a miss.

import { Buffer } from 'node:buffer'

/*
 * Layout (one SharedArrayBuffer of `CacheStore.bytesFor(slabBytes, options)` bytes; every region 64-byte aligned):
 *
 *   header, 128 bytes      words 0..7 MAGIC · LAYOUT_VERSION · segments · segment bytes · index entries ·
 *                          fill markers · default max body bytes · fingerprint mask (tests: fewer bits = forced collisions)
 *                          word 16 HEAD (ring head: segment sequence << 1 | OPENING bit) · 17 ATTACHED (stripe counter)
 *                          words 18..23 global counters: evictions · recycles · forced unpins · purged · displaced
 *   stats, 64 × 64 bytes   one stripe of counters per attached instance (instance i uses stripe i mod 64), so the
 *                          per-lookup counter add stays on a cache line no other thread writes (see "Reading")
 *   segment generations    one Int32 per segment (read by every hit: kept apart from the words writers hammer)
 *   segment state          64 bytes per segment: FILL (bytes reserved) · WRITERS (pinned writers) ·
 *                          ENTRIES (published into it this lap) · BLOCKED (ms stamp | 1 when a recycle found pins)
 *   fill markers           one BigInt64 per slot: (32-bit key id << 32) | deadline (epoch ms mod 2^32); 0 = free
 *   index, 64 bytes/entry  entries in buckets of 8 (bucket = fingerprint lo bits), each entry 16 Int32 words:
 *                          0 VERSION (seqlock: odd while a writer is inside) · 1 STATE (EMPTY | LIVE) ·
 *                          2,3 FINGERPRINT lo, hi (64-bit hash of the key) · 4 SEGMENT · 5 GENERATION of that segment
 *                          when written · 6 OFFSET (bytes into the slab) · 7 LENGTH (record bytes) ·
 *                          8 BASE FINGERPRINT (32-bit hash of the base key, filters purgeBase scans) · 9 reserved ·
 *                          10,11 STORED-AT · 12,13 EXPIRES-AT · 14,15 STALE-UNTIL (epoch ms as hi, lo Int32 pairs:
 *                          Atomics has no Float64, and every index word must be written with Atomics.store, see "Writing")
 *   slab                   `segments` segments of `segmentBytes`; records are 8-byte aligned and immutable once written:
 *                          u32 key length · u32 base key length (0 = same as key) · u32 path length · u32 headers
 *                          length · u32 body length · u16 status · u16 header count · u32 flags (ASCII headers,
 *                          ASCII key) · u32 reserved (32 bytes); then the key, the base key and the request
 *                          path+query (UTF-8), the headers (per pair: u16 name length, u32 value length, name,
 *                          value), and the body.
 *
 * Eviction (segmented FIFO, predictable): writers append to the current segment; when it is full the next one in
 * ring order, which is the oldest, is recycled whole: its generation is bumped (every entry that points into it
 * becomes a miss at once) and its fill restarts at 0. An entry therefore lives until roughly (segments - 1) ×
 * segmentBytes of newer records have been written, its stale window passes, it is purged, or its index bucket
 * overflows (then the put replaces, in order of preference: the same key, an empty or dead way, an entry past its
 * stale window, and finally the live entry stored longest ago). There is no LRU: hits write nothing shared but
 * one counter. `purgeAll` bumps every generation (O(segments)); the space comes back as the ring laps.
 *
 * Writing: `put` reserves record space with a CAS on the current segment's FILL while PINNING the segment
 * (WRITERS + 1), writes the record with plain stores, unpins, and publishes the index entry: CAS VERSION
 * even → odd, Atomics.store every field, Atomics.store VERSION + 2. Index fields use Atomics.store (not plain
 * stores) because on arm64 a plain store after the locking CAS may become visible before it; Atomics.store is a
 * store-release there, so no reader sees a new field under an old even VERSION. A recycle bumps the next
 * segment's GENERATION first and only then checks its WRITERS: a writer that pinned it a lap ago is still
 * copying, so the recycle is refused (the put that needed it reports 'busy'; the segment's entries are already
 * invalidated by the bump) instead of letting new records land on bytes still being written. Pins and the bump are seq-cst, so either the recycler sees the pin or the pinner
 * sees the new HEAD and retries (Dekker). Opening a segment is straight-line code with no calls or loops, so
 * Worker.terminate (V8 checks for termination only at function entry and loop back-edges) cannot stop a thread
 * inside it; a writer terminated while pinned is presumed dead after WRITER_STALL_MS and its pin is dropped.
 * The single assumption: a live writer is never descheduled for WRITER_STALL_MS in the middle of `put` while
 * a whole ring lap of other writes happens (if it were, it re-bumps the generation when it notices, but a
 * reader might have served the overlap in between).
 *
 * Reading: `lookup` loads VERSION (even), the fields, VERSION again (unchanged, so the fields belong together),
 * checks the segment's GENERATION, verifies the full key bytes in the record (a fingerprint match alone is
 * never a hit), copies status, headers and body out of the slab, then does one Atomics.add on its stats stripe
 * and re-checks VERSION and GENERATION. The add is the fence: on arm64 the loads of the copy must complete
 * before the re-check loads (a load-acquire alone does not order earlier plain loads; a read-modify-write with
 * release semantics does), and on x64 it is a locked instruction. If either word moved, the copy may mix two
 * records: the result is dropped and counted as a torn read and a miss. Hits are copies (a new Buffer, or the
 * caller's `into`), never views into the slab, so a response being sent can't be overwritten under the socket.
 * (The arm64 reasoning is about the instructions V8 emits for Atomics: ldar/stlr and exclusive pairs.)
 *
 * Request collapsing: `beginFill` CASes the key's fill marker from free (or from an expired deadline: a filler
 * that died or hung) to (key id, deadline); exactly one caller wins. Others `waitForFill`, which parks on the
 * marker word with Atomics.waitAsync until `put` or `abandonFill` clears it and calls Atomics.notify, or until
 * the deadline (then 'abandoned', and the caller may take the fill over with `beginFill`). Markers are
 * direct-mapped by fingerprint; when another key's live fill holds the slot, `beginFill` answers true (the
 * request fills without collapsing) rather than making unrelated keys wait on each other.
 * Note: a pending Atomics.waitAsync does not keep a Node event loop alive by itself (uWS's loop does in a worker).
 */

/** GATEWAY_CACHE_SIZE_MB default (SPEC §2): slab megabytes. */
export const DEFAULT_CACHE_SIZE_MB = 64
/** Largest slab: record offsets are Int32 words. */
export const MAX_CACHE_SLAB_BYTES = 2047 * 1024 * 1024
/** Smallest segment: a record header, a key and a small body. */
export const MIN_SEGMENT_BYTES = 1024

const MAGIC = 0x43535431 // "CST1"
const LAYOUT_VERSION = 1

const HEADER_BYTES = 128
const H_MAGIC = 0
const H_VERSION = 1
const H_SEGMENTS = 2
const H_SEGMENT_BYTES = 3
const H_ENTRIES = 4
const H_MARKERS = 5
const H_MAX_BODY = 6
const H_FP_MASK = 7
const H_HEAD = 16 // second cache line: written by writers, never read on the hit path
const H_ATTACHED = 17
const H_EVICTIONS = 18
const H_RECYCLES = 19
const H_FORCED_UNPINS = 20
const H_PURGED = 21
const H_DISPLACED = 22

const OPENING = 1 // low bit of HEAD: a thread is recycling the next segment

const STRIPES = 64
const STRIPE_WORDS = 16 // 64 bytes
const S_HITS = 0
const S_STALE_HITS = 1
const S_MISSES = 2
const S_TORN = 3
const S_PUTS = 4
const S_TOO_LARGE = 5
const S_BUSY = 6
const S_FILLS = 7
const S_TAKEOVERS = 8
const S_WAITS = 9
const S_PROBES = 10 // fence for has/get, not reported

const SEG_STATE_WORDS = 16 // 64 bytes: segments being filled don't share a line
const SS_FILL = 0
const SS_WRITERS = 1
const SS_ENTRIES = 2
const SS_BLOCKED = 3

const WAYS = 8
const WAYS_SHIFT = 3
const ENTRY_WORDS = 16
const ENTRY_SHIFT = 4
const E_VERSION = 0
const E_STATE = 1
const E_FP_LO = 2
const E_FP_HI = 3
const E_SEG = 4
const E_GEN = 5
const E_OFFSET = 6
const E_LENGTH = 7
const E_BASE_FP = 8
const E_STORED = 10 // hi, lo
const E_EXPIRES = 12
const E_STALE = 14

const EMPTY = 0
const LIVE = 1

const R_KEY_LEN = 0
const R_BASE_LEN = 4
const R_PATH_LEN = 8
const R_HEADERS_LEN = 12
const R_BODY_LEN = 16
const R_STATUS = 20
const R_HEADER_COUNT = 22
const R_FLAGS = 24
const R_FIXED = 32
const F_ASCII_HEADERS = 1 // every header name and value is 7-bit: the block decodes as one latin1 string
const F_ASCII_KEY = 2 // the key is 7-bit: compared with charCodeAt, no encoding of the lookup key
const HEADER_PAIR_PREFIX = 6 // u16 name length + u32 value length
const MAX_HEADER_PAIRS = 0xffff
const MAX_NAME_BYTES = 0xffff

/** A writer pinned this long is presumed terminated; a fill deadline can't be further out than MAX_FILL_TIMEOUT_MS. */
const WRITER_STALL_MS = 1000
const MAX_FILL_TIMEOUT_MS = 0x3fffffff
const RESERVE_ATTEMPTS = 64
const PUBLISH_ATTEMPTS = 4
const TWO_32 = 4294967296

const DEFAULT_SEGMENTS = 64
const MIN_DEFAULT_SEGMENT_BYTES = 256 * 1024
const BYTES_PER_ENTRY = 4096
const MIN_ENTRIES = 64
const MIN_MARKERS = 1024

export type PutResult = 'stored' | 'too-large' | 'busy'
export type FillOutcome = 'filled' | 'timeout' | 'abandoned'

/** Geometry chosen by the primary at allocation; workers read it from the header. */
export interface CacheLayoutOptions {
  /** Ring segments, a power of two 2..1024 (default 64, fewer for slabs under 16 MiB). Eviction granularity. */
  segments?: number
  /** Index entries, a power of two ≥ 8 (default one per 4 KiB of slab, at least 64). */
  entries?: number
  /** Fill-marker slots, a power of two (default entries / 16, at least 1024). */
  fillMarkers?: number
  /** Default largest body `put` accepts (default half a segment; never more than fits in one segment). */
  maxBodyBytes?: number
  /** Tests only: AND-mask applied to both fingerprint halves (0 makes every key collide). */
  fingerprintMask?: number
}

/** What a filler stores. */
export interface CachePut {
  status: number
  /** Flat [name, value, name, value, …], as received. */
  headers: readonly string[]
  /** The body, whole or as the chunks it arrived in (no concat needed). */
  body: Uint8Array | readonly Uint8Array[]
  /** Request path with its query string: what `purgeWhere` globs match. */
  path: string
  /** The key without its Vary values (defaults to the key): `purgeBase(baseKey)` removes every variant. */
  baseKey?: string
  ttlMs: number
  /** How long after expiry the entry stays readable as stale (stale_if_error); default 0. */
  staleTtlMs?: number
}

/** A hit, copied out of the slab: the caller owns every field. */
export interface CachedResponse {
  status: number
  headers: string[]
  body: Buffer
  storedAt: number
  expiresAt: number
  staleUntil: number
}

export interface CacheLookup {
  entry: CachedResponse
  /** False when past expiry but inside the stale window. */
  fresh: boolean
  ageMs: number
}

/** Admin view of one entry (`GET /proxy-cache/{key}`). */
export interface CacheEntryInfo {
  key: string
  baseKey: string
  path: string
  status: number
  headers: string[]
  bodyBytes: number
  /** Record bytes in the slab. */
  size: number
  storedAt: number
  expiresAt: number
  staleUntil: number
  ageMs: number
  /** Milliseconds until expiry (0 once stale). */
  ttlMs: number
  fresh: boolean
}

export interface CacheStats {
  /** Live entries (fresh or stale) and the slab bytes their records take. */
  entries: number
  bytesUsed: number
  slabBytes: number
  capacity: number
  segments: number
  hits: number
  staleHits: number
  misses: number
  /** Reads dropped because the entry changed while being copied (also counted as misses). */
  tornReads: number
  puts: number
  refusedTooLarge: number
  refusedBusy: number
  /** Entries published into segments the ring has since recycled (approximate under concurrency). */
  evictions: number
  /** Live entries replaced because their index bucket was full. */
  displaced: number
  recycles: number
  /** Pins dropped because their writer stayed inside `put` for WRITER_STALL_MS (terminated threads). */
  forcedUnpins: number
  purged: number
  fills: number
  fillTakeovers: number
  fillWaits: number
}

interface Geometry {
  slabBytes: number
  segments: number
  segmentBytes: number
  entries: number
  markers: number
  maxBodyBytes: number
  fingerprintMask: number
}

interface Regions {
  statsWord: number
  genWord: number
  segStateWord: number
  markersByte: number
  indexWord: number
  slabByte: number
  total: number
}

type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> }
interface AtomicsWaitAsync {
  waitAsync(typedArray: BigInt64Array, index: number, value: bigint, timeout?: number): WaitAsyncResult
}
const atomicsWaitAsync = Atomics as unknown as AtomicsWaitAsync

const isPow2 = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0
const floorPow2 = (n: number): number => 2 ** Math.floor(Math.log2(n))
const align = (n: number, to: number): number => Math.ceil(n / to) * to

function regionsOf(g: Geometry): Regions {
  const statsByte = HEADER_BYTES
  const genByte = statsByte + STRIPES * STRIPE_WORDS * 4
  const segStateByte = genByte + align(g.segments * 4, 64)
  const markersByte = segStateByte + g.segments * SEG_STATE_WORDS * 4
  const indexByte = markersByte + align(g.markers * 8, 64)
  const slabByte = indexByte + g.entries * ENTRY_WORDS * 4
  return {
    statsWord: statsByte >> 2, genWord: genByte >> 2, segStateWord: segStateByte >> 2, markersByte,
    indexWord: indexByte >> 2, slabByte, total: slabByte + g.segments * g.segmentBytes,
  }
}

function geometryFor(slabBytes: number, o: CacheLayoutOptions): Geometry {
  if (!Number.isInteger(slabBytes) || slabBytes < 2 * MIN_SEGMENT_BYTES || slabBytes > MAX_CACHE_SLAB_BYTES) {
    throw new RangeError(`cache slab must be ${2 * MIN_SEGMENT_BYTES}..${MAX_CACHE_SLAB_BYTES} bytes, got ${slabBytes}`)
  }
  let segments = o.segments ?? DEFAULT_SEGMENTS
  if (o.segments === undefined) while (segments > 2 && slabBytes / segments < MIN_DEFAULT_SEGMENT_BYTES) segments >>= 1
  if (!isPow2(segments) || segments < 2 || segments > 1024) throw new RangeError(`cache segments must be a power of two 2..1024, got ${segments}`)
  const segmentBytes = Math.floor(slabBytes / segments / 8) * 8
  if (segmentBytes < MIN_SEGMENT_BYTES) throw new RangeError(`cache segments of ${segmentBytes} bytes are too small (at least ${MIN_SEGMENT_BYTES})`)
  const entries = o.entries ?? Math.max(MIN_ENTRIES, floorPow2(slabBytes / BYTES_PER_ENTRY))
  if (!isPow2(entries) || entries < WAYS || entries > 1 << 24) throw new RangeError(`cache index entries must be a power of two 8..2^24, got ${entries}`)
  const markers = o.fillMarkers ?? Math.max(MIN_MARKERS, entries >> 4)
  if (!isPow2(markers) || markers > 1 << 20) throw new RangeError(`cache fill markers must be a power of two up to 2^20, got ${markers}`)
  const physical = segmentBytes - R_FIXED
  const maxBodyBytes = o.maxBodyBytes ?? Math.floor(segmentBytes / 2)
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 0) throw new RangeError(`cache maxBodyBytes must be a non-negative integer, got ${maxBodyBytes}`)
  return {
    slabBytes, segments, segmentBytes, entries, markers,
    maxBodyBytes: Math.min(maxBodyBytes, physical), fingerprintMask: (o.fingerprintMask ?? -1) | 0,
  }
}

/** Two 32-bit marker halves (id, deadline) as one BigInt64 word. */
function markerValue(id: number, deadline: number): bigint {
  return BigInt.asIntN(64, (BigInt(id >>> 0) << 32n) | BigInt(deadline >>> 0))
}
const markerId = (v: bigint): number => Number(BigInt.asUintN(32, v >> 32n))
const markerDeadline = (v: bigint): number => Number(BigInt.asUintN(32, v))
/** Epoch ms mod 2^32: deadlines compare by signed difference, valid while they are < 24 days apart. */
const ms32 = (ms: number): number => Math.floor(ms) >>> 0

/**
 * `*` matches any run of characters (including none, `/` and `?`); everything else is literal; the whole
 * text must match. Iterative with one backtrack point: O(pattern × text) at worst, no regex (SPEC §9 globs).
 */
export function matchGlob(pattern: string, text: string): boolean {
  let p = 0
  let t = 0
  let star = -1
  let mark = 0
  while (t < text.length) {
    const c = p < pattern.length ? pattern.charCodeAt(p) : -1
    if (c === 42 /* * */) { star = p++; mark = t } else if (c === text.charCodeAt(t)) { p++; t++ } else if (star >= 0) { p = star + 1; t = ++mark } else return false
  }
  while (p < pattern.length && pattern.charCodeAt(p) === 42) p++
  return p === pattern.length
}

export class CacheStore {
  /** Bytes of SharedArrayBuffer for a slab of `slabBytes` with these options (index and markers come on top). */
  static bytesFor(slabBytes: number, options: CacheLayoutOptions = {}): number {
    return regionsOf(geometryFor(slabBytes, options)).total
  }

  /** Primary: a fresh, initialised store of `slabBytes` (GATEWAY_CACHE_SIZE_MB × 2^20); post `store.sab` to workers. */
  static allocate(slabBytes: number, options: CacheLayoutOptions = {}, now: () => number = Date.now): CacheStore {
    const g = geometryFor(slabBytes, options)
    const sab = new SharedArrayBuffer(regionsOf(g).total)
    const w = new Int32Array(sab, 0, HEADER_BYTES >> 2)
    w[H_VERSION] = LAYOUT_VERSION
    w[H_SEGMENTS] = g.segments
    w[H_SEGMENT_BYTES] = g.segmentBytes
    w[H_ENTRIES] = g.entries
    w[H_MARKERS] = g.markers
    w[H_MAX_BODY] = g.maxBodyBytes
    w[H_FP_MASK] = g.fingerprintMask
    Atomics.store(w, H_MAGIC, MAGIC) // last: an attach never sees a half-written header
    return new CacheStore(sab, now)
  }

  /** Worker: attaches to the primary's buffer (same as `new CacheStore(sab)`). */
  static attach(sab: SharedArrayBuffer, now: () => number = Date.now): CacheStore {
    return new CacheStore(sab, now)
  }

  /** The shared memory to post to workers. */
  readonly sab: SharedArrayBuffer
  readonly slabBytes: number
  readonly segments: number
  readonly segmentBytes: number
  /** Index entries (capacity). */
  readonly entries: number
  readonly fillMarkers: number
  /** Largest body `put` accepts unless the call passes its own limit. */
  readonly maxBodyBytes: number

  private readonly words: Int32Array
  private readonly markers: BigInt64Array
  private readonly slab: Buffer
  private readonly view: DataView
  private readonly now: () => number
  private readonly statsWord: number
  private readonly genWord: number
  private readonly segStateWord: number
  private readonly indexWord: number
  private readonly stripe: number
  private readonly segMask: number
  private readonly bucketMask: number
  private readonly markerMask: number
  private readonly fpMask: number
  private scratch: Buffer = Buffer.allocUnsafeSlow(1024)

  // Scratch results, so the hot path allocates nothing but what it returns.
  private fpLo = 0
  private fpHi = 0
  private fVersion = 0
  private fSeg = 0
  private fGen = 0
  private fRec = 0
  private fLen = 0
  private fStoredAt = 0
  private fExpiresAt = 0
  private fStaleUntil = 0
  private rKeyLen = 0
  private rBaseLen = 0
  private rPathLen = 0
  private rHeadersLen = 0
  private rBodyLen = 0
  private rStatus = 0
  private rHeaderCount = 0
  private rFlags = 0
  private wSeg = 0
  private wGen = 0
  private wRec = 0

  /**
   * Opens a buffer made by `allocate`: checks magic, layout version and size, and reads the geometry from the
   * header. `now` (epoch ms) is injectable for tests; it is the default for every `nowMs` parameter.
   */
  constructor(sab: SharedArrayBuffer, now: () => number = Date.now) {
    if (sab.byteLength < HEADER_BYTES) throw new RangeError(`cache buffer holds ${sab.byteLength} bytes, less than its header`)
    const head = new Int32Array(sab, 0, HEADER_BYTES >> 2)
    if (Atomics.load(head, H_MAGIC) !== MAGIC) throw new Error('cache buffer was not initialised by CacheStore.allocate (bad magic)')
    if (Atomics.load(head, H_VERSION) !== LAYOUT_VERSION) throw new Error(`cache layout version mismatch: buffer ${Atomics.load(head, H_VERSION)}, code ${LAYOUT_VERSION}`)
    const segments = head[H_SEGMENTS]
    const segmentBytes = head[H_SEGMENT_BYTES]
    const g: Geometry = {
      slabBytes: segments * segmentBytes, segments, segmentBytes, entries: head[H_ENTRIES], markers: head[H_MARKERS],
      maxBodyBytes: head[H_MAX_BODY], fingerprintMask: head[H_FP_MASK],
    }
    const r = regionsOf(g)
    if (sab.byteLength < r.total) throw new RangeError(`cache buffer holds ${sab.byteLength} bytes, its header needs ${r.total}`)
    this.sab = sab
    this.now = now
    this.slabBytes = g.slabBytes
    this.segments = segments
    this.segmentBytes = segmentBytes
    this.entries = g.entries
    this.fillMarkers = g.markers
    this.maxBodyBytes = g.maxBodyBytes
    this.words = new Int32Array(sab, 0, r.slabByte >> 2)
    this.markers = new BigInt64Array(sab, r.markersByte, g.markers)
    this.slab = Buffer.from(sab, r.slabByte, g.slabBytes)
    this.view = new DataView(sab, r.slabByte, g.slabBytes)
    this.statsWord = r.statsWord
    this.genWord = r.genWord
    this.segStateWord = r.segStateWord
    this.indexWord = r.indexWord
    this.segMask = segments - 1
    this.bucketMask = (g.entries >> WAYS_SHIFT) - 1
    this.markerMask = g.markers - 1
    this.fpMask = g.fingerprintMask
    this.stripe = r.statsWord + (Atomics.add(this.words, H_ATTACHED, 1) & (STRIPES - 1)) * STRIPE_WORDS
  }

  // ---- reading ----------------------------------------------------------------------------------------------

  /**
   * The hit path: a fresh or stale (inside its stale window) entry for exactly `key`, copied out, or null.
   * `fresh` false means past expiry: serve it only when upstream fails (stale_if_error) or revalidating.
   * A read that raced a writer, a purge or the ring is a miss, never a mixed response.
   * The body is a fresh Buffer, or, when `into` is given and large enough, a view of `into` (no allocation:
   * valid until the caller reuses `into`, so write it out synchronously first, as uWS `tryEnd` does).
   */
  lookup(key: string, nowMs: number = this.now(), into?: Buffer): CacheLookup | null {
    const w = this.words
    this.hash(key)
    const e = this.find(key, nowMs)
    if (e < 0) {
      Atomics.add(w, this.stripe + S_MISSES, 1)
      return null
    }
    const headers = this.readHeaders()
    let body: Buffer | null = null
    if (headers !== null) {
      const at = this.fRec + R_FIXED + this.rKeyLen + this.rBaseLen + this.rPathLen + this.rHeadersLen
      body = into !== undefined && into.length >= this.rBodyLen ? into.subarray(0, this.rBodyLen) : Buffer.allocUnsafe(this.rBodyLen)
      body.set(this.slab.subarray(at, at + this.rBodyLen)) // measured faster than slab.copy (no JS-side bounds work)
    }
    const fresh = nowMs < this.fExpiresAt
    const counter = this.stripe + (fresh ? S_HITS : S_STALE_HITS)
    Atomics.add(w, counter, 1) // the fence between the copy and the re-check (see "Reading")
    if (body === null || !this.unchanged(e)) {
      Atomics.sub(w, counter, 1)
      Atomics.add(w, this.stripe + S_TORN, 1)
      Atomics.add(w, this.stripe + S_MISSES, 1)
      return null
    }
    const ageMs = nowMs - this.fStoredAt
    return {
      entry: { status: this.rStatus, headers: headers as string[], body, storedAt: this.fStoredAt, expiresAt: this.fExpiresAt, staleUntil: this.fStaleUntil },
      fresh,
      ageMs: ageMs > 0 ? ageMs : 0,
    }
  }

  /** True when a fresh entry for `key` exists (no copy, not counted as a hit or miss). */
  has(key: string, nowMs: number = this.now()): boolean {
    this.hash(key)
    const e = this.find(key, nowMs)
    if (e < 0 || nowMs >= this.fExpiresAt) return false
    Atomics.add(this.words, this.stripe + S_PROBES, 1) // fence
    return this.unchanged(e)
  }

  /** Admin `GET /proxy-cache/{key}`: metadata and headers of a fresh or stale entry (no body copy), or null. */
  get(key: string, nowMs: number = this.now()): CacheEntryInfo | null {
    this.hash(key)
    const e = this.find(key, nowMs)
    if (e < 0) return null
    const headers = this.readHeaders()
    const keyAt = this.fRec + R_FIXED
    const baseKey = this.rBaseLen === 0 ? key : this.slab.toString('utf8', keyAt + this.rKeyLen, keyAt + this.rKeyLen + this.rBaseLen)
    const pathAt = keyAt + this.rKeyLen + this.rBaseLen
    const path = this.slab.toString('utf8', pathAt, pathAt + this.rPathLen)
    Atomics.add(this.words, this.stripe + S_PROBES, 1) // fence
    if (headers === null || !this.unchanged(e)) return null
    const ttl = this.fExpiresAt - nowMs
    const age = nowMs - this.fStoredAt
    return {
      key, baseKey, path, status: this.rStatus, headers, bodyBytes: this.rBodyLen, size: this.fLen,
      storedAt: this.fStoredAt, expiresAt: this.fExpiresAt, staleUntil: this.fStaleUntil,
      ageMs: age > 0 ? age : 0, ttlMs: ttl > 0 ? ttl : 0, fresh: ttl > 0,
    }
  }

  // ---- writing ----------------------------------------------------------------------------------------------

  /**
   * Stores a response under `key` (replacing an older one) and wakes everyone waiting on its fill.
   * 'too-large': the body exceeds `maxBodyBytes` (this call's, else the store's) or the record a segment; the
   * caller should have streamed it anyway. 'busy': no space could be reserved right now (a recycle is blocked
   * by a writer still copying, or heavy contention); nothing is stored. Either way waiters are released.
   */
  put(key: string, res: CachePut, nowMs: number = this.now(), maxBodyBytes: number = this.maxBodyBytes): PutResult {
    const w = this.words
    const body = res.body
    let bodyLen = 0
    if (body instanceof Uint8Array) bodyLen = body.byteLength
    else for (let i = 0; i < body.length; i++) bodyLen += body[i].byteLength
    const baseKey = res.baseKey ?? key
    const sameBase = baseKey === key
    if (!sameBase) this.hash(baseKey)
    const baseFp = sameBase ? 0 : this.fpLo
    this.hash(key) // fpLo/fpHi now stay the key's until the fill marker is released
    const headers = res.headers
    if ((headers.length & 1) !== 0) throw new TypeError('cache put: headers must be a flat [name, value, …] list')
    const keyLen = Buffer.byteLength(key, 'utf8')
    const baseLen = sameBase ? 0 : Buffer.byteLength(baseKey, 'utf8')
    const pathLen = Buffer.byteLength(res.path, 'utf8')
    let headersLen = 0
    let ascii = true
    let tooLarge = bodyLen > maxBodyBytes || headers.length > MAX_HEADER_PAIRS * 2 || res.status < 0 || res.status > 0xffff
    for (let i = 0; i < headers.length && !tooLarge; i += 2) {
      const name = headers[i]
      const value = headers[i + 1]
      const nameLen = Buffer.byteLength(name, 'utf8')
      const valueLen = Buffer.byteLength(value, 'utf8')
      if (nameLen > MAX_NAME_BYTES) tooLarge = true
      if (nameLen !== name.length || valueLen !== value.length) ascii = false // UTF-8 length = UTF-16 length only for ASCII
      headersLen += HEADER_PAIR_PREFIX + nameLen + valueLen
    }
    const recordBytes = align(R_FIXED + keyLen + baseLen + pathLen + headersLen + bodyLen, 8)
    if (tooLarge || recordBytes > this.segmentBytes) {
      Atomics.add(w, this.stripe + S_TOO_LARGE, 1)
      this.releaseFill()
      return 'too-large'
    }
    if (!this.reserve(recordBytes, nowMs)) {
      Atomics.add(w, this.stripe + S_BUSY, 1)
      this.releaseFill()
      return 'busy'
    }
    const seg = this.wSeg
    const gen = this.wGen
    const rec = this.wRec
    const ss = this.segStateWord + seg * SEG_STATE_WORDS
    try {
      const flags = (ascii ? F_ASCII_HEADERS : 0) | (keyLen === key.length ? F_ASCII_KEY : 0)
      this.writeRecord(rec, key, sameBase ? null : baseKey, res, keyLen, baseLen, pathLen, headersLen, bodyLen, flags)
    } finally {
      this.unpin(ss)
    }
    const genWord = this.genWord + seg
    if (Atomics.load(w, genWord) !== gen) {
      // Our segment's generation moved while we copied: a recycle found our pin (it bumps before it looks, and
      // then waits for us), a purgeAll, or our pin was dropped as dead and the segment reused under us. For the
      // last case, bump again so nothing we may have overwritten stays readable; in the others it costs nothing.
      Atomics.add(w, genWord, 1)
      Atomics.add(w, this.stripe + S_BUSY, 1)
      this.releaseFill()
      return 'busy'
    }
    const stored = this.publish(seg, gen, rec, recordBytes, sameBase ? this.fpLo : baseFp, keyLen, nowMs, res.ttlMs, res.staleTtlMs ?? 0)
    if (stored) Atomics.add(w, this.stripe + S_PUTS, 1)
    else Atomics.add(w, this.stripe + S_BUSY, 1)
    this.releaseFill()
    return stored ? 'stored' : 'busy'
  }

  // ---- purging ----------------------------------------------------------------------------------------------

  /** Kong `DELETE /proxy-cache/{key}`: removes the entry stored under exactly `key`. Returns entries removed. */
  purgeKey(key: string): number {
    this.hash(key)
    const n = this.encode(key)
    const first = this.bucketOf(this.fpLo)
    let purged = 0
    for (let i = 0; i < WAYS; i++) {
      const e = first + (i << ENTRY_SHIFT)
      if (!this.loadEntry(e) || Atomics.load(this.words, e + E_FP_LO) !== this.fpLo || Atomics.load(this.words, e + E_FP_HI) !== this.fpHi) continue
      if (!this.parseRecord() || !this.keyEquals(n) || !this.unchanged(e)) continue
      if (this.invalidate(e, this.fVersion)) purged++
    }
    if (purged > 0) Atomics.add(this.words, H_PURGED, purged)
    return purged
  }

  /** Removes every Vary variant stored with this base key (an entry stored without one is its own base). */
  purgeBase(baseKey: string): number {
    this.hash(baseKey)
    const baseFp = this.fpLo
    const n = this.encode(baseKey)
    let purged = 0
    for (let e = this.indexWord, end = this.indexWord + (this.entries << ENTRY_SHIFT); e < end; e += ENTRY_WORDS) {
      if (Atomics.load(this.words, e + E_BASE_FP) !== baseFp || !this.loadEntry(e) || !this.parseRecord()) continue
      const at = this.fRec + R_FIXED + (this.rBaseLen === 0 ? 0 : this.rKeyLen)
      const len = this.rBaseLen === 0 ? this.rKeyLen : this.rBaseLen
      if (len !== n || this.scratch.compare(this.slab, at, at + len, 0, n) !== 0 || !this.unchanged(e)) continue
      if (this.invalidate(e, this.fVersion)) purged++
    }
    if (purged > 0) Atomics.add(this.words, H_PURGED, purged)
    return purged
  }

  /**
   * `POST /cache/invalidate {"pattern"}`: removes every entry whose request path+query matches the glob (`*` is
   * any characters, the rest literal, whole string). Vary variants share the path, so they all go. O(entries).
   */
  purgeWhere(pathGlob: string): number {
    let purged = 0
    for (let e = this.indexWord, end = this.indexWord + (this.entries << ENTRY_SHIFT); e < end; e += ENTRY_WORDS) {
      if (!this.loadEntry(e) || !this.parseRecord()) continue
      const at = this.fRec + R_FIXED + this.rKeyLen + this.rBaseLen
      const path = this.slab.toString('utf8', at, at + this.rPathLen)
      // Invalidation CASes from the version we read: if the entry changed meanwhile, it is left alone.
      if (this.unchanged(e) && matchGlob(pathGlob, path) && this.invalidate(e, this.fVersion)) purged++
    }
    if (purged > 0) Atomics.add(this.words, H_PURGED, purged)
    return purged
  }

  /** Kong `DELETE /proxy-cache`: every entry becomes a miss at once (O(segments)); space returns as the ring laps. */
  purgeAll(): void {
    const w = this.words
    let live = 0
    for (let s = 0; s < this.segments; s++) {
      Atomics.add(w, this.genWord + s, 1)
      live += Atomics.exchange(w, this.segStateWord + s * SEG_STATE_WORDS + SS_ENTRIES, 0)
    }
    Atomics.add(w, H_PURGED, live)
  }

  // ---- request collapsing ----------------------------------------------------------------------------------

  /**
   * Claims the fill of `key` until `nowMs + fillTimeoutMs`. True for exactly one caller (also for one who takes
   * over an expired claim, and when another key's live fill holds the marker slot: no collapsing then); false
   * when someone else is filling, or a fresh entry appeared since the caller's miss (then `waitForFill` says
   * 'filled' at once). The winner must end with `put` or `abandonFill`.
   */
  beginFill(key: string, nowMs: number, fillTimeoutMs: number): boolean {
    this.hash(key)
    const slot = this.fpHi & this.markerMask
    const id = (this.fpLo | 1) >>> 0
    const now = ms32(nowMs)
    const timeout = fillTimeoutMs < 1 ? 1 : fillTimeoutMs > MAX_FILL_TIMEOUT_MS ? MAX_FILL_TIMEOUT_MS : Math.floor(fillTimeoutMs)
    const mine = markerValue(id, now + timeout)
    for (let attempt = 0; attempt < RESERVE_ATTEMPTS; attempt++) {
      const cur = Atomics.load(this.markers, slot)
      if (cur !== 0n && ((now - markerDeadline(cur)) | 0) < 0) return markerId(cur) !== id // live claim
      if (Atomics.compareExchange(this.markers, slot, cur, mine) !== cur) continue
      if (cur !== 0n) {
        Atomics.add(this.words, this.stripe + S_TAKEOVERS, 1)
        Atomics.notify(this.markers, slot) // waiters on the dead claim re-evaluate now
      }
      if (this.has(key, nowMs)) { // filled between the caller's miss and our claim
        if (Atomics.compareExchange(this.markers, slot, mine, 0n) === mine) Atomics.notify(this.markers, slot)
        return false
      }
      Atomics.add(this.words, this.stripe + S_FILLS, 1)
      return true
    }
    return true // the slot is churning: fill without collapsing rather than wait
  }

  /**
   * Waits for the current fill of `key`: 'filled' when it ended with a fresh entry in the cache (look it up;
   * it can still be gone by then), 'abandoned' when the filler gave up, stored nothing, or passed its deadline
   * (the caller may `beginFill` to take over), 'timeout' after `timeoutMs`. Returns at once when nobody fills.
   */
  async waitForFill(key: string, timeoutMs: number): Promise<FillOutcome> {
    this.hash(key)
    const slot = this.fpHi & this.markerMask
    const id = (this.fpLo | 1) >>> 0
    const start = this.now()
    Atomics.add(this.words, this.stripe + S_WAITS, 1)
    for (;;) {
      const cur = Atomics.load(this.markers, slot)
      const now = this.now()
      if (cur === 0n || markerId(cur) !== id) return this.has(key, now) ? 'filled' : 'abandoned'
      const untilDeadline = (markerDeadline(cur) - ms32(now)) | 0
      if (untilDeadline <= 0) return 'abandoned'
      const remaining = start + timeoutMs - now
      if (remaining <= 0) return 'timeout'
      const r = atomicsWaitAsync.waitAsync(this.markers, slot, cur, remaining < untilDeadline ? remaining : untilDeadline)
      if (r.async) await r.value
    }
  }

  /** The filler gives up (upstream failed, response not cacheable): wakes the waiters with 'abandoned'. */
  abandonFill(key: string): boolean {
    this.hash(key)
    return this.releaseFill()
  }

  // ---- stats ------------------------------------------------------------------------------------------------

  /** Counters summed over every thread's stripe plus a scan of the index for live entries (O(entries): metrics, admin). */
  stats(nowMs: number = this.now()): CacheStats {
    const w = this.words
    const sum = (k: number): number => {
      let t = 0
      for (let s = 0; s < STRIPES; s++) t += Atomics.load(w, this.statsWord + s * STRIPE_WORDS + k) >>> 0
      return t
    }
    let entries = 0
    let bytesUsed = 0
    for (let e = this.indexWord, end = this.indexWord + (this.entries << ENTRY_SHIFT); e < end; e += ENTRY_WORDS) {
      if (this.loadEntry(e) && nowMs < this.fStaleUntil) { entries++; bytesUsed += this.fLen }
    }
    return {
      entries, bytesUsed, slabBytes: this.slabBytes, capacity: this.entries, segments: this.segments,
      hits: sum(S_HITS), staleHits: sum(S_STALE_HITS), misses: sum(S_MISSES), tornReads: sum(S_TORN),
      puts: sum(S_PUTS), refusedTooLarge: sum(S_TOO_LARGE), refusedBusy: sum(S_BUSY),
      evictions: Atomics.load(w, H_EVICTIONS) >>> 0, displaced: Atomics.load(w, H_DISPLACED) >>> 0,
      recycles: Atomics.load(w, H_RECYCLES) >>> 0, forcedUnpins: Atomics.load(w, H_FORCED_UNPINS) >>> 0, purged: Atomics.load(w, H_PURGED) >>> 0,
      fills: sum(S_FILLS), fillTakeovers: sum(S_TAKEOVERS), fillWaits: sum(S_WAITS),
    }
  }

  // ---- internals --------------------------------------------------------------------------------------------

  /** 64-bit fingerprint (cyrb53's two 32-bit lanes over UTF-16 code units) into fpLo/fpHi. */
  private hash(key: string): void {
    let h1 = 0x9e3779b9 | 0
    let h2 = 0x41c6ce57
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i)
      h1 = Math.imul(h1 ^ c, 0x9e3779b1)
      h2 = Math.imul(h2 ^ c, 0x5f356495)
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 0x85ebca6b) ^ Math.imul(h2 ^ (h2 >>> 13), 0xc2b2ae35)
    h2 = Math.imul(h2 ^ (h2 >>> 16), 0x85ebca6b) ^ Math.imul(h1 ^ (h1 >>> 13), 0xc2b2ae35)
    this.fpLo = h1 & this.fpMask
    this.fpHi = h2 & this.fpMask
  }

  /** UTF-8 of `text` into the scratch buffer (grown as needed); returns its length. */
  private encode(text: string): number {
    if (this.scratch.length < text.length * 3) this.scratch = Buffer.allocUnsafeSlow(Math.max(this.scratch.length * 2, text.length * 3))
    return this.scratch.write(text, 0, 'utf8')
  }

  /** First word of the bucket for a fingerprint. */
  private bucketOf(fpLo: number): number {
    return this.indexWord + ((fpLo & this.bucketMask) << (WAYS_SHIFT + ENTRY_SHIFT))
  }

  /**
   * Finds a live (fresh or stale) entry for `key` with the fingerprint in fpLo/fpHi, verified against the full
   * key bytes. Leaves its snapshot in the f- and r-prefixed fields and returns its first word, or -1.
   */
  private find(key: string, nowMs: number): number {
    const w = this.words
    const first = this.bucketOf(this.fpLo)
    let n = -1
    for (let i = 0; i < WAYS; i++) {
      const e = first + (i << ENTRY_SHIFT)
      if (Atomics.load(w, e + E_FP_LO) !== this.fpLo || Atomics.load(w, e + E_FP_HI) !== this.fpHi) continue
      if (!this.loadEntry(e) || nowMs >= this.fStaleUntil || !this.parseRecord()) continue
      if ((this.rFlags & F_ASCII_KEY) !== 0) {
        if (this.asciiKeyEquals(key)) return e
        continue
      }
      if (n < 0) n = this.encode(key)
      if (this.keyEquals(n)) return e
    }
    return -1
  }

  /**
   * The parsed record's key (stored as ASCII) equals `key`, compared code unit by byte: a lookup key with a
   * non-ASCII character can't match, and for short keys this beats encoding plus a native compare.
   */
  private asciiKeyEquals(key: string): boolean {
    const len = this.rKeyLen
    if (len !== key.length) return false
    const slab = this.slab
    const at = this.fRec + R_FIXED
    for (let i = 0; i < len; i++) if (slab[at + i] !== key.charCodeAt(i)) return false
    return true
  }

  /**
   * Snapshot of one index entry into the f* fields: true when it is LIVE, its fields were read under one even
   * VERSION, and its segment generation still matches. The caller re-checks with `unchanged` after reading the record.
   */
  private loadEntry(e: number): boolean {
    const w = this.words
    const v = Atomics.load(w, e + E_VERSION)
    if ((v & 1) !== 0 || Atomics.load(w, e + E_STATE) !== LIVE) return false
    const seg = Atomics.load(w, e + E_SEG)
    const gen = Atomics.load(w, e + E_GEN)
    const rec = Atomics.load(w, e + E_OFFSET)
    const len = Atomics.load(w, e + E_LENGTH)
    const stored = Atomics.load(w, e + E_STORED) * TWO_32 + (Atomics.load(w, e + E_STORED + 1) >>> 0)
    const expires = Atomics.load(w, e + E_EXPIRES) * TWO_32 + (Atomics.load(w, e + E_EXPIRES + 1) >>> 0)
    const stale = Atomics.load(w, e + E_STALE) * TWO_32 + (Atomics.load(w, e + E_STALE + 1) >>> 0)
    if (Atomics.load(w, e + E_VERSION) !== v) return false
    if (seg < 0 || seg >= this.segments || Atomics.load(w, this.genWord + seg) !== gen) return false
    if (rec < 0 || len < R_FIXED || rec + len > this.slabBytes) return false
    this.fVersion = v
    this.fSeg = seg
    this.fGen = gen
    this.fRec = rec
    this.fLen = len
    this.fStoredAt = stored
    this.fExpiresAt = expires
    this.fStaleUntil = stale
    return true
  }

  /** Reads the record's fixed header into the r* fields; false when the lengths don't fit (a torn read). */
  private parseRecord(): boolean {
    const dv = this.view
    const rec = this.fRec
    this.rKeyLen = dv.getUint32(rec + R_KEY_LEN, true)
    this.rBaseLen = dv.getUint32(rec + R_BASE_LEN, true)
    this.rPathLen = dv.getUint32(rec + R_PATH_LEN, true)
    this.rHeadersLen = dv.getUint32(rec + R_HEADERS_LEN, true)
    this.rBodyLen = dv.getUint32(rec + R_BODY_LEN, true)
    this.rStatus = dv.getUint16(rec + R_STATUS, true)
    this.rHeaderCount = dv.getUint16(rec + R_HEADER_COUNT, true)
    this.rFlags = dv.getUint32(rec + R_FLAGS, true)
    return R_FIXED + this.rKeyLen + this.rBaseLen + this.rPathLen + this.rHeadersLen + this.rBodyLen <= this.fLen
  }

  /** The parsed record's key equals the `n` UTF-8 bytes in scratch. */
  private keyEquals(n: number): boolean {
    const at = this.fRec + R_FIXED
    return this.rKeyLen === n && this.scratch.compare(this.slab, at, at + n, 0, n) === 0
  }

  /**
   * Decodes the parsed record's headers (flat pairs); null when they don't fit their block (a torn read).
   * ASCII blocks (the usual case) are decoded with one native call and cut with substring: ~45 ns per
   * decode call saved per string, measured.
   */
  private readHeaders(): string[] | null {
    const dv = this.view
    const slab = this.slab
    const count = this.rHeaderCount
    const start = this.fRec + R_FIXED + this.rKeyLen + this.rBaseLen + this.rPathLen
    const end = start + this.rHeadersLen
    const block = (this.rFlags & F_ASCII_HEADERS) !== 0 ? slab.toString('latin1', start, end) : null
    const out: string[] = []
    let p = start
    for (let i = 0; i < count; i++) {
      if (p + HEADER_PAIR_PREFIX > end) return null
      const nameLen = dv.getUint16(p, true)
      const valueLen = dv.getUint32(p + 2, true)
      p += HEADER_PAIR_PREFIX
      if (p + nameLen + valueLen > end) return null
      if (block !== null) {
        out.push(block.substring(p - start, p - start + nameLen), block.substring(p - start + nameLen, p - start + nameLen + valueLen))
      } else {
        out.push(slab.toString('utf8', p, p + nameLen), slab.toString('utf8', p + nameLen, p + nameLen + valueLen))
      }
      p += nameLen + valueLen
    }
    return p === end ? out : null
  }

  /** After a fence: the entry snapshot in f* is still what the index says and its segment was not recycled. */
  private unchanged(e: number): boolean {
    return Atomics.load(this.words, e + E_VERSION) === this.fVersion && Atomics.load(this.words, this.genWord + this.fSeg) === this.fGen
  }

  /**
   * Reserves `bytes` in the current segment and leaves it pinned; sets wSeg/wGen/wRec. False when the next
   * segment can't be recycled yet or the attempts run out (the put is refused as 'busy').
   */
  private reserve(bytes: number, nowMs: number): boolean {
    const w = this.words
    for (let attempt = 0; attempt < RESERVE_ATTEMPTS; attempt++) {
      const head = Atomics.load(w, H_HEAD)
      if ((head & OPENING) !== 0) continue // another thread is recycling the next segment: a few instructions
      const seq = head >>> 1
      const seg = seq & this.segMask
      const ss = this.segStateWord + seg * SEG_STATE_WORDS
      const gen = Atomics.load(w, this.genWord + seg)
      Atomics.add(w, ss + SS_WRITERS, 1) // pin, then confirm the segment is still the current one
      if (Atomics.load(w, H_HEAD) !== head) {
        this.unpin(ss)
        continue
      }
      const fill = Atomics.load(w, ss + SS_FILL)
      if (fill + bytes <= this.segmentBytes) {
        if (Atomics.compareExchange(w, ss + SS_FILL, fill, fill + bytes) === fill) {
          this.wSeg = seg
          this.wGen = gen
          this.wRec = seg * this.segmentBytes + fill
          return true
        }
        this.unpin(ss)
        continue
      }
      this.unpin(ss)
      if (!this.openNext(head, nowMs)) return false
    }
    return false
  }

  /**
   * Makes the segment after HEAD's current the new current one, evicting its entries. True when it (or another
   * thread) moved HEAD on; false when a writer still pins that segment. Straight-line between the claim and
   * the release of HEAD: no calls, no loops (see "Writing").
   */
  private openNext(head: number, nowMs: number): boolean {
    const w = this.words
    if (Atomics.compareExchange(w, H_HEAD, head, head | OPENING) !== head) return true // someone else moved it
    const next = ((head >>> 1) + 1) & this.segMask
    const ss = this.segStateWord + next * SEG_STATE_WORDS
    Atomics.add(w, this.genWord + next, 1) // every entry in `next` is now a miss; then look for pins (Dekker)
    if (Atomics.load(w, ss + SS_WRITERS) > 0) {
      const stamp = (Math.floor(nowMs) | 0) | 1
      const since = Atomics.load(w, ss + SS_BLOCKED)
      if (since === 0 || ((stamp - since) | 0) < WRITER_STALL_MS) {
        if (since === 0) Atomics.store(w, ss + SS_BLOCKED, stamp)
        Atomics.store(w, H_HEAD, head) // release: the current segment stays full until the pin goes
        return false
      }
      Atomics.store(w, ss + SS_WRITERS, 0) // pinned for WRITER_STALL_MS: the writer was terminated
      Atomics.add(w, H_FORCED_UNPINS, 1)
    }
    Atomics.store(w, ss + SS_BLOCKED, 0)
    Atomics.add(w, H_EVICTIONS, Atomics.exchange(w, ss + SS_ENTRIES, 0))
    Atomics.add(w, H_RECYCLES, 1)
    Atomics.store(w, ss + SS_FILL, 0)
    Atomics.store(w, H_HEAD, ((head >>> 1) + 1) << 1) // wraps at 2^31 segments: consistent, segments is a power of two
    return true
  }

  /** Drops a pin; a count already forced to 0 (writer presumed dead) is not driven negative. */
  private unpin(ss: number): void {
    if (Atomics.sub(this.words, ss + SS_WRITERS, 1) <= 0) Atomics.add(this.words, ss + SS_WRITERS, 1)
  }

  /** Writes one record at slab offset `rec` (space reserved and pinned by the caller). */
  private writeRecord(rec: number, key: string, baseKey: string | null, res: CachePut, keyLen: number, baseLen: number, pathLen: number, headersLen: number, bodyLen: number, flags: number): void {
    const dv = this.view
    const slab = this.slab
    dv.setUint32(rec + R_KEY_LEN, keyLen, true)
    dv.setUint32(rec + R_BASE_LEN, baseLen, true)
    dv.setUint32(rec + R_PATH_LEN, pathLen, true)
    dv.setUint32(rec + R_HEADERS_LEN, headersLen, true)
    dv.setUint32(rec + R_BODY_LEN, bodyLen, true)
    dv.setUint16(rec + R_STATUS, res.status, true)
    dv.setUint16(rec + R_HEADER_COUNT, res.headers.length >> 1, true)
    dv.setUint32(rec + R_FLAGS, flags, true)
    dv.setUint32(rec + R_FLAGS + 4, 0, true)
    let p = rec + R_FIXED
    p += slab.write(key, p, keyLen, 'utf8')
    if (baseKey !== null) p += slab.write(baseKey, p, baseLen, 'utf8')
    p += slab.write(res.path, p, pathLen, 'utf8')
    const headers = res.headers
    for (let i = 0; i < headers.length; i += 2) {
      const nameLen = slab.write(headers[i], p + HEADER_PAIR_PREFIX, 'utf8')
      const valueLen = slab.write(headers[i + 1], p + HEADER_PAIR_PREFIX + nameLen, 'utf8')
      dv.setUint16(p, nameLen, true)
      dv.setUint32(p + 2, valueLen, true)
      p += HEADER_PAIR_PREFIX + nameLen + valueLen
    }
    const body = res.body
    if (body instanceof Uint8Array) slab.set(body, p)
    else for (let i = 0; i < body.length; i++) { slab.set(body[i], p); p += body[i].byteLength }
  }

  /**
   * Points an index entry in the key's bucket at the new record: the same key's entry if there is one, else an
   * empty or dead way, an entry past its stale window, or the live entry stored longest ago. Then drops any
   * duplicate of the key a concurrent put left in another way. False when every way stayed busy.
   */
  private publish(seg: number, gen: number, rec: number, len: number, baseFp: number, keyLen: number, nowMs: number, ttlMs: number, staleTtlMs: number): boolean {
    const w = this.words
    const first = this.bucketOf(this.fpLo)
    const keyAt = rec + R_FIXED
    const storedAt = Math.floor(nowMs)
    const expiresAt = storedAt + Math.max(0, Math.floor(ttlMs))
    const staleUntil = expiresAt + Math.max(0, Math.floor(staleTtlMs))
    for (let attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++) {
      let best = -1
      let bestVersion = 0
      let bestRank = 4
      let bestStored = Infinity
      for (let i = 0; i < WAYS && bestRank > 0; i++) {
        const e = first + (i << ENTRY_SHIFT)
        const v = Atomics.load(w, e + E_VERSION)
        if ((v & 1) !== 0) continue // another writer is in it
        let rank = 1 // empty, purged or evicted
        if (this.loadEntry(e) && this.fVersion === v) {
          if (Atomics.load(w, e + E_FP_LO) === this.fpLo && Atomics.load(w, e + E_FP_HI) === this.fpHi && this.sameKeyAs(keyAt, keyLen)) rank = 0
          else if (nowMs >= this.fStaleUntil) rank = 2
          else rank = 3
        }
        if (rank < bestRank || (rank === 3 && this.fStoredAt < bestStored)) {
          best = e
          bestVersion = v
          bestRank = rank
          if (rank === 3) bestStored = this.fStoredAt
        }
      }
      if (best < 0) return false
      if (Atomics.compareExchange(w, best + E_VERSION, bestVersion, (bestVersion + 1) | 0) !== bestVersion) continue
      // Locked (odd): straight-line field stores, each an Atomics.store (see "Writing").
      const oldSeg = Atomics.load(w, best + E_SEG)
      const wasLive = Atomics.load(w, best + E_STATE) === LIVE && Atomics.load(w, this.genWord + oldSeg) === Atomics.load(w, best + E_GEN)
      if (wasLive) Atomics.sub(w, this.segStateWord + oldSeg * SEG_STATE_WORDS + SS_ENTRIES, 1)
      if (bestRank === 3) Atomics.add(w, H_DISPLACED, 1)
      Atomics.store(w, best + E_FP_LO, this.fpLo)
      Atomics.store(w, best + E_FP_HI, this.fpHi)
      Atomics.store(w, best + E_SEG, seg)
      Atomics.store(w, best + E_GEN, gen)
      Atomics.store(w, best + E_OFFSET, rec)
      Atomics.store(w, best + E_LENGTH, len)
      Atomics.store(w, best + E_BASE_FP, baseFp)
      Atomics.store(w, best + E_STORED, Math.floor(storedAt / TWO_32))
      Atomics.store(w, best + E_STORED + 1, storedAt | 0)
      Atomics.store(w, best + E_EXPIRES, Math.floor(expiresAt / TWO_32))
      Atomics.store(w, best + E_EXPIRES + 1, expiresAt | 0)
      Atomics.store(w, best + E_STALE, Math.floor(staleUntil / TWO_32))
      Atomics.store(w, best + E_STALE + 1, staleUntil | 0)
      Atomics.store(w, best + E_STATE, LIVE)
      Atomics.store(w, best + E_VERSION, (bestVersion + 2) | 0)
      Atomics.add(w, this.segStateWord + seg * SEG_STATE_WORDS + SS_ENTRIES, 1)
      for (let i = 0; i < WAYS; i++) {
        const e = first + (i << ENTRY_SHIFT)
        if (e === best || Atomics.load(w, e + E_FP_LO) !== this.fpLo || Atomics.load(w, e + E_FP_HI) !== this.fpHi) continue
        if (this.loadEntry(e) && this.sameKeyAs(keyAt, keyLen) && this.unchanged(e)) this.invalidate(e, this.fVersion)
      }
      return true
    }
    return false
  }

  /** The entry loaded in f* holds the key whose `keyLen` UTF-8 bytes sit at slab offset `keyAt`. */
  private sameKeyAs(keyAt: number, keyLen: number): boolean {
    if (!this.parseRecord() || this.rKeyLen !== keyLen) return false
    const at = this.fRec + R_FIXED
    return this.slab.compare(this.slab, at, at + keyLen, keyAt, keyAt + keyLen) === 0
  }

  /** Empties entry `e` if it is still at version `v` (CAS: a concurrent change wins). Straight-line once locked. */
  private invalidate(e: number, v: number): boolean {
    const w = this.words
    if (Atomics.compareExchange(w, e + E_VERSION, v, (v + 1) | 0) !== v) return false
    const seg = Atomics.load(w, e + E_SEG)
    if (Atomics.load(w, this.genWord + seg) === Atomics.load(w, e + E_GEN)) Atomics.sub(w, this.segStateWord + seg * SEG_STATE_WORDS + SS_ENTRIES, 1)
    Atomics.store(w, e + E_STATE, EMPTY)
    Atomics.store(w, e + E_VERSION, (v + 2) | 0)
    return true
  }

  /** Clears the fill marker of the key hashed in fpLo/fpHi (whoever holds it for that key) and wakes its waiters. */
  private releaseFill(): boolean {
    const slot = this.fpHi & this.markerMask
    const cur = Atomics.load(this.markers, slot)
    if (cur === 0n || markerId(cur) !== ((this.fpLo | 1) >>> 0)) return false
    if (Atomics.compareExchange(this.markers, slot, cur, 0n) !== cur) return false
    Atomics.notify(this.markers, slot)
    return true
  }
}
