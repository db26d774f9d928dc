// Certificates (with nested snis), top-level snis and ca_certificates (Kong's certificates.lua,
// snis.lua, ca_certificates.lua). PEM blocks are parsed with node:crypto so a bad one fails at load.
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { any, arrayOf, noop, record, str, type EntityCheck, type RecordField } from '../schema.js'
import { id, parentRef, ref, sniError, tags, timestamp } from '../typedefs.js'

function certError(pem: string): string | null {
  try {
    new X509Certificate(pem)
    return null
  } catch (e) {
    return `invalid certificate: ${(e as Error).message}`
  }
}

function keyError(pem: string): string | null {
  try {
    createPrivateKey(pem)
    return null
  } catch (e) {
    return `invalid key: ${(e as Error).message}`
  }
}

function pairError(cert: unknown, key: unknown): string | null {
  if (typeof cert !== 'string' || typeof key !== 'string') return null
  try {
    return new X509Certificate(cert).checkPrivateKey(createPrivateKey(key)) ? null : 'certificate does not match key'
  } catch {
    return null // reported by the field validators
  }
}

const pairs: EntityCheck = (r) => {
  const errors = []
  const main = pairError(r.cert, r.key)
  if (main !== null) errors.push({ field: 'key', message: main })
  if ((r.cert_alt === null) !== (r.key_alt === null)) {
    errors.push('cert_alt and key_alt must be set together')
  } else {
    const alt = pairError(r.cert_alt, r.key_alt)
    if (alt !== null) errors.push({ field: 'key_alt', message: alt })
  }
  return errors
}

/** One sni entity; nested in a certificate it may also be written as a plain string (see validate.ts). */
export function sniSchema(nested: boolean): RecordField {
  return record({
    id: id(),
    name: str({ required: true, custom: (s: string) => sniError(s.startsWith('*.') ? s.slice(2) : s) }),
    certificate: nested ? parentRef('certificate') : ref({ required: true }),
    tags: tags(),
    created_at: timestamp(),
    updated_at: timestamp(),
  })
}

export function certificateSchema(): RecordField {
  return record({
    id: id(),
    cert: str({ required: true, custom: certError }),
    key: str({ required: true, custom: keyError }),
    // uWebSockets.js loads one certificate per server name, so the alternate (Kong: the other key type) is not served.
    cert_alt: noop(str({ custom: certError }), 'accepted and checked; the TLS listener serves `cert` only (one certificate per server name)'),
    key_alt: noop(str({ custom: keyError }), 'accepted and checked; the TLS listener serves `key` only'),
    snis: arrayOf(any()),
    tags: tags(),
    created_at: timestamp(),
    updated_at: timestamp(),
  }, { checks: [pairs] })
}

export function caCertificateSchema(): RecordField {
  return record({
    id: id(),
    cert: str({ required: true, custom: certError }),
    cert_digest: noop(str(), 'accepted for Kong compatibility; computed from the certificate'),
    tags: tags(),
    created_at: timestamp(),
    updated_at: timestamp(),
  })
}
