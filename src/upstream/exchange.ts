// One proxied request: picks a target, writes the request head and streams the body upstream,
// then relays the parsed response to the client with backpressure both ways (SPEC §4).
import { GW, GatewayError, type ErrorKind } from '../errors.js'
import { statusLine } from '../http-status.js'
import { BodyKind } from '../http1/response-parser.js'
import type { ServiceRecord, TargetRecord } from '../config/types.js'
import { OPEN, type RequestContext } from '../worker/context.js'
import type { BodyConsumer } from '../worker/request-body.js'
import { triedBit, type Balancer } from './balancer.js'
import type { ConnectOptions, ConnectionUser, UpstreamConnection } from './connection.js'
import type { ConnectionPool } from './pool.js'

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

/** Exponential backoff with full jitter: 0–5 ms, 0–10 ms, 0–20 ms … capped at 1 s. */
function backoff(attempt: number): number {
  return Math.random() * Math.min(1000, 5 * 2 ** (attempt - 1))
}

export class ProxyExchange implements ConnectionUser, BodyConsumer {
  readonly ctx: RequestContext
  readonly host: ExchangeHost
  readonly service: ServiceRecord
  readonly balancer: Balancer | null
  readonly hashKey: string | null
  /** Request head from the request line to the end, minus the Host line (it depends on the target). */
  private readonly headBeforeHost: string
  private readonly headAfterHost: string
  private readonly preservedHost: string | null
  private readonly idempotent: boolean
  private readonly skipBody: boolean
  conn: UpstreamConnection | null = null
  target: TargetRecord | null = null
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
  private sentAt = 0
  private firstByteAt = 0

  constructor(ctx: RequestContext, host: ExchangeHost, service: ServiceRecord, balancer: Balancer | null, hashKey: string | null, head: string, hostLine: string | null) {
    this.ctx = ctx
    this.host = host
    this.service = service
    this.balancer = balancer
    this.hashKey = hashKey
    const split = head.indexOf('\r\n') + 2
    this.headBeforeHost = head.slice(0, split)
    this.headAfterHost = head.slice(split)
    this.preservedHost = hostLine
    this.idempotent = IDEMPOTENT.has(ctx.method)
    this.skipBody = ctx.method === 'HEAD'
    this.bodyDone = ctx.body === null
    this.retained = this.idempotent && ctx.body !== null ? [] : null
    ctx.onAbort = this.onClientAbort
  }

  start(): void {
    const target = this.balancer !== null ? this.balancer.pick(this.hashKey, this.tried) : this.service.target
    if (target === null) return this.host.fail(this.ctx, new GatewayError(GW.NO_PEER))
    this.target = target
    this.attempts++
    this.connected = false
    const s = this.service
    const tlsOn = s.protocol === 'https'
    const opts: ConnectOptions = {
      key: `${tlsOn ? 's' : ''}${target.host}:${target.port}${tlsOn && !s.tlsVerify ? ':noverify' : ''}`,
      host: target.host,
      port: target.port,
      tls: tlsOn,
      tlsVerify: s.tlsVerify,
      servername: target.host,
      connectTimeout: s.connectTimeout,
    }
    this.balancer?.onStart(target)
    const conn = this.host.pool.acquire(opts)
    this.conn = conn
    conn.use(this, this.skipBody)
  }

  private hostHeader(target: TargetRecord): string {
    if (this.preservedHost !== null) return this.preservedHost
    const defaultPort = this.service.protocol === 'https' ? 443 : 80
    return target.port === defaultPort ? target.host : `${target.host}:${target.port}`
  }

  onConnect(conn: UpstreamConnection): void {
    if (this.ctx.state !== OPEN) return conn.destroy()
    this.connected = true
    const socket = conn.socket
    conn.setTimeout(this.service.writeTimeout)
    socket.cork()
    socket.write(`${this.headBeforeHost}Host: ${this.hostHeader(this.target!)}\r\n${this.headAfterHost}`, 'latin1')
    this.sentAt = performance.now()
    if (this.retained !== null && this.retainedBytes > 0) {
      for (let i = 0; i < this.retained.length; i++) this.writeBody(this.retained[i]!)
    }
    if (this.bodyDone && this.retained !== null && this.ctx.chunked) socket.write(LAST_CHUNK)
    socket.uncork()
    if (!this.bodyAttached && this.ctx.body !== null) {
      this.bodyAttached = true
      this.ctx.body.attach(this)
    }
    if (this.bodyDone) conn.setTimeout(this.service.readTimeout)
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
    if (isLast) conn.setTimeout(this.service.readTimeout)
  }

  onUpstreamDrain(): void {
    if (this.ctx.body !== null && !this.bodyDone) this.ctx.body.resume()
  }

  onUpstreamData(conn: UpstreamConnection, chunk: Buffer): void {
    if (this.ctx.state !== OPEN) return conn.destroy()
    if (this.firstByteAt === 0) this.firstByteAt = performance.now()
    this.pendingChunk = chunk
    this.ctx.res.cork(this.parseCorked)
  }

  /** Runs the parser over the pending chunk inside res.cork, so a whole read is one client write. */
  private readonly parseCorked = (): void => {
    const conn = this.conn!
    const code = conn.parser.execute(this.pendingChunk!)
    this.pendingChunk = null
    if (code !== 0 && this.conn === conn) this.badResponse(conn)
  }

  private badResponse(conn: UpstreamConnection): void {
    conn.destroy()
    this.conn = null
    this.endAttempt(false)
    if (this.headSent) return this.abortClient()
    this.host.fail(this.ctx, new GatewayError(GW.UPSTREAM_BAD_RESPONSE, false, conn.parser.errorReason))
  }

  onHead(status: number, _reason: string, headers: string[], contentLength: number, bodyKind: BodyKind): void {
    const ctx = this.ctx
    if (ctx.state !== OPEN) return
    if (status === 101) return this.badResponse(this.conn!) // upgrades are only relayed on ws routes
    const res = ctx.res
    this.headSent = true
    this.bodyKind = bodyKind
    res.writeStatus(statusLine(status))
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!
      // uWS writes its own Date; the request id is ours (SPEC §4).
      if ((name.length === 4 && name.toLowerCase() === 'date') || (name.length === 12 && name.toLowerCase() === 'x-request-id')) continue
      res.writeHeader(name, headers[i + 1]!)
    }
    res.writeHeader('X-Request-Id', ctx.requestId)
    if (this.host.latencyHeaders) {
      res.writeHeader('X-Gateway-Upstream-Latency', String(Math.round(this.firstByteAt - this.sentAt)))
      res.writeHeader('X-Gateway-Proxy-Latency', String(Math.round(this.sentAt - ctx.startedAt)))
    }
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
        return
      }
    }
    res.onWritable(this.onWritable)
  }

  onBody(chunk: Buffer): void {
    const ctx = this.ctx
    if (ctx.state !== OPEN) return
    if (this.bodyKind !== BodyKind.LENGTH) {
      if (!ctx.res.write(chunk)) this.conn?.socket.pause()
      return
    }
    // Chunks are views of a reused read buffer: anything held past this call is copied.
    if (this.held !== null) {
      this.held = Buffer.concat([this.held, chunk])
      return
    }
    const base = ctx.res.getWriteOffset()
    const [ok, done] = ctx.res.tryEnd(chunk, this.total)
    if (done) return ctx.finished()
    if (!ok) {
      // uWS keeps nothing we could not send: hold a copy of the chunk until onWritable.
      this.held = Buffer.from(chunk)
      this.heldBase = base
      this.conn?.socket.pause()
    }
  }

  /** uWS onWritable: the client drained; send what is held and let the upstream flow again. */
  private readonly onWritable = (offset: number): boolean => {
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
      if (keepAlive && this.bodyDone) conn.release()
      else conn.destroy()
    }
    if (this.ctx.body !== null && !this.bodyDone) this.ctx.body.detach()
    const ctx = this.ctx
    if (ctx.state !== OPEN) return
    if (this.bodyKind === BodyKind.CHUNKED || this.bodyKind === BodyKind.EOF) {
      ctx.res.end()
      ctx.finished()
    }
  }

  onConnectionError(conn: UpstreamConnection, err: Error | null, timedOut: boolean): void {
    if (this.conn !== conn) return
    this.conn = null
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
      setTimeout(this.retry, backoff(this.attempts))
      return
    }
    this.host.fail(this.ctx, new GatewayError(kind, false, err?.message))
  }

  private readonly retry = (): void => {
    if (this.ctx.state !== OPEN) return
    this.start()
  }

  private endAttempt(ok: boolean): void {
    const target = this.target
    if (target === null) return
    if (!ok) this.tried |= triedBit(target)
    this.balancer?.onEnd(target, performance.now() - (this.sentAt || this.ctx.startedAt), ok)
  }

  private abortClient(): void {
    if (this.ctx.state === OPEN) this.ctx.res.close()
  }

  /** The client went away: an upstream socket mid-exchange can never be reused. */
  private readonly onClientAbort = (): void => {
    const conn = this.conn
    this.conn = null
    if (conn !== null) {
      this.endAttempt(true)
      conn.destroy()
    }
    this.ctx.body?.detach()
  }
}
