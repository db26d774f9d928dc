// Unit tests for shared/health-table: views over one SharedArrayBuffer agree, counters are atomic across threads.
// The cross-thread test runs the real module in worker_threads, transpiled to plain JS for the workers.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_HEALTH_CAPACITY, HealthTable } from '../../src/shared/health-table.js'

const SOURCE = fileURLToPath(new URL('../../src/shared/health-table.ts', import.meta.url))

describe('HealthTable layout', () => {
  it('sizes 64 bytes of header plus 64 bytes per slot', () => {
    expect(HealthTable.bytesFor(1)).toBe(128)
    expect(HealthTable.bytesFor(DEFAULT_HEALTH_CAPACITY)).toBe(64 + DEFAULT_HEALTH_CAPACITY * 64)
    expect(() => HealthTable.bytesFor(0)).toThrow(RangeError)
  })

  it('rejects a buffer that is too small or opened with another capacity', () => {
    expect(() => new HealthTable(new SharedArrayBuffer(100), 4)).toThrow(RangeError)
    const sab = new SharedArrayBuffer(HealthTable.bytesFor(8))
    const primary = new HealthTable(sab, 8)
    expect(primary.capacity).toBe(8)
    expect(() => new HealthTable(sab, 4)).toThrow(/created with 8 slots/)
  })

  it('starts every slot healthy with zero counters', () => {
    const t = HealthTable.create(16)
    for (let s = 0; s < 16; s++) expect(t.isHealthy(s)).toBe(true)
    expect(t.inspect(3)).toEqual({
      slot: 3, healthy: true, state: 'healthy', ejectedUntil: null,
      tcpFailures: 0, timeoutFailures: 0, httpFailures: 0, successes: 0, ejections: 0, totalFailures: 0,
    })
  })
})

describe('HealthTable state', () => {
  it('two instances over one buffer see each other\'s writes', () => {
    const sab = new SharedArrayBuffer(HealthTable.bytesFor(32))
    const primary = new HealthTable(sab, 32)
    const worker = new HealthTable(sab, 32)
    expect(worker.markDown(5)).toBe(true)
    expect(primary.isHealthy(5)).toBe(false)
    expect(primary.isHealthy(4)).toBe(true)
    expect(primary.recordFailure(7, 'tcp')).toBe(1)
    expect(worker.recordFailure(7, 'tcp')).toBe(2)
    expect(worker.inspect(7).tcpFailures).toBe(2)
    expect(primary.markUp(5)).toBe(true)
    expect(worker.isHealthy(5)).toBe(true)
  })

  it('reports the HEALTHY/UNHEALTHY flip only once', () => {
    const t = HealthTable.create(4)
    expect(t.markDown(1)).toBe(true)
    expect(t.markDown(1)).toBe(false)
    expect(t.inspect(1).ejections).toBe(1)
    expect(t.markUp(1)).toBe(true)
    expect(t.markUp(1)).toBe(false)
    expect(t.markDown(1)).toBe(true)
    expect(t.inspect(1).ejections).toBe(2)
  })

  it('counts consecutive failures per kind, and a success clears them while healthy', () => {
    const t = HealthTable.create(4)
    expect(t.recordFailure(0, 'tcp')).toBe(1)
    expect(t.recordFailure(0, 'timeout')).toBe(1)
    expect(t.recordFailure(0, 'http')).toBe(1)
    expect(t.recordFailure(0, 'http')).toBe(2)
    expect(t.inspect(0)).toMatchObject({ tcpFailures: 1, timeoutFailures: 1, httpFailures: 2, totalFailures: 4 })
    expect(t.recordSuccess(0)).toBe(0)
    expect(t.inspect(0)).toMatchObject({ tcpFailures: 0, timeoutFailures: 0, httpFailures: 0, successes: 0, totalFailures: 4 })
  })

  it('counts successes only while unhealthy, and a failure resets them', () => {
    const t = HealthTable.create(4)
    t.markDown(2)
    expect(t.recordSuccess(2)).toBe(1)
    expect(t.recordSuccess(2)).toBe(2)
    t.recordFailure(2, 'timeout')
    expect(t.inspect(2).successes).toBe(0)
    expect(t.recordSuccess(2)).toBe(1)
    t.markUp(2)
    expect(t.inspect(2)).toMatchObject({ healthy: true, successes: 0, timeoutFailures: 0 })
  })

  it('clear() returns a slot to its initial state', () => {
    const t = HealthTable.create(4)
    t.recordFailure(3, 'tcp')
    t.markDown(3, Date.now() + 60_000)
    t.clear(3)
    expect(t.inspect(3)).toMatchObject({ healthy: true, state: 'healthy', ejectedUntil: null, tcpFailures: 0, ejections: 0 })
  })
})

describe('HealthTable ejection expiry', () => {
  it('a target marked down without expiry stays down until markUp', () => {
    let now = 1_700_000_000_000
    const t = HealthTable.create(4, () => now)
    t.markDown(0)
    now += 365 * 24 * 3600 * 1000
    expect(t.isHealthy(0)).toBe(false)
    expect(t.inspect(0).state).toBe('unhealthy')
  })

  it('an ejection ends at its expiry (second resolution, never early) and the breaker is half-open', () => {
    let now = 1_700_000_000_250
    const t = HealthTable.create(4, () => now)
    const until = now + 10_000
    t.recordFailure(1, 'tcp')
    t.recordFailure(1, 'tcp')
    t.markDown(1, until)
    expect(t.isHealthy(1)).toBe(false)
    expect(t.inspect(1).ejectedUntil).toBeGreaterThanOrEqual(until)
    expect(t.inspect(1).ejectedUntil).toBeLessThan(until + 1000)
    now = until - 1
    expect(t.isHealthy(1)).toBe(false)
    now = until + 1000
    expect(t.isHealthy(1)).toBe(true)
    const s = t.inspect(1)
    expect(s.state).toBe('half-open')
    // Failure counters survive the cool-down, so one more failure reaches the threshold again.
    expect(s.tcpFailures).toBe(2)
    expect(t.recordFailure(1, 'tcp')).toBe(3)
    t.markDown(1, now + 5_000)
    expect(t.isHealthy(1)).toBe(false)
    now += 6_000
    expect(t.isHealthy(1)).toBe(true)
  })

  it('a workers clock agrees with the primary\'s base', () => {
    let now = 1_700_000_000_000
    const sab = new SharedArrayBuffer(HealthTable.bytesFor(4))
    const primary = new HealthTable(sab, 4, () => now)
    now += 3_600_000 // worker started an hour later
    const worker = new HealthTable(sab, 4, () => now)
    primary.markDown(2, now + 2_000)
    expect(worker.isHealthy(2)).toBe(false)
    now += 2_000
    expect(worker.isHealthy(2)).toBe(true)
    expect(worker.inspect(2).ejectedUntil).toBe(primary.inspect(2).ejectedUntil)
  })
})

describe('HealthTable across worker threads', () => {
  let dir = ''
  let moduleUrl = ''
  let workerFile = ''

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'health-table-'))
    const js = ts.transpileModule(await readFile(SOURCE, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText
    await writeFile(join(dir, 'health-table.mjs'), js)
    moduleUrl = pathToFileURL(join(dir, 'health-table.mjs')).href
    workerFile = join(dir, 'hammer.mjs')
    await writeFile(workerFile, `
      import { workerData, parentPort } from 'node:worker_threads'
      const { HealthTable } = await import(workerData.moduleUrl)
      const t = new HealthTable(workerData.sab, workerData.slots)
      const go = new Int32Array(workerData.go)
      parentPort.postMessage('ready')
      Atomics.wait(go, 0, 0) // start both workers together
      let last = 0
      for (let i = 0; i < workerData.n; i++) {
        last = t.recordFailure(workerData.slot, 'http')
        if ((i & 1023) === 0) t.recordFailure(workerData.slot + 1, 'tcp')
      }
      parentPort.postMessage(last)
    `)
  })
  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  it('two workers incrementing one counter concurrently lose no count', async () => {
    const slots = 8
    const n = 200_000
    const sab = new SharedArrayBuffer(HealthTable.bytesFor(slots))
    const table = new HealthTable(sab, slots)
    const go = new SharedArrayBuffer(4)
    const ready: Promise<void>[] = []
    const done: Promise<number>[] = []
    const workers: Worker[] = []
    for (let w = 0; w < 2; w++) {
      const worker = new Worker(workerFile, { workerData: { moduleUrl, sab, slots, slot: 2, n, go } })
      workers.push(worker)
      ready.push(new Promise((resolve, reject) => {
        worker.once('message', () => resolve())
        worker.once('error', reject)
      }))
      done.push(new Promise((resolve, reject) => {
        worker.on('message', (m: unknown) => { if (typeof m === 'number') resolve(m) })
        worker.once('error', reject)
      }))
    }
    try {
      // Release both workers at once, after each reported it is about to block on the start flag.
      await Promise.all(ready)
      Atomics.store(new Int32Array(go), 0, 1)
      Atomics.notify(new Int32Array(go), 0)
      const lasts = await Promise.all(done)
      expect(table.inspect(2).httpFailures).toBe(2 * n)
      expect(table.inspect(2).totalFailures).toBe(2 * n)
      expect(table.inspect(3).tcpFailures).toBe(2 * Math.ceil(n / 1024))
      // The final add of whichever worker finished last saw the full count.
      expect(Math.max(...lasts)).toBe(2 * n)
    } finally {
      for (const w of workers) await w.terminate()
    }
  })
})
