// Writes a block of response header lines to uWS in one call (the hot path's header relay and
// every gateway-made answer use it).
import type { HttpResponse } from '../uws.js'

/** uWS writes `key: value\r\n`; every block starts with our X-Request-Id, so the key is a constant. */
const REQUEST_ID = Buffer.from('X-Request-Id')

/**
 * Writes `X-Request-Id: <id>` and then `lines` (complete `Name: value\r\n` lines, or '') with one uWS
 * call: uWS's writeHeader(key, value) appends `key: value\r\n` verbatim and each call costs ~200 ns
 * (measured), so every line after the first goes into the "value". This is safe only because no line
 * can smuggle CR/LF: upstream names and values were checked by the parser, request ids are validated,
 * plugin lines are built from validated names and numbers. Bytes go as latin1 so obs-text in upstream
 * values is relayed unchanged (a string would be re-encoded as UTF-8 by uWS).
 */
export function writeHeaderLines(res: HttpResponse, requestId: string, lines: string): void {
  const text = lines === '' ? requestId : requestId + '\r\n' + lines
  // The last line's CRLF is the one uWS appends.
  const end = lines === '' ? text.length : text.length - 2
  // uWS copies the bytes into its own buffer during the call, so one scratch buffer serves all.
  const bytes = text.length <= HEADER_SCRATCH.length ? HEADER_SCRATCH : Buffer.allocUnsafe(text.length)
  bytes.write(text, 0, 'latin1')
  res.writeHeader(REQUEST_ID, bytes.subarray(0, end))
}

/** Scratch space for writeHeaderLines; larger header blocks get their own buffer. */
const HEADER_SCRATCH = Buffer.allocUnsafe(16 * 1024)
