// HTTPS upstreams (SPEC §4): TLS to the target, with certificate verification when the service
// has tls_verify. The certificate is made at run time with openssl; nothing secret is committed.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request } from '../helpers/http.js'

let server: https.Server
let port = 0
let certPath = ''
const gateways: RunningGateway[] = []

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-tls-'))
  certPath = join(dir, 'cert.pem')
  const keyPath = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyPath, '-out', certPath], { stdio: 'ignore' })
  server = https.createServer({ key: readFileSync(keyPath), cert: readFileSync(certPath) }, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.end(`tls ok ${req.url}`)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  for (const gw of gateways) await gw.stop()
  await new Promise((r) => server?.close(r))
})

async function gatewayWith(tlsVerify: boolean, env: Record<string, string> = {}): Promise<RunningGateway> {
  const gw = await startGateway({
    services: [{ name: 'secure', url: `https://127.0.0.1:${port}/base`, tls_verify: tlsVerify, retries: 0, routes: [{ name: 'secure', paths: ['/s'] }] }],
  }, { env })
  gateways.push(gw)
  return gw
}

describe('https upstreams', () => {
  it('proxies over TLS when verification is off (Kong default)', async () => {
    const gw = await gatewayWith(false)
    const r = await request(gw.url + '/s/x')
    expect(r.status).toBe(200)
    expect(r.body).toBe('tls ok /base/x')
  })

  it('refuses an untrusted certificate with 502 when tls_verify is on', async () => {
    const gw = await gatewayWith(true)
    const r = await request(gw.url + '/s/x')
    expect(r.status).toBe(502)
  })

  it('accepts a certificate from a trusted CA when tls_verify is on', async () => {
    const gw = await gatewayWith(true, { NODE_EXTRA_CA_CERTS: certPath })
    const r = await request(gw.url + '/s/y')
    expect(r.status).toBe(200)
    expect(r.body).toBe('tls ok /base/y')
  })
})
