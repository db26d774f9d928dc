// Schema fields shared by the log and tracing plugins (file-log, http-log, opentelemetry): Kong's
// typedefs.queue, and what Kong's Lua-only fields become here.
import { int, mapOf, num, record, str, type EntityCheck, type Field, type RecordField } from '../config/schema.js'

/** Kong's custom_fields_by_lua: accepted as a shape, refused when set (there is no Lua sandbox to run it in). */
export const customFieldsByLua = (): Field =>
  mapOf(str({ minLength: 1 }), str({ minLength: 1 }), {
    custom: (v: Record<string, unknown>) => (Object.keys(v).length === 0 ? null : 'is not supported: the gateway runs no Lua; log entries have the fixed serializer shape'),
  })

/** Kong's typedefs.queue (kong/tools/queue_schema.lua), with the plugin's default batch size. */
export const queueRecord = (maxBatchSize: number, checks: readonly EntityCheck[] = []): RecordField => record({
  max_batch_size: int({ between: [1, 1_000_000], default: maxBatchSize }),
  max_coalescing_delay: num({ between: [0, 3600], default: 1 }),
  max_entries: int({ between: [1, 1_000_000], default: 10_000 }),
  max_bytes: int({ min: 1 }),
  max_retry_time: num({ default: 60 }),
  initial_retry_delay: num({ between: [0.001, 1_000_000], default: 0.01 }),
  max_retry_delay: num({ between: [0.001, 1_000_000], default: 60 }),
  concurrency_limit: int({ oneOf: [-1, 1], default: 1 }),
}, { checks })
