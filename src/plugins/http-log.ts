// Kong's http-log: each request's serialized entry is queued (never blocking the request) and delivered to
// `http_endpoint` in batches — one JSON object when max_batch_size is 1, else a JSON array — with retries.
import { int, mapOf, num, oneOf, record, str } from '../config/schema.js'
import { headerNameError, httpUrl } from '../config/typedefs.js'
import { BatchQueue, type QueueOptions } from '../observability/batch-queue.js'
import { serializeLog } from '../observability/log-serializer.js'
import { atWorkerExit } from '../observability/shutdown.js'
import { HttpLogSender } from './http-log-sender.js'
import { customFieldsByLua, queueRecord } from './log-fields.js'
import { definePlugin, type PluginEnv, type PluginScope, type RequestLog } from './types.js'

export interface HttpLogConfig {
  readonly queue: BatchQueue
}

/** Kong refuses these in `headers`: the plugin sets them itself. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'content-type'])
/** At most one warning per queue and kind of loss (dropped, given up) in this interval. */
const WARN_INTERVAL_MS = 10_000
/** How long a draining worker waits for queued batches to be delivered. */
const EXIT_FLUSH_MS = 2_000

const logHeaderName = str({
  custom: (s: string) => headerNameError(s) ?? (RESERVED_HEADERS.has(s.toLowerCase()) ? `cannot contain '${s}' header` : null),
})

/** Kong 3.x's deprecated top-level fields still win over the queue defaults when set, as Kong maps them. */
function queueOptions(c: Record<string, unknown>): QueueOptions {
  const q = c.queue as Record<string, unknown>
  return {
    maxBatchSize: (c.queue_size as number | null) ?? (q.max_batch_size as number),
    maxCoalescingDelay: (c.flush_timeout as number | null) ?? (q.max_coalescing_delay as number),
    maxEntries: q.max_entries as number,
    maxBytes: q.max_bytes as number | null,
    maxRetryTime: q.max_retry_time as number,
    initialRetryDelay: q.initial_retry_delay as number,
    maxRetryDelay: q.max_retry_delay as number,
    maxRetries: c.retry_count as number | null,
    concurrencyLimit: q.concurrency_limit as 1 | -1,
  }
}

/**
 * One queue per plugin instance and config per worker, kept across reloads that leave them unchanged, so a
 * reload neither loses queued entries nor opens a second connection pool to the endpoint.
 */
const queues = new Map<string, BatchQueue>()

function compile(c: Record<string, unknown>, env: PluginEnv, instance: PluginScope): HttpLogConfig {
  const key = instance.id + '\n' + JSON.stringify(c)
  const existing = queues.get(key)
  if (existing !== undefined) return { queue: existing }
  const sender = new HttpLogSender({
    url: new URL(c.http_endpoint as string),
    method: c.method as string,
    contentType: c.content_type as string,
    timeoutMs: c.timeout as number,
    keepaliveMs: c.keepalive as number,
    headers: (c.headers as Record<string, string> | null) ?? {},
  })
  const opts = queueOptions(c)
  const single = opts.maxBatchSize === 1
  const warnedAt = { dropped: 0, failed: 0 }
  const queue = new BatchQueue(opts, (batch) => sender.send(single ? batch[0]! : '[' + batch.join(',') + ']'), (what, count) => {
    const now = Date.now()
    if (now - warnedAt[what] < WARN_INTERVAL_MS) return
    warnedAt[what] = now
    env.log.warn({ plugin: 'http-log', instance: instance.id, endpoint: sender.endpoint, [what]: count }, what === 'dropped'
      ? 'http-log queue full: oldest entries dropped' : 'http-log batches given up after their retries')
  })
  queues.set(key, queue)
  atWorkerExit(async (timeoutMs) => {
    await queue.flush(Math.min(timeoutMs, EXIT_FLUSH_MS))
    sender.close()
  })
  return { queue }
}

function log(entry: RequestLog, c: HttpLogConfig): void {
  c.queue.add(JSON.stringify(serializeLog(entry, true)))
}

const deprecated = (instead: string): string => `deprecated (Kong 3.x): use ${instead}`

export default definePlugin<HttpLogConfig>({
  name: 'http-log',
  priority: 12,
  schema: record({
    http_endpoint: httpUrl({ required: true }),
    method: oneOf(['POST', 'PUT', 'PATCH'], 'POST'),
    content_type: oneOf(['application/json', 'application/json; charset=utf-8'], 'application/json'),
    timeout: num({ min: 1, default: 10_000 }),
    keepalive: num({ min: 1, default: 60_000 }),
    // Kong 3.x ignores it; here it still caps a batch's retries (on top of queue.max_retry_time).
    retry_count: int({ min: 0, warn: deprecated('queue.max_retry_time (retry_count still caps the retries here)') }),
    queue_size: int({ min: 1, warn: deprecated('queue.max_batch_size') }),
    flush_timeout: num({ min: 0, warn: deprecated('queue.max_coalescing_delay') }),
    headers: mapOf(logHeaderName, str()),
    queue: queueRecord(1),
    custom_fields_by_lua: customFieldsByLua(),
  }),
  compile,
  phases: { log },
})
