// Micro-benchmark: RateTable.consume decisions per second, single thread and 2 worker threads (one hot key, and
// 100k distinct keys in 262144 slots); run with `node --import tsx native-bench/rate-table-bench.ts`.
// Garbage per decision (BigInt temporaries of the 64-bit CAS) is not shown: heapUsed hides it behind scavenges;
// measure it with `--trace-gc` (about 90 B per rejection, 160 B per admission on Node 20).
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { MAX_RATE_LIMIT, RateLimits, RateTable } from '../src/shared/rate-table.js'

/** Each measured run lasts about this long per thread. */
const BUDGET_MS = 500
const WARMUP_MS = 300
const ROUNDS = 3
const DISTINCT_KEYS = 100_000
const DISTINCT_SLOTS = 262_144
const HOT_SLOTS = 1024
/** Per-key limit for the distinct-keys case: large enough that most decisions admit (and so write). */
const DISTINCT_LIMIT = 1_000_000
/** Fixed clock: every decision lands in the same window, so the hot key keeps admitting (CAS on every call). */
const NOW = Date.UTC(2026, 5, 15, 12, 0, 0)

type Case = 'hot' | 'distinct' | 'hot-multi'

interface Job {
  sab: SharedArrayBuffer
  kind: Case
  /** Offset into the key list so two threads start on different keys. */
  offset: number
  go: SharedArrayBuffer
}

interface Result {
  ops: number
  ns: number
  admitted: number
}

function keys(): string[] {
  const out: string[] = []
  for (let i = 0; i < DISTINCT_KEYS; i++) out.push(`route-7:consumer-${i}`)
  return out
}

/** Runs `kind` for about `budgetMs`, checking the clock every 1024 decisions. */
function run(table: RateTable, kind: Case, list: string[], offset: number, budgetMs: number): Result {
  const multi = new RateLimits({ month: MAX_RATE_LIMIT.month, year: MAX_RATE_LIMIT.year }, 'sliding')
  const hot = 'route-7:consumer-hot'
  const limit = kind === 'hot' ? MAX_RATE_LIMIT.year : DISTINCT_LIMIT
  const n = list.length
  let i = offset
  let ops = 0
  let admitted = 0
  const start = process.hrtime.bigint()
  const budget = BigInt(budgetMs) * 1_000_000n
  let elapsed = 0n
  while (elapsed < budget) {
    for (let b = 0; b < 1024; b++) {
      let ok: boolean
      if (kind === 'hot') ok = table.consume(hot, limit, 'year', 'sliding', NOW).admitted
      else if (kind === 'hot-multi') ok = table.consumeAll(hot, multi, NOW).admitted
      else {
        ok = table.consume(list[i], limit, 'hour', 'sliding', NOW).admitted
        if (++i === n) i = 0
      }
      if (ok) admitted++
    }
    ops += 1024
    elapsed = process.hrtime.bigint() - start
  }
  return { ops, ns: Number(elapsed), admitted }
}

if (!isMainThread) {
  const job = workerData as Job
  const table = RateTable.attach(job.sab)
  const list = job.kind === 'distinct' ? keys() : []
  run(table, job.kind, list, job.offset, WARMUP_MS)
  const go = new Int32Array(job.go)
  parentPort?.postMessage('ready')
  Atomics.wait(go, 0, 0) // both threads start together
  parentPort?.postMessage(run(table, job.kind, list, job.offset, BUDGET_MS))
} else {
  await main()
}

function fresh(kind: Case): RateTable {
  return RateTable.allocate(kind === 'distinct' ? DISTINCT_SLOTS : HOT_SLOTS, { epochMs: NOW })
}

/** Two worker threads on one table; decisions/s summed over both. */
async function twoThreads(kind: Case): Promise<{ perSecond: number; admitted: number }> {
  const table = fresh(kind)
  const go = new SharedArrayBuffer(4)
  // Node 20 workers do not get tsx's loader hooks from --import/execArgv: load this file through tsx's API.
  const entry = `import { tsImport } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))}\n` +
    `await tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)})`
  const workers = [0, 1].map((w) => new Worker(entry, {
    eval: true,
    workerData: { sab: table.sab, kind, offset: w * (DISTINCT_KEYS >> 1), go } satisfies Job,
  }))
  try {
    const results = workers.map((worker) => new Promise<Result>((resolve, reject) => {
      worker.on('message', (m: unknown) => { if (typeof m === 'object' && m !== null) resolve(m as Result) })
      worker.once('error', reject)
    }))
    await Promise.all(workers.map((worker) => new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve())
      worker.once('error', reject)
    })))
    Atomics.store(new Int32Array(go), 0, 1)
    Atomics.notify(new Int32Array(go), 0)
    const done = await Promise.all(results)
    const perSecond = done.reduce((sum, r) => sum + (r.ops * 1e9) / r.ns, 0)
    return { perSecond, admitted: done.reduce((s, r) => s + r.admitted, 0) }
  } finally {
    for (const w of workers) await w.terminate()
  }
}

function oneThread(kind: Case, list: string[]): { perSecond: number; admitted: number } {
  const table = fresh(kind)
  run(table, kind, list, 0, WARMUP_MS)
  const r = run(table, kind, list, 0, BUDGET_MS)
  return { perSecond: (r.ops * 1e9) / r.ns, admitted: r.admitted }
}

async function main(): Promise<void> {
  const list = keys()
  const cases: [string, Case, 1 | 2][] = [
    ['1 thread, one key (year, sliding)', 'hot', 1],
    ['1 thread, one key, 2 windows (consumeAll)', 'hot-multi', 1],
    [`1 thread, ${DISTINCT_KEYS / 1000}k keys, ${DISTINCT_SLOTS} slots`, 'distinct', 1],
    ['2 threads, one key (contended CAS)', 'hot', 2],
    [`2 threads, ${DISTINCT_KEYS / 1000}k keys, ${DISTINCT_SLOTS} slots`, 'distinct', 2],
  ]
  console.log(`node ${process.version}; median of ${ROUNDS} x ${BUDGET_MS} ms after a ${WARMUP_MS} ms warm-up; every call admits and counts\n`)
  console.log('| case | decisions/s | ns/decision (per thread) | admitted |')
  console.log('|---|---:|---:|---:|')
  for (const [name, kind, threads] of cases) {
    const runs = []
    for (let r = 0; r < ROUNDS; r++) runs.push(threads === 1 ? oneThread(kind, list) : await twoThreads(kind))
    runs.sort((a, b) => a.perSecond - b.perSecond)
    const m = runs[ROUNDS >> 1]
    const nsPerThread = (1e9 * threads) / m.perSecond
    const share = m.admitted / ((m.perSecond * BUDGET_MS) / 1000)
    console.log(`| ${name} | ${Math.round(m.perSecond).toLocaleString('en-US')} | ${nsPerThread.toFixed(0)} | ${(100 * Math.min(1, share)).toFixed(0)}% |`)
  }
}
