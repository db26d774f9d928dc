// One upstream socket (TCP or TLS) with its response parser; listeners are attached once per
// connection and dispatch to the exchange currently using it, so nothing is allocated per read.
// Timeouts are deadlines checked by the pool's sweep (STYLE 2.10): no timer work per request.
import { performance } from 'node:perf_hooks'
import net from 'node:net'
import tls, { type SecureContext, type TLSSocket } from 'node:tls'
import { ResponseParser, type BodyKind, type ResponseSink } from '../http1/response-parser.js'
import type { ConnectionPool } from './pool.js'
import { intermediateCount } from './tls.js'

export interface ConnectOptions {
  /** Pool identity: scheme, host, port and TLS settings (Pingora: reuse only for the exact same peer). */
  key: string
  host: string
  port: number
  tls: boolean
  tlsVerify: boolean
  /** Client certificate / trust store for TLS (upstream/tls.ts); null = Node's defaults. */
  secureContext?: SecureContext | null
  /** tls_verify_depth: most intermediate CAs accepted, -1 = no limit. */
  verifyDepth?: number
  servername: string
  connectTimeout: number
}

/** What a connection reports to the exchange using it. */
export interface ConnectionUser extends ResponseSink {
  onConnect(conn: UpstreamConnection): void
  /** The socket failed or closed while this user held it; `err` is null on a clean close. */
  onConnectionError(conn: UpstreamConnection, err: Error | null, timedOut: boolean): void
  onUpstreamDrain(): void
  /** Called once per socket read, before the parser runs, so the user can cork its client. */
  onUpstreamData(conn: UpstreamConnection, chunk: Buffer): void
}

/** Shared read buffer for plain TCP upstream sockets of this worker (see the constructor). */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024)

const CONNECTING = 0
const BUSY = 1
const IDLE = 2
const CLOSED = 3

export class UpstreamConnection implements ResponseSink {
  readonly key: string
  readonly pool: ConnectionPool
  readonly socket: net.Socket
  readonly parser: ResponseParser
  user: ConnectionUser | null = null
  state = CONNECTING
  /** Requests this socket has carried; > 0 means it was reused (a stale keep-alive socket may fail). */
  requests = 0
  /** The upstream sent at least one byte for the current request. */
  gotData = false
  /** performance.now() after which the pool's sweep times this connection out; 0 = none. */
  deadline = 0
  /** While waiting for the response: each read pushes the deadline this far (read_timeout). */
  private readRefreshMs = 0
  /** tls_verify_depth checked once the handshake is done, -1 = none. */
  private readonly verifyDepth: number

  constructor(pool: ConnectionPool, opts: ConnectOptions) {
    this.pool = pool
    this.key = opts.key
    this.parser = new ResponseParser(this)
    this.verifyDepth = opts.tls && opts.tlsVerify ? opts.verifyDepth ?? -1 : -1
    if (opts.tls) {
      this.socket = tls.connect({
        host: opts.host, port: opts.port, servername: opts.servername || undefined, rejectUnauthorized: opts.tlsVerify, ALPNProtocols: ['http/1.1'],
        secureContext: opts.secureContext ?? undefined,
      })
      this.socket.on('data', this.onData)
    } else {
      // Plain TCP reads land in one buffer per worker (no allocation per read, no garbage): every
      // consumer of a chunk is synchronous, and the exchange copies the rare bytes it must hold.
      this.socket = net.connect({ host: opts.host, port: opts.port, onread: { buffer: READ_BUFFER, callback: this.onRead } })
    }
    this.socket.setNoDelay(true)
    this.expireIn(opts.connectTimeout)
    this.socket.on(opts.tls ? 'secureConnect' : 'connect', this.onConnect)
    this.socket.on('drain', this.onDrain)
    this.socket.on('error', this.onError)
    this.socket.on('close', this.onClose)
    pool.opened(this)
  }

  /** Binds the connection to an exchange; an already-connected (pooled) one reports onConnect at once. */
  use(user: ConnectionUser, skipBody: boolean): void {
    this.user = user
    this.gotData = false
    this.parser.reset(skipBody)
    if (this.state === IDLE) {
      this.state = BUSY
      this.deadline = 0
      user.onConnect(this)
    }
  }

  /** True when an idle socket can carry another request (not closed, nothing unread). */
  usable(): boolean {
    return this.state === IDLE && !this.socket.destroyed && this.socket.readyState === 'open'
  }

  /** Arms the deadline `ms` from now (0 disarms); reads no longer move it. */
  expireIn(ms: number): void {
    this.readRefreshMs = 0
    this.deadline = ms > 0 ? performance.now() + ms : 0
  }

  /** Waiting for the response: time out when `ms` pass without a read (Kong's read_timeout). */
  awaitResponse(ms: number): void {
    this.expireIn(ms)
    this.readRefreshMs = ms
  }

  /** Back to the pool: the exchange is done with it and the response allowed keep-alive. */
  release(): void {
    this.user = null
    this.requests++
    this.pool.release(this)
  }

  /** Called by the pool when it keeps the connection idle. */
  park(idleTimeoutMs: number): void {
    this.state = IDLE
    this.expireIn(idleTimeoutMs)
  }

  destroy(): void {
    this.user = null
    this.deadline = 0
    if (this.state === CLOSED) return
    const wasIdle = this.state === IDLE
    this.state = CLOSED
    if (wasIdle) this.pool.evict(this)
    this.socket.destroy()
  }

  private readonly onConnect = (): void => {
    if (this.state !== CONNECTING) return
    if (this.verifyDepth >= 0 && intermediateCount(this.socket as TLSSocket) > this.verifyDepth) {
      this.socket.destroy(new Error(`upstream certificate chain is deeper than tls_verify_depth ${this.verifyDepth}`))
      return
    }
    this.state = BUSY
    this.deadline = 0
    if (this.user !== null) this.user.onConnect(this)
  }

  private readonly onData = (chunk: Buffer): void => {
    const user = this.user
    if (user === null) {
      // Bytes on an idle keep-alive socket mean the peer is broken (undici, Pingora): never reuse it.
      this.destroy()
      return
    }
    this.gotData = true
    if (this.readRefreshMs > 0) this.deadline = performance.now() + this.readRefreshMs
    user.onUpstreamData(this, chunk)
  }

  private readonly onRead = (nread: number, buf: Uint8Array): boolean => {
    this.onData((buf as Buffer).subarray(0, nread))
    return true
  }

  private readonly onDrain = (): void => {
    if (this.user !== null) this.user.onUpstreamDrain()
  }

  /** Called by the pool's sweep when the deadline passed. */
  timedOut(): void {
    const user = this.user
    if (user === null) {
      this.destroy()
      return
    }
    this.fail(user, new Error('upstream timeout'), true)
  }

  private readonly onError = (err: Error): void => {
    const user = this.user
    if (user !== null) this.fail(user, err, false)
    else this.destroy()
  }

  private readonly onClose = (): void => {
    this.pool.closed(this)
    const wasIdle = this.state === IDLE
    this.state = CLOSED
    if (wasIdle) {
      this.user = null
      this.pool.evict(this)
      return
    }
    const user = this.user
    if (user === null) return
    // A close may complete a close-delimited body (the user then lets go in onComplete);
    // otherwise the message was cut short or never started.
    const code = this.parser.finish()
    if (this.user === null) return
    this.user = null
    user.onConnectionError(this, code === 0 ? null : new Error(this.parser.errorReason || 'upstream closed the connection'), false)
  }

  private fail(user: ConnectionUser, err: Error, timedOut: boolean): void {
    this.user = null
    if (this.state !== CLOSED) {
      this.state = CLOSED
      this.socket.destroy()
    }
    user.onConnectionError(this, err, timedOut)
  }

  // ResponseSink: the parser reports to the connection, which forwards to its user.
  onHead(status: number, reason: string, headers: string[], contentLength: number, bodyKind: BodyKind, keepAlive: boolean): void {
    this.user?.onHead(status, reason, headers, contentLength, bodyKind, keepAlive)
  }

  onBody(chunk: Buffer): void {
    this.user?.onBody(chunk)
  }

  onComplete(keepAlive: boolean): void {
    this.user?.onComplete(keepAlive)
  }
}
