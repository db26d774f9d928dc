// Config `certificates` (with their snis) and `ca_certificates` → plain TLS records for the Snapshot,
// and the services' / upstreams' references to them as indexes. Keys stay PEM strings: workers write
// them to private files only for as long as uWS needs to load them (worker/tls-listener.ts).
import { createHash } from 'node:crypto'
import type { CertificateEntity, ServiceEntity, UpstreamEntity, ValidConfig } from './model.js'
import type { CertificateRecord, TlsRecords } from './types.js'

const digest = (...parts: (string | null)[]): string => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p ?? '').update('\0')
  return h.digest('hex').slice(0, 16)
}

function compileCertificate(c: CertificateEntity, i: number): CertificateRecord {
  return {
    id: c.id ?? `certificate-${i}`,
    digest: digest(c.cert, c.key, c.cert_alt, c.key_alt),
    cert: c.cert,
    key: c.key,
    certAlt: c.cert_alt,
    keyAlt: c.key_alt,
    snis: c.snis.map((s) => s.toLowerCase()),
  }
}

export function compileTls(config: ValidConfig): TlsRecords {
  return {
    certificates: config.certificates.map(compileCertificate),
    caCertificates: config.ca_certificates.map((c, i) => ({ id: c.id ?? `ca_certificate-${i}`, digest: digest(c.cert), cert: c.cert })),
  }
}

/** References are certificate ids (validation checked they exist); -1 when there is none. */
function certificateIndex(config: ValidConfig, id: string | null): number {
  return id === null ? -1 : config.certificates.findIndex((c) => c.id === id)
}

/** The TLS fields of a ServiceRecord (Kong: client_certificate, ca_certificates, tls_verify_depth). */
export function serviceTls(s: ServiceEntity, config: ValidConfig): { clientCertificate: number; caCertificates: number[]; tlsVerifyDepth: number | null } {
  const ca = (s.ca_certificates ?? []).map((id) => config.ca_certificates.findIndex((c) => c.id === id)).filter((i) => i >= 0)
  return { clientCertificate: certificateIndex(config, s.client_certificate), caCertificates: ca, tlsVerifyDepth: s.tls_verify_depth }
}

/** An upstream's client_certificate (used for services pointing at it that set none), -1 when none. */
export function upstreamClientCertificate(u: UpstreamEntity, config: ValidConfig): number {
  return certificateIndex(config, u.client_certificate)
}

/**
 * A TLS listener needs a default certificate: GATEWAY_TLS_CERT/KEY, else the config's first certificate.
 * Returns the problem (naming the variables) when there is neither, else null.
 */
export function defaultCertificateProblem(tlsPort: number | null, hasFileCertificate: boolean, tls: TlsRecords | undefined): string | null {
  if (tlsPort === null || hasFileCertificate || (tls !== undefined && tls.certificates.length > 0)) return null
  return 'GATEWAY_TLS_PORT is set but there is no certificate to serve: set GATEWAY_TLS_CERT and GATEWAY_TLS_KEY, or add `certificates` to the config'
}
