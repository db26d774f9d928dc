// One HTTP/2 client connection (RFC 9113) over a connected-or-connecting socket: preface and SETTINGS,
// streams and their flow control both ways, HEADERS/CONTINUATION, PING, GOAWAY, RST_STREAM, errors, timeouts.
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import {
  CANCEL, CONTINUATION, DATA, DEFAULT_MAX_FRAME_SIZE, FLAG_ACK, FLAG_END_HEADERS, FLAG_END_STREAM, FLAG_PADDED, FLAG_PRIORITY,
  FLOW_CONTROL_ERROR, frame, FRAME_HEADER_BYTES, FrameReader, GOAWAY, HEADERS, MAX_WINDOW, NO_ERROR, PING, PREFACE, PROTOCOL_ERROR,
  PUSH_PROMISE, REFUSED_STREAM, RST_STREAM, SETTINGS, SETTINGS_ENABLE_PUSH, SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_CONCURRENT_STREAMS,
  SETTINGS_MAX_FRAME_SIZE, WINDOW_UPDATE, writeFrameHeader, COMPRESSION_ERROR, FRAME_SIZE_ERROR, type FrameSink,
} from './frames.js'
import { HpackDecoder } from './hpack.js'

/** What one stream reports; after onEnd, onReset or onError nothing more is called. */
export interface StreamListener {
  /** The response HEADERS: `:status` and the fields as name, value, … (informational 1xx are skipped). */
  onHeaders(status: number, fields: string[]): void
  /** A DATA payload: a view valid only during the call. */
  onData(chunk: Buffer): void
  /** HEADERS after the response HEADERS (they end the stream; onEnd follows). */
  onTrailers(fields: string[]): void
  /** The peer ended the stream. */
  onEnd(): void
  /** The stream was reset: by the peer (its code), by cancel() (the code given), or REFUSED_STREAM after a GOAWAY that did not cover it. */
  onReset(code: number): void
  /** The connection failed (socket error, protocol error, timeout, close) with the stream open. */
  onError(err: Error): void
}

export interface ConnectionOwner {
  /** The connection takes no more streams (GOAWAY, error, close, idle): called once. */
  onConnectionGone(conn: H2Connection): void
}

export interface ConnectionOptions {
  /** The socket must connect (and finish TLS) within this, else every stream fails (0 = no limit). */
  connectTimeoutMs: number
  /** No socket activity for this long: the connection is closed once its streams are done (0 = never). */
  idleTimeoutMs: number
}

/** Our receive windows: large, so big responses flow without waiting on WINDOW_UPDATEs. */
export const STREAM_WINDOW = 1024 * 1024
export const CONNECTION_WINDOW = 16 * 1024 * 1024
/** The window every peer starts with (RFC 9113 §6.9.2). */
const DEFAULT_WINDOW = 65535
/** The largest header block (HEADERS + CONTINUATIONs) accepted from the peer. */
const MAX_HEADER_BLOCK = 256 * 1024
const FIRST_STREAM_ID = 1

/** One request on a connection: its id (0 while it waits for a concurrency slot), windows and body left to send. */
export class H2Stream {
  id = 0
  readonly listener: StreamListener
  headerBlock: Buffer | null
  /** The request body not yet sent (sent from `bodyAt`), or null once END_STREAM went out. */
  body: Buffer | null
  bodyAt = 0
  sendWindow = 0
  /** Bytes received and not yet given back with a WINDOW_UPDATE. */
  unacked = 0
  paused = false
  gotHeaders = false
  done = false

  constructor(listener: StreamListener, headerBlock: Buffer, body: Buffer) {
    this.listener = listener
    this.headerBlock = headerBlock
    this.body = body
  }
}

function uncork(conn: H2Connection): void {
  conn.flush()
}

function notifyReset(stream: H2Stream, code: number): void {
  stream.listener.onReset(code)
}

export class H2Connection implements FrameSink {
  private readonly socket: Socket
  private readonly owner: ConnectionOwner
  private readonly reader: FrameReader
  private readonly decoder = new HpackDecoder()
  private readonly streams = new Map<number, H2Stream>()
  /** Streams waiting for a slot under the peer's MAX_CONCURRENT_STREAMS. */
  private readonly queued: H2Stream[] = []
  /** Started streams with body left that a window stopped. */
  private readonly blocked: H2Stream[] = []
  private nextStreamId = FIRST_STREAM_ID
  private peerMaxConcurrent = Infinity
  private peerInitialWindow = DEFAULT_WINDOW
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE
  private sendWindow = DEFAULT_WINDOW
  private recvUnacked = 0
  /** A header block being continued: its stream, END_STREAM flag and pieces so far. */
  private continuing = 0
  private continuingEnd = false
  private continuingParts: Buffer[] = []
  private continuingBytes = 0
  private corked = false
  private gone = false
  private draining = false
  private closed = false
  private connectTimer: NodeJS.Timeout | null = null
  /** The socket (and TLS) came up: a failure now is no longer a connect failure. */
  connected = false
  connectTimedOut = false

  constructor(socket: Socket, secure: boolean, owner: ConnectionOwner, options: ConnectionOptions) {
    this.socket = socket
    this.owner = owner
    this.reader = new FrameReader(this, DEFAULT_MAX_FRAME_SIZE)
    socket.on('data', this.onSocketData)
    socket.on('error', this.onSocketError)
    socket.on('close', this.onSocketClose)
    socket.once(secure ? 'secureConnect' : 'connect', this.onConnect)
    if (options.connectTimeoutMs > 0) this.connectTimer = setTimeout(this.onConnectTimeout, options.connectTimeoutMs)
    if (options.idleTimeoutMs > 0) {
      socket.setTimeout(options.idleTimeoutMs)
      socket.on('timeout', this.onIdle)
    }
    // Preface, our SETTINGS (no push, a large stream window), and the connection window raised to match.
    const settings = Buffer.alloc(12)
    settings.writeUInt16BE(SETTINGS_ENABLE_PUSH, 0)
    settings.writeUInt32BE(0, 2)
    settings.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 6)
    settings.writeUInt32BE(STREAM_WINDOW, 8)
    this.write(PREFACE)
    this.write(frame(SETTINGS, 0, 0, settings))
    this.write(windowUpdate(0, CONNECTION_WINDOW - DEFAULT_WINDOW))
  }

  /** Can take a new stream. */
  get open(): boolean {
    return !this.gone
  }

  /**
   * Starts a request: HEADERS with `headerBlock`, then `body` as DATA with END_STREAM. Returns null when
   * the connection takes no new streams (the listener is not called then).
   */
  request(headerBlock: Buffer, body: Buffer, listener: StreamListener): H2Stream | null {
    if (this.gone) return null
    const stream = new H2Stream(listener, headerBlock, body)
    if (this.streams.size >= this.peerMaxConcurrent) this.queued.push(stream)
    else this.start(stream)
    return stream
  }

  /** Resets the stream (RST_STREAM `code`); its listener hears onReset(code) on the next tick. */
  cancel(stream: H2Stream, code: number = CANCEL): void {
    if (stream.done) return
    if (stream.id === 0) {
      this.queued.splice(this.queued.indexOf(stream), 1)
      stream.done = true
    } else {
      this.write(rstStream(stream.id, code))
      this.closeStream(stream)
    }
    process.nextTick(notifyReset, stream, code)
  }

  /** The reader is slow: stop giving the peer window for this stream (it stops once the window is used). */
  pause(stream: H2Stream): void {
    stream.paused = true
  }

  resume(stream: H2Stream): void {
    stream.paused = false
    if (!stream.done && stream.unacked > 0) {
      this.write(windowUpdate(stream.id, stream.unacked))
      stream.unacked = 0
    }
  }

  /** Worker exit: the socket goes now; open streams fail. */
  close(): void {
    this.fail(new Error('HTTP/2 connection closed by the gateway'))
  }

  private start(stream: H2Stream): void {
    const id = this.nextStreamId
    if (id > MAX_WINDOW) {
      // Stream ids ran out while this one waited for a slot: refused, so the call is tried on a new connection.
      stream.done = true
      process.nextTick(notifyReset, stream, REFUSED_STREAM)
      return
    }
    this.nextStreamId += 2
    stream.id = id
    stream.sendWindow = this.peerInitialWindow
    this.streams.set(id, stream)
    // Stream ids are used up: this connection takes no more (the next request opens a new one).
    if (this.nextStreamId > MAX_WINDOW) this.drain()
    const block = stream.headerBlock!
    stream.headerBlock = null
    const body = stream.body!
    if (block.length <= this.peerMaxFrameSize && body.length <= Math.min(this.sendWindow, stream.sendWindow, this.peerMaxFrameSize)) {
      // The common case: HEADERS and the whole body in one buffer, one write.
      const out = Buffer.allocUnsafe(2 * FRAME_HEADER_BYTES + block.length + body.length)
      writeFrameHeader(out, 0, block.length, HEADERS, FLAG_END_HEADERS, id)
      block.copy(out, FRAME_HEADER_BYTES)
      const dataAt = FRAME_HEADER_BYTES + block.length
      writeFrameHeader(out, dataAt, body.length, DATA, FLAG_END_STREAM, id)
      body.copy(out, dataAt + FRAME_HEADER_BYTES)
      this.sendWindow -= body.length
      stream.sendWindow -= body.length
      stream.body = null
      this.write(out)
      return
    }
    this.writeHeaders(id, block)
    this.sendBody(stream)
  }

  /** HEADERS, then CONTINUATION frames for what does not fit the peer's frame size. */
  private writeHeaders(id: number, block: Buffer): void {
    const max = this.peerMaxFrameSize
    let at = 0
    let type = HEADERS
    do {
      const end = Math.min(block.length, at + max)
      this.write(frame(type, end === block.length ? FLAG_END_HEADERS : 0, id, block.subarray(at, end)))
      type = CONTINUATION
      at = end
    } while (at < block.length)
  }

  /** Sends as much of the body as the windows allow; a stream left with body waits in `blocked`. */
  private sendBody(stream: H2Stream): void {
    const body = stream.body
    if (body === null) return
    while (stream.bodyAt < body.length || body.length === 0) {
      const n = Math.min(body.length - stream.bodyAt, this.sendWindow, stream.sendWindow, this.peerMaxFrameSize)
      if (n <= 0 && body.length > 0) {
        if (!this.blocked.includes(stream)) this.blocked.push(stream)
        return
      }
      const end = stream.bodyAt + n
      const last = end === body.length
      this.write(frame(DATA, last ? FLAG_END_STREAM : 0, stream.id, body.subarray(stream.bodyAt, end)))
      this.sendWindow -= n
      stream.sendWindow -= n
      stream.bodyAt = end
      if (last) break
    }
    stream.body = null
  }

  private flushBlocked(): void {
    if (this.blocked.length === 0) return
    const waiting = this.blocked.splice(0)
    for (const stream of waiting) if (!stream.done) this.sendBody(stream)
  }

  onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    // A connection error part way through a read: the rest of it is not looked at.
    if (this.closed) return
    if (this.continuing !== 0 && (type !== CONTINUATION || streamId !== this.continuing)) return this.protocolError(PROTOCOL_ERROR, 'expected CONTINUATION')
    switch (type) {
      case DATA: return this.onDataFrame(flags, streamId, payload)
      case HEADERS: return this.onHeadersFrame(flags, streamId, payload)
      case CONTINUATION: return this.onContinuation(flags, streamId, payload)
      case RST_STREAM: return this.onRstStream(streamId, payload)
      case SETTINGS: return this.onSettings(flags, streamId, payload)
      case PING: return this.onPing(flags, streamId, payload)
      case GOAWAY: return this.onGoaway(streamId, payload)
      case WINDOW_UPDATE: return this.onWindowUpdate(streamId, payload)
      case PUSH_PROMISE: return this.protocolError(PROTOCOL_ERROR, 'PUSH_PROMISE with push disabled')
      default: // PRIORITY and unknown types are ignored (RFC 9113 §5.5).
    }
  }

  private onDataFrame(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) return this.protocolError(PROTOCOL_ERROR, 'DATA on stream 0')
    const size = payload.length
    // The connection window counts every DATA byte, padding included, for open and closed streams alike.
    this.recvUnacked += size
    if (this.recvUnacked >= CONNECTION_WINDOW / 2) {
      this.write(windowUpdate(0, this.recvUnacked))
      this.recvUnacked = 0
    }
    const stream = this.streams.get(streamId)
    if (stream === undefined) return
    let data = payload
    if (flags & FLAG_PADDED) {
      const pad = payload.length > 0 ? payload[0]! : 0
      if (payload.length === 0 || pad >= payload.length) return this.protocolError(PROTOCOL_ERROR, 'bad DATA padding')
      data = payload.subarray(1, payload.length - pad)
    }
    if (!stream.gotHeaders) return this.resetStream(stream, PROTOCOL_ERROR)
    const end = (flags & FLAG_END_STREAM) !== 0
    stream.unacked += size
    if (!end && !stream.paused && stream.unacked >= STREAM_WINDOW / 2) {
      this.write(windowUpdate(streamId, stream.unacked))
      stream.unacked = 0
    }
    if (data.length > 0) stream.listener.onData(data)
    if (end && !stream.done) this.remoteEnd(stream)
  }

  private onHeadersFrame(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) return this.protocolError(PROTOCOL_ERROR, 'HEADERS on stream 0')
    let start = 0
    let end = payload.length
    if (flags & FLAG_PADDED) {
      const pad = payload.length > 0 ? payload[0]! : 0
      start = 1
      end -= pad
    }
    if (flags & FLAG_PRIORITY) start += 5
    if (start > end) return this.protocolError(PROTOCOL_ERROR, 'bad HEADERS padding')
    const fragment = payload.subarray(start, end)
    const endStream = (flags & FLAG_END_STREAM) !== 0
    if (flags & FLAG_END_HEADERS) return this.onHeaderBlock(streamId, endStream, fragment)
    this.continuing = streamId
    this.continuingEnd = endStream
    this.continuingParts = [Buffer.from(fragment)]
    this.continuingBytes = fragment.length
  }

  private onContinuation(flags: number, streamId: number, payload: Buffer): void {
    if (this.continuing === 0) return this.protocolError(PROTOCOL_ERROR, 'CONTINUATION without HEADERS')
    this.continuingBytes += payload.length
    if (this.continuingBytes > MAX_HEADER_BLOCK) return this.protocolError(PROTOCOL_ERROR, 'header block too large')
    this.continuingParts.push(Buffer.from(payload))
    if ((flags & FLAG_END_HEADERS) === 0) return
    const block = Buffer.concat(this.continuingParts)
    this.continuing = 0
    this.continuingParts = []
    this.onHeaderBlock(streamId, this.continuingEnd, block)
  }

  /** A whole header block: decoded always (the dynamic table must stay in step), then given to its stream. */
  private onHeaderBlock(streamId: number, endStream: boolean, block: Buffer): void {
    const fields: string[] = []
    try {
      this.decoder.decode(block, fields)
    } catch (err) {
      return this.protocolError(COMPRESSION_ERROR, (err as Error).message)
    }
    const stream = this.streams.get(streamId)
    if (stream === undefined) return
    if (!stream.gotHeaders) {
      const status = fields[0] === ':status' ? Number(fields[1]) : 0
      if (!(status >= 100 && status <= 599)) return this.resetStream(stream, PROTOCOL_ERROR)
      if (status < 200 && !endStream) return
      stream.gotHeaders = true
      stream.listener.onHeaders(status, fields)
    } else {
      if (!endStream) return this.resetStream(stream, PROTOCOL_ERROR)
      stream.listener.onTrailers(fields)
    }
    if (endStream && !stream.done) this.remoteEnd(stream)
  }

  private onRstStream(streamId: number, payload: Buffer): void {
    if (streamId === 0 || payload.length !== 4) return this.protocolError(streamId === 0 ? PROTOCOL_ERROR : FRAME_SIZE_ERROR, 'bad RST_STREAM')
    const stream = this.streams.get(streamId)
    if (stream === undefined) return
    this.closeStream(stream)
    stream.listener.onReset(payload.readUInt32BE(0))
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) return this.protocolError(PROTOCOL_ERROR, 'SETTINGS on a stream')
    if (flags & FLAG_ACK) return
    if (payload.length % 6 !== 0) return this.protocolError(FRAME_SIZE_ERROR, 'SETTINGS length')
    for (let at = 0; at < payload.length; at += 6) {
      const id = payload.readUInt16BE(at)
      const value = payload.readUInt32BE(at + 2)
      if (id === SETTINGS_INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) return this.protocolError(FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE too large')
        const delta = value - this.peerInitialWindow
        this.peerInitialWindow = value
        for (const stream of this.streams.values()) stream.sendWindow += delta
      } else if (id === SETTINGS_MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME_SIZE || value > 0xffffff) return this.protocolError(PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range')
        this.peerMaxFrameSize = value
      } else if (id === SETTINGS_MAX_CONCURRENT_STREAMS) {
        this.peerMaxConcurrent = value
      }
      // HEADER_TABLE_SIZE: our encoder never indexes; ENABLE_PUSH is the server's to ignore; others are advisory.
    }
    this.write(frame(SETTINGS, FLAG_ACK, 0, EMPTY))
    this.startQueued()
    this.flushBlocked()
  }

  private onPing(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) return this.protocolError(PROTOCOL_ERROR, 'PING on a stream')
    if (payload.length !== 8) return this.protocolError(FRAME_SIZE_ERROR, 'PING length')
    if ((flags & FLAG_ACK) === 0) this.write(frame(PING, FLAG_ACK, 0, payload))
  }

  /** GOAWAY: no new streams; those above the last stream id the server processed are refused (retryable). */
  private onGoaway(streamId: number, payload: Buffer): void {
    if (streamId !== 0 || payload.length < 8) return this.protocolError(PROTOCOL_ERROR, 'bad GOAWAY')
    const lastId = payload.readUInt32BE(0) & MAX_WINDOW
    this.markGone()
    this.draining = true
    const refused: H2Stream[] = this.queued.splice(0)
    for (const stream of this.streams.values()) if (stream.id > lastId) refused.push(stream)
    for (const stream of refused) {
      if (stream.id !== 0) this.closeStream(stream)
      stream.done = true
    }
    for (const stream of refused) stream.listener.onReset(REFUSED_STREAM)
    if (this.streams.size === 0) this.shut()
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) return this.protocolError(FRAME_SIZE_ERROR, 'WINDOW_UPDATE length')
    const increment = payload.readUInt32BE(0) & MAX_WINDOW
    if (streamId === 0) {
      if (increment === 0) return this.protocolError(PROTOCOL_ERROR, 'WINDOW_UPDATE of 0')
      this.sendWindow += increment
      if (this.sendWindow > MAX_WINDOW) return this.protocolError(FLOW_CONTROL_ERROR, 'connection window above 2^31-1')
      return this.flushBlocked()
    }
    const stream = this.streams.get(streamId)
    if (stream === undefined) return
    if (increment === 0) return this.resetStream(stream, PROTOCOL_ERROR)
    stream.sendWindow += increment
    if (stream.sendWindow > MAX_WINDOW) return this.resetStream(stream, FLOW_CONTROL_ERROR)
    if (stream.body !== null) this.flushBlocked()
  }

  /** The peer ended the stream; a request body it did not wait for is abandoned with RST_STREAM NO_ERROR. */
  private remoteEnd(stream: H2Stream): void {
    if (stream.body !== null) this.write(rstStream(stream.id, NO_ERROR))
    this.closeStream(stream)
    stream.listener.onEnd()
  }

  /** A stream-level error of ours: RST_STREAM to the peer, onReset to the listener. */
  private resetStream(stream: H2Stream, code: number): void {
    this.write(rstStream(stream.id, code))
    this.closeStream(stream)
    stream.listener.onReset(code)
  }

  private closeStream(stream: H2Stream): void {
    stream.done = true
    stream.body = null
    this.streams.delete(stream.id)
    if (this.queued.length > 0) this.startQueued()
    else if (this.draining && this.streams.size === 0) this.shut()
  }

  private startQueued(): void {
    while (this.queued.length > 0 && this.streams.size < this.peerMaxConcurrent && !this.closed) this.start(this.queued.shift()!)
  }

  /** A connection error (RFC 9113 §5.4.1): GOAWAY with the code, then every stream fails. */
  private protocolError(code: number, message: string): void {
    if (this.closed) return
    const payload = Buffer.alloc(8)
    payload.writeUInt32BE(code, 4)
    this.write(frame(GOAWAY, 0, 0, payload))
    this.flush()
    this.fail(new Error(`HTTP/2 protocol error (code ${code}): ${message}`))
  }

  /** The socket is gone or must go: every stream, open or waiting, fails with `err`. */
  private fail(err: Error): void {
    // After a graceful close the socket may still be finishing: it goes now, with no stream left to tell.
    if (this.closed) return void this.socket.destroy()
    this.closed = true
    this.markGone()
    this.clearConnectTimer()
    this.socket.destroy()
    const failed = [...this.streams.values(), ...this.queued.splice(0)]
    this.streams.clear()
    for (const stream of failed) stream.done = true
    for (const stream of failed) stream.listener.onError(err)
  }

  /** No more streams: the owner stops handing this connection out. */
  private markGone(): void {
    if (this.gone) return
    this.gone = true
    this.owner.onConnectionGone(this)
  }

  /** Finish the streams still open, then close. */
  private drain(): void {
    this.markGone()
    this.draining = true
    if (this.streams.size === 0 && this.queued.length === 0) this.shut()
  }

  /** A graceful close with nothing open: GOAWAY NO_ERROR and FIN. */
  private shut(): void {
    if (this.closed) return
    this.closed = true
    this.clearConnectTimer()
    this.write(frame(GOAWAY, 0, 0, Buffer.alloc(8)))
    this.flush()
    // FIN once the GOAWAY is written, then the socket goes whatever the peer does.
    this.socket.end(this.onShutWritten)
  }

  private readonly onShutWritten = (): void => {
    this.socket.destroy()
  }

  private write(buf: Buffer): void {
    if (this.socket.destroyed) return
    // Frames written in one event-loop turn (many client requests' callbacks) go out in one writev.
    if (!this.corked) {
      this.corked = true
      this.socket.cork()
      setImmediate(uncork, this)
    }
    this.socket.write(buf)
  }

  flush(): void {
    if (!this.corked) return
    this.corked = false
    this.socket.uncork()
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer)
      this.connectTimer = null
    }
  }

  private readonly onSocketData = (chunk: Buffer): void => {
    if (this.closed) return
    const result = this.reader.push(chunk)
    if (result !== NO_ERROR) this.protocolError(result, 'frame larger than SETTINGS_MAX_FRAME_SIZE')
  }

  private readonly onConnect = (): void => {
    if (this.socket.destroyed) return
    const alpn = (this.socket as TLSSocket).alpnProtocol
    if (alpn !== undefined && alpn !== 'h2') return this.fail(new Error(`server did not negotiate h2 (ALPN: ${String(alpn)})`))
    this.connected = true
    this.clearConnectTimer()
  }

  private readonly onConnectTimeout = (): void => {
    this.connectTimer = null
    if (this.connected) return
    this.connectTimedOut = true
    this.fail(new Error('connect timeout'))
  }

  private readonly onIdle = (): void => {
    if (this.streams.size === 0 && this.queued.length === 0) this.drain()
  }

  private readonly onSocketError = (err: Error): void => {
    this.fail(err)
  }

  private readonly onSocketClose = (): void => {
    this.fail(new Error('HTTP/2 connection closed by the server'))
  }
}

const EMPTY = Buffer.alloc(0)

function windowUpdate(streamId: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4)
  writeFrameHeader(out, 0, 4, WINDOW_UPDATE, 0, streamId)
  out.writeUInt32BE(increment, FRAME_HEADER_BYTES)
  return out
}

function rstStream(streamId: number, code: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4)
  writeFrameHeader(out, 0, 4, RST_STREAM, 0, streamId)
  out.writeUInt32BE(code, FRAME_HEADER_BYTES)
  return out
}
