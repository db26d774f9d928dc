// TLS configuration: GATEWAY_TLS_* settings, certificates / ca_certificates compiled into the Snapshot,
// the TLS listener's plan, and upstream TLS identities (pool keys). Certificates are made at run time.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { compileSnapshot } from '../../src/config/compile.js'
import { defaultCertificateProblem } from '../../src/config/compile-tls.js'
import { validateConfig } from '../../src/config/validate.js'
import type { Snapshot } from '../../src/config/types.js'
import { readSettings } from '../../src/settings.js'
import { peerFor } from '../../src/upstream/peer.js'
import { upstreamTlsFor } from '../../src/upstream/tls.js'
import { planTls } from '../../src/worker/tls-listener.js'
import { certDir, makeCert, type Pem } from '../helpers/certs.js'

let dir = ''
let a: Pem
let b: Pem
let ca: Pem

beforeAll(() => {
  dir = certDir()
  ca = makeCert(dir, 'ca', 'Unit CA', { ca: true })
  a = makeCert(dir, 'a', 'a.test', { issuer: ca, dns: ['a.test'] })
  b = makeCert(dir, 'b', 'b.test', { issuer: ca, dns: ['b.test'] })
})

function snapshot(doc: Record<string, unknown>): Snapshot {
  const r = validateConfig({ _format_version: '3.0', ...doc })
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'))
  return compileSnapshot(r.config, '', 0)
}

describe('GATEWAY_TLS_* settings', () => {
  it('is off by default', () => {
    const s = readSettings({})
    expect(s.tlsPort).toBeNull()
    expect(s.tlsCert).toBeNull()
    expect(s.tlsKey).toBeNull()
    expect(readSettings({ GATEWAY_TLS_PORT: 'off' }).tlsPort).toBeNull()
  })

  it('reads the port (0 = any free port) and absolute certificate paths', () => {
    expect(readSettings({ GATEWAY_TLS_PORT: '0' }).tlsPort).toBe(0)
    const s = readSettings({ GATEWAY_TLS_PORT: '8443', GATEWAY_TLS_CERT: a.certPath, GATEWAY_TLS_KEY: a.keyPath })
    expect(s.tlsPort).toBe(8443)
    expect(s.tlsCert).toBe(a.certPath)
    expect(s.tlsKey).toBe(a.keyPath)
  })

  it.each([
    [{ GATEWAY_TLS_PORT: '70000' }, 'GATEWAY_TLS_PORT'],
    [{ GATEWAY_TLS_PORT: 'https' }, 'GATEWAY_TLS_PORT'],
    [{ GATEWAY_TLS_PORT: '8000' }, 'GATEWAY_TLS_PORT'],
  ])('rejects %j naming %s', (env, name) => {
    expect(() => readSettings(env)).toThrow(name)
  })

  it('needs GATEWAY_TLS_CERT and GATEWAY_TLS_KEY together', () => {
    expect(() => readSettings({ GATEWAY_TLS_CERT: a.certPath })).toThrow(/GATEWAY_TLS_KEY.*together/)
    expect(() => readSettings({ GATEWAY_TLS_KEY: a.keyPath })).toThrow(/GATEWAY_TLS_CERT.*together/)
  })

  it('rejects unreadable, non-PEM and mismatched files naming the variable', () => {
    const junk = join(dir, 'junk.pem')
    writeFileSync(junk, 'not a certificate')
    expect(() => readSettings({ GATEWAY_TLS_CERT: join(dir, 'missing.crt'), GATEWAY_TLS_KEY: a.keyPath })).toThrow(/GATEWAY_TLS_CERT.*cannot read/)
    expect(() => readSettings({ GATEWAY_TLS_CERT: junk, GATEWAY_TLS_KEY: a.keyPath })).toThrow(/GATEWAY_TLS_CERT.*PEM certificate/)
    expect(() => readSettings({ GATEWAY_TLS_CERT: a.certPath, GATEWAY_TLS_KEY: junk })).toThrow(/GATEWAY_TLS_KEY.*private key/)
    expect(() => readSettings({ GATEWAY_TLS_CERT: a.certPath, GATEWAY_TLS_KEY: b.keyPath })).toThrow(/GATEWAY_TLS_KEY.*does not match/)
  })
})

describe('compiling certificates', () => {
  it('collects nested and top-level snis, lower-cased, with a content digest', () => {
    const s = snapshot({
      certificates: [{ id: 'ca', cert: a.cert, key: a.key, snis: ['A.test', { name: '*.wild.test' }] }, { cert: b.cert, key: b.key }],
      snis: [{ name: 'b.test', certificate: 'ca' }],
    })
    const certs = s.tls!.certificates
    expect(certs.map((c) => [c.id, c.snis])).toEqual([['ca', ['a.test', '*.wild.test', 'b.test']], ['certificate-1', []]])
    expect(certs[0]!.digest).toMatch(/^[0-9a-f]{16}$/)
    expect(certs[0]!.digest).not.toBe(certs[1]!.digest)
    expect(certs[0]!.cert).toBe(a.cert)
  })

  it('links services and upstreams to their client certificate and CA certificates by index', () => {
    const s = snapshot({
      certificates: [{ id: 'one', cert: a.cert, key: a.key }, { id: 'two', cert: b.cert, key: b.key }],
      ca_certificates: [{ id: 'ca-x', cert: ca.cert }, { id: 'ca-y', cert: ca.cert }],
      upstreams: [{ name: 'up', client_certificate: 'one', targets: [{ target: '10.0.0.1:443' }] }],
      services: [
        { name: 's', url: 'https://10.0.0.2', client_certificate: { id: 'two' }, ca_certificates: ['ca-y'], tls_verify: true, tls_verify_depth: 2 },
        { name: 'plain', url: 'https://10.0.0.3' },
      ],
    })
    expect(s.services[0]).toMatchObject({ clientCertificate: 1, caCertificates: [1], tlsVerifyDepth: 2 })
    expect(s.services[1]).toMatchObject({ clientCertificate: -1, caCertificates: [], tlsVerifyDepth: null })
    expect(s.upstreams[0]!.clientCertificate).toBe(0)
    expect(s.tls!.caCertificates.map((c) => c.id)).toEqual(['ca-x', 'ca-y'])
  })

  it('changes the Snapshot hash when a certificate changes', () => {
    const one = snapshot({ certificates: [{ cert: a.cert, key: a.key, snis: ['x.test'] }] })
    const two = snapshot({ certificates: [{ cert: b.cert, key: b.key, snis: ['x.test'] }] })
    expect(one.hash).not.toBe(two.hash)
  })

  it('warns that cert_alt / key_alt are not served', () => {
    const r = validateConfig({ _format_version: '3.0', certificates: [{ cert: a.cert, key: a.key, cert_alt: b.cert, key_alt: b.key }] })
    expect(r.ok).toBe(true)
    expect(r.warnings.map((w) => w.path)).toEqual(expect.arrayContaining(['certificates[0].cert_alt', 'certificates[0].key_alt']))
  })

  it('needs a default certificate for a TLS listener', () => {
    const none = snapshot({})
    const some = snapshot({ certificates: [{ cert: a.cert, key: a.key }] })
    expect(defaultCertificateProblem(null, false, none.tls)).toBeNull()
    expect(defaultCertificateProblem(8443, true, none.tls)).toBeNull()
    expect(defaultCertificateProblem(8443, false, some.tls)).toBeNull()
    expect(defaultCertificateProblem(8443, false, none.tls)).toMatch(/GATEWAY_TLS_PORT.*GATEWAY_TLS_CERT.*GATEWAY_TLS_KEY/)
  })
})

describe('TLS listener plan', () => {
  const doc = (snis: string[]): Record<string, unknown> => ({ certificates: [{ cert: a.cert, key: a.key, snis }, { cert: b.cert, key: b.key, snis: ['b.test'] }] })

  it('takes the default certificate from GATEWAY_TLS_CERT/KEY, else the first config certificate', () => {
    const s = snapshot(doc(['a.test']))
    const fromFiles = planTls(readSettings({ GATEWAY_TLS_PORT: '0', GATEWAY_TLS_CERT: b.certPath, GATEWAY_TLS_KEY: b.keyPath }), s.tls)
    expect(fromFiles.defaultCert).toEqual({ certFile: b.certPath, keyFile: b.keyPath })
    const fromConfig = planTls(readSettings({ GATEWAY_TLS_PORT: '0' }), s.tls)
    expect(fromConfig.defaultCert).toBe(s.tls!.certificates[0])
    expect(fromConfig.names.map((n) => [n.name, n.cert.id])).toEqual([['a.test', 'certificate-0'], ['b.test', 'certificate-1']])
    expect(() => planTls(readSettings({ GATEWAY_TLS_PORT: '0' }), snapshot({}).tls)).toThrow(/GATEWAY_TLS_CERT/)
  })

  it('has the same fingerprint for the same certificates and names, another when they change', () => {
    const settings = readSettings({ GATEWAY_TLS_PORT: '0' })
    const one = planTls(settings, snapshot(doc(['a.test'])).tls)
    expect(planTls(settings, snapshot({ ...doc(['a.test']), services: [{ name: 'x', url: 'http://h' }] }).tls).fingerprint).toBe(one.fingerprint)
    expect(planTls(settings, snapshot(doc(['c.test'])).tls).fingerprint).not.toBe(one.fingerprint)
  })
})

describe('upstream TLS identity', () => {
  it('gives each client certificate / trust store / depth its own pool key and shares SecureContexts', () => {
    const s = snapshot({
      certificates: [{ id: 'client', cert: a.cert, key: a.key }],
      ca_certificates: [{ id: 'ca', cert: ca.cert }],
      services: [
        { name: 'bare', url: 'https://10.0.0.1:443' },
        { name: 'mtls', url: 'https://10.0.0.1:443', client_certificate: 'client' },
        { name: 'mtls-too', url: 'https://10.0.0.1:443', client_certificate: 'client' },
        { name: 'verified', url: 'https://10.0.0.1:443', tls_verify: true, ca_certificates: ['ca'] },
        { name: 'deep', url: 'https://10.0.0.1:443', tls_verify: true, ca_certificates: ['ca'], tls_verify_depth: 1 },
        // Without tls_verify, CA certificates and depth do not matter (Kong verifies nothing then).
        { name: 'unverified-ca', url: 'https://10.0.0.1:443', ca_certificates: ['ca'], tls_verify_depth: 1 },
        { name: 'http', url: 'http://10.0.0.1:443', client_certificate: 'client' },
      ],
    })
    const contexts = new Map()
    const peers = s.services.map((svc) => peerFor(svc, svc.target, upstreamTlsFor(svc, s, contexts)))
    const keys = peers.map((p) => p.key)
    expect(new Set(keys.slice(0, 5)).size).toBe(4)
    expect(keys[1]).toBe(keys[2])
    expect(keys[5]).toBe(keys[0])
    expect(keys[6]).toBe('http://10.0.0.1:443')
    expect(peers[1]!.secureContext).toBe(peers[2]!.secureContext)
    expect(peers[0]!.secureContext).toBeNull()
    expect(peers[4]!.verifyDepth).toBe(1)
    expect(peers[5]!.verifyDepth).toBe(-1)
    expect(contexts.size).toBe(2)
  })

  it('uses the upstream\'s client_certificate when the service has none', () => {
    const s = snapshot({
      certificates: [{ id: 'client', cert: a.cert, key: a.key }],
      upstreams: [{ name: 'up', client_certificate: 'client', targets: [{ target: '10.0.0.1:443' }] }],
      services: [{ name: 'via', host: 'up', protocol: 'https', port: 443 }],
    })
    const tls = upstreamTlsFor(s.services[0]!, s, new Map())
    expect(tls.identity).toBe(`#client=${s.tls!.certificates[0]!.digest}`)
    expect(tls.secureContext).not.toBeNull()
  })
})
