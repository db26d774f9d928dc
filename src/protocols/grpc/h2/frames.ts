// HTTP/2 framing (RFC 9113 §4, §6): frame types, flags, error codes, the 9-byte frame header, and a reader
// that reassembles frames across socket reads, copying only a frame that spans reads.

export const FRAME_HEADER_BYTES = 9
/** The client connection preface (RFC 9113 §3.4), sent before our first SETTINGS. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

/** Frame types (RFC 9113 §6); PRIORITY (0x2) and unknown types are read and ignored. */
export const DATA = 0x0
export const HEADERS = 0x1
export const RST_STREAM = 0x3
export const SETTINGS = 0x4
export const PUSH_PROMISE = 0x5
export const PING = 0x6
export const GOAWAY = 0x7
export const WINDOW_UPDATE = 0x8
export const CONTINUATION = 0x9

export const FLAG_END_STREAM = 0x1
export const FLAG_ACK = 0x1
export const FLAG_END_HEADERS = 0x4
export const FLAG_PADDED = 0x8
export const FLAG_PRIORITY = 0x20

/** The SETTINGS identifiers this client acts on (RFC 9113 §6.5.2). */
export const SETTINGS_ENABLE_PUSH = 0x2
export const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
export const SETTINGS_INITIAL_WINDOW_SIZE = 0x4
export const SETTINGS_MAX_FRAME_SIZE = 0x5

/** The error codes this client sends or acts on (RFC 9113 §7). */
export const NO_ERROR = 0x0
export const PROTOCOL_ERROR = 0x1
export const INTERNAL_ERROR = 0x2
export const FLOW_CONTROL_ERROR = 0x3
export const FRAME_SIZE_ERROR = 0x6
export const REFUSED_STREAM = 0x7
export const CANCEL = 0x8
export const COMPRESSION_ERROR = 0x9

/** The smallest SETTINGS_MAX_FRAME_SIZE a peer may announce, and the default until it does. */
export const DEFAULT_MAX_FRAME_SIZE = 16384
/** The largest flow-control window (2^31-1). */
export const MAX_WINDOW = 0x7fffffff

/** Writes a frame header at `at`; the payload follows at `at + 9`. */
export function writeFrameHeader(out: Buffer, at: number, length: number, type: number, flags: number, streamId: number): void {
  out[at] = length >>> 16
  out[at + 1] = (length >>> 8) & 0xff
  out[at + 2] = length & 0xff
  out[at + 3] = type
  out[at + 4] = flags
  out.writeUInt32BE(streamId & MAX_WINDOW, at + 5)
}

/** A whole frame with the given payload, in one new buffer. */
export function frame(type: number, flags: number, streamId: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length)
  writeFrameHeader(out, 0, payload.length, type, flags, streamId)
  out.set(payload, FRAME_HEADER_BYTES)
  return out
}

/** Receives every complete frame; `payload` is only valid during the call (often a view of a socket read). */
export interface FrameSink {
  onFrame(type: number, flags: number, streamId: number, payload: Buffer): void
}

export class FrameReader {
  private readonly sink: FrameSink
  /** Our SETTINGS_MAX_FRAME_SIZE: a longer frame is a FRAME_SIZE_ERROR. */
  private readonly maxFrameSize: number
  /** Bytes of a frame cut by the end of a read (header and payload), sized from its header. */
  private partial: Buffer | null = null
  private partialFill = 0
  /** A header cut by the end of a read. */
  private readonly head = Buffer.allocUnsafe(FRAME_HEADER_BYTES)
  private headFill = 0

  constructor(sink: FrameSink, maxFrameSize: number) {
    this.sink = sink
    this.maxFrameSize = maxFrameSize
  }

  /** Feeds one socket read; returns NO_ERROR or FRAME_SIZE_ERROR (then nothing more should be pushed). */
  push(chunk: Buffer): number {
    let at = 0
    const n = chunk.length
    while (at < n) {
      if (this.partial !== null) {
        const take = Math.min(n - at, this.partial.length - this.partialFill)
        chunk.copy(this.partial, this.partialFill, at, at + take)
        this.partialFill += take
        at += take
        if (this.partialFill < this.partial.length) break
        const whole = this.partial
        this.partial = null
        this.deliver(whole, 0, whole.length - FRAME_HEADER_BYTES)
        continue
      }
      let header: Buffer
      let headerAt: number
      if (this.headFill === 0 && n - at >= FRAME_HEADER_BYTES) {
        header = chunk
        headerAt = at
      } else {
        const take = Math.min(n - at, FRAME_HEADER_BYTES - this.headFill)
        chunk.copy(this.head, this.headFill, at, at + take)
        this.headFill += take
        at += take
        if (this.headFill < FRAME_HEADER_BYTES) break
        this.headFill = 0
        header = this.head
        headerAt = -1
      }
      const base = headerAt < 0 ? 0 : headerAt
      const length = (header[base]! << 16) | (header[base + 1]! << 8) | header[base + 2]!
      if (length > this.maxFrameSize) return FRAME_SIZE_ERROR
      if (headerAt >= 0 && n - at >= FRAME_HEADER_BYTES + length) {
        // The common case: the whole frame sits inside this read; its payload is a view of it.
        this.deliver(chunk, at, length)
        at += FRAME_HEADER_BYTES + length
        continue
      }
      const whole = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length)
      if (headerAt >= 0) {
        chunk.copy(whole, 0, at, at + FRAME_HEADER_BYTES)
        at += FRAME_HEADER_BYTES
      } else {
        this.head.copy(whole, 0)
      }
      this.partial = whole
      this.partialFill = FRAME_HEADER_BYTES
      if (length === 0) {
        this.partial = null
        this.deliver(whole, 0, 0)
      }
    }
    return NO_ERROR
  }

  private deliver(buf: Buffer, at: number, length: number): void {
    const type = buf[at + 3]!
    const flags = buf[at + 4]!
    const streamId = buf.readUInt32BE(at + 5) & MAX_WINDOW
    this.sink.onFrame(type, flags, streamId, buf.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length))
  }
}
