// Per-worker target selection for one upstream: round-robin, least-connections, consistent-hashing, latency.
// Built once per Snapshot into typed arrays so `pick` allocates nothing; load state is per worker, health is shared.

import { performance } from 'node:perf_hooks'
import type { BalancerAlgorithm, HashOn, TargetRecord, UpstreamRecord } from '../config/types.js'
import type { HealthTable } from '../shared/health-table.js'

/*
 * Contract used by upstream/forward:
 *
 *   const t = balancer.pick(hashKey, tried)    // null → 503 "failure to get a peer from the ring-balancer"
 *   balancer.onStart(t)                        // exchange begins (counts as active)
 *   …
 *   balancer.onEnd(t, latencyMs, ok)           // exactly once per onStart
 *   tried |= triedBit(t)                       // before a retry; start each request with tried = 0
 *
 * `exclude` is a 32-bit mask; target `t` owns bit `t.healthSlot & 31`. Targets whose bit is set are
 * avoided while another usable target exists; when every usable target is excluded, the mask is ignored
 * (retrying the same target beats answering 503). With more than 32 targets two targets can share a bit:
 * a retry may then also avoid an untried target, never lose access to one.
 *
 * "Usable" = weight > 0 (Kong: weight 0 disables a target) and `health.isHealthy(healthSlot)`.
 * `pick` returns null only when no target is usable.
 */

export interface Balancer {
  readonly algorithm: BalancerAlgorithm
  readonly targets: readonly TargetRecord[]
  /** `hashKey` is used by consistent-hashing only (null there → round-robin). */
  pick(hashKey: string | null, exclude: number): TargetRecord | null
  onStart(target: TargetRecord): void
  /** `latencyMs`: connect + response time, as Kong's latency algorithm measures it. */
  onEnd(target: TargetRecord, latencyMs: number, ok: boolean): void
  /** In-flight exchanges on this worker (admin/debug). */
  activeOf(target: TargetRecord): number
}

export interface BalancerOptions {
  /** Monotonic milliseconds for EWMA decay; injectable for tests. */
  now?: () => number
}

/** Fields of the request context `hashKeyFor` reads. Header names are lower-case. */
export interface HashContext {
  clientIp: string
  headers: Map<string, string>
  consumerId: string | null
  /** Request path without the query string (Kong `hash_on: path` uses ngx.var.uri). */
  path?: string
}

/** The exclude-mask bit of a target (see the contract above). */
export function triedBit(target: TargetRecord): number {
  return 1 << (target.healthSlot & 31)
}

const ALG_ROUND_ROBIN = 0
const ALG_LEAST_CONNECTIONS = 1
const ALG_CONSISTENT_HASHING = 2
const ALG_LATENCY = 3

/** Kong's ring: SERVER_POINTS points per target when all weights are equal (consistent_hashing.lua). */
const SERVER_POINTS = 160
/** Kong's `slots` default and bounds (upstream schema): here the most points the ring may hold. */
const DEFAULT_SLOTS = 10000
const MIN_SLOTS = 10
const MAX_SLOTS = 65536
/** Kong's latency algorithm: EWMA decay time constant (latency.lua DECAY_TIME = 10 s). */
const DECAY_MS = 10_000

const NO_TARGET = -1

function algorithmCode(a: BalancerAlgorithm): number {
  switch (a) {
    case 'round-robin': return ALG_ROUND_ROBIN
    case 'least-connections': return ALG_LEAST_CONNECTIONS
    case 'consistent-hashing': return ALG_CONSISTENT_HASHING
    case 'latency': return ALG_LATENCY
    default: throw new Error(`unknown balancer algorithm ${String(a)}`)
  }
}

/** One class for every algorithm so `pick` call sites stay monomorphic; the algorithm is a number. */
class UpstreamBalancer implements Balancer {
  readonly algorithm: BalancerAlgorithm
  readonly targets: readonly TargetRecord[]
  private readonly alg: number
  private readonly health: HealthTable
  private readonly now: () => number
  private readonly n: number
  private readonly weight: Int32Array
  private readonly slot: Int32Array
  private readonly bit: Int32Array
  private readonly index: Map<TargetRecord, number>
  /** Smooth weighted round-robin current weights (NGINX ngx_http_upstream_get_peer). */
  private readonly current: Float64Array
  private readonly active: Int32Array
  /** Latency EWMA in ms, the time it was last updated, and whether it has a sample at all. */
  private readonly ewma: Float64Array
  private readonly touched: Float64Array
  private readonly measured: Uint8Array
  /** Rotating start for tie-breaks in least-connections and latency. */
  private rotor = 0
  /** Consistent-hashing ring: points sorted by 32-bit position, their owners, and a bucket index. */
  private readonly ring: Ring
  /** Targets with points on the ring (weight > 0). */
  private readonly ringOwners: number

  constructor(algorithm: BalancerAlgorithm, slots: number, targets: readonly TargetRecord[], health: HealthTable, now: () => number) {
    this.algorithm = algorithm
    this.alg = algorithmCode(algorithm)
    this.targets = targets
    this.health = health
    this.now = now
    const n = targets.length
    this.n = n
    this.weight = new Int32Array(n)
    this.slot = new Int32Array(n)
    this.bit = new Int32Array(n)
    this.index = new Map()
    for (let i = 0; i < n; i++) {
      const t = targets[i]
      this.weight[i] = t.weight > 0 ? Math.floor(t.weight) : 0
      this.slot[i] = t.healthSlot
      this.bit[i] = triedBit(t)
      this.index.set(t, i)
    }
    this.current = new Float64Array(n)
    this.active = new Int32Array(n)
    this.ewma = new Float64Array(n)
    this.touched = new Float64Array(n)
    this.measured = new Uint8Array(n)
    if (this.alg === ALG_CONSISTENT_HASHING) {
      const maxPoints = slots > 0 ? Math.min(Math.max(Math.floor(slots), MIN_SLOTS), MAX_SLOTS) : DEFAULT_SLOTS
      this.ring = buildRing(targets, this.weight, maxPoints)
    } else {
      this.ring = EMPTY_RING
    }
    let owners = 0
    for (let i = 0; i < n; i++) if (this.weight[i] > 0) owners++
    this.ringOwners = owners
  }

  pick(hashKey: string | null, exclude: number): TargetRecord | null {
    let i: number
    switch (this.alg) {
      case ALG_LEAST_CONNECTIONS:
        i = this.pickLeastConnections(exclude)
        if (i === NO_TARGET && exclude !== 0) i = this.pickLeastConnections(0)
        break
      case ALG_LATENCY:
        i = this.pickLatency(exclude)
        if (i === NO_TARGET && exclude !== 0) i = this.pickLatency(0)
        break
      case ALG_CONSISTENT_HASHING:
        if (hashKey !== null) {
          i = this.pickHashed(hashKey, exclude)
          if (i === NO_TARGET && exclude !== 0) i = this.pickHashed(hashKey, 0)
        } else {
          // No hash key (hash_on none, or the header/cookie/consumer is missing): round-robin.
          i = this.pickRoundRobin(exclude)
          if (i === NO_TARGET && exclude !== 0) i = this.pickRoundRobin(0)
        }
        break
      default:
        i = this.pickRoundRobin(exclude)
        if (i === NO_TARGET && exclude !== 0) i = this.pickRoundRobin(0)
    }
    return i === NO_TARGET ? null : this.targets[i]
  }

  onStart(target: TargetRecord): void {
    const i = this.index.get(target)
    if (i !== undefined) this.active[i]++
  }

  onEnd(target: TargetRecord, latencyMs: number, ok: boolean): void {
    const i = this.index.get(target)
    if (i === undefined) return
    if (this.active[i] > 0) this.active[i]--
    if (this.alg !== ALG_LATENCY) return
    const now = this.now()
    let sample = latencyMs > 0 ? latencyMs : 0
    if (this.measured[i] === 0) {
      // A failure that returns fast must not make a target look fast: count it as twice its cost.
      this.ewma[i] = ok ? sample : 2 * sample
      this.measured[i] = 1
    } else {
      const current = this.ewma[i]
      if (!ok) sample = 2 * (sample > current ? sample : current)
      // Kong latency.lua decay_ewma: weight = e^(-Δt/DECAY), ewma = ewma·weight + rtt·(1 - weight).
      const dt = now - this.touched[i]
      const w = Math.exp(-(dt > 0 ? dt : 0) / DECAY_MS)
      this.ewma[i] = current * w + sample * (1 - w)
    }
    this.touched[i] = now
  }

  activeOf(target: TargetRecord): number {
    const i = this.index.get(target)
    return i === undefined ? 0 : this.active[i]
  }

  private usable(i: number, exclude: number): boolean {
    return this.weight[i] > 0 && (exclude & this.bit[i]) === 0 && this.health.isHealthy(this.slot[i])
  }

  /**
   * Smooth weighted round-robin (NGINX): each usable target gains its weight, the largest current wins
   * and pays back the round's total. Over sum(weights) picks each target is chosen exactly `weight`
   * times, interleaved (5,1,1 → a a b a c a a).
   */
  private pickRoundRobin(exclude: number): number {
    let best = NO_TARGET
    let total = 0
    for (let i = 0; i < this.n; i++) {
      if (!this.usable(i, exclude)) continue
      const w = this.weight[i]
      this.current[i] += w
      total += w
      if (best === NO_TARGET || this.current[i] > this.current[best]) best = i
    }
    if (best !== NO_TARGET) this.current[best] -= total
    return best
  }

  /**
   * Least-connections, Kong's score (active + 1) / weight: lowest wins; the +1 makes a heavier idle
   * target win over a lighter idle one. Compared by cross-multiplication (integers, no division).
   * Ties go round-robin: the scan starts one past the previous winner.
   */
  private pickLeastConnections(exclude: number): number {
    const n = this.n
    let best = NO_TARGET
    let bestLoad = 0
    let bestWeight = 1
    let i = this.rotor
    for (let k = 0; k < n; k++, i++) {
      if (i >= n) i = 0
      if (!this.usable(i, exclude)) continue
      const load = this.active[i] + 1
      const w = this.weight[i]
      if (best === NO_TARGET || load * bestWeight < bestLoad * w) {
        best = i
        bestLoad = load
        bestWeight = w
      }
    }
    if (best !== NO_TARGET) this.rotor = best + 1 >= n ? 0 : best + 1
    return best
  }

  /**
   * Latency: targets without a sample first (fewest active, ties round-robin) so every target gets
   * measured; then the lowest EWMA × (active + 1) / weight, where the EWMA decays towards 0 with the
   * time since its last sample (Kong latency.lua get_or_update_ewma), so a target that was slow once is
   * tried again later instead of starving.
   */
  private pickLatency(exclude: number): number {
    const n = this.n
    let best = NO_TARGET
    let bestUnmeasured = false
    let bestScore = 0
    let now = -1
    let i = this.rotor
    for (let k = 0; k < n; k++, i++) {
      if (i >= n) i = 0
      if (!this.usable(i, exclude)) continue
      if (this.measured[i] === 0) {
        const score = this.active[i]
        if (!bestUnmeasured || score < bestScore) {
          best = i
          bestUnmeasured = true
          bestScore = score
        }
        continue
      }
      if (bestUnmeasured) continue
      if (now < 0) now = this.now()
      const dt = now - this.touched[i]
      const decayed = dt > 0 ? this.ewma[i] * Math.exp(-dt / DECAY_MS) : this.ewma[i]
      const score = (decayed * (this.active[i] + 1)) / this.weight[i]
      if (best === NO_TARGET || score < bestScore) {
        best = i
        bestScore = score
      }
    }
    if (best !== NO_TARGET) this.rotor = best + 1 >= n ? 0 : best + 1
    return best
  }

  /**
   * Consistent hashing (ketama, as Kong's consistent_hashing.lua): a key belongs to the first ring point
   * at or after its hash, wrapping past the top. An unusable owner hands over to the next point's
   * owner, so while a target is down only its keys move, and they come back when it recovers.
   */
  private pickHashed(key: string, exclude: number): number {
    const ring = this.ring
    const points = ring.owner.length
    if (points === 0) return NO_TARGET
    const h = hash32(key)
    let p = ring.bucket[h >>> ring.shift]
    const end = ring.bucket[(h >>> ring.shift) + 1]
    while (p < end && ring.position[p] < h) p++
    if (p === points) p = 0
    // Count distinct unusable owners (first 32 by index) so an all-down ring stops early.
    let rejected = 0
    let rejectedCount = 0
    let lastTried = NO_TARGET
    for (let k = 0; k < points; k++) {
      const i = ring.owner[p]
      // Runs of one target's points are common; re-check only when the owner changes.
      if (i !== lastTried) {
        if (this.usable(i, exclude)) return i
        lastTried = i
        if (i < 32 && (rejected & (1 << i)) === 0) {
          rejected |= 1 << i
          if (++rejectedCount === this.ringOwners) return NO_TARGET
        }
      }
      p = p + 1 === points ? 0 : p + 1
    }
    return NO_TARGET
  }
}

/**
 * Ring points sorted by position. `bucket[b]` is the first point whose position's top bits are >= b
 * (positions >>> shift), with bucket[buckets] = points, so a lookup scans a couple of points only.
 */
interface Ring {
  position: Uint32Array
  owner: Int32Array
  bucket: Int32Array
  shift: number
}

const EMPTY_RING: Ring = { position: new Uint32Array(0), owner: new Int32Array(0), bucket: new Int32Array(2), shift: 31 }

/**
 * Kong's point count: `floor(weight/total × targets × SERVER_POINTS)` points per target (at least 1),
 * i.e. 160 each when weights are equal, scaled down together when the ring would pass `maxPoints`
 * (the upstream's `slots`). Point j of target t sits at `hash32("<t.target> <j>")`, a full 32-bit
 * position: points depend only on the target's own name, so removing a target removes its points and
 * moves nobody else's (with equal weights; unequal weights rescale counts a little, as in Kong). Two
 * points at the same position are ordered by target name, so every worker builds the same ring
 * whatever order the targets were listed in.
 */
function buildRing(targets: readonly TargetRecord[], weight: Int32Array, maxPoints: number): Ring {
  const n = targets.length
  let totalWeight = 0
  let live = 0
  for (let i = 0; i < n; i++) {
    if (weight[i] > 0) {
      totalWeight += weight[i]
      live++
    }
  }
  if (live === 0) return EMPTY_RING

  const count = new Int32Array(n)
  let total = 0
  for (let i = 0; i < n; i++) {
    if (weight[i] === 0) continue
    count[i] = Math.max(1, Math.floor((weight[i] / totalWeight) * live * SERVER_POINTS))
    total += count[i]
  }
  if (total > maxPoints) {
    const scale = maxPoints / total
    total = 0
    for (let i = 0; i < n; i++) {
      if (weight[i] === 0) continue
      count[i] = Math.max(1, Math.floor(count[i] * scale))
      total += count[i]
    }
  }

  // Rank targets by name for collision order, then sort (position, rank) pairs packed in one float64:
  // position × 2^16 + rank is exact below 2^53, and a numeric typed-array sort needs no comparator.
  const byName: number[] = []
  for (let i = 0; i < n; i++) if (weight[i] > 0) byName.push(i)
  byName.sort((a, b) => (targets[a].target < targets[b].target ? -1 : targets[a].target > targets[b].target ? 1 : a - b))
  const packed = new Float64Array(total)
  let k = 0
  for (let r = 0; r < byName.length; r++) {
    const i = byName[r]
    const prefix = targets[i].target + ' '
    for (let j = 1; j <= count[i]; j++) packed[k++] = hash32(prefix + j) * 65536 + r
  }
  packed.sort()

  const position = new Uint32Array(total)
  const owner = new Int32Array(total)
  for (let p = 0; p < total; p++) {
    const v = packed[p]
    const r = v % 65536
    position[p] = (v - r) / 65536
    owner[p] = byName[r]
  }

  // About one bucket per point, as a power of two so the bucket is the position's top bits.
  let bits = 1
  while (bits < 16 && 1 << bits < total) bits++
  const shift = 32 - bits
  const buckets = 1 << bits
  const bucket = new Int32Array(buckets + 1)
  let p = 0
  for (let b = 0; b < buckets; b++) {
    while (p < total && position[p] >>> shift < b) p++
    bucket[b] = p
  }
  bucket[buckets] = total
  return { position, owner, bucket, shift }
}

const monotonicNow = (): number => performance.now()

/** A balancer for one upstream; build once per Snapshot per worker. */
export function createBalancer(upstream: UpstreamRecord, health: HealthTable, options?: BalancerOptions): Balancer {
  return new UpstreamBalancer(upstream.algorithm, upstream.slots, upstream.targets, health, options?.now ?? monotonicNow)
}

/** A balancer for a service without an upstream (its single `target`): round-robin over one target, so
 * `pick` returns it while it is healthy and null while it is ejected. */
export function createTargetBalancer(target: TargetRecord, health: HealthTable): Balancer {
  return new UpstreamBalancer('round-robin', 0, [target], health, monotonicNow)
}

// ---------------------------------------------------------------------------------------------------
// Hashing

let scratch = new Uint8Array(256)
const encoder = new TextEncoder()

const P1 = 0x9e3779b1 | 0
const P2 = 0x85ebca77 | 0
const P3 = 0xc2b2ae3d | 0
const P4 = 0x27d4eb2f | 0
const P5 = 0x165667b1 | 0

/**
 * xxHash32 (seed 0) of the string's UTF-8 bytes, as an unsigned 32-bit number. Kong hashes with
 * xxhash32 too; ours is written for strings: ASCII is copied byte for byte into a reused buffer, other
 * text goes through TextEncoder.encodeInto.
 */
export function hash32(s: string): number {
  const len = s.length
  if (len * 3 > scratch.length) scratch = new Uint8Array(len * 3 + 64)
  const buf = scratch
  let bytes = len
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x80) {
      bytes = encoder.encodeInto(s, buf).written
      break
    }
    buf[i] = c
  }
  return xxh32(buf, bytes)
}

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r))
}

function read32(b: Uint8Array, i: number): number {
  return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)
}

function xxh32(b: Uint8Array, len: number): number {
  let i = 0
  let h: number
  if (len >= 16) {
    let v1 = (P1 + P2) | 0
    let v2 = P2
    let v3 = 0
    let v4 = -P1 | 0
    const limit = len - 16
    while (i <= limit) {
      v1 = Math.imul(rotl((v1 + Math.imul(read32(b, i), P2)) | 0, 13), P1)
      v2 = Math.imul(rotl((v2 + Math.imul(read32(b, i + 4), P2)) | 0, 13), P1)
      v3 = Math.imul(rotl((v3 + Math.imul(read32(b, i + 8), P2)) | 0, 13), P1)
      v4 = Math.imul(rotl((v4 + Math.imul(read32(b, i + 12), P2)) | 0, 13), P1)
      i += 16
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0
  } else {
    h = P5
  }
  h = (h + len) | 0
  while (i + 4 <= len) {
    h = Math.imul(rotl((h + Math.imul(read32(b, i), P3)) | 0, 17), P4)
    i += 4
  }
  while (i < len) {
    h = Math.imul(rotl((h + Math.imul(b[i], P5)) | 0, 11), P1)
    i++
  }
  h = Math.imul(h ^ (h >>> 15), P2)
  h = Math.imul(h ^ (h >>> 13), P3)
  return (h ^ (h >>> 16)) >>> 0
}

// ---------------------------------------------------------------------------------------------------
// Hash keys (Kong balancer get_value_to_hash)

/**
 * The value consistent-hashing hashes for this request, or null (→ round-robin). Tries `hash_on`, and
 * when that yields nothing, `hash_fallback` once, as Kong does:
 *   none → null · consumer → consumer id · ip → client address (after trusted-proxy resolution)
 *   header → that header's value · cookie → that cookie's value · path → request path
 * A header or cookie that is present but empty yields '' (Kong: an empty string is a value).
 * query_arg and uri_capture yield null: the Snapshot does not carry their argument names.
 * Kong mints a UUID cookie when `hash_on: cookie` finds none; here the key is null and the caller may
 * do that (hashing the minted value) before picking.
 */
export function hashKeyFor(upstream: UpstreamRecord, ctx: HashContext): string | null {
  const first = valueFor(upstream.hashOn, upstream.hashOnHeader, upstream.hashOnCookie, ctx)
  if (first !== null || upstream.hashOn === 'none') return first
  return valueFor(upstream.hashFallback, upstream.hashFallbackHeader, upstream.hashOnCookie, ctx)
}

function valueFor(on: HashOn, header: string | null, cookie: string | null, ctx: HashContext): string | null {
  switch (on) {
    case 'consumer':
      return ctx.consumerId
    case 'ip':
      return ctx.clientIp
    case 'header':
      return header === null ? null : (ctx.headers.get(lowerAscii(header)) ?? null)
    case 'cookie': {
      if (cookie === null) return null
      const h = ctx.headers.get('cookie')
      return h === undefined ? null : cookieValue(h, cookie)
    }
    case 'path':
      return ctx.path ?? null
    default:
      return null
  }
}

/** Lower-cases ASCII only when needed, so an already lower-case name (the usual case) allocates nothing. */
function lowerAscii(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 65 && c <= 90) return s.toLowerCase()
  }
  return s
}

/**
 * The value of cookie `name` in a Cookie header (`a=1; b=2`), or null. Names compare ASCII
 * case-insensitively, like NGINX's $cookie_NAME that Kong reads; surrounding blanks are trimmed and
 * quotes kept. Scans in place: no split, no array.
 */
export function cookieValue(header: string, name: string): string | null {
  const len = header.length
  const nlen = name.length
  let i = 0
  while (i < len) {
    while (i < len && isBlank(header.charCodeAt(i))) i++
    let end = header.indexOf(';', i)
    if (end === -1) end = len
    if (end - i > nlen && header.charCodeAt(i + nlen) === 61 /* = */ && sameNameAt(header, i, name)) {
      let start = i + nlen + 1
      let stop = end
      while (start < stop && isBlank(header.charCodeAt(start))) start++
      while (stop > start && isBlank(header.charCodeAt(stop - 1))) stop--
      return header.slice(start, stop)
    }
    i = end + 1
  }
  return null
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9
}

function sameNameAt(s: string, at: number, name: string): boolean {
  for (let j = 0; j < name.length; j++) {
    let a = s.charCodeAt(at + j)
    let b = name.charCodeAt(j)
    if (a === b) continue
    if (a >= 65 && a <= 90) a += 32
    if (b >= 65 && b <= 90) b += 32
    if (a !== b) return false
  }
  return true
}
