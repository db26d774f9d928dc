// One proxied request: picks a target, writes the request head and streams the body upstream,
// then relays the parsed response to the client with backpressure both ways (SPEC §4).
import { performance } from 'node:perf_hooks'
import { GW, GatewayError, type ErrorKind } from '../errors.js'
import { statusLine } from '../http-status.js'
import { writeHeaderLines } from '../worker/response-headers.js'
import { BodyKind } from '../http1/response-parser.js'
import type { ServiceRecord, TargetRecord } from '../config/types.js'
import { OPEN, type AbortListener, type RequestContext } from '../worker/context.js'
import type { BodyConsumer } from '../worker/request-body.js'
import { ResponsePipe, filterableHeaders, runHeadFilters, type PipeSource } from '../worker/response-pipe.js'
import { triedBit, type Balancer } from './balancer.js'
import type { ConnectionUser, UpstreamConnection } from './connection.js'
import type { Peer } from './peer.js'
import type { UpstreamOutcome } from './passive-health.js'
import type { ConnectionPool } from './pool.js'

/** Where Peers come from and outcomes go: the Runtime (Snapshot) the request started with. */
export interface PeerSource {
  peer(serviceIndex: number, target: TargetRecord): Peer
  countsOutcomes(serviceIndex: number): boolean
  recordOutcome(serviceIndex: number, target: TargetRecord, outcome: UpstreamOutcome): void
}

const TCP_FAILURE: UpstreamOutcome = Object.freeze({ kind: 'tcp' })
const TIMEOUT: UpstreamOutcome = Object.freeze({ kind: 'timeout' })
const NOT_HTTP: UpstreamOutcome = Object.freeze({ kind: 'status', status: 0 })

/** What the exchange needs from the worker around it. */
export interface ExchangeHost {
  readonly pool: ConnectionPool
  readonly latencyHeaders: boolean
  fail(ctx: RequestContext, err: GatewayError): void
}

/** Bodies up to this size are kept so an idempotent request can be retried after it was sent. */
const RETAIN_LIMIT = 64 * 1024
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE'])
const CHUNK_END = Buffer.from('\r\n')
const LAST_CHUNK = Buffer.from('0\r\n\r\n')

/** The exchange whose read res.cork is running (cork calls back synchronously; no closure per exchange). */
let corking: ProxyExchange

function parseCorked(): void {
  corking.parsePending()
}

/** Case-insensitive compare against a lower-case token name, without allocating (letters, digits, '-'). */
function sameLower(name: string, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false
  return true
}

/** Exponential backoff with full jitter: 0–5 ms, 0–10 ms, 0–20 ms … capped at 1 s. */
export function backoff(attempt: number): number {
  return Math.random() * Math.min(1000, 5 * 2 ** (attempt - 1))
}

export class ProxyExchange implements ConnectionUser, BodyConsumer, AbortListener, PipeSource {
  readonly ctx: RequestContext
  readonly host: ExchangeHost
  readonly service: ServiceRecord
  readonly balancer: Balancer | null
  readonly hashKey: string | null
  private readonly serviceIndex: number
  private readonly peers: PeerSource
  /** The head is written as requestLine + Host line (per target, or preserved) + headerLines. */
  private readonly requestLine: string
  private readonly headerLines: string
  /** `Host: <client's Host>\r\n` when the route has preserve_host, else null. */
  private readonly preservedHostLine: string | null
  private readonly idempotent: boolean
  /** The upstream counts passive health checks. */
  private readonly passive: boolean
  private readonly skipBody: boolean
  conn: UpstreamConnection | null = null
  target: TargetRecord | null = null
  private peer: Peer | null = null
  private attempts = 0
  /** Targets already tried by this request, as the balancer's exclude mask. */
  private tried = 0
  private connected = false
  private bodyAttached = false
  private bodyDone: boolean
  private retained: Buffer[] | null
  private retainedBytes = 0
  /** The client has received the response head: no retry, no error response any more. */
  private headSent = false
  private bodyKind: BodyKind = BodyKind.NONE
  private total = 0
  private held: Buffer | null = null
  private heldBase = 0
  private pendingChunk: Buffer | null = null
  private writableBound: ((offset: number) => boolean) | null = null
  /** The body goes through response filters (ctx.filters transform it), else null. */
  private pipe: ResponsePipe | null = null
  /** The pipe paused the upstream socket (client or filter backed up). */
  private sourcePaused = false

  constructor(ctx: RequestContext, host: ExchangeHost, peers: PeerSource, service: ServiceRecord, serviceIndex: number, balancer: Balancer | null, hashKey: string | null, requestLine: string, headerLines: string, preservedHost: string | null) {
    this.ctx = ctx
    this.host = host
    this.service = service
    this.serviceIndex = serviceIndex
    this.peers = peers
    this.balancer = balancer
    this.hashKey = hashKey
    this.requestLine = requestLine
    this.headerLines = headerLines
    this.preservedHostLine = preservedHost === null ? null : `Host: ${preservedHost}\r\n`
    const method = ctx.upstreamMethod ?? ctx.method
    this.idempotent = IDEMPOTENT.has(method)
    this.passive = peers.countsOutcomes(serviceIndex)
    this.skipBody = method === 'HEAD'
    this.bodyDone = ctx.body === null
    this.retained = this.idempotent && ctx.body !== null ? [] : null
    ctx.onAbort = this
  }

  start(): void {
    const target = this.balancer !== null ? this.balancer.pick(this.hashKey, this.tried) : this.service.target
    if (target === null) return this.host.fail(this.ctx, new GatewayError(GW.NO_PEER))
    this.target = target
    this.ctx.upstreamTarget = target.target
    this.attempts++
    this.connected = false
    const peer = this.peers.peer(this.serviceIndex, target)
    this.peer = peer
    this.balancer?.onStart(target)
    const conn = this.host.pool.acquire(peer)
    this.conn = conn
    conn.use(this, this.skipBody)
  }

  onConnect(conn: UpstreamConnection): void {
    if (this.ctx.state !== OPEN) return conn.destroy()
    this.connected = true
    const socket = conn.socket
    const head = this.requestLine + (this.preservedHostLine ?? this.peer!.hostLine) + this.headerLines
    this.ctx.upstreamSentAt = performance.now()
    if (this.bodyDone) {
      // No body (or a retry with the whole body kept): one write, then wait for the response.
      if (this.retainedBytes === 0) socket.write(head, 'latin1')
      else this.writeRetained(socket, head)
      conn.awaitResponse(this.service.readTimeout)
      return
    }
    conn.expireIn(this.service.writeTimeout)
    if (this.retainedBytes > 0) this.writeRetained(socket, head)
    else socket.write(head, 'latin1')
    if (!this.bodyAttached) {
      this.bodyAttached = true
      this.ctx.body!.attach(this)
    }
  }

  /** A retry: the head and every kept body chunk in one corked write. */
  private writeRetained(socket: UpstreamConnection['socket'], head: string): void {
    socket.cork()
    socket.write(head, 'latin1')
    for (let i = 0; i < this.retained!.length; i++) this.writeBody(this.retained![i]!)
    if (this.bodyDone && this.ctx.chunked) socket.write(LAST_CHUNK)
    socket.uncork()
  }

  private writeBody(chunk: Buffer): boolean {
    const socket = this.conn!.socket
    if (!this.ctx.chunked) return socket.write(chunk)
    if (chunk.length === 0) return true
    socket.write(chunk.length.toString(16) + '\r\n', 'latin1')
    socket.write(chunk)
    return socket.write(CHUNK_END)
  }

  onBodyChunk(chunk: Buffer, isLast: boolean): void {
    if (this.retained !== null) {
      this.retainedBytes += chunk.length
      if (this.retainedBytes > RETAIN_LIMIT) this.retained = null
      else this.retained.push(chunk)
    }
    if (isLast) this.bodyDone = true
    const conn = this.conn
    if (conn === null || !this.connected) return // between attempts: kept in `retained` (or not retryable)
    conn.socket.cork()
    let ok = this.writeBody(chunk)
    if (isLast && this.ctx.chunked) ok = conn.socket.write(LAST_CHUNK)
    conn.socket.uncork()
    if (!ok) this.ctx.body!.pause()
    // Kong's write_timeout is between two successive writes, so progress moves the deadline.
    if (isLast) conn.awaitResponse(this.service.readTimeout)
    else conn.expireIn(this.service.writeTimeout)
  }

  onUpstreamDrain(): void {
    if (this.ctx.body === null || this.bodyDone) return
    this.conn?.expireIn(this.service.writeTimeout)
    this.ctx.body.resume()
  }

  onUpstreamData(conn: UpstreamConnection, chunk: Buffer): void {
    if (this.ctx.state !== OPEN) return conn.destroy()
    if (this.ctx.upstreamFirstByteAt === 0) this.ctx.upstreamFirstByteAt = performance.now()
    this.pendingChunk = chunk
    // A streamed body after its head goes out uncorked: inside res.cork, uWS's write() reports no
    // backpressure for bytes it only buffers when the cork is released, so the upstream is never paused,
    // uWS's buffer grows without bound and, once onWritable is registered, is left undrained (measured:
    // 50 MiB chunked responses stalled in 5 of 12 runs). Known-length bodies use tryEnd, which is exact.
    if (this.headSent && this.bodyKind !== BodyKind.LENGTH) return this.parsePending()
    // res.cork calls back synchronously: a module slot instead of a closure per exchange.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    corking = this
    this.ctx.res.cork(parseCorked)
  }

  /** Runs the parser over the pending chunk inside res.cork, so a whole read is one client write. */
  parsePending(): void {
    const conn = this.conn!
    const code = conn.parser.execute(this.pendingChunk!)
    this.pendingChunk = null
    if (code !== 0 && this.conn === conn) this.badResponse(conn)
  }

  /** A plugin answered instead of this response (stale_if_error): the rest of it is never read. */
  private dropResponse(): void {
    const conn = this.conn
    this.conn = null
    if (conn === null) return
    this.endAttempt(true)
    conn.destroy()
  }

  private badResponse(conn: UpstreamConnection): void {
    conn.destroy()
    this.conn = null
    // A body broken after the head was counted by its status already.
    if (!this.headSent) this.passiveOutcome(NOT_HTTP)
    this.endAttempt(false)
    if (this.headSent) return this.abortClient()
    this.host.fail(this.ctx, new GatewayError(GW.UPSTREAM_BAD_RESPONSE, false, conn.parser.errorReason))
  }

  onHead(status: number, _reason: string, headers: string[], contentLength: number, bodyKind: BodyKind): void {
    const ctx = this.ctx
    if (ctx.state !== OPEN) return
    if (status === 101) return this.badResponse(this.conn!) // upgrades are only relayed on ws routes
    if (this.passive) this.passiveOutcome({ kind: 'status', status })
    if (ctx.observer !== null && ctx.observer.onResponseHead(status, headers, contentLength)) return this.dropResponse()
    const res = ctx.res
    this.headSent = true
    this.bodyKind = bodyKind
    ctx.status = status
    // uWS writes "200 OK" by itself when the first header comes before any status.
    if (status !== 200) res.writeStatus(statusLine(status))
    if (ctx.filters !== null) return this.filteredHead(status, headers, contentLength, bodyKind)
    writeHeaderLines(res, ctx.requestId, this.headerBlock(headers, ctx.responseLines))
    this.endIfBodyless(status, contentLength, bodyKind)
  }

  /**
   * The head through the response filters: they see the upstream's headers and the plugins' lines together.
   * When one transforms the body, it streams through a ResponsePipe and goes out chunked.
   */
  private filteredHead(status: number, upstreamHeaders: string[], contentLength: number, bodyKind: BodyKind): void {
    const ctx = this.ctx
    const res = ctx.res
    const bodyless = this.skipBody || status === 204 || status === 304
    const headers = filterableHeaders(upstreamHeaders, ctx.responseLines)
    const active = runHeadFilters(ctx.filters!, status, bodyless, bodyKind === BodyKind.NONE ? 0 : contentLength, headers)
    writeHeaderLines(res, ctx.requestId, this.headerBlock(headers, ''))
    if (active === null) return this.endIfBodyless(status, contentLength, bodyKind)
    this.pipe = new ResponsePipe(ctx, active, this)
    if (bodyKind === BodyKind.NONE || (bodyKind === BodyKind.LENGTH && contentLength === 0)) this.pipe.end()
  }

  /** The rest of onHead, for a head that went out unfiltered or through filters that leave the body alone. */
  private endIfBodyless(status: number, contentLength: number, bodyKind: BodyKind): void {
    const ctx = this.ctx
    const res = ctx.res
    if (this.skipBody || status === 204 || status === 304 || bodyKind === BodyKind.NONE) {
      if (this.skipBody && contentLength >= 0) res.endWithoutBody(contentLength)
      else if (status === 204 || status === 304 || this.skipBody) res.endWithoutBody()
      else res.end()
      ctx.finished()
      return
    }
    if (bodyKind === BodyKind.LENGTH) {
      this.total = contentLength
      if (contentLength === 0) {
        res.end()
        ctx.finished()
      }
    }
  }

  pauseSource(): void {
    this.sourcePaused = true
    this.conn?.socket.pause()
  }

  resumeSource(): void {
    this.sourcePaused = false
    this.conn?.socket.resume()
  }

  /**
   * Every response header line after our X-Request-Id as one latin1 string: the upstream's (minus Date,
   * which uWS writes, and X-Request-Id, which is ours), the plugins' `lines` and the latency headers (SPEC §4).
   */
  private headerBlock(headers: string[], lines: string): string {
    let block = ''
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!
      if ((name.length === 4 && sameLower(name, 'date')) || (name.length === 12 && sameLower(name, 'x-request-id'))) continue
      block += name + ': ' + headers[i + 1]! + '\r\n'
    }
    block += lines
    if (this.host.latencyHeaders) {
      block += 'X-Gateway-Upstream-Latency: ' + Math.round(this.ctx.upstreamFirstByteAt - this.ctx.upstreamSentAt) + '\r\nX-Gateway-Proxy-Latency: ' + Math.round(this.ctx.upstreamSentAt - this.ctx.startedAt) + '\r\n'
    }
    return block
  }

  onBody(chunk: Buffer): void {
    const ctx = this.ctx
    if (ctx.state !== OPEN) return
    if (ctx.observer !== null) ctx.observer.onResponseBody(chunk)
    if (this.pipe !== null) return this.pipe.write(chunk)
    ctx.bytesOut += chunk.length
    if (this.bodyKind !== BodyKind.LENGTH) {
      if (!ctx.res.write(chunk)) this.waitWritable()
      return
    }
    // Chunks are views of a reused read buffer: anything held past this call is copied.
    if (this.held !== null) {
      this.held = Buffer.concat([this.held, chunk])
      return
    }
    if (chunk.length === this.total) {
      // The whole body in one read (at most one read buffer, 64 KiB): end() lets uWS keep what the
      // socket does not take, which costs less than tryEnd's offset bookkeeping.
      ctx.res.end(chunk)
      return ctx.finished()
    }
    const base = ctx.res.getWriteOffset()
    const [ok, done] = ctx.res.tryEnd(chunk, this.total)
    if (done) return ctx.finished()
    if (!ok) {
      // uWS keeps nothing we could not send: hold a copy of the chunk until onWritable.
      this.held = Buffer.from(chunk)
      this.heldBase = base
      this.waitWritable()
    }
  }

  /**
   * The client is slower than the upstream: stop reading upstream until uWS says it drained.
   * onWritable is registered on first backpressure only (most responses never need it; each
   * registration costs uWS a persistent handle), and replaces rather than stacks.
   */
  private waitWritable(): void {
    this.conn?.socket.pause()
    if (this.writableBound === null) {
      this.writableBound = this.onWritable.bind(this)
      this.ctx.res.onWritable(this.writableBound)
    }
  }

  /** uWS onWritable: the client drained; send what is held and let the upstream flow again. */
  private onWritable(offset: number): boolean {
    const ctx = this.ctx
    if (ctx.state !== OPEN) return true
    if (this.bodyKind !== BodyKind.LENGTH) {
      this.conn?.socket.resume()
      return true
    }
    const held = this.held
    if (held === null) return true
    const [ok, done] = ctx.res.tryEnd(held.subarray(offset - this.heldBase), this.total)
    if (done) {
      this.held = null
      ctx.finished()
    } else if (ok) {
      this.held = null
      this.conn?.socket.resume()
    }
    return ok
  }

  onComplete(keepAlive: boolean): void {
    const conn = this.conn
    this.conn = null
    if (conn !== null) {
      this.endAttempt(true)
      // A socket the pipe paused goes back to the pool flowing (its next user expects reads).
      if (this.sourcePaused) conn.socket.resume()
      if (keepAlive && this.bodyDone) conn.release()
      else conn.destroy()
    }
    if (this.ctx.body !== null && !this.bodyDone) this.ctx.body.detach()
    const ctx = this.ctx
    if (ctx.state !== OPEN) return
    if (this.pipe !== null) return this.pipe.end()
    if (this.bodyKind === BodyKind.CHUNKED || this.bodyKind === BodyKind.EOF) {
      ctx.res.end()
      ctx.finished()
    }
  }

  onConnectionError(conn: UpstreamConnection, err: Error | null, timedOut: boolean): void {
    if (this.conn !== conn) return
    this.conn = null
    // After the head arrived a broken body is not a target failure Kong counts (it reported the status).
    if (!this.headSent) this.passiveOutcome(timedOut ? TIMEOUT : TCP_FAILURE)
    this.endAttempt(false)
    if (this.ctx.state !== OPEN) return
    if (this.headSent) return this.abortClient()
    let kind: ErrorKind
    let retry: boolean
    if (!this.connected) {
      kind = timedOut ? GW.UPSTREAM_CONNECT_TIMEOUT : GW.UPSTREAM_CONNECT
      // Nothing was sent: another target is safe for any method (NGINX proxy_next_upstream semantics).
      retry = true
    } else {
      kind = timedOut ? (this.bodyDone ? GW.UPSTREAM_READ_TIMEOUT : GW.UPSTREAM_WRITE_TIMEOUT) : GW.UPSTREAM_RESET
      retry = this.idempotent && !conn.gotData && (this.ctx.body === null || (this.retained !== null && this.bodyDone))
    }
    if (retry && this.attempts <= this.service.retries) {
      setTimeout(() => this.retry(), backoff(this.attempts))
      return
    }
    this.host.fail(this.ctx, new GatewayError(kind, false, err?.message))
  }

  private retry(): void {
    if (this.ctx.state !== OPEN) return
    this.start()
  }

  private passiveOutcome(outcome: UpstreamOutcome): void {
    if (this.passive && this.target !== null) this.peers.recordOutcome(this.serviceIndex, this.target, outcome)
  }

  private endAttempt(ok: boolean): void {
    const target = this.target
    const balancer = this.balancer
    if (target === null || balancer === null) return
    if (!ok) this.tried |= triedBit(target)
    balancer.onEnd(target, performance.now() - (this.ctx.upstreamSentAt || this.ctx.startedAt), ok)
  }

  private abortClient(): void {
    if (this.ctx.state === OPEN) this.ctx.res.close()
  }

  /** The client went away: an upstream socket mid-exchange can never be reused. */
  clientAborted(): void {
    const conn = this.conn
    this.conn = null
    if (conn !== null) {
      this.endAttempt(true)
      conn.destroy()
    }
    this.ctx.body?.detach()
  }
}
