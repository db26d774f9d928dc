// Writes a block of response header lines to uWS in one call (the hot path's header relay and
// every gateway-made answer use it).
import type { HttpResponse } from '../uws.js'

/**
 * Writes header lines with one uWS call. uWS's writeHeader(key, value) appends `key: value\r\n`
 * verbatim, and each call costs ~200 ns (measured), so the block goes in as the first line's key and
 * everything after it as the "value". This is safe only because no line can smuggle CR/LF: upstream
 * names and values were checked by the parser, request ids are validated, latencies are numbers.
 * Bytes go as latin1 Buffers so obs-text in upstream values is relayed unchanged (a string would be
 * re-encoded as UTF-8 by uWS).
 */
export function writeHeaderBlock(res: HttpResponse, block: string): void {
  // uWS copies the bytes into its own buffer during the call, so one scratch buffer serves all.
  const length = block.length > HEADER_SCRATCH.length ? -1 : HEADER_SCRATCH.write(block, 0, 'latin1')
  const bytes = length < 0 ? Buffer.from(block, 'latin1') : HEADER_SCRATCH
  const colon = block.indexOf(': ')
  res.writeHeader(bytes.subarray(0, colon), bytes.subarray(colon + 2, length < 0 ? bytes.length : length))
}

/** Scratch space for writeHeaderBlock; larger header blocks get their own buffer. */
const HEADER_SCRATCH = Buffer.allocUnsafe(16 * 1024)
