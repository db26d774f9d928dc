// A Peer is everything needed to reach one target for one service, computed once per Snapshot:
// the pool key (Pingora: reuse only for the exact same peer identity) and the Host line.
import { isIP } from 'node:net'
import type { ServiceRecord, TargetRecord } from '../config/types.js'
import type { ConnectOptions } from './connection.js'
import { DEFAULT_UPSTREAM_TLS, type UpstreamTls } from './tls.js'

export interface Peer extends ConnectOptions {
  target: TargetRecord
  /** `Host: target[:port]\r\n`, used unless the route has preserve_host. */
  hostLine: string
}

/** `upstreamTls`: the service's client certificate / trust store / depth (upstream/tls.ts), part of the pool key. */
export function peerFor(service: ServiceRecord, target: TargetRecord, upstreamTls: UpstreamTls = DEFAULT_UPSTREAM_TLS): Peer {
  const tls = service.protocol === 'https' || service.protocol === 'grpcs' || service.protocol === 'wss'
  const defaultPort = tls ? 443 : 80
  const host = target.port === defaultPort ? target.host : `${target.host}:${target.port}`
  return {
    target,
    key: `${tls ? 'https' : 'http'}://${target.host}:${target.port}${tls && !service.tlsVerify ? '#noverify' : ''}${tls ? upstreamTls.identity : ''}`,
    host: target.host,
    port: target.port,
    tls,
    tlsVerify: service.tlsVerify,
    secureContext: tls ? upstreamTls.secureContext : null,
    verifyDepth: tls ? upstreamTls.verifyDepth : -1,
    // SNI carries host names only (RFC 6066 §3); an IP target is still verified against the certificate's IP SANs.
    servername: isIP(target.host) === 0 ? target.host : '',
    connectTimeout: service.connectTimeout,
    hostLine: `Host: ${host}\r\n`,
  }
}
