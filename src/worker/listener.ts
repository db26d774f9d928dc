// The worker's uWS listener: one App per worker thread on the shared port (SO_REUSEPORT).
// It copies each request into a RequestContext, routes it, runs the access chain and proxies.
import { stripPort } from '../net/host.js'
import { uws, type HttpRequest, type HttpResponse, type TemplatedApp, type us_listen_socket, type us_socket_context_t } from '../uws.js'
import { GW, GatewayError, errorBody } from '../errors.js'
import { statusLine } from '../http-status.js'
import { listContains, type CidrList } from '../net/cidr.js'
import { DONE } from '../plugins/types.js'
import { STAT, type WorkerStats } from '../shared/worker-stats.js'
import type { Settings } from '../settings.js'
import { ConnectionPool } from '../upstream/pool.js'
import { ProxyExchange, type ExchangeHost } from '../upstream/exchange.js'
import { GrpcExchange, type GrpcHost } from '../protocols/grpc/grpc-exchange.js'
import { H2Sessions } from '../protocols/grpc/h2-sessions.js'
import { tunnelBehavior } from '../protocols/websocket.js'
import { TunnelSet } from '../protocols/websocket-tunnels.js'
import { isWebSocketHandshake } from '../protocols/websocket-headers.js'
import { openTunnel, type TunnelHost } from '../protocols/websocket-upstream.js'
import { hashKeyFor } from '../upstream/balancer.js'
import { runAccess } from './chain.js'
import { FRAMING_OK, OPEN, RequestContext } from './context.js'
import { RequestBody } from './request-body.js'
import type { Runtime } from './runtime.js'
import type { ServiceRecord } from '../config/types.js'
import { headerLines, requestLine } from './upstream-head.js'
import { writeHeaderLines } from './response-headers.js'
import { respondFiltered } from './filtered-answer.js'
import { planTls, TlsListener, type Origin } from './tls-listener.js'
import type { LogPhase } from './log-phase.js'
import type { Snapshot } from '../config/types.js'

const JSON_TYPE = 'application/json; charset=utf-8'
/** RFC 9110 §15.5.22: a 426 names the protocol to upgrade to. */
/** An overloaded worker's 503 asks the client to come back in a second. */
const OVERLOADED_HEADERS: [string, string][] = [['Content-Type', JSON_TYPE], ['Retry-After', '1']]
const UPGRADE_HEADERS: [string, string][] = [['Content-Type', JSON_TYPE], ['Connection', 'Upgrade'], ['Upgrade', 'websocket']]

export class Listener implements ExchangeHost, GrpcHost, TunnelHost {
  readonly settings: Settings
  readonly app: TemplatedApp
  readonly pool: ConnectionPool
  /** HTTP/2 sessions to gRPC targets (grpc-gateway calls). */
  readonly h2: H2Sessions
  /** Open WebSocket tunnels: counted by the drain, closed with 1001 at its deadline. */
  readonly tunnels: TunnelSet
  readonly latencyHeaders: boolean
  /** GATEWAY_MAX_CONCURRENCY, with 0 (no limit) as infinity. */
  private readonly maxConcurrency: number
  readonly stats: WorkerStats
  readonly row: number
  runtime: Runtime
  /** Metrics, log plugins and the access log of every finished request. */
  private readonly logPhase: LogPhase
  port: number
  private listenSocket: us_listen_socket | null = null
  private inFlight = 0
  private draining = false
  private onIdle: (() => void) | null = null
  private readonly trusted: CidrList
  /** Requests on the plain listener. */
  private readonly plain: Origin
  /** The TLS listener on GATEWAY_TLS_PORT, null when it is off. */
  readonly tls: TlsListener | null

  constructor(settings: Settings, runtime: Runtime, stats: WorkerStats, row: number, logPhase: LogPhase) {
    this.logPhase = logPhase
    this.settings = settings
    this.runtime = runtime
    this.stats = stats
    this.row = row
    this.port = settings.port
    this.latencyHeaders = settings.latencyHeaders
    this.maxConcurrency = settings.maxConcurrency === 0 ? Infinity : settings.maxConcurrency
    this.trusted = settings.trustedIps
    this.pool = new ConnectionPool({ maxIdle: settings.upstreamKeepalive, idleTimeoutMs: settings.upstreamIdleTimeoutMs, stats, statsRow: row })
    this.h2 = new H2Sessions(settings.upstreamIdleTimeoutMs)
    this.tunnels = new TunnelSet(settings.wsIdleTimeoutS, (origin) => this.tunnelEnded(origin))
    this.app = uws.App()
    this.plain = { scheme: 'http', port: this.port, sni: '', generation: null }
    this.routes(this.app, this.plain)
    this.tls = settings.tlsPort === null ? null : new TlsListener(settings.host, settings.tlsPort, (app, origin) => this.routes(app, origin))
  }

  /** The bound TLS port, null when the TLS listener is off. */
  get tlsPort(): number | null {
    return this.tls === null ? null : this.tls.port
  }

  /**
   * Registers the request handlers on one uWS router: the plain app, and the default router and each
   * server name's router of every TLS app (uWS keeps one router per server name). Every handler the
   * listener serves goes here, so TLS and plain requests are served alike.
   */
  private routes(app: TemplatedApp, origin: Origin): void {
    // uWS gives a GET with a Sec-WebSocket-Key to the ws route first; it yields what is not a handshake to any().
    app.ws('/*', tunnelBehavior(this.settings.wsMaxMessageSize, (res, req, context) => this.onUpgrade(res, req, context, origin)))
    app.any('/*', (res, req) => this.onRequest(res, req, origin))
  }

  /** A WebSocket handshake is routed and checked as any request, then tunnelled (protocols/websocket-upstream). */
  private onUpgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t, origin: Origin): void {
    if (!isWebSocketHandshake(req)) {
      req.setYield(true)
      return
    }
    this.onRequest(res, req, origin, context)
  }

  /** A new Snapshot's certificates for the TLS listener; throws (old certificates stay) when they cannot be loaded. */
  updateTls(snapshot: Snapshot): void {
    if (this.tls !== null) this.tls.update(planTls(this.settings, snapshot.tls))
  }

  /** Listens on the plain port, then on the TLS port when it is on; resolves with the plain port. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.app.listen(this.settings.host, this.settings.port, (socket) => {
        if (!socket) return reject(new Error(`cannot listen on ${this.settings.host}:${this.settings.port}`))
        this.listenSocket = socket
        this.port = uws.us_socket_local_port(socket)
        this.plain.port = this.port
        resolve()
      })
    })
    if (this.tls !== null) await this.tls.listen(planTls(this.settings, this.runtime.snapshot.tls))
    return this.port
  }

  private onRequest(res: HttpResponse, req: HttpRequest, origin: Origin, upgrade: us_socket_context_t | null = null): void {
    const ctx = new RequestContext(res, req, this, origin)
    res.onAborted(ctx.aborted)
    this.inFlight++
    if (origin.generation !== null) origin.generation.inFlight++
    this.stats.add(this.row, STAT.REQUESTS, 1)
    this.stats.add(this.row, STAT.IN_FLIGHT, 1)
    const rt = ctx.runtime
    if (ctx.framing !== FRAMING_OK) return this.fail(ctx, new GatewayError(GW.BAD_REQUEST, false, 'ambiguous request framing'))
    if (this.inFlight > this.maxConcurrency) return this.overloaded(ctx)
    const match = rt.router.match(ctx.method, ctx.host, ctx.path, ctx.headers, ctx.query, origin.sni ?? stripPort(ctx.host).toLowerCase())
    if (match === null) return this.fail(ctx, new GatewayError(GW.NO_ROUTE))
    ctx.match = match
    ctx.routeName = match.route.name
    ctx.routeId = match.route.id
    const service = rt.service(match.route)
    if (service !== undefined) {
      ctx.serviceName = service.name
      ctx.serviceId = service.id
    }
    if (rt.httpsOnly[match.routeIndex] === true && !this.cameOverHttps(ctx)) return this.requireHttps(ctx, match.route.httpsRedirectStatusCode)
    if (upgrade !== null) {
      if (this.draining) return this.fail(ctx, new GatewayError(GW.SHUTTING_DOWN))
      // A grpc route ignores Upgrade (RFC 9110 §7.8): the handshake is then served as the HTTP request it also is.
      if (rt.tunnels[match.routeIndex] === true) ctx.upgrade = upgrade
    } else if (rt.upgradeOnly[match.routeIndex] === true) {
      return this.respond(ctx, 426, errorBody(GW.UPGRADE_REQUIRED.message, ctx.requestId), UPGRADE_HEADERS, false)
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
    if (ctx.upgrade !== null) return openTunnel(ctx, this, rt, service)
    const serviceIndex = match.route.service
    const balancer = rt.balancers[serviceIndex]!
    const hashKey = balancer === null ? null : hashKeyFor(rt.snapshot.upstreams[service.upstream]!, { clientIp: ctx.clientIp, headers: ctx.headers, consumerId: ctx.consumer === null ? null : ctx.consumer.id, path: ctx.path })
    // grpc-gateway transcoded the request: it goes to the target as a gRPC call over HTTP/2. A grpc/grpcs
    // service without it cannot be reached from an HTTP/1.1 client (no native gRPC relay): 502 saying so.
    if (ctx.grpcCall !== null) return new GrpcExchange(ctx, this, rt, service, serviceIndex, balancer, hashKey, ctx.grpcCall).start()
    if (service.protocol === 'grpc' || service.protocol === 'grpcs') return this.fail(ctx, new GatewayError(GW.GRPC_NOT_TRANSCODED))
    const preservedHost = ctx.upstreamHost ?? (match.route.preserveHost && ctx.host !== '' ? ctx.host : null)
    new ProxyExchange(ctx, this, rt, service, serviceIndex, balancer, hashKey, requestLine(ctx, match), headerLines(ctx, match, ctx.peerTrusted), preservedHost).start()
  }

  /**
   * Overload protection: past GATEWAY_MAX_CONCURRENCY requests in flight in this worker, new ones are refused
   * with 503 and Retry-After before routing or any plugin runs, so a flood cannot pile up upstream sockets.
   */
  private overloaded(ctx: RequestContext): void {
    this.stats.add(this.row, STAT.ERRORS, 1)
    this.respond(ctx, 503, errorBody(GW.OVERLOADED.message, ctx.requestId), OVERLOADED_HEADERS, false)
  }

  /** Kong's forwarded scheme: a trusted peer's X-Forwarded-Proto, else how the request reached us. */
  private cameOverHttps(ctx: RequestContext): boolean {
    const proto = ctx.peerTrusted ? ctx.headers.get('x-forwarded-proto') : undefined
    return proto === undefined ? ctx.scheme === 'https' : proto.trim().toLowerCase() === 'https'
  }

  /**
   * Kong (runloop access.before) for a route whose protocols are https only, asked over http: 426 with
   * Upgrade, or a redirect to `https://<host><request uri>` with the route's https_redirect_status_code.
   * Extension: the host gets this gateway's TLS port when it listens on one other than 443 (a trusted
   * proxy's X-Forwarded-Host is used as it is). Plugins do not run, as in Kong.
   */
  private requireHttps(ctx: RequestContext, status: number): void {
    const forwarded = ctx.peerTrusted ? ctx.headers.get('x-forwarded-host') : undefined
    let host = forwarded !== undefined ? forwarded.trim() : stripPort(ctx.host).toLowerCase()
    if (forwarded === undefined && host !== '' && this.tls !== null && this.tls.port !== 443) host += ':' + String(this.tls.port)
    if (status === 426 || host === '') {
      const headers: [string, string][] = [['Content-Type', JSON_TYPE], ['Connection', 'Upgrade'], ['Upgrade', 'TLS/1.2, HTTP/1.1']]
      return this.respond(ctx, 426, errorBody(GW.HTTPS_REQUIRED.message, ctx.requestId), headers, false)
    }
    const uri = ctx.query === '' ? ctx.path : ctx.path + '?' + ctx.query
    this.respond(ctx, status, '', [['Location', 'https://' + host + uri]], false)
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
    if (ctx.filters !== null) return respondFiltered(ctx, status, body, headers, close || this.draining)
    const res = ctx.res
    const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length
    ctx.status = status
    if (ctx.method !== 'HEAD') ctx.bytesOut = length
    res.cork(() => {
      res.writeStatus(statusLine(status))
      if (headers !== null) for (const [name, value] of headers) res.writeHeader(name, value)
      writeHeaderLines(res, ctx.requestId, ctx.responseLines)
      // A HEAD answer carries the length its GET would have, never the bytes (RFC 9110 §9.3.2).
      if (ctx.method === 'HEAD') res.endWithoutBody(length, close || this.draining)
      else res.end(body, close || this.draining)
    })
    ctx.finished()
  }

  /**
   * The whole request body up to `limit` bytes. Past it: a 413 GatewayError, or with `giveBack` null, the bytes
   * read so far put back so the body still streams upstream untouched.
   */
  readBody(ctx: RequestContext, limit: number, giveBack: boolean): Promise<Buffer | null> {
    const body = ctx.body
    if (body === null) return Promise.resolve(Buffer.alloc(0))
    if (ctx.contentLength > limit) return giveBack ? Promise.resolve(null) : Promise.reject(new GatewayError(GW.BODY_TOO_LARGE))
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = []
      let size = 0
      body.attach({
        onBodyChunk(chunk, isLast) {
          size += chunk.length
          if (size > limit && giveBack) {
            chunks.push(chunk)
            body.restore(Buffer.concat(chunks, size), isLast)
            return resolve(null)
          }
          if (size > limit) return reject(new GatewayError(GW.BODY_TOO_LARGE))
          chunks.push(chunk)
          if (!isLast) return
          // The body is still forwarded upstream afterwards: hand it back for the exchange to attach.
          const whole = Buffer.concat(chunks, size)
          body.restore(whole)
          resolve(whole)
        },
      })
    })
  }

  requestEnded(ctx: RequestContext): void {
    const gen = ctx.origin.generation
    if (gen !== null) this.tls!.ended(gen)
    this.inFlight--
    this.stats.add(this.row, STAT.IN_FLIGHT, -1)
    this.logPhase.run(ctx)
    this.idleCheck()
  }

  /** While draining: nothing in flight and no tunnel open means the drain is done. */
  private idleCheck(): void {
    if (this.onIdle !== null && this.inFlight === 0 && this.tunnels.size === 0) this.onIdle()
  }

  /** A tunnel's both sides closed: its TLS app may retire, and the drain may be done. */
  private tunnelEnded(origin: Origin): void {
    const gen = origin.generation
    if (gen !== null) this.tls!.ended(gen)
    this.idleCheck()
  }

  /**
   * SPEC §1 drain: stop accepting, let in-flight requests finish, then resolve. Tunnels count too: they run
   * on until GATEWAY_DRAIN_TIMEOUT_MS, then get 1001 (new handshakes on open connections get 503).
   */
  drain(): Promise<void> {
    this.draining = true
    this.tunnels.drain(this.settings.drainTimeoutMs)
    if (this.listenSocket !== null) {
      uws.us_listen_socket_close(this.listenSocket)
      this.listenSocket = null
    }
    this.tls?.stopAccepting()
    return new Promise((resolve) => {
      const done = (): void => {
        this.pool.closeIdle()
        this.h2.closeAll()
        resolve()
      }
      if (this.inFlight === 0 && this.tunnels.size === 0) return done()
      this.onIdle = done
    })
  }

  /** Closes every client connection and upstream socket at once (crash, terminate). */
  closeAll(): void {
    this.listenSocket = null
    // Close frames (1001) go out before uWS drops the sockets.
    this.tunnels.closeAll()
    this.tunnels.stop()
    ;(this.app as TemplatedApp & { close(): void }).close()
    this.tls?.closeAll()
    this.pool.closeIdle()
    this.h2.closeAll()
  }
}
