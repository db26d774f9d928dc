// Opens a tunnel's upstream WebSocket before the client is upgraded: target pick (balancer, health),
// the handshake with the forwarded headers, retries on connect failures, and what the client gets back.
// The `ws` client does the framing (masking, fragments, UTF-8, close handshake): a raw handshake would
// still need a frame codec, and ws's is the one the tests' peers speak too.
import { randomFillSync } from 'node:crypto'
import type { ClientRequest, IncomingMessage } from 'node:http'
import { isIPv6, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { TLSSocket } from 'node:tls'
import WebSocket, { type ClientOptions } from 'ws'
import type { ServiceRecord, TargetRecord } from '../config/types.js'
import { GW, GatewayError, type ErrorKind } from '../errors.js'
import type { Settings } from '../settings.js'
import { hashKeyFor, triedBit, type Balancer } from '../upstream/balancer.js'
import { backoff } from '../upstream/exchange.js'
import type { UpstreamOutcome } from '../upstream/passive-health.js'
import type { Peer } from '../upstream/peer.js'
import { intermediateCount } from '../upstream/tls.js'
import { OPEN, type AbortListener, type RequestContext } from '../worker/context.js'
import { writeHeaderLines } from '../worker/response-headers.js'
import type { Runtime } from '../worker/runtime.js'
import { headerLines } from '../worker/upstream-head.js'
import { WebSocketTunnel } from './websocket.js'
import { forwardedHeaders, offeredProtocols, relayedHeaders } from './websocket-headers.js'
import type { TunnelSet } from './websocket-tunnels.js'

/** What the handshake needs from the listener around it. */
export interface TunnelHost {
  readonly settings: Settings
  readonly tunnels: TunnelSet
  fail(ctx: RequestContext, err: GatewayError): void
  respond(ctx: RequestContext, status: number, body: string | Buffer, headers: ReadonlyArray<readonly [string, string]> | null, close: boolean): void
}

/** A refusal's body is relayed up to this size; past it the client gets the status alone. */
const REFUSAL_BODY_LIMIT = 64 * 1024
/** How long ws waits for the other side's close frame before it drops the socket. */
const CLOSE_TIMEOUT_MS = 5000
const TCP_FAILURE: UpstreamOutcome = Object.freeze({ kind: 'tcp' })
const TIMEOUT: UpstreamOutcome = Object.freeze({ kind: 'timeout' })

/**
 * ws masks client frames with four random bytes; an all-zero mask makes it send the caller's buffer as is,
 * and a uWS message is memory uWS reuses once the handler returns. This source never yields zero.
 */
const MASKS = Buffer.allocUnsafe(8192)
let maskAt = MASKS.length

function generateMask(mask: Buffer): void {
  if (maskAt + 4 > MASKS.length) {
    randomFillSync(MASKS)
    maskAt = 0
  }
  mask[0] = MASKS[maskAt]!
  mask[1] = MASKS[maskAt + 1]!
  mask[2] = MASKS[maskAt + 2]!
  mask[3] = MASKS[maskAt + 3]! | (MASKS[maskAt]! | MASKS[maskAt + 1]! | MASKS[maskAt + 2]! ? 0 : 1)
  maskAt += 4
}

/** Starts the upstream handshake of an upgrade request that passed its access chain (the listener's proxy step). */
export function openTunnel(ctx: RequestContext, host: TunnelHost, rt: Runtime, service: ServiceRecord): void {
  const match = ctx.match!
  if (ctx.body !== null) return host.fail(ctx, new GatewayError(GW.BAD_REQUEST, false, 'a WebSocket handshake has no body'))
  const serviceIndex = match.route.service
  const balancer = rt.balancers[serviceIndex]!
  const hashKey = balancer === null ? null : hashKeyFor(rt.snapshot.upstreams[service.upstream]!, { clientIp: ctx.clientIp, headers: ctx.headers, consumerId: ctx.consumer === null ? null : ctx.consumer.id, path: ctx.path })
  const headers = forwardedHeaders(headerLines(ctx, match, ctx.peerTrusted))
  const preservedHost = ctx.upstreamHost ?? (match.route.preserveHost && ctx.host !== '' ? ctx.host : null)
  if (preservedHost !== null) headers.host = preservedHost
  const path = ctx.upstreamPath ?? match.upstreamPath
  new TunnelHandshake(ctx, host, rt, service, serviceIndex, balancer, hashKey, ctx.query === '' ? path : path + '?' + ctx.query, headers).start()
}

class TunnelHandshake implements AbortListener {
  private readonly ctx: RequestContext
  private readonly host: TunnelHost
  private readonly rt: Runtime
  private readonly service: ServiceRecord
  private readonly serviceIndex: number
  private readonly balancer: Balancer | null
  private readonly hashKey: string | null
  /** Path and query sent upstream, exactly as the HTTP proxy would (not re-encoded by a URL parser). */
  private readonly path: string
  private readonly headers: Record<string, string>
  private readonly protocols: string[]
  /** The attempt under way; events of an earlier (failed, timed out) attempt find it changed and are ignored. */
  private ws: WebSocket | null = null
  private target: TargetRecord | null = null
  private attempts = 0
  private tried = 0
  private connected = false
  private startedAt = 0
  private timer: NodeJS.Timeout | null = null
  /** The upstream's end-to-end 101 headers, as lines for the client's 101. */
  private upgradeLines = ''
  /** The subprotocol the upstream chose, '' for none. */
  private chosenProtocol = ''
  /** The upstream refused (non-101): its status and headers, while its body is read. */
  private refusal: { status: number; headers: [string, string][]; chunks: Buffer[]; size: number } | null = null

  constructor(ctx: RequestContext, host: TunnelHost, rt: Runtime, service: ServiceRecord, serviceIndex: number, balancer: Balancer | null, hashKey: string | null, path: string, headers: Record<string, string>) {
    this.ctx = ctx
    this.host = host
    this.rt = rt
    this.service = service
    this.serviceIndex = serviceIndex
    this.balancer = balancer
    this.hashKey = hashKey
    this.path = path
    this.headers = headers
    this.protocols = offeredProtocols(ctx.headers.get('sec-websocket-protocol'))
    ctx.onAbort = this
  }

  start(): void {
    const target = this.balancer !== null ? this.balancer.pick(this.hashKey, this.tried) : this.service.target
    if (target === null) return this.host.fail(this.ctx, new GatewayError(GW.NO_PEER))
    const peer = this.rt.peer(this.serviceIndex, target)
    this.target = target
    this.attempts++
    this.connected = false
    this.startedAt = performance.now()
    this.balancer?.onStart(target)
    const address = `${peer.tls ? 'wss' : 'ws'}://${isIPv6(peer.host) ? `[${peer.host}]` : peer.host}:${peer.port}/`
    let ws: WebSocket
    try {
      ws = new WebSocket(address, this.protocols, this.options(peer))
    } catch (err) {
      // ws refuses what the client offered (a malformed or repeated subprotocol) before anything is sent.
      this.endAttempt(true)
      return this.host.fail(this.ctx, new GatewayError(GW.BAD_REQUEST, false, (err as Error).message))
    }
    this.ws = ws
    ws.on('upgrade', (res: IncomingMessage) => this.onUpgrade(ws, res))
    ws.on('open', () => this.onOpen(ws))
    ws.on('unexpected-response', (_req: ClientRequest, res: IncomingMessage) => this.onRefused(ws, res))
    ws.on('error', (err: Error) => this.onError(ws, err))
    this.arm(this.service.connectTimeout)
  }

  private options(peer: Peer): ClientOptions & { closeTimeout: number; secureContext?: unknown; servername: string } {
    return {
      perMessageDeflate: false,
      maxPayload: this.host.settings.wsMaxMessageSize,
      // Upstream pings are relayed to the client and its pong comes back (a heartbeat sees the real client).
      autoPong: false,
      followRedirects: false,
      headers: this.headers,
      rejectUnauthorized: peer.tlsVerify,
      secureContext: peer.secureContext ?? undefined,
      // SNI carries host names only; '' sends none (IP targets).
      servername: peer.servername,
      generateMask,
      closeTimeout: CLOSE_TIMEOUT_MS,
      finishRequest: (req: ClientRequest, ws: WebSocket) => this.finishRequest(req, ws, peer),
    }
  }

  /** The request line takes our path verbatim; connect_timeout runs until the socket (and TLS) is up. */
  private finishRequest(req: ClientRequest, ws: WebSocket, peer: Peer): void {
    req.path = this.path
    req.on('socket', (socket: Socket) => {
      socket.setNoDelay(true)
      socket.once(peer.tls ? 'secureConnect' : 'connect', () => this.onConnected(ws, socket, peer))
    })
    req.end()
  }

  private onConnected(ws: WebSocket, socket: Socket, peer: Peer): void {
    if (ws !== this.ws) return
    const depth = peer.tls && peer.tlsVerify ? peer.verifyDepth ?? -1 : -1
    if (depth >= 0 && intermediateCount(socket as TLSSocket) > depth) {
      socket.destroy(new Error(`certificate chain longer than tls_verify_depth ${depth}`))
      return
    }
    this.connected = true
    this.arm(this.service.readTimeout)
  }

  private arm(ms: number): void {
    if (this.timer !== null) clearTimeout(this.timer)
    const ws = this.ws
    this.timer = setTimeout(() => this.onTimeout(ws), ms)
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private onUpgrade(ws: WebSocket, res: IncomingMessage): void {
    if (ws !== this.ws) return
    let lines = ''
    for (const [name, value] of relayedHeaders(res.rawHeaders)) lines += name + ': ' + value + '\r\n'
    this.upgradeLines = lines
    const chosen = res.headers['sec-websocket-protocol']
    this.chosenProtocol = chosen ?? ''
    // ws fails a 101 that picks none of the offered subprotocols, which RFC 6455 §4.1 allows (browsers accept it):
    // ws is shown the first offer so the handshake completes, and the client gets the upstream's real answer.
    if (chosen === undefined && this.protocols.length > 0) res.headers['sec-websocket-protocol'] = this.protocols[0]
  }

  /** The upstream accepted (101, key and subprotocol checked by ws): now the client is upgraded. */
  private onOpen(ws: WebSocket): void {
    if (ws !== this.ws) return
    this.disarm()
    this.ws = null
    const ctx = this.ctx
    ws.removeAllListeners()
    if (ctx.state !== OPEN) {
      ws.terminate()
      return this.endAttempt(true)
    }
    this.passiveOutcome({ kind: 'status', status: 101 })
    const latency = performance.now() - this.startedAt
    const { balancer, target } = this
    const tunnels = this.host.tunnels
    const tunnel = new WebSocketTunnel(ws, tunnels, ctx.origin, this.host.settings.wsMaxMessageSize, () => balancer?.onEnd(target!, latency, true))
    tunnels.add(tunnel)
    ctx.onAbort = null
    this.releaseResponseHooks()
    const res = ctx.res
    const key = ctx.headers.get('sec-websocket-key')!
    const lines = ctx.responseLines + this.upgradeLines
    const socketContext = ctx.upgrade!
    ctx.status = 101
    res.cork(() => {
      res.writeStatus('101 Switching Protocols')
      writeHeaderLines(res, ctx.requestId, lines)
      // No extension: the client's offer is declined (uWS compression is off), the upstream got none. uWS runs
      // open() inside upgrade() (20.30), so the tunnel has its client socket when this returns.
      res.upgrade({ tunnel }, key, this.chosenProtocol, '', socketContext)
    })
    ctx.finished()
  }

  /** Plugins watching a response (proxy-cache, filters) get none: a 101 is not a response to keep or change. */
  private releaseResponseHooks(): void {
    const ctx = this.ctx
    const observer = ctx.observer
    ctx.observer = null
    if (observer !== null) observer.onResponseAbort()
    const filters = ctx.filters
    ctx.filters = null
    if (filters !== null) for (let i = 0; i < filters.length; i++) filters[i]!.onAbort()
  }

  /** Not a 101: the client gets the upstream's status, headers and (small) body as an HTTP answer. */
  private onRefused(ws: WebSocket, res: IncomingMessage): void {
    if (ws !== this.ws) return
    const status = res.statusCode ?? 502
    this.passiveOutcome({ kind: 'status', status })
    const refusal = { status, headers: relayedHeaders(res.rawHeaders), chunks: [] as Buffer[], size: 0 }
    this.refusal = refusal
    res.on('data', (chunk: Buffer) => {
      if (ws !== this.ws) return
      refusal.size += chunk.length
      if (refusal.size > REFUSAL_BODY_LIMIT) return this.answerRefusal(false)
      refusal.chunks.push(chunk)
    })
    res.on('end', () => {
      if (ws === this.ws) this.answerRefusal(true)
    })
  }

  private answerRefusal(withBody: boolean): void {
    const refusal = this.refusal!
    this.refusal = null
    this.dropAttempt()
    this.endAttempt(true)
    const body = withBody ? Buffer.concat(refusal.chunks, refusal.size) : ''
    this.host.respond(this.ctx, refusal.status, body, refusal.headers, false)
  }

  private onError(ws: WebSocket, err: Error): void {
    if (ws !== this.ws) return
    if (this.refusal !== null) return this.answerRefusal(false)
    // After the connect: the upstream answered something that is not a valid handshake, or reset.
    if (this.connected) return this.failAttempt(GW.UPSTREAM_BAD_RESPONSE, TCP_FAILURE, false, err.message)
    this.failAttempt(GW.UPSTREAM_CONNECT, TCP_FAILURE, true, err.message)
  }

  private onTimeout(ws: WebSocket | null): void {
    if (ws !== this.ws || ws === null) return
    this.timer = null
    if (this.refusal !== null) return this.answerRefusal(false)
    if (this.connected) return this.failAttempt(GW.UPSTREAM_READ_TIMEOUT, TIMEOUT, false)
    this.failAttempt(GW.UPSTREAM_CONNECT_TIMEOUT, TIMEOUT, true)
  }

  /** Ends the attempt under way: its socket is destroyed and its late events are ignored. */
  private dropAttempt(): void {
    this.disarm()
    const ws = this.ws
    this.ws = null
    if (ws !== null) ws.terminate()
  }

  /** Nothing was sent when the connect failed: another target (or the same one) may be tried (service retries). */
  private failAttempt(kind: ErrorKind, outcome: UpstreamOutcome, retryable: boolean, detail?: string): void {
    this.dropAttempt()
    this.passiveOutcome(outcome)
    this.endAttempt(false)
    if (this.ctx.state !== OPEN) return
    if (retryable && this.attempts <= this.service.retries) {
      setTimeout(() => {
        if (this.ctx.state === OPEN) this.start()
      }, backoff(this.attempts))
      return
    }
    this.host.fail(this.ctx, new GatewayError(kind, false, detail))
  }

  private passiveOutcome(outcome: UpstreamOutcome): void {
    if (this.target !== null && this.rt.countsOutcomes(this.serviceIndex)) this.rt.recordOutcome(this.serviceIndex, this.target, outcome)
  }

  private endAttempt(ok: boolean): void {
    const target = this.target
    if (target === null || this.balancer === null) return
    if (!ok) this.tried |= triedBit(target)
    this.balancer.onEnd(target, performance.now() - this.startedAt, ok)
  }

  /** The client went away during the handshake. */
  clientAborted(): void {
    if (this.ws === null) return
    this.refusal = null
    this.dropAttempt()
    this.endAttempt(true)
  }
}
