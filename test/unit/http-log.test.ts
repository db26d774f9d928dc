// http-log's queue (batching, bounds, retries) and the plugin delivering to a real HTTP receiver.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { newReport, validateRecord } from '../../src/config/schema.js'
import { BatchQueue, type QueueOptions } from '../../src/observability/batch-queue.js'
import httpLog from '../../src/plugins/http-log.js'
import type { RequestLog } from '../../src/plugins/types.js'
import { compilePlugin, fakeRequest } from '../helpers/plugins.js'

const QUEUE: QueueOptions = {
  maxBatchSize: 3, maxCoalescingDelay: 0.02, maxEntries: 100, maxBytes: null, maxRetryTime: 60,
  initialRetryDelay: 0.005, maxRetryDelay: 0.02, maxRetries: null, concurrencyLimit: 1,
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** A handler whose batches stay in flight until release() is called. */
function heldHandler(): { batches: string[][]; release(): void; handler: (b: string[]) => Promise<boolean> } {
  const batches: string[][] = []
  const waiting: (() => void)[] = []
  return {
    batches,
    release: () => waiting.splice(0).forEach((r) => r()),
    handler: (b) => {
      batches.push(b)
      return new Promise((resolve) => waiting.push(() => resolve(true)))
    },
  }
}

describe('BatchQueue', () => {
  it('sends full batches at once and the rest after the coalescing delay, one batch at a time', async () => {
    const batches: string[][] = []
    const q = new BatchQueue(QUEUE, async (b) => {
      batches.push(b)
      return true
    })
    for (let i = 1; i <= 7; i++) q.add(String(i))
    await until(() => q.counts.sent === 7, 'all entries sent')
    expect(batches).toEqual([['1', '2', '3'], ['4', '5', '6'], ['7']])
    expect(q.counts).toEqual({ queued: 7, sent: 7, dropped: 0, failed: 0, retries: 0 })
  })

  it('drops the oldest waiting entries past max_entries and counts them', async () => {
    const held = heldHandler()
    const lost: number[] = []
    const q = new BatchQueue({ ...QUEUE, maxBatchSize: 1, maxEntries: 2 }, held.handler, (_what, n) => lost.push(n))
    for (let i = 1; i <= 5; i++) q.add(String(i))
    // '1' is in flight; of 2..5 only the newest two may wait.
    expect(held.batches).toEqual([['1']])
    expect(q.size).toBe(2)
    expect(q.counts.dropped).toBe(2)
    expect(lost).toEqual([1, 2])
    held.release()
    await until(() => held.batches.length === 2, 'second batch')
    held.release()
    await until(() => held.batches.length === 3, 'third batch')
    held.release()
    await until(() => q.counts.sent === 3, 'sent')
    expect(held.batches).toEqual([['1'], ['4'], ['5']])
  })

  it('with concurrency_limit -1 sends batches without waiting for the ones in flight', () => {
    const held = heldHandler()
    const q = new BatchQueue({ ...QUEUE, maxBatchSize: 2, concurrencyLimit: -1 }, held.handler)
    for (let i = 1; i <= 5; i++) q.add(String(i))
    expect(held.batches).toEqual([['1', '2'], ['3', '4']])
    held.release()
  })

  it('bounds the waiting bytes with max_bytes', () => {
    const held = heldHandler()
    const q = new BatchQueue({ ...QUEUE, maxBatchSize: 1, maxBytes: 10 }, held.handler)
    q.add('first')
    for (const e of ['aaaa', 'bbbb', 'cccc']) q.add(e)
    expect(q.size).toBe(2)
    expect(q.counts.dropped).toBe(1)
    held.release()
  })

  it('retries a failed batch with backoff until it is delivered', async () => {
    let calls = 0
    const q = new BatchQueue({ ...QUEUE, maxBatchSize: 1 }, async () => ++calls >= 3)
    q.add('x')
    await until(() => q.counts.sent === 1, 'delivery')
    expect(calls).toBe(3)
    expect(q.counts.retries).toBe(2)
    expect(q.counts.failed).toBe(0)
  })

  it('gives a batch up after retry_count retries (a rejecting handler counts as a failure)', async () => {
    let calls = 0
    const q = new BatchQueue({ ...QUEUE, maxBatchSize: 2, maxRetries: 2 }, () => {
      calls++
      return Promise.reject(new Error('down'))
    })
    q.add('a')
    q.add('b')
    await until(() => q.counts.failed === 2, 'give-up')
    expect(calls).toBe(3)
    expect(q.counts.sent).toBe(0)
  })

  it('gives a batch up when the next retry would pass max_retry_time', async () => {
    let calls = 0
    const q = new BatchQueue({ ...QUEUE, maxBatchSize: 1, maxRetryTime: 0.05, initialRetryDelay: 0.02, maxRetryDelay: 1 }, async () => {
      calls++
      return false
    })
    q.add('a')
    await until(() => q.counts.failed === 1, 'give-up')
    // delays 20 ms then 40 ms: the second retry would end past 50 ms.
    expect(calls).toBe(2)
  })

  it('flush sends a partial batch at once and waits for it', async () => {
    const batches: string[][] = []
    const q = new BatchQueue({ ...QUEUE, maxBatchSize: 10, maxCoalescingDelay: 3600 }, async (b) => {
      batches.push(b)
      return true
    })
    q.add('a')
    q.add('b')
    await q.flush(2000)
    expect(batches).toEqual([['a', 'b']])
  })
})

interface Received {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  body: string
}

let servers: http.Server[] = []
afterEach(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  servers = []
})

async function receiver(status = 200): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body })
      res.writeHead(status).end()
    })
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received }
}

function entry(status: number): RequestLog {
  return {
    request: fakeRequest(), status, startedAt: Date.now(), totalMs: 3, proxyMs: 1, upstreamMs: 2, bytesIn: 0, bytesOut: 5,
    upstreamTarget: '127.0.0.1:9', upstreamUri: '/x', aborted: false, cacheStatus: '', rateLimited: false,
  }
}

function problems(config: Record<string, unknown>): { errors: string[]; warnings: string[] } {
  const report = newReport()
  validateRecord(httpLog.schema, config, 'config', report)
  return { errors: report.errors.map((e) => `${e.path}: ${e.message}`), warnings: report.warnings.map((w) => `${w.path}: ${w.message}`) }
}

describe('http-log plugin', () => {
  it('delivers batches as JSON arrays with the configured method, content type and headers', async () => {
    const r = await receiver()
    const conf = compilePlugin(httpLog, {
      http_endpoint: r.url + '/logs?x=1', method: 'PUT', content_type: 'application/json; charset=utf-8',
      headers: { 'X-Api-Key': 'k1' }, queue: { max_batch_size: 2, max_coalescing_delay: 0.01 },
    })
    for (const status of [200, 404, 500]) httpLog.phases.log!(entry(status), conf)
    await until(() => r.received.length === 2, 'two batches')
    expect(r.received.map((x) => x.method)).toEqual(['PUT', 'PUT'])
    expect(r.received[0]!.url).toBe('/logs?x=1')
    expect(r.received[0]!.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(r.received[0]!.headers['x-api-key']).toBe('k1')
    const batches = r.received.map((x) => (JSON.parse(x.body) as { response: { status: number } }[]).map((e) => e.response.status))
    expect(batches).toEqual([[200, 404], [500]])
  })

  it('sends one JSON object per request when max_batch_size is 1, with Basic credentials from the URL', async () => {
    const r = await receiver()
    const url = new URL(r.url)
    const conf = compilePlugin(httpLog, { http_endpoint: `http://user:p%40ss@${url.host}/in` }, undefined, 'single-instance')
    httpLog.phases.log!(entry(204), conf)
    await until(() => r.received.length === 1, 'one request')
    const body = JSON.parse(r.received[0]!.body) as { response: { status: number }; request: { headers: Record<string, string> } }
    expect(body.response.status).toBe(204)
    expect(body.request.headers.host).toBe('gw.local:8000')
    expect(r.received[0]!.headers.authorization).toBe('Basic ' + Buffer.from('user:p@ss').toString('base64'))
  })

  it('retries a batch the receiver refused', async () => {
    const r = await receiver(503)
    const conf = compilePlugin(httpLog, { http_endpoint: r.url, retry_count: 2, queue: { initial_retry_delay: 0.005, max_retry_delay: 0.01 } }, undefined, 'retry-instance')
    httpLog.phases.log!(entry(200), conf)
    await until(() => r.received.length === 3, 'first try and two retries')
    await until(() => conf.queue.counts.failed === 1, 'give-up')
  })

  it("validates Kong's fields: reserved headers and Lua are refused, deprecated fields warn", () => {
    expect(problems({}).errors).toEqual(['config.http_endpoint: required field missing'])
    expect(problems({ http_endpoint: 'ftp://x' }).errors).toEqual(['config.http_endpoint: must be an absolute http or https URL'])
    expect(problems({ http_endpoint: 'http://x', headers: { Host: 'a' } }).errors).toEqual(["config.headers.Host: cannot contain 'Host' header"])
    expect(problems({ http_endpoint: 'http://x', custom_fields_by_lua: { a: 'return 1' } }).errors[0]).toMatch(/^config.custom_fields_by_lua: is not supported/)
    expect(problems({ http_endpoint: 'http://x', method: 'GET' }).errors).toEqual(['config.method: expected one of: POST, PUT, PATCH'])
    expect(problems({ http_endpoint: 'http://x', queue: { concurrency_limit: 2 } }).errors).toEqual(['config.queue.concurrency_limit: expected one of: -1, 1'])
    const deprecated = problems({ http_endpoint: 'http://x', queue_size: 5, flush_timeout: 2, retry_count: 1 })
    expect(deprecated.errors).toEqual([])
    expect(deprecated.warnings.map((w) => w.split(':')[0])).toEqual(['config.retry_count', 'config.queue_size', 'config.flush_timeout'])
  })
})
