// The JS side of the native HTTP/1.x response parser: one native call per socket read, event records → ResponseSink calls.
// Strings are made once per header, hop-by-hop headers are dropped by kind (no string compares), body chunks are views.
import { createRequire } from 'node:module'
import {
  BODY_KIND,
  DEFAULT_MAX_HEAD_BYTES,
  ERROR,
  ERROR_REASON,
  EVENT,
  EVENT_HEADER_KIND_SHIFT,
  EVENT_HEADER_NAME_SHIFT,
  EVENT_HEADER_OTHER,
  EVENT_HEADER_VALUE_SHIFT,
  EVENT_HEADROOM,
  EVENT_STRIDE,
  HEADER_KIND,
  KNOWN_HEADER_NAMES,
  KNOWN_HEADER_VALUES,
  PAUSE,
} from './constants.js'

export { ERROR, ERROR_REASON } from './constants.js'

/** How the body is delimited. */
export const BodyKind = BODY_KIND
export type BodyKind = (typeof BODY_KIND)[keyof typeof BODY_KIND]

export interface ResponseSink {
  /**
   * Status line + all headers parsed. `headers` is a flat [name, value, name, value, …] of latin1
   * strings as received (original case), hop-by-hop headers (Connection, the names listed in
   * Connection, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-*) and Content-Length
   * already removed. `contentLength` is the Content-Length value when the body is length-delimited
   * (LENGTH), and also for responses to HEAD and for 304 when the upstream sent one (the size the
   * body would have had, for the relay to forward); otherwise -1. Not called for 1xx responses (they
   * are skipped); 101 is reported like any other status (then onComplete(false), see upgradeOffset).
   */
  onHead(status: number, reason: string, headers: string[], contentLength: number, bodyKind: BodyKind, keepAlive: boolean): void
  /** A piece of the body, de-chunked: a Buffer VIEW into the chunk given to execute() (valid only during the call). */
  onBody(chunk: Buffer): void
  /**
   * The message ended (all body bytes delivered, trailers consumed). `keepAlive` = the connection
   * may be reused: HTTP/1.1 without Connection: close, or HTTP/1.0 with keep-alive; the body was
   * not close-delimited; not a 101; and no bytes followed the message in the same read.
   */
  onComplete(keepAlive: boolean): void
}

declare const kHandle: unique symbol
type NativeHandle = { readonly [kHandle]: true }

interface NativeParser {
  create(events: Int32Array, capacity: number, maxHead: number): NativeHandle
  execute(handle: NativeHandle, chunk: Uint8Array, offset: number, fresh: boolean): number
  reset(handle: NativeHandle, skipBody: boolean): void
  finish(handle: NativeHandle): number
  setMaxHead(handle: NativeHandle, bytes: number): void
  reason(handle: NativeHandle): string | null
}

/** Where the addon may be: next to this module (src/, tsx, vitest) or, from dist/http1/, in the source tree. */
const ADDON_PATHS = ['./build/Release/gw_resp.node', '../../src/http1/build/Release/gw_resp.node']

let nativeParser: NativeParser | null = null

/** Loads the addon on first use (and only once). */
function loadNative(): NativeParser {
  if (nativeParser !== null) return nativeParser
  const require = createRequire(import.meta.url)
  const problems: string[] = []
  for (const path of ADDON_PATHS) {
    try {
      nativeParser = require(path) as NativeParser
      return nativeParser
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      if (e.code !== 'MODULE_NOT_FOUND') problems.push(`${path}: ${e.message}`)
    }
  }
  throw new Error(
    'The native HTTP/1 response parser (gw_resp.node) is not built: run `npm run build:parser` ' +
      '(needs python3 and a C compiler for node-gyp)' +
      (problems.length > 0 ? `. Loading failed with: ${problems.join('; ')}` : '.'),
  )
}

/** Buffer#latin1Slice: what Buffer#toString('latin1', …) calls, without its argument checks. */
interface Latin1Slicer {
  latin1Slice(start: number, end: number): string
}
function latin1(buf: Buffer, start: number, length: number): string {
  return length === 0 ? '' : (buf as unknown as Latin1Slicer).latin1Slice(start, start + length)
}

/** RFC 9110 §15 reason phrases: the usual reason is reused instead of sliced when the bytes match. */
const REASONS: string[] = []
for (const [code, text] of Object.entries({
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 206: 'Partial Content',
  301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 304: 'Not Modified', 307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict',
  410: 'Gone', 412: 'Precondition Failed', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Entity',
  429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout', 101: 'Switching Protocols',
})) REASONS[Number(code)] = text

function reasonString(buf: Buffer, off: number, len: number, status: number): string {
  const known = REASONS[status]
  if (known !== undefined && known.length === len) {
    let i = 0
    while (i < len && buf[off + i] === known.charCodeAt(i)) i++
    if (i === len) return known
  }
  return latin1(buf, off, len)
}

/** Drops trailing SP/HTAB (a value stitched from pieces may end with OWS the native side could not see). */
function trimOws(s: string): string {
  let end = s.length
  while (end > 0) {
    const c = s.charCodeAt(end - 1)
    if (c !== 0x20 && c !== 0x09) break
    end--
  }
  return end === s.length ? s : s.slice(0, end)
}

/** `timeout=N` of a Keep-Alive header value (seconds), or -1. */
function keepAliveTimeout(value: string): number {
  const at = value.toLowerCase().indexOf('timeout=')
  if (at < 0) return -1
  let n = 0
  let digits = 0
  for (let i = at + 8; i < value.length; i++) {
    const c = value.charCodeAt(i) - 48
    if (c < 0 || c > 9) break
    n = n * 10 + c
    digits++
  }
  return digits > 0 ? n : -1
}

/** Placeholder until a status line arrives (never pushed to: STATUS makes the response's own array). */
const NO_HEADERS: string[] = []

/** Default number of event records per native call; a read with more pauses and resumes. */
export const DEFAULT_EVENT_CAPACITY = 1024

/**
 * Parses one upstream connection's responses. Not re-entrant: don't call execute() from a sink
 * callback. reset() from inside a callback (e.g. a pool handing the socket to the next request in
 * onComplete) is fine: the current execute() stops dispatching and returns 0.
 */
export class ResponseParser {
  /** Status of the response being parsed / last parsed (0 before the status line). */
  statusCode = 0
  /** 10 for HTTP/1.0, 11 for HTTP/1.1 (and later 1.x). */
  httpVersion = 0
  /** `timeout=` of the upstream's Keep-Alive header in seconds, -1 when absent (for the pool's idle timer). */
  keepAliveTimeout = -1
  /**
   * After a 101 response: the offset in the chunk last given to execute() where the upgraded
   * protocol's bytes start (may equal chunk.length); -1 otherwise. Later reads are not HTTP:
   * execute() then returns ERROR.UPGRADED.
   */
  upgradeOffset = -1

  private readonly sink: ResponseSink
  private readonly native: NativeParser
  private readonly handle: NativeHandle
  private readonly events: Int32Array
  private maxHead: number
  private skipBody = false
  private upgraded = false
  private errorCode = 0
  private errorText = ''
  /** Incremented by reset(), so a dispatch loop notices a reset made by a sink callback. */
  private generation = 0

  // The response being parsed.
  private reason = ''
  private headers: string[] = NO_HEADERS
  private connectionNames: string[] | null = null
  private pendingReason = ''
  private pendingName = ''
  private pendingValue = ''

  constructor(sink: ResponseSink, maxHeadBytes: number = DEFAULT_MAX_HEAD_BYTES, eventCapacity: number = DEFAULT_EVENT_CAPACITY) {
    this.sink = sink
    this.native = loadNative()
    this.maxHead = checkLimit(maxHeadBytes)
    this.events = new Int32Array(EVENT_STRIDE * (1 + eventCapacity + EVENT_HEADROOM))
    this.handle = this.native.create(this.events, eventCapacity, this.maxHead)
  }

  /** Largest response head (status line + headers), chunk-size line or trailer section, in bytes. */
  get maxHeadBytes(): number {
    return this.maxHead
  }

  set maxHeadBytes(bytes: number) {
    this.maxHead = checkLimit(bytes)
    this.native.setMaxHead(this.handle, this.maxHead)
  }

  /** Human-readable reason for the last error ('' when there is none). */
  get errorReason(): string {
    return this.errorText
  }

  /** Call before each request's response is expected. skipBody = true for HEAD requests (the response has headers only). */
  reset(skipBody: boolean): void {
    this.native.reset(this.handle, skipBody)
    this.generation++
    this.skipBody = skipBody
    this.upgraded = false
    this.upgradeOffset = -1
    this.errorCode = 0
    this.errorText = ''
    this.statusCode = 0
    this.httpVersion = 0
    this.keepAliveTimeout = -1
    this.reason = ''
    this.headers = NO_HEADERS
    this.connectionNames = null
    this.pendingReason = ''
    this.pendingName = ''
    this.pendingValue = ''
  }

  /** True when reset() was last called for a HEAD request. */
  get skipsBody(): boolean {
    return this.skipBody
  }

  /**
   * Feeds one socket read. Returns 0 when fine, or an ERROR code (> 0) when the response is
   * malformed; errors are sticky until reset(). 1xx responses before the final one are parsed
   * and skipped. Any byte after the final response (pipelining is never used, so it means a broken
   * upstream) gives ERROR.UNEXPECTED_DATA; when it arrives in the same read, onComplete has
   * already been called with keepAlive = false.
   */
  execute(chunk: Buffer): number {
    if (this.errorCode !== 0) return this.errorCode
    if (this.upgraded) return this.fail(ERROR.UPGRADED)
    const native = this.native
    const handle = this.handle
    const events = this.events
    const generation = this.generation
    let rc = native.execute(handle, chunk, 0, true)
    for (;;) {
      if (rc === PAUSE.UPGRADE) {
        this.upgraded = true
        this.upgradeOffset = events[1]
      }
      if (events[0] !== 0 && !this.dispatch(chunk, generation)) return 0
      if (rc === 0) return 0
      if (rc === PAUSE.FULL) {
        rc = native.execute(handle, chunk, events[1], false)
        continue
      }
      if (rc === PAUSE.UPGRADE) return 0
      return this.fail(rc)
    }
  }

  /**
   * The upstream closed the socket. Returns 0 if that completed a close-delimited body
   * (onComplete(false) called) or if no response was in progress (nothing received since reset(),
   * or the response was complete), else an error code (ERROR.TRUNCATED, or the earlier error).
   */
  finish(): number {
    if (this.errorCode !== 0) return this.errorCode
    const rc = this.native.finish(this.handle)
    if (rc === -1) {
      this.sink.onComplete(false)
      return 0
    }
    return rc === 0 ? 0 : this.fail(rc)
  }

  private fail(code: number): number {
    this.errorCode = code
    this.errorText = (code === ERROR.UPGRADED ? null : this.native.reason(this.handle)) ?? ERROR_REASON[code] ?? `parser error ${code}`
    return code
  }

  /** Replays the records of one native call. Returns false when a callback reset the parser. */
  private dispatch(chunk: Buffer, generation: number): boolean {
    const ev = this.events
    const end = (ev[0] + 1) * EVENT_STRIDE
    const sink = this.sink
    for (let j = EVENT_STRIDE; j < end; j += EVENT_STRIDE) {
      const word = ev[j]
      switch (word & 0xff) {
        case EVENT.BODY:
          sink.onBody(chunk.subarray(ev[j + 1], ev[j + 1] + ev[j + 2]))
          if (this.generation !== generation) return false
          break
        case EVENT.HEADER:
          this.header(chunk, word, ev[j + 1], ev[j + 2], ev[j + 3], ev[j + 4])
          break
        case EVENT.STATUS:
          this.status(chunk, ev[j + 1], ev[j + 2], ev[j + 3], ev[j + 4])
          break
        case EVENT.HEAD_DONE:
          this.headDone(ev[j + 1], ev[j + 3], ev[j + 4])
          if (this.generation !== generation) return false
          break
        case EVENT.COMPLETE:
          sink.onComplete(ev[j + 1] === 1)
          if (this.generation !== generation) return false
          break
        case EVENT.NAME_PIECE:
          this.pendingName += latin1(chunk, ev[j + 1], ev[j + 2])
          break
        case EVENT.VALUE_PIECE:
          this.pendingValue += latin1(chunk, ev[j + 1], ev[j + 2])
          break
        case EVENT.REASON_PIECE:
          this.pendingReason += latin1(chunk, ev[j + 1], ev[j + 2])
          break
      }
    }
    return true
  }

  private status(chunk: Buffer, off: number, len: number, status: number, version: number): void {
    if (this.pendingReason.length === 0) {
      this.reason = reasonString(chunk, off, len, status)
    } else {
      this.reason = this.pendingReason + latin1(chunk, off, len)
      this.pendingReason = ''
    }
    this.statusCode = status
    this.httpVersion = version
    this.headers = []
    this.connectionNames = null
  }

  private header(chunk: Buffer, word: number, nameOff: number, nameLen: number, valueOff: number, valueLen: number): void {
    const kind = (word >> EVENT_HEADER_KIND_SHIFT) & 0xf
    if (kind === HEADER_KIND.GENERAL) {
      // The native side gives ids for common names/values (only when not split across reads).
      const nameId = (word >> EVENT_HEADER_NAME_SHIFT) & 0xff
      const valueId = (word >> EVENT_HEADER_VALUE_SHIFT) & 0x7f
      let name = nameId !== 0 ? KNOWN_HEADER_NAMES[nameId] : latin1(chunk, nameOff, nameLen)
      let value = valueId !== 0 ? KNOWN_HEADER_VALUES[valueId] : latin1(chunk, valueOff, valueLen)
      if (this.pendingName.length !== 0) {
        name = this.pendingName + name
        this.pendingName = ''
      }
      if (this.pendingValue.length !== 0) {
        value = trimOws(this.pendingValue + value)
        this.pendingValue = ''
      }
      this.headers.push(name, value)
      return
    }
    // Content-Length and hop-by-hop headers are dropped; two of them carry something we keep.
    if ((word & EVENT_HEADER_OTHER) !== 0 || kind === HEADER_KIND.KEEP_ALIVE) {
      let value = latin1(chunk, valueOff, valueLen)
      if (this.pendingValue.length !== 0) value = trimOws(this.pendingValue + value)
      if (kind === HEADER_KIND.KEEP_ALIVE) this.keepAliveTimeout = keepAliveTimeout(value)
      else this.addConnectionNames(value)
    }
    this.pendingName = ''
    this.pendingValue = ''
  }

  /** RFC 9110 §7.6.1: the field names listed in Connection are hop-by-hop too. */
  private addConnectionNames(value: string): void {
    const names = this.connectionNames ?? (this.connectionNames = [])
    for (const token of value.split(',')) {
      const name = token.trim().toLowerCase()
      if (name.length !== 0) names.push(name)
    }
  }

  private headDone(kindAndKeepAlive: number, lengthLow: number, lengthHigh: number): void {
    const names = this.connectionNames
    let headers = this.headers
    if (names !== null) {
      const kept: string[] = []
      for (let i = 0; i < headers.length; i += 2) {
        if (!names.includes(headers[i].toLowerCase())) kept.push(headers[i], headers[i + 1])
      }
      headers = this.headers = kept
    }
    const contentLength = lengthHigh * 4294967296 + (lengthLow >>> 0)
    this.sink.onHead(this.statusCode, this.reason, headers, contentLength, (kindAndKeepAlive & 0xff) as BodyKind, (kindAndKeepAlive >> 8) === 1)
  }
}

function checkLimit(bytes: number): number {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > 0x7fffffff) {
    throw new RangeError(`maxHeadBytes must be an integer between 1 and 2^31-1, got ${bytes}`)
  }
  return bytes
}
