// Keeps stdout for the access log alone: the uWS build prints diagnostics ("finding <name>", "Browsed to SNI:
// <name>" per TLS handshake) with C printf to descriptor 1, which JavaScript cannot silence or redirect with dup2.
import { closeSync, constants, fstatSync, openSync } from 'node:fs'
import type { Settings } from '../settings.js'

/** `fd:N`: the access log's own descriptor for what was stdout (GATEWAY_ACCESS_LOG=stdout once claimed). */
export const FD_TARGET = /^fd:(\d+)$/

/**
 * Run once in the primary before any worker starts. Opens a descriptor of the access log's own on stdout's pipe
 * or file (/proc/self/fd/1: non-blocking for a pipe or terminal, O_APPEND for a file), then points descriptor 1
 * at stderr: closing it and opening stderr again reuses the lowest free number, which is 1 (POSIX open), so
 * native printf output lands on stderr with the process log. Returns the settings with the access log on `fd:N`
 * (threads share descriptors). Stdout stays shared when it cannot be reopened (a socket, no /proc).
 */
export function claimStdout(settings: Settings): Settings {
  if (settings.accessLog !== 'stdout') return settings
  let own: number
  try {
    const file = fstatSync(1).isFile()
    own = openSync('/proc/self/fd/1', constants.O_WRONLY | (file ? constants.O_APPEND : constants.O_NONBLOCK))
  } catch {
    return settings
  }
  closeSync(1)
  let moved = -1
  for (const target of ['/proc/self/fd/2', '/dev/null']) {
    try {
      moved = openSync(target, 'a')
      break
    } catch {
      // stderr cannot be reopened (a socket): printf output goes nowhere instead
    }
  }
  // Anything but 1 means another thread took the number in between: give ours back rather than keep a stray.
  if (moved !== 1 && moved !== -1) closeSync(moved)
  return { ...settings, accessLog: `fd:${own}` }
}
