// The process logger (pino, JSON lines on stderr so stdout stays free for the access log).
// Workers create their own with `component` set; nothing here is on the per-request path.
import { pino, type Logger } from 'pino'

export type { Logger }

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } }, pino.destination({ fd: 2, sync: true }))
}
