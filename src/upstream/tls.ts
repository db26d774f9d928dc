// TLS settings for connections to an https upstream, built once per Snapshot: the client certificate
// (mTLS), the trust store (Kong: tls_verify + ca_certificates) and tls_verify_depth, as one SecureContext
// per distinct combination, so no connection parses PEM. The identity string goes into the pool key.
import tls, { type SecureContext, type TLSSocket } from 'node:tls'
import type { ServiceRecord, Snapshot } from '../config/types.js'

export interface UpstreamTls {
  /** null = Node's default context (system CAs plus NODE_EXTRA_CA_CERTS, no client certificate). */
  secureContext: SecureContext | null
  /** Appended to the pool key: connections are reused only with the same certificate settings. */
  identity: string
  /** Most intermediate CA certificates accepted (OpenSSL's verify depth), -1 = no limit. */
  verifyDepth: number
}

export const DEFAULT_UPSTREAM_TLS: UpstreamTls = Object.freeze({ secureContext: null, identity: '', verifyDepth: -1 })

/**
 * The service's TLS settings (its client_certificate, else its upstream's; CA certificates and depth only
 * when tls_verify is on, as Kong: without it nothing is verified). `contexts` shares SecureContexts
 * between services of one Snapshot.
 */
export function upstreamTlsFor(service: ServiceRecord, snapshot: Snapshot, contexts: Map<string, SecureContext>): UpstreamTls {
  if (service.protocol !== 'https' && service.protocol !== 'grpcs' && service.protocol !== 'wss') return DEFAULT_UPSTREAM_TLS
  const records = snapshot.tls
  let cc = service.clientCertificate ?? -1
  if (cc < 0 && service.upstream >= 0) cc = snapshot.upstreams[service.upstream]?.clientCertificate ?? -1
  const client = cc >= 0 ? records?.certificates[cc] : undefined
  const verify = service.tlsVerify
  const cas = verify && records !== undefined ? (service.caCertificates ?? []).map((i) => records.caCertificates[i]!).filter((c) => c !== undefined) : []
  const depth = verify ? service.tlsVerifyDepth ?? -1 : -1
  const material = (client !== undefined ? `#client=${client.digest}` : '') + (cas.length > 0 ? `#ca=${cas.map((c) => c.digest).join(',')}` : '')
  const identity = material + (depth >= 0 ? `#depth=${depth}` : '')
  if (identity === '') return DEFAULT_UPSTREAM_TLS
  if (material === '') return { secureContext: null, identity, verifyDepth: depth }
  let secureContext = contexts.get(material)
  if (secureContext === undefined) {
    // With `ca` the listed CAs replace the system store (Kong: ca_certificates build the trust store).
    secureContext = tls.createSecureContext({
      cert: client?.cert,
      key: client?.key,
      ca: cas.length > 0 ? cas.map((c) => c.cert) : undefined,
    })
    contexts.set(material, secureContext)
  }
  return { secureContext, identity, verifyDepth: depth }
}

/**
 * Intermediate CA certificates in the verified chain (the leaf and a self-signed trust anchor do not
 * count), for tls_verify_depth. Node has no verify-depth option, so this runs once per new connection.
 */
export function intermediateCount(socket: TLSSocket): number {
  let cert = socket.getPeerCertificate(true)
  let links = 0
  while (cert.issuerCertificate !== undefined && cert.issuerCertificate !== cert && links < 100) {
    cert = cert.issuerCertificate
    links++
  }
  const anchored = links > 0 && cert.issuerCertificate === cert
  return anchored ? links - 1 : links
}
