// One transcoded gRPC call: picks a target (balancer, health, retries as the HTTP proxy does), sends the
// framed request on the target's HTTP/2 connection and relays the answer as JSON, streaming messages as they arrive.
import { performance } from 'node:perf_hooks'
import type { ServiceRecord, TargetRecord } from '../../config/types.js'
import { GW } from '../../errors.js'
import { triedBit, type Balancer } from '../../upstream/balancer.js'
import type { PeerSource } from '../../upstream/exchange.js'
import type { UpstreamOutcome } from '../../upstream/passive-health.js'
import type { HttpResponse } from '../../uws.js'
import { OPEN, type AbortListener, type RequestContext } from '../../worker/context.js'
import { writeHeaderLines } from '../../worker/response-headers.js'
import { headerLines } from '../../worker/upstream-head.js'
import { STREAM_NDJSON, STREAM_SSE, type GrpcCall } from './call.js'
import { encodeMessage, FRAME_COMPRESSED, FRAME_OK, MessageReader, type MessageSink } from './frames.js'
import type { H2Stream, StreamListener } from './h2/connection.js'
import { CANCEL, INTERNAL_ERROR, NO_ERROR, REFUSED_STREAM } from './h2/frames.js'
import { encodeHeaders } from './h2/hpack.js'
import type { H2Channel, H2Sessions } from './h2-sessions.js'
import { CODE, codeForHttpStatus, decodeGrpcMessage, encodeGrpcMessage, grpcErrorBody, grpcTimeout, httpStatusFor, JSON_TYPE, parseGrpcStatus, replyGrpcError } from './status.js'

/** What the call needs from the worker around it (the Listener). */
export interface GrpcHost {
  readonly h2: H2Sessions
  readonly latencyHeaders: boolean
}

/** The largest response message accepted (grpc-js's default receive limit is 4 MiB; Envoy has none). */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024

/** Request headers never sent as metadata: h2 pseudo/connection-level ones, HTTP framing, and gRPC's reserved grpc-*. */
const NOT_METADATA = new Set(['content-type', 'content-length', 'transfer-encoding', 'accept-encoding', 'te', 'host', 'http2-settings', 'connection', 'keep-alive', 'proxy-connection', 'upgrade'])
/** attemptFailed's code for a connection that took no more streams (not an HTTP/2 error code, which are all below 0x100). */
const SESSION_REFUSED = 0x100
/** Where the value of `:authority` sits in the request fields (name, value, …). */
const AUTHORITY_VALUE = 7
/** Response headers and trailers that are not metadata for the client (the gateway writes its own). */
const NOT_RESPONSE_METADATA = new Set(['content-type', 'content-length', 'date', 'x-request-id', 'grpc-status', 'grpc-message', 'grpc-status-details-bin', 'grpc-encoding', 'grpc-accept-encoding', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'trailer'])

const TCP_FAILURE: UpstreamOutcome = Object.freeze({ kind: 'tcp' })
const TIMEOUT: UpstreamOutcome = Object.freeze({ kind: 'timeout' })

/** Per stream_format: Content-Type, what opens the stream, what goes between messages, around each one, and what closes it. */
const FORMATS = [
  { type: 'application/json', open: '[', between: ',', before: '', after: '', close: ']' },
  { type: 'application/x-ndjson', open: '', between: '', before: '', after: '\n', close: '' },
  { type: 'text/event-stream', open: '', between: '', before: 'data: ', after: '\n\n', close: '' },
] as const

/** The call whose data res.cork is running (cork calls back synchronously; no closure per chunk). */
let corking: GrpcExchange
let corkedChunk: Buffer

function readCorked(): void {
  corking.readChunk(corkedChunk)
}

/** Header fields as the connection reports them: name, value, name, value… (names lower-case). */
type Fields = readonly string[]

function deadlinePassed(exchange: GrpcExchange): void {
  exchange.onDeadline()
}

function retryExchange(exchange: GrpcExchange): void {
  exchange.retry()
}

/** Exponential backoff with full jitter between attempts, as the HTTP proxy's retries. */
function backoff(attempt: number): number {
  return Math.random() * Math.min(1000, 5 * 2 ** (attempt - 1))
}

export class GrpcExchange implements MessageSink, AbortListener, StreamListener {
  private readonly ctx: RequestContext
  private readonly host: GrpcHost
  private readonly peers: PeerSource
  private readonly service: ServiceRecord
  private readonly serviceIndex: number
  private readonly balancer: Balancer | null
  private readonly hashKey: string | null
  private readonly call: GrpcCall
  private readonly streaming: boolean
  /** The request fields, built once; :authority is filled per attempt. */
  private readonly headers: string[]
  /** The encoded header block and the authority it was built for (retries on another target rebuild it). */
  private block: Buffer | null = null
  private readonly framed: Buffer
  private readonly reader: MessageReader
  private readonly passive: boolean
  private stream: H2Stream | null = null
  private channel: H2Channel | null = null
  private target: TargetRecord | null = null
  private attempts = 0
  private tried = 0
  private deadline: NodeJS.Timeout | null = null
  private deadlineHit = false
  private streamError: Error | null = null
  /** The upstream's response HEADERS (null until they arrive), their :status, and trailers (or the trailers-only HEADERS). */
  private responseHead: Fields | null = null
  private responseStatus = 0
  private trailers: Fields | null = null
  /** Unary: the one response message, rendered. */
  private unaryJson: string | null = null
  private messages = 0
  /** A rendering or framing failure: the code and message the call ends with. */
  private brokenCode: number = CODE.OK
  private brokenMessage = ''
  /** Streaming: the client has the response head, so errors go into the stream. */
  private headSent = false
  private writableBound: ((offset: number) => boolean) | null = null

  constructor(ctx: RequestContext, host: GrpcHost, peers: PeerSource, service: ServiceRecord, serviceIndex: number, balancer: Balancer | null, hashKey: string | null, call: GrpcCall) {
    this.ctx = ctx
    this.host = host
    this.peers = peers
    this.service = service
    this.serviceIndex = serviceIndex
    this.balancer = balancer
    this.hashKey = hashKey
    this.call = call
    this.streaming = call.binding.serverStreaming
    this.passive = peers.countsOutcomes(serviceIndex)
    this.framed = encodeMessage(call.message)
    this.reader = new MessageReader(this, MAX_MESSAGE_BYTES)
    this.headers = requestHeaders(ctx, service, call)
    ctx.onAbort = this
  }

  start(): void {
    const ctx = this.ctx
    // proxy-cache and other response observers watch HTTP/1.1 responses: a transcoded call is not cached.
    if (ctx.observer !== null) {
      ctx.observer.onResponseAbort()
      ctx.observer = null
    }
    if (this.service.readTimeout > 0) this.deadline = setTimeout(deadlinePassed, this.service.readTimeout, this)
    this.attempt()
  }

  private attempt(): void {
    const target = this.balancer !== null ? this.balancer.pick(this.hashKey, this.tried) : this.service.target
    if (target === null) return this.answer(CODE.UNAVAILABLE, GW.NO_PEER.message)
    this.target = target
    this.ctx.upstreamTarget = target.target
    this.attempts++
    this.streamError = null
    this.channel = null
    const peer = this.peers.peer(this.serviceIndex, target)
    this.balancer?.onStart(target)
    this.ctx.upstreamSentAt = performance.now()
    let channel: H2Channel
    try {
      channel = this.host.h2.channel(peer)
    } catch (err) {
      // Socket options Node refuses (a TLS context it cannot use): no attempt can succeed.
      this.endAttempt(true, null)
      return this.answer(CODE.INTERNAL, `cannot connect to the upstream: ${(err as Error).message}`)
    }
    this.channel = channel
    if (this.block === null || this.headers[AUTHORITY_VALUE] !== channel.authority) {
      this.headers[AUTHORITY_VALUE] = channel.authority
      this.block = encodeHeaders(this.headers)
    }
    this.stream = channel.conn.request(this.block, this.framed, this)
    // A connection that takes no more streams (GOAWAY, stream ids used up): another attempt, on a new one.
    if (this.stream === null) this.attemptFailed(SESSION_REFUSED)
  }

  onHeaders(status: number, fields: string[]): void {
    if (this.ctx.upstreamFirstByteAt === 0) this.ctx.upstreamFirstByteAt = performance.now()
    this.responseHead = fields
    this.responseStatus = status
    // Trailers-only: the status came in the one HEADERS frame (PROTOCOL-HTTP2.md).
    if (field(fields, 'grpc-status') !== undefined) this.trailers = fields
  }

  onTrailers(fields: string[]): void {
    this.trailers = fields
  }

  onEnd(): void {
    this.onClose(NO_ERROR)
  }

  onReset(code: number): void {
    this.onClose(code)
  }

  onError(err: Error): void {
    this.streamError = err
    this.onClose(INTERNAL_ERROR)
  }

  onData(chunk: Buffer): void {
    if (this.ctx.state !== OPEN || this.brokenCode !== CODE.OK) return
    // A unary answer is written once, at the end; no cork needed to collect it.
    if (!this.streaming) return this.readChunk(chunk)
    // Streamed messages are written under one cork per DATA chunk (STYLE §3.4).
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    corking = this
    corkedChunk = chunk
    this.ctx.res.cork(readCorked)
  }

  readChunk(chunk: Buffer): void {
    const result = this.reader.push(chunk)
    if (result === FRAME_OK) return
    this.broken(CODE.INTERNAL, result === FRAME_COMPRESSED ? 'compressed response message without a negotiated grpc-encoding' : 'response message larger than 64 MiB')
  }

  /** The call cannot complete normally: stop reading it; the code and message are answered on close. */
  private broken(code: number, message: string): void {
    if (this.brokenCode !== CODE.OK) return
    this.brokenCode = code
    this.brokenMessage = message
    this.cancelStream()
  }

  /** RST_STREAM CANCEL; the stream's onReset comes on the next tick and settles the call. */
  private cancelStream(): void {
    if (this.stream !== null) this.channel!.conn.cancel(this.stream, CANCEL)
  }

  onMessage(message: Uint8Array): void {
    let json: string
    try {
      json = this.call.transcoder.renderResponse(this.call.binding, message)
    } catch (err) {
      return this.broken(CODE.INTERNAL, `cannot render the response message: ${(err as Error).message}`)
    }
    this.messages++
    if (!this.streaming) {
      if (this.unaryJson !== null) return this.broken(CODE.INTERNAL, 'more than one response message for a unary method')
      this.unaryJson = json
      return
    }
    const res = this.ctx.res
    const format = FORMATS[this.call.streamFormat]!
    if (!this.headSent) this.writeStreamHead(res, format.type)
    const piece = (this.messages === 1 ? format.open : format.between) + format.before + json + format.after
    this.ctx.bytesOut += Buffer.byteLength(piece)
    if (!res.write(piece)) this.waitWritable(res)
  }

  /** The first message of a stream: status 200, metadata, and the format's Content-Type. */
  private writeStreamHead(res: HttpResponse, contentType: string): void {
    this.headSent = true
    this.ctx.status = 200
    res.writeStatus('200 OK')
    writeHeaderLines(res, this.ctx.requestId, 'Content-Type: ' + contentType + '\r\n' + metadataLines(this.responseHead) + this.ctx.responseLines + this.latencyLines())
  }

  /** The client is slower than the upstream: stop reading the stream until uWS drains (registered once). */
  private waitWritable(res: HttpResponse): void {
    if (this.stream !== null) this.channel!.conn.pause(this.stream)
    if (this.writableBound === null) {
      this.writableBound = this.onWritable.bind(this)
      res.onWritable(this.writableBound)
    }
  }

  private onWritable(): boolean {
    if (this.ctx.state === OPEN && this.stream !== null) this.channel!.conn.resume(this.stream)
    return true
  }

  onDeadline(): void {
    this.deadline = null
    this.deadlineHit = true
    if (this.stream !== null) this.cancelStream()
    else this.answer(CODE.DEADLINE_EXCEEDED, 'Deadline Exceeded')
  }

  /** The stream is over (its end, a reset with `rstCode`, or a failed connection): one place decides what the client gets. */
  private onClose(rstCode: number): void {
    this.stream = null
    if (this.ctx.state !== OPEN) return this.endAttempt(true, null)
    if (this.deadlineHit) {
      this.endAttempt(false, TIMEOUT)
      return this.finish(CODE.DEADLINE_EXCEEDED, 'Deadline Exceeded', null, null)
    }
    if (this.brokenCode !== CODE.OK) {
      this.endAttempt(true, null)
      return this.finish(this.brokenCode, this.brokenMessage, null, null)
    }
    const head = this.responseHead
    if (head === null) return this.attemptFailed(rstCode)
    const trailers = this.trailers
    let code: number
    let message: string
    if (trailers !== null) {
      code = parseGrpcStatus(field(trailers, 'grpc-status'))
      const raw = field(trailers, 'grpc-message')
      message = raw !== undefined ? decodeGrpcMessage(raw) : ''
    } else if (this.responseStatus !== 200) {
      code = codeForHttpStatus(this.responseStatus)
      message = `upstream answered HTTP ${this.responseStatus} without a gRPC status`
    } else {
      code = this.streamError !== null || rstCode !== NO_ERROR ? CODE.UNAVAILABLE : CODE.INTERNAL
      message = this.streamError !== null ? `upstream stream failed: ${this.streamError.message}` : 'upstream ended the call without a gRPC status'
    }
    if (code === CODE.OK && !this.reader.atBoundary) {
      code = CODE.INTERNAL
      message = 'upstream ended the call inside a message'
    }
    // The target answered: a success for the balancer whatever the status; passive checks judge the mapped status.
    this.endAttempt(true, { kind: 'status', status: httpStatusFor(code) })
    this.finish(code, message, trailers, head)
  }

  /**
   * No response HEADERS arrived: a connect failure (nothing reached the server) or a stream the server
   * refused (REFUSED_STREAM, GOAWAY before processing) is tried again on another target, within the
   * service's retries; anything else is UNAVAILABLE (503, as Envoy answers "upstream connect error or
   * disconnect/reset before headers").
   */
  private attemptFailed(rstCode: number): void {
    const channel = this.channel
    const connectFailed = channel !== null && !channel.conn.connected
    this.endAttempt(false, connectFailed && channel.conn.connectTimedOut ? TIMEOUT : TCP_FAILURE)
    // The server saw nothing of the call: a connect failure, a refused stream, or a session that took no more streams.
    const unseen = connectFailed || rstCode === REFUSED_STREAM || rstCode === SESSION_REFUSED
    if (unseen && this.attempts <= this.service.retries) {
      setTimeout(retryExchange, backoff(this.attempts), this)
      return
    }
    const reason = this.streamError !== null ? this.streamError.message : `stream reset (code ${rstCode})`
    this.finish(CODE.UNAVAILABLE, `upstream connect error or disconnect/reset before headers: ${reason}`, null, null)
  }

  retry(): void {
    if (this.ctx.state === OPEN && !this.deadlineHit) this.attempt()
  }

  /** The call's result to the client: the JSON answer, the error body, or the stream's end. */
  private finish(code: number, message: string, trailers: Fields | null, head: Fields | null): void {
    this.clearDeadline()
    const ctx = this.ctx
    if (ctx.state !== OPEN) return
    const details = code !== CODE.OK ? this.details(trailers) : []
    if (this.headSent) return this.endStream(code, message, details)
    if (code !== CODE.OK) return this.answer(code, message, details, trailers, head)
    const headers: [string, string][] = [['grpc-status', '0']]
    appendMetadata(headers, head)
    appendMetadata(headers, trailers === head ? null : trailers)
    if (this.host.latencyHeaders) this.appendLatency(headers)
    if (this.streaming) {
      // A stream that ended OK without a message: an empty array, or an empty NDJSON / SSE body.
      const format = FORMATS[this.call.streamFormat]!
      headers.unshift(['Content-Type', format.type])
      return ctx.reply(200, format.open + format.close, headers)
    }
    if (this.unaryJson === null) return this.answer(CODE.INTERNAL, 'upstream sent no response message for a unary method')
    headers.unshift(['Content-Type', JSON_TYPE])
    ctx.reply(200, this.unaryJson, headers)
  }

  /** google.rpc.Status details from grpc-status-details-bin (base64 as received), rendered by the transcoder. */
  private details(trailers: Fields | null): unknown[] {
    const bin = trailers === null ? undefined : field(trailers, 'grpc-status-details-bin')
    if (bin === undefined || bin === '') return []
    try {
      return this.call.transcoder.renderStatusDetails(Buffer.from(bin, 'base64'))
    } catch {
      return []
    }
  }

  /** A streamed response's end: the closer, preceded by an error element when the status is not OK. */
  private endStream(code: number, message: string, details: readonly unknown[]): void {
    const ctx = this.ctx
    const format = FORMATS[this.call.streamFormat]!
    let tail = format.close
    if (code !== CODE.OK) {
      const error = `{"error":${grpcErrorBody(code, message, details)}}`
      if (this.call.streamFormat === STREAM_SSE) tail = 'event: error\ndata: ' + error + '\n\n'
      else if (this.call.streamFormat === STREAM_NDJSON) tail = error + '\n'
      else tail = (this.messages === 0 ? '[' : ',') + error + format.close
    }
    const res = ctx.res
    ctx.bytesOut += Buffer.byteLength(tail)
    res.cork(() => res.end(tail))
    ctx.finished()
  }

  /** An error answer before anything was written: mapped status, error body, grpc-status/-message and metadata. */
  private answer(code: number, message: string, details: readonly unknown[] = [], trailers: Fields | null = null, head: Fields | null = null): void {
    this.clearDeadline()
    if (this.ctx.state !== OPEN) return
    if (head === null && trailers === null) return replyGrpcError(this.ctx, code, message, details)
    const headers: [string, string][] = [['Content-Type', JSON_TYPE], ['grpc-status', String(code)], ['grpc-message', encodeGrpcMessage(message)]]
    appendMetadata(headers, head)
    appendMetadata(headers, trailers === head ? null : trailers)
    this.ctx.reply(httpStatusFor(code), grpcErrorBody(code, message, details), headers)
  }

  private latencyLines(): string {
    if (!this.host.latencyHeaders) return ''
    return 'X-Gateway-Upstream-Latency: ' + Math.round(this.ctx.upstreamFirstByteAt - this.ctx.upstreamSentAt) + '\r\nX-Gateway-Proxy-Latency: ' + Math.round(this.ctx.upstreamSentAt - this.ctx.startedAt) + '\r\n'
  }

  private appendLatency(headers: [string, string][]): void {
    headers.push(['X-Gateway-Upstream-Latency', String(Math.round(this.ctx.upstreamFirstByteAt - this.ctx.upstreamSentAt))], ['X-Gateway-Proxy-Latency', String(Math.round(this.ctx.upstreamSentAt - this.ctx.startedAt))])
  }

  private endAttempt(ok: boolean, outcome: UpstreamOutcome | null): void {
    const target = this.target
    if (target === null) return
    this.target = null
    if (outcome !== null && this.passive) this.peers.recordOutcome(this.serviceIndex, target, outcome)
    if (this.balancer === null) return
    if (!ok) this.tried |= triedBit(target)
    this.balancer.onEnd(target, performance.now() - this.ctx.upstreamSentAt, ok)
  }

  private clearDeadline(): void {
    if (this.deadline !== null) {
      clearTimeout(this.deadline)
      this.deadline = null
    }
  }

  /** The client went away: cancel the call (RST_STREAM CANCEL), as a gRPC client would. */
  clientAborted(): void {
    this.clearDeadline()
    this.cancelStream()
  }
}

/** Where the first field named `name` is (its name's index), or -1. */
function fieldIndex(fields: Fields, name: string): number {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return i
  return -1
}

/** The first value of `name` in the fields, or undefined. */
function field(fields: Fields, name: string): string | undefined {
  const i = fieldIndex(fields, name)
  return i < 0 ? undefined : fields[i + 1]
}

/**
 * HEADERS for the call: pseudo-headers, gRPC's own, and the client's request headers as metadata. The
 * client's headers come from the same builder as the HTTP proxy's request head (hop-by-hop removal,
 * X-Forwarded-*, X-Real-IP, X-Request-Id, plugin changes), minus HTTP framing and reserved grpc-* names.
 */
function requestHeaders(ctx: RequestContext, service: ServiceRecord, call: GrpcCall): string[] {
  const headers = [
    ':method', 'POST',
    ':scheme', service.protocol === 'grpcs' || service.protocol === 'https' ? 'https' : 'http',
    ':path', call.binding.grpcPath,
    ':authority', '',
    'content-type', 'application/grpc',
    'te', 'trailers',
  ]
  if (service.readTimeout > 0) headers.push('grpc-timeout', grpcTimeout(service.readTimeout))
  const lines = headerLines(ctx, ctx.match!, ctx.peerTrusted)
  let start = 0
  for (;;) {
    const end = lines.indexOf('\r\n', start)
    if (end <= start) break
    const colon = lines.indexOf(':', start)
    const name = lines.slice(start, colon).toLowerCase()
    const value = lines.slice(colon + 1, end).trim()
    start = end + 2
    if (NOT_METADATA.has(name) || name.startsWith('grpc-')) continue
    // A repeated header becomes one field, as HTTP/1.1 folds it (cookies with "; ").
    const prev = fieldIndex(headers, name)
    if (prev < 0) headers.push(name, value)
    else headers[prev + 1] += (name === 'cookie' ? '; ' : ', ') + value
  }
  return headers
}

/** Response metadata (headers or trailers) as [name, value] pairs; -bin values stay base64 as received. */
function appendMetadata(out: [string, string][], metadata: Fields | null): void {
  if (metadata === null) return
  for (let i = 0; i < metadata.length; i += 2) {
    const name = metadata[i]!
    if (name.charCodeAt(0) === 0x3a || NOT_RESPONSE_METADATA.has(name)) continue
    out.push([name, metadata[i + 1]!])
  }
}

/** The same metadata as header lines, for a streamed head written in one call. */
function metadataLines(metadata: Fields | null): string {
  const pairs: [string, string][] = []
  appendMetadata(pairs, metadata)
  let lines = ''
  for (const [name, value] of pairs) lines += name + ': ' + value + '\r\n'
  return lines
}
