// Lean unary gRPC upstreams for native-bench/grpc-bench.ts: every call is answered with one fixed message
// (the bookstore Shelf GetShelf returns), either on the gateway's own HTTP/2 frame and HPACK code or on node:http2.
//   node --import tsx native-bench/lib/grpc-bench-server.ts lean|node-http2 PORT
import http2 from 'node:http2'
import net from 'node:net'
import {
  DATA, FLAG_ACK, FLAG_END_HEADERS, FLAG_END_STREAM, frame, FRAME_HEADER_BYTES, FrameReader, HEADERS, PING, PREFACE, SETTINGS,
  SETTINGS_INITIAL_WINDOW_SIZE, WINDOW_UPDATE, writeFrameHeader, type FrameSink,
} from '../../src/protocols/grpc/h2/frames.js'
import { encodeHeaders, HpackDecoder } from '../../src/protocols/grpc/h2/hpack.js'
import { encodeMessage } from '../../src/protocols/grpc/frames.js'

/** bookstore.v1.Shelf { id: 1, theme: "theme-1", location { aisle: "A", shelf_number: 3 } }, as protobuf bytes. */
const SHELF = Buffer.from([0x08, 0x01, 0x12, 0x07, ...Buffer.from('theme-1'), 0x1a, 0x05, 0x0a, 0x01, 0x41, 0x10, 0x03])
const MESSAGE = encodeMessage(SHELF)
const HEAD_BLOCK = encodeHeaders([':status', '200', 'content-type', 'application/grpc'])
const TRAILER_BLOCK = encodeHeaders(['grpc-status', '0'])
/** One answer: HEADERS, DATA, trailing HEADERS; the stream id is patched into its three frame headers. */
const ANSWER = Buffer.concat([
  frame(HEADERS, FLAG_END_HEADERS, 0, HEAD_BLOCK), frame(DATA, 0, 0, MESSAGE), frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 0, TRAILER_BLOCK),
])
const ID_OFFSETS = [5, FRAME_HEADER_BYTES + HEAD_BLOCK.length + 5, 2 * FRAME_HEADER_BYTES + HEAD_BLOCK.length + MESSAGE.length + 5]
/** Receive windows: raised at once and topped up at half, so the gateway's requests never wait. */
const WINDOW = 16 * 1024 * 1024
const DEFAULT_WINDOW = 65535

/**
 * One client connection on the lean server: skips the preface, answers each request stream as it ends.
 * Enough HTTP/2 for the gateway's unary calls (no CONTINUATION, padding or priority in requests).
 */
class LeanConnection implements FrameSink {
  private readonly socket: net.Socket
  private readonly reader = new FrameReader(this, 16384)
  private readonly decoder = new HpackDecoder()
  private prefaceLeft = PREFACE.length
  /** What the client lets us send (connection level); answers wait in `waiting` when it runs out. */
  private sendWindow = DEFAULT_WINDOW
  private readonly waiting: number[] = []
  private recvUnacked = 0
  private readonly fields: string[] = []

  constructor(socket: net.Socket) {
    this.socket = socket
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', () => socket.destroy())
    const settings = Buffer.alloc(6)
    settings.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 0)
    settings.writeUInt32BE(WINDOW, 2)
    socket.write(Buffer.concat([frame(SETTINGS, 0, 0, settings), windowUpdate(0, WINDOW - DEFAULT_WINDOW)]))
  }

  private onData(chunk: Buffer): void {
    if (this.prefaceLeft > 0) {
      const skip = Math.min(this.prefaceLeft, chunk.length)
      this.prefaceLeft -= skip
      chunk = chunk.subarray(skip)
    }
    this.socket.cork()
    if (this.reader.push(chunk) !== 0) this.socket.destroy()
    this.socket.uncork()
  }

  onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (type === HEADERS) {
      // Decoded to keep the HPACK table in step; the bench answers every call the same way.
      this.fields.length = 0
      this.decoder.decode(payload, this.fields)
    } else if (type === DATA) {
      this.recvUnacked += payload.length
      if (this.recvUnacked >= WINDOW / 2) {
        this.socket.write(windowUpdate(0, this.recvUnacked))
        this.recvUnacked = 0
      }
    } else if (type === SETTINGS) {
      if ((flags & FLAG_ACK) === 0) this.socket.write(frame(SETTINGS, FLAG_ACK, 0, Buffer.alloc(0)))
    } else if (type === PING) {
      if ((flags & FLAG_ACK) === 0) this.socket.write(frame(PING, FLAG_ACK, 0, payload))
    } else if (type === WINDOW_UPDATE && streamId === 0) {
      this.sendWindow += payload.readUInt32BE(0) & 0x7fffffff
      while (this.waiting.length > 0 && this.sendWindow >= MESSAGE.length) this.answer(this.waiting.shift()!)
    }
    if ((type === HEADERS || type === DATA) && (flags & FLAG_END_STREAM) !== 0) {
      if (this.sendWindow >= MESSAGE.length && this.waiting.length === 0) this.answer(streamId)
      else this.waiting.push(streamId)
    }
  }

  private answer(streamId: number): void {
    const out = Buffer.allocUnsafe(ANSWER.length)
    ANSWER.copy(out)
    for (const at of ID_OFFSETS) out.writeUInt32BE(streamId, at)
    this.sendWindow -= MESSAGE.length
    this.socket.write(out)
  }
}

function windowUpdate(streamId: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4)
  writeFrameHeader(out, 0, 4, WINDOW_UPDATE, 0, streamId)
  out.writeUInt32BE(increment, FRAME_HEADER_BYTES)
  return out
}

/** The same answer on node:http2: respond, the message, trailers. */
function nodeHttp2Server(): net.Server {
  const server = http2.createServer({ settings: { initialWindowSize: WINDOW } })
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
    stream.resume()
    stream.end(MESSAGE)
  })
  server.on('session', (session) => session.setLocalWindowSize(WINDOW))
  return server
}

const kind = process.argv[2]
const port = Number(process.argv[3] ?? 0)
if (kind !== 'lean' && kind !== 'node-http2') {
  console.error('usage: grpc-bench-server.ts lean|node-http2 [PORT]')
  process.exit(2)
}
const server = kind === 'lean' ? net.createServer((socket) => new LeanConnection(socket)) : nodeHttp2Server()
server.listen(port, '127.0.0.1', () => console.log(`grpc upstream listening on ${(server.address() as net.AddressInfo).port}`))
const bye = (): void => {
  server.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 500).unref()
}
process.on('SIGTERM', bye)
process.on('SIGINT', bye)
