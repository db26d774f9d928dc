// Latency histograms. A worker records into LatencyCounts: HDR's log-linear bucket layout (1/64 precision,
// 1 µs to an hour) as an Int32Array indexed with Math.clz32, ~10 ns a value and no locks. The primary turns the
// non-empty buckets into hdr-histogram-js histograms at scrape time to merge them, take percentiles and buckets.
import hdr from 'hdr-histogram-js'
import type { Histogram } from 'hdr-histogram-js'

export type { Histogram }

/** One hour in µs: anything slower is recorded as one hour (fits 32 bits, so clz32 indexes every value). */
const HIGHEST_US = 3_600_000_000
/** Values below this are exact; above, each power of two is split into SUB_BUCKETS equal parts. */
const LINEAR_LIMIT = 128
const SUB_BUCKETS = 64
const SUB_BITS = 6
const BUCKET_COUNT = LINEAR_LIMIT + (32 - 7) * SUB_BUCKETS

/** Kong's prometheus plugin latency buckets (ms). */
export const BUCKETS_MS: readonly number[] = [1, 2, 5, 7, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100, 200, 300, 400, 500, 1000, 2000, 5000, 10000, 30000, 60000]

function bucketOf(us: number): number {
  if (us < LINEAR_LIMIT) return us
  const msb = 31 - Math.clz32(us)
  return LINEAR_LIMIT + (msb - 7) * SUB_BUCKETS + ((us >>> (msb - SUB_BITS)) - SUB_BUCKETS)
}

/** The middle of a bucket's values (what the primary records its count as; exact below LINEAR_LIMIT). */
function middleOf(bucket: number): number {
  if (bucket < LINEAR_LIMIT) return bucket
  const k = bucket - LINEAR_LIMIT
  const width = 2 ** (Math.floor(k / SUB_BUCKETS) + 7 - SUB_BITS)
  return (SUB_BUCKETS + (k % SUB_BUCKETS)) * width + Math.floor(width / 2)
}

/** A worker's latency counts of one metric row. */
export class LatencyCounts {
  private readonly counts = new Int32Array(BUCKET_COUNT)

  /** Records a duration in ms (kept to the µs); negative or NaN counts as 1 µs, past an hour as an hour. */
  record(ms: number): void {
    const us = ms > 0 ? Math.round(ms * 1000) : 0
    this.counts[bucketOf(us < 1 ? 1 : us > HIGHEST_US ? HIGHEST_US : us)]!++
  }

  /** Non-empty buckets as flat [middle value µs, count, …] pairs: what a scrape sends to the primary. */
  sparse(): number[] {
    const out: number[] = []
    for (let i = 0; i < BUCKET_COUNT; i++) if (this.counts[i] !== 0) out.push(middleOf(i), this.counts[i]!)
    return out
  }
}

/** About 5 KiB each: 1 % precision from 1 µs to an hour. */
export function createHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 2, bitBucketSize: 32, autoResize: false })
}

/** Adds [value µs, count, …] pairs (LatencyCounts.sparse, or sparseOf) into `into`. */
export function addSparse(into: Histogram, pairs: readonly number[]): Histogram {
  for (let i = 0; i < pairs.length; i += 2) into.recordValueWithCount(pairs[i]!, pairs[i + 1]!)
  return into
}

/** A merged histogram back as pairs (the primary keeps dead workers' totals in the form workers send). */
export function sparseOf(h: Histogram): number[] {
  const out: number[] = []
  const it = recordedValues(h)
  while (it.hasNext()) {
    const v = it.next()
    out.push(v.valueIteratedTo, v.countAtValueIteratedTo)
  }
  return out
}

type RecordedValues = { reset(): void; hasNext(): boolean; next(): { valueIteratedTo: number; countAtValueIteratedTo: number } }

function recordedValues(h: Histogram): RecordedValues {
  const it = (h as unknown as { recordedValuesIterator: RecordedValues }).recordedValuesIterator
  it.reset()
  return it
}

/** Percentile in ms (0 when nothing was recorded). */
export function percentileMs(h: Histogram, percentile: number): number {
  return h.totalCount === 0 ? 0 : h.getValueAtPercentile(percentile) / 1000
}

/** Cumulative counts per BUCKETS_MS bound (Prometheus `le`), then +Inf (= totalCount). */
export function bucketCounts(h: Histogram): number[] {
  const counts = new Array<number>(BUCKETS_MS.length + 1).fill(0)
  const it = recordedValues(h)
  while (it.hasNext()) {
    const v = it.next()
    let i = 0
    // The bucket of a recorded value: the first bound at or above it (values are µs, bounds ms).
    while (i < BUCKETS_MS.length && v.valueIteratedTo > BUCKETS_MS[i]! * 1000) i++
    counts[i]! += v.countAtValueIteratedTo
  }
  for (let i = 1; i < counts.length; i++) counts[i]! += counts[i - 1]!
  return counts
}
