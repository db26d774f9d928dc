// One WebSocket tunnel: the client's uWS socket and the upstream `ws` client, relaying whole messages, pings
// and close codes both ways. A slow client pauses the upstream; a slow upstream gets a bounded queue (uWS cannot pause a client).
import type WebSocket from 'ws'
import type { RawData } from 'ws'
import { uws, type WebSocket as ClientSocket, type WebSocketBehavior } from '../uws.js'
import type { Origin } from '../worker/tls-listener.js'
import type { Tunnel, TunnelSet } from './websocket-tunnels.js'

/** RFC 6455 §7.4.1 codes the gateway sends or maps. */
const CLOSE_PROTOCOL_ERROR = 1002
const CLOSE_NO_STATUS = 1005
const CLOSE_ABNORMAL = 1006
const CLOSE_INVALID_DATA = 1007
const CLOSE_TOO_BIG = 1009
const CLOSE_INTERNAL = 1011
const CLOSE_TRY_AGAIN = 1013

/** uWS closes a client whose message passes maxPayloadLength without a close frame, with this reason (20.30). */
const UWS_TOO_BIG = 'Received too big message'

/** ws.send results of uWS. */
const SEND_DROPPED = 2

/** The client's send buffer above which the upstream is paused, and below which it resumes. */
const HIGH_WATER = 256 * 1024
const LOW_WATER = 64 * 1024
/** Queue room beyond one whole message: what may still arrive after a pause (one socket read and then some). */
const QUEUE_SLACK = 1024 * 1024

/** Bytes queued towards either side past which a tunnel is closed: one whole message and QUEUE_SLACK. */
export function queueLimit(maxMessageSize: number): number {
  return maxMessageSize + QUEUE_SLACK
}

const BINARY = Object.freeze({ binary: true })
const TEXT = Object.freeze({ binary: false })

/**
 * The close code ws sent the upstream for an error of its own (RFC 6455 §7.4.1), 0 for a socket error.
 * ws's close event then says 1006 (it stops reading after the error), so the client is told from here.
 */
function codeOfError(code: string | undefined): number {
  if (code === undefined || !code.startsWith('WS_ERR_')) return 0
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return CLOSE_TOO_BIG
  return code === 'WS_ERR_INVALID_UTF8' ? CLOSE_INVALID_DATA : CLOSE_PROTOCOL_ERROR
}

/** Close codes an endpoint may send (RFC 6455 §7.4: not 1004–1006, 1015, nor unassigned ranges). */
function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
}

/** uWS copies the user data's own properties onto the socket's (methods would be lost): the tunnel rides in a field. */
export interface TunnelData {
  tunnel: WebSocketTunnel
}

export class WebSocketTunnel implements Tunnel {
  readonly origin: Origin
  lastTick = 0
  /** The client's uWS socket from open until its close handler ran (never touched after). */
  private client: ClientSocket<TunnelData> | null = null
  private readonly upstream: WebSocket
  private readonly set: TunnelSet
  private readonly queueLimit: number
  private upstreamOpen = true
  private clientDone = false
  private upstreamDone = false
  /** The upstream is paused for the client (not open yet, or its send buffer is above HIGH_WATER). */
  private paused = true
  /** Told once both sides are closed (balancer accounting). */
  private readonly released: () => void

  constructor(upstream: WebSocket, set: TunnelSet, origin: Origin, maxMessageSize: number, released: () => void) {
    this.upstream = upstream
    this.set = set
    this.origin = origin
    this.queueLimit = queueLimit(maxMessageSize)
    this.released = released
    // Nothing goes to the client before uWS opened it (the upgrade is written first).
    upstream.pause()
    upstream.on('message', this.onUpstreamMessage)
    upstream.on('ping', this.onUpstreamPing)
    upstream.on('close', this.onUpstreamClose)
    upstream.on('error', this.onUpstreamError)
  }

  /** uWS open: the 101 is written; upstream messages may flow. */
  clientOpened(ws: ClientSocket<TunnelData>): void {
    this.client = ws
    this.paused = false
    if (this.upstreamOpen) this.upstream.resume()
  }

  /** A whole client message (uWS reassembled its fragments). ws copies it while masking, before uWS neuters it. */
  fromClient(message: ArrayBuffer, isBinary: boolean): void {
    if (!this.upstreamOpen) return
    this.lastTick = this.set.tick
    const upstream = this.upstream
    upstream.send(message, isBinary ? BINARY : TEXT)
    // uWS cannot stop reading a client (20.30 has no WebSocket pause): past the bound, the tunnel closes.
    if (upstream.bufferedAmount > this.queueLimit) this.shut(CLOSE_TRY_AGAIN, 'upstream is not reading')
  }

  /** A client ping goes on to the upstream (uWS has already answered it with a pong). */
  clientPing(message: ArrayBuffer): void {
    this.lastTick = this.set.tick
    if (this.upstreamOpen) this.upstream.ping(message)
  }

  /** A client pong: the answer to an upstream ping relayed to it (ws does not answer pings itself here). */
  clientPong(message: ArrayBuffer): void {
    if (this.upstreamOpen) this.upstream.pong(message)
  }

  /** uWS drain: the client's send buffer shrank. */
  clientDrained(ws: ClientSocket<TunnelData>): void {
    if (this.paused && this.upstreamOpen && ws.getBufferedAmount() < LOW_WATER) {
      this.paused = false
      this.upstream.resume()
    }
  }

  /** uWS close: the client is gone (its close frame, a dropped connection, or our own end()). */
  clientClosed(code: number, message: ArrayBuffer): void {
    if (this.clientDone) return
    this.clientDone = true
    const fromClient = this.client !== null
    this.client = null
    if (fromClient && this.upstreamOpen) {
      this.upstreamOpen = false
      const upstream = this.upstream
      if (code === CLOSE_NO_STATUS) upstream.close()
      else if (code === CLOSE_ABNORMAL) {
        // The client's message passed GATEWAY_WS_MAX_MESSAGE_SIZE (uWS dropped it without a frame): the upstream
        // is told why; any other drop is mirrored as a drop.
        if (Buffer.from(message).toString('latin1') === UWS_TOO_BIG) upstream.close(CLOSE_TOO_BIG, 'Message Too Big')
        else upstream.terminate()
      } else if (sendable(code)) upstream.close(code, Buffer.from(message).toString())
      else upstream.close()
    }
    this.settle()
  }

  private readonly onUpstreamMessage = (data: RawData, isBinary: boolean): void => {
    const client = this.client
    if (client === null) return
    this.lastTick = this.set.tick
    const sent = client.send(data as Buffer, isBinary)
    if (sent === 1) return
    if (sent === SEND_DROPPED) return this.shut(CLOSE_INTERNAL, 'client send buffer overflow')
    if (!this.paused && client.getBufferedAmount() > HIGH_WATER) {
      this.paused = true
      this.upstream.pause()
    }
  }

  /** An upstream ping goes to the client, whose pong comes back through clientPong. */
  private readonly onUpstreamPing = (data: Buffer): void => {
    this.lastTick = this.set.tick
    if (this.client !== null) this.client.ping(data)
  }

  private readonly onUpstreamClose = (code: number, reason: Buffer): void => {
    this.upstreamDone = true
    const client = this.detachUpstream()
    // end()/close() run the uWS close handler at once; client === null there marks it as ours.
    if (client !== null) {
      if (code === CLOSE_NO_STATUS) client.end()
      else if (code === CLOSE_ABNORMAL) client.close()
      else client.end(code, reason)
    }
    this.settle()
  }

  /** ws closed the upstream for a limit or a protocol error (a message over maxPayload: 1009); 'close' follows. */
  private readonly onUpstreamError = (err: Error & { code?: string }): void => {
    const code = codeOfError(err.code)
    if (code === 0) return
    const client = this.detachUpstream()
    if (client !== null) client.end(code, code === CLOSE_TOO_BIG ? 'Message Too Big' : 'upstream broke the protocol')
  }

  /** The upstream side ended: returns the client to tell, or null when it is gone or was told already. */
  private detachUpstream(): ClientSocket<TunnelData> | null {
    if (!this.upstreamOpen) return null
    this.upstreamOpen = false
    const client = this.client
    this.client = null
    return client
  }

  /** The gateway closes both sides with its own code (idle, drain, a queue past its bound). */
  shut(code: number, reason: string): void {
    const client = this.client
    this.client = null
    if (this.upstreamOpen) {
      this.upstreamOpen = false
      this.upstream.close(code, reason)
    }
    if (client !== null) client.end(code, reason)
  }

  /** Once both sides are closed, the tunnel leaves the set (the drain may finish) and the balancer. */
  private settle(): void {
    if (!this.clientDone || !this.upstreamDone) return
    this.set.remove(this)
    this.released()
  }
}

function tunnelOf(ws: ClientSocket<TunnelData>): WebSocketTunnel {
  return ws.getUserData().tunnel
}

function onOpen(ws: ClientSocket<TunnelData>): void {
  tunnelOf(ws).clientOpened(ws)
}

function onMessage(ws: ClientSocket<TunnelData>, message: ArrayBuffer, isBinary: boolean): void {
  tunnelOf(ws).fromClient(message, isBinary)
}

function onPing(ws: ClientSocket<TunnelData>, message: ArrayBuffer): void {
  tunnelOf(ws).clientPing(message)
}

function onPong(ws: ClientSocket<TunnelData>, message: ArrayBuffer): void {
  tunnelOf(ws).clientPong(message)
}

function onDrain(ws: ClientSocket<TunnelData>): void {
  tunnelOf(ws).clientDrained(ws)
}

function onClose(ws: ClientSocket<TunnelData>, code: number, message: ArrayBuffer): void {
  tunnelOf(ws).clientClosed(code, message)
}

/**
 * The uWS side of every tunnel of a listener (`upgrade` is the listener's dispatcher). Idle time is the
 * TunnelSet's; pings are relayed rather than sent by uWS; no permessage-deflate is negotiated (messages
 * pass through as they are, the upstream is offered no extension either).
 */
export function tunnelBehavior(maxMessageSize: number, upgrade: NonNullable<WebSocketBehavior<TunnelData>['upgrade']>): WebSocketBehavior<TunnelData> {
  return {
    compression: uws.DISABLED,
    maxPayloadLength: maxMessageSize,
    maxBackpressure: queueLimit(maxMessageSize),
    closeOnBackpressureLimit: 0,
    idleTimeout: 0,
    sendPingsAutomatically: false,
    upgrade,
    open: onOpen,
    message: onMessage,
    ping: onPing,
    pong: onPong,
    drain: onDrain,
    close: onClose,
  }
}
