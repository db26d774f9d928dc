// The process-wide access log (GATEWAY_ACCESS_LOG): one JSON line per finished request in Kong's
// log-serializer shape, handed to a buffered line sink so the worker never waits for the disk or the pipe.
import type { RequestLog } from '../plugins/types.js'
import type { Settings } from '../settings.js'
import { serializeLog } from './log-serializer.js'
import { lineSink } from './log-stream.js'

/**
 * The worker's access-log writer, or null when GATEWAY_ACCESS_LOG=off. The line is JSON.stringify of the
 * serialized record handed to a line sink (log-stream: batched non-blocking writes for a stdout pipe, pino's
 * sonic-boom for files), not a pino logger call: logger.info(record) measured ~40% slower per line and adds a
 * `level` field Kong's shape lacks. Request headers are left out (file-log and http-log carry them, as Kong's do).
 */
export function createAccessLog(settings: Settings): ((log: RequestLog) => void) | null {
  if (settings.accessLog === 'off') return null
  const sink = lineSink(settings.accessLog)
  return (log) => sink.write(JSON.stringify(serializeLog(log, false)) + '\n')
}
