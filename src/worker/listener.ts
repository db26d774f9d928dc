// The worker's uWS listener: one App per worker thread on the shared port (SO_REUSEPORT).
// It copies each request into a RequestContext, routes it, runs the access chain and proxies.
import { uws, type HttpRequest, type HttpResponse, type TemplatedApp, type us_listen_socket } from '../uws.js'
import { GW, GatewayError, errorBody } from '../errors.js'
import { statusLine } from '../http-status.js'
import { listContains, type CidrList } from '../net/cidr.js'
import { DONE } from '../plugins/types.js'
import { STAT, type WorkerStats } from '../shared/worker-stats.js'
import type { Settings } from '../settings.js'
import { ConnectionPool } from '../upstream/pool.js'
import { ProxyExchange, type ExchangeHost } from '../upstream/exchange.js'
import { hashKeyFor } from '../upstream/balancer.js'
import { runAccess } from './chain.js'
import { FRAMING_OK, OPEN, RequestContext } from './context.js'
import { RequestBody } from './request-body.js'
import type { Runtime } from './runtime.js'
import type { ServiceRecord } from '../config/types.js'
import { headerLines, requestLine } from './upstream-head.js'
import { writeHeaderLines } from './response-headers.js'

const JSON_TYPE = 'application/json; charset=utf-8'

export class Listener implements ExchangeHost {
  readonly settings: Settings
  readonly app: TemplatedApp
  readonly pool: ConnectionPool
  readonly latencyHeaders: boolean
  readonly stats: WorkerStats
  readonly row: number
  runtime: Runtime
  port: number
  private listenSocket: us_listen_socket | null = null
  private inFlight = 0
  private draining = false
  private onIdle: (() => void) | null = null
  private readonly trusted: CidrList

  constructor(settings: Settings, runtime: Runtime, stats: WorkerStats, row: number) {
    this.settings = settings
    this.runtime = runtime
    this.stats = stats
    this.row = row
    this.port = settings.port
    this.latencyHeaders = settings.latencyHeaders
    this.trusted = settings.trustedIps
    this.pool = new ConnectionPool({ maxIdle: settings.upstreamKeepalive, idleTimeoutMs: settings.upstreamIdleTimeoutMs, stats, statsRow: row })
    this.app = uws.App()
    this.app.any('/*', this.onRequest)
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(this.settings.host, this.settings.port, (socket) => {
        if (!socket) return reject(new Error(`cannot listen on ${this.settings.host}:${this.settings.port}`))
        this.listenSocket = socket
        this.port = uws.us_socket_local_port(socket)
        resolve(this.port)
      })
    })
  }

  private readonly onRequest = (res: HttpResponse, req: HttpRequest): void => {
    const ctx = new RequestContext(res, req, this)
    res.onAborted(ctx.aborted)
    this.inFlight++
    this.stats.add(this.row, STAT.REQUESTS, 1)
    this.stats.add(this.row, STAT.IN_FLIGHT, 1)
    if (ctx.framing !== FRAMING_OK) return this.fail(ctx, new GatewayError(GW.BAD_REQUEST, false, 'ambiguous request framing'))
    const rt = this.runtime
    const match = rt.router.match(ctx.method, ctx.host, ctx.path, ctx.headers, ctx.query)
    if (match === null) return this.fail(ctx, new GatewayError(GW.NO_ROUTE))
    ctx.match = match
    ctx.routeName = match.route.name
    ctx.routeId = match.route.id
    const service = rt.service(match.route)
    if (service !== undefined) {
      ctx.serviceName = service.name
      ctx.serviceId = service.id
    }
    if (ctx.contentLength > this.settings.maxBodySize) return this.fail(ctx, new GatewayError(GW.BODY_TOO_LARGE))
    if (ctx.hasBody) ctx.body = new RequestBody(res, this.settings.maxBodySize, () => this.fail(ctx, new GatewayError(GW.BODY_TOO_LARGE)))
    const chain = rt.access[match.routeIndex]!
    if (chain !== null) {
      const result = runAccess(ctx, chain)
      if (result === DONE) return
      if (result !== undefined) {
        result.then(
          (r) => (r === DONE || ctx.state !== OPEN ? undefined : this.proxy(ctx, rt, service)),
          (err: unknown) => this.fail(ctx, err instanceof GatewayError ? err : new GatewayError(GW.INTERNAL, false, String(err))),
        )
        return
      }
    }
    this.proxy(ctx, rt, service)
  }

  private proxy(ctx: RequestContext, rt: Runtime, service: ServiceRecord | undefined): void {
    const match = ctx.match!
    if (service === undefined) return this.fail(ctx, new GatewayError(GW.NO_SERVICE))
    const serviceIndex = match.route.service
    const balancer = rt.balancers[serviceIndex]!
    const hashKey = balancer === null ? null : hashKeyFor(rt.snapshot.upstreams[service.upstream]!, { clientIp: ctx.clientIp, headers: ctx.headers, consumerId: null, path: ctx.path })
    const preservedHost = match.route.preserveHost && ctx.host !== '' ? ctx.host : null
    new ProxyExchange(ctx, this, rt, service, serviceIndex, balancer, hashKey, requestLine(ctx, match), headerLines(ctx, match, ctx.peerTrusted), preservedHost).start()
  }

  /** True when the peer is in GATEWAY_TRUSTED_IPS (its X-Forwarded-* / X-Real-IP are believed). */
  isTrusted(peer: string): boolean {
    return this.trusted.length !== 0 && listContains(this.trusted, peer)
  }

  /** Client IP behind a trusted peer: the nearest untrusted X-Forwarded-For hop, else X-Real-IP. */
  clientIpBehind(peer: string, headers: Map<string, string>): string {
    const xff = headers.get('x-forwarded-for')
    if (xff !== undefined) {
      const hops = xff.split(',')
      for (let i = hops.length - 1; i >= 0; i--) {
        const hop = hops[i]!.trim()
        if (hop !== '' && !listContains(this.trusted, hop)) return hop
      }
    }
    const real = headers.get('x-real-ip')
    return real !== undefined && real !== '' ? real.trim() : peer
  }

  /** The one place an error becomes a response (STYLE 2.9): Kong's JSON body, status and message. */
  fail(ctx: RequestContext, err: GatewayError): void {
    if (ctx.state !== OPEN) return
    const holder = ctx.onAbort
    ctx.onAbort = null
    if (holder !== null) holder.clientAborted()
    const observer = ctx.observer
    if (observer !== null) {
      ctx.observer = null
      if (err.kind.source === 'upstream' && observer.onUpstreamFailure(err)) return
      observer.onResponseAbort()
    }
    this.stats.add(this.row, STAT.ERRORS, 1)
    const close = err.status === 400 || err.status === 413
    this.respond(ctx, err.status, errorBody(err.kind.message, ctx.requestId), [['Content-Type', JSON_TYPE]], close)
  }

  respond(ctx: RequestContext, status: number, body: string | Buffer, headers: ReadonlyArray<readonly [string, string]> | null, close: boolean): void {
    if (ctx.state !== OPEN) return
    const res = ctx.res
    res.cork(() => {
      res.writeStatus(statusLine(status))
      if (headers !== null) for (const [name, value] of headers) res.writeHeader(name, value)
      writeHeaderLines(res, ctx.requestId, ctx.responseLines)
      // A HEAD answer carries the length its GET would have, never the bytes (RFC 9110 §9.3.2).
      if (ctx.method === 'HEAD') res.endWithoutBody(typeof body === 'string' ? Buffer.byteLength(body) : body.length, close || this.draining)
      else res.end(body, close || this.draining)
    })
    ctx.finished()
  }

  readBody(ctx: RequestContext, limit: number): Promise<Buffer> {
    const body = ctx.body
    if (body === null) return Promise.resolve(Buffer.alloc(0))
    if (ctx.contentLength > limit) return Promise.reject(new GatewayError(GW.BODY_TOO_LARGE))
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = []
      let size = 0
      body.attach({
        onBodyChunk(chunk, isLast) {
          size += chunk.length
          if (size > limit) return reject(new GatewayError(GW.BODY_TOO_LARGE))
          chunks.push(chunk)
          if (isLast) resolve(Buffer.concat(chunks, size))
        },
      })
    })
  }

  requestEnded(_ctx: RequestContext): void {
    this.inFlight--
    this.stats.add(this.row, STAT.IN_FLIGHT, -1)
    if (this.inFlight === 0 && this.onIdle !== null) this.onIdle()
  }

  /** SPEC §1 drain: stop accepting, let in-flight requests finish, then resolve. */
  drain(): Promise<void> {
    this.draining = true
    if (this.listenSocket !== null) {
      uws.us_listen_socket_close(this.listenSocket)
      this.listenSocket = null
    }
    return new Promise((resolve) => {
      const done = (): void => {
        this.pool.closeIdle()
        resolve()
      }
      if (this.inFlight === 0) return done()
      this.onIdle = done
    })
  }

  /** Closes every client connection and upstream socket at once (crash, terminate). */
  closeAll(): void {
    this.listenSocket = null
    ;(this.app as TemplatedApp & { close(): void }).close()
    this.pool.closeIdle()
  }
}
