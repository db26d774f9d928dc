// One kept-alive HTTP/2 connection per gRPC target in this worker (grpc:// as h2c with prior knowledge,
// grpcs:// as TLS with ALPN h2), replaced after GOAWAY, close or error. Calls multiplex on it; nothing is pooled per call.
import net from 'node:net'
import tls, { type TLSSocket } from 'node:tls'
import type { Peer } from '../../upstream/peer.js'
import { intermediateCount } from '../../upstream/tls.js'
import { H2Connection, type ConnectionOwner } from './h2/connection.js'

/** One connection and what the calls on it need to know about it. */
export class H2Channel implements ConnectionOwner {
  readonly key: string
  /** `:authority` for calls on this connection: host:port as a gRPC client writes it. */
  readonly authority: string
  readonly conn: H2Connection
  private readonly owner: H2Sessions

  constructor(owner: H2Sessions, peer: Peer, idleTimeoutMs: number) {
    this.owner = owner
    this.key = peer.key
    this.authority = `${peer.host.includes(':') ? `[${peer.host}]` : peer.host}:${peer.port}`
    // An idle connection (no socket activity) is closed like an idle keep-alive socket (GATEWAY_UPSTREAM_IDLE_TIMEOUT_MS).
    this.conn = new H2Connection(openSocket(peer), peer.tls, this, { connectTimeoutMs: peer.connectTimeout, idleTimeoutMs })
  }

  /** GOAWAY, error, close or idle: new calls go to a new connection; streams already open finish or fail on their own. */
  onConnectionGone(): void {
    this.owner.forget(this)
  }
}

/** The socket under a connection: plain TCP, or TLS with the service's trust settings (upstream/tls.ts). */
function openSocket(peer: Peer): net.Socket {
  if (!peer.tls) return net.connect({ host: peer.host, port: peer.port, noDelay: true })
  const socket = tls.connect({
    host: peer.host, port: peer.port, servername: peer.servername || undefined, ALPNProtocols: ['h2'],
    rejectUnauthorized: peer.tlsVerify, secureContext: peer.secureContext ?? undefined,
  })
  socket.setNoDelay(true)
  const depth = peer.tlsVerify ? peer.verifyDepth ?? -1 : -1
  if (depth >= 0) socket.once('secureConnect', () => checkDepth(socket, depth))
  return socket
}

/** tls_verify_depth: Node has no option for it, so the verified chain is measured once per connection. */
function checkDepth(socket: TLSSocket, depth: number): void {
  if (intermediateCount(socket) > depth) socket.destroy(new Error(`certificate chain longer than tls_verify_depth ${depth}`))
}

export class H2Sessions {
  private readonly channels = new Map<string, H2Channel>()
  private readonly idleTimeoutMs: number

  constructor(idleTimeoutMs: number) {
    this.idleTimeoutMs = idleTimeoutMs
  }

  /** The open connection for this peer (same address and TLS settings), connecting one if needed. */
  channel(peer: Peer): H2Channel {
    const existing = this.channels.get(peer.key)
    if (existing !== undefined && existing.conn.open) return existing
    const channel = new H2Channel(this, peer, this.idleTimeoutMs)
    this.channels.set(peer.key, channel)
    return channel
  }

  /** Drops a connection that can take no more calls (only if it is still the current one for its key). */
  forget(channel: H2Channel): void {
    if (this.channels.get(channel.key) === channel) this.channels.delete(channel.key)
  }

  /** Worker exit or drain: every connection goes, with whatever streams are still on it. */
  closeAll(): void {
    const all = [...this.channels.values()]
    this.channels.clear()
    for (const channel of all) channel.conn.close()
  }
}
