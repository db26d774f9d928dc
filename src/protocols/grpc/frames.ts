// gRPC length-prefixed messages (grpc/doc/PROTOCOL-HTTP2.md): a 1-byte compressed flag, a 4-byte
// big-endian length, the bytes. The reader reassembles them across DATA chunks of any split, copying only
// a message that spans chunks; one wholly inside a chunk is handed on as a view of it.

/** Length-Prefixed-Message header size. */
export const PREFIX_BYTES = 5

/** MessageReader.push results: 0 = fine, else why the stream cannot be read on. */
export const FRAME_OK = 0
/** A message had the compressed flag set; we never advertise an encoding, so this is a protocol error. */
export const FRAME_COMPRESSED = 1
/** A message announced more than the reader's limit. */
export const FRAME_TOO_LARGE = 2

/** Receives every complete message; `message` is only valid during the call (a view of a chunk). */
export interface MessageSink {
  onMessage(message: Uint8Array): void
}

/** One framed message: the 5-byte prefix and the bytes, in one buffer (one DATA write). */
export function encodeMessage(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PREFIX_BYTES + message.length)
  out[0] = 0
  out.writeUInt32BE(message.length, 1)
  out.set(message, PREFIX_BYTES)
  return out
}

export class MessageReader {
  private readonly sink: MessageSink
  private readonly maxMessageBytes: number
  /** The prefix being collected when a chunk ended inside it (allocated the first time that happens). */
  private prefix: Buffer | null = null
  private prefixFill = 0
  /** The message being collected across chunks (sized from its prefix), or null between messages. */
  private partial: Uint8Array | null = null
  private partialFill = 0
  /** Sticky: after an error nothing more is read. */
  private failed = FRAME_OK

  constructor(sink: MessageSink, maxMessageBytes: number) {
    this.sink = sink
    this.maxMessageBytes = maxMessageBytes
  }

  /** True when the stream ended between messages (a prefix or body cut short is a truncated stream). */
  get atBoundary(): boolean {
    return this.prefixFill === 0 && this.partial === null
  }

  /** Feeds one DATA chunk; calls the sink for each message completed; returns FRAME_* (sticky). */
  push(chunk: Uint8Array): number {
    if (this.failed !== FRAME_OK) return this.failed
    let at = 0
    const n = chunk.length
    while (at < n) {
      if (this.partial !== null) {
        const take = Math.min(n - at, this.partial.length - this.partialFill)
        this.partial.set(chunk.subarray(at, at + take), this.partialFill)
        this.partialFill += take
        at += take
        if (this.partialFill === this.partial.length) {
          const done = this.partial
          this.partial = null
          this.sink.onMessage(done)
        }
        continue
      }
      let flag: number
      let length: number
      if (this.prefixFill === 0 && n - at >= PREFIX_BYTES) {
        // The common case: the whole prefix is in this chunk.
        flag = chunk[at]!
        length = ((chunk[at + 1]! << 24) >>> 0) + (chunk[at + 2]! << 16) + (chunk[at + 3]! << 8) + chunk[at + 4]!
        at += PREFIX_BYTES
      } else {
        const take = Math.min(n - at, PREFIX_BYTES - this.prefixFill)
        this.prefix ??= Buffer.allocUnsafe(PREFIX_BYTES)
        this.prefix.set(chunk.subarray(at, at + take), this.prefixFill)
        this.prefixFill += take
        at += take
        if (this.prefixFill < PREFIX_BYTES) break
        this.prefixFill = 0
        flag = this.prefix[0]!
        length = this.prefix.readUInt32BE(1)
      }
      if (flag !== 0) return (this.failed = FRAME_COMPRESSED)
      if (length > this.maxMessageBytes) return (this.failed = FRAME_TOO_LARGE)
      if (n - at >= length) {
        this.sink.onMessage(chunk.subarray(at, at + length))
        at += length
      } else {
        this.partial = new Uint8Array(length)
        this.partialFill = 0
      }
    }
    return FRAME_OK
  }
}
