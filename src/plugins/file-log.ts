// Kong's file-log: each request the plugin applies to is appended to `path` as one JSON line (the shared
// log serializer, request headers included), through an asynchronous destination shared per file per worker.
import { isAbsolute, resolve } from 'node:path'
import { bool, record, str } from '../config/schema.js'
import { serializeLog } from '../observability/log-serializer.js'
import { lineSink, type LineSink } from '../observability/log-stream.js'
import { customFieldsByLua } from './log-fields.js'
import { definePlugin, type PrepareResult, type RequestLog } from './types.js'

export interface FileLogConfig {
  readonly sink: LineSink
}

/** A relative path is the config file's directory's, as the other files a config names (protos). */
function prepare(config: Record<string, unknown>, baseDir: string): PrepareResult {
  const path = config.path as string
  return { ok: true, data: isAbsolute(path) ? path : resolve(baseDir, path) }
}

function log(entry: RequestLog, c: FileLogConfig): void {
  c.sink.write(JSON.stringify(serializeLog(entry, true)) + '\n')
}

export default definePlugin<FileLogConfig>({
  name: 'file-log',
  priority: 9,
  schema: record({
    // Kong's pattern: no shell metacharacters in the file name.
    path: str({ required: true, match: /^[^*&%`]+$/, matchError: 'not a valid filename' }),
    // true: the file is opened for each batch of lines, so a rotated (moved) file is let go of at once.
    reopen: bool({ default: false, required: true }),
    custom_fields_by_lua: customFieldsByLua(),
  }),
  prepare,
  compile: (c, _env, instance) => ({ sink: lineSink((instance.prepared as string | undefined) ?? resolve(c.path as string), c.reopen === true) }),
  phases: { log },
})
