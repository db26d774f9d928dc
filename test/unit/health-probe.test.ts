// One active probe (primary/health-probe) against real loopback servers: HTTP status, TCP connect, TLS,
// timeouts, a non-HTTP answer, and cancellation that leaves no socket behind.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { ActiveChecks, TargetRecord } from '../../src/config/types.js'
import { probe } from '../../src/primary/health-probe.js'
import { closedPort } from '../helpers/upstream.js'

const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
})

function checks(extra: Partial<ActiveChecks> = {}): ActiveChecks {
  return {
    type: 'http', timeoutMs: 1000, concurrency: 10, httpPath: '/', httpsSni: null, httpsVerifyCertificate: true, headers: {},
    healthyIntervalMs: 1000, healthyStatuses: [200, 302], successes: 1, unhealthyIntervalMs: 0, unhealthyStatuses: [500],
    tcpFailures: 1, timeouts: 1, httpFailures: 1, ...extra,
  }
}

const target = (port: number, host = '127.0.0.1'): TargetRecord => ({ target: `${host}:${port}`, host, port, weight: 100, healthSlot: 0 })
const never = new AbortController().signal
/** A server that never answers; it reads (and drops) so it sees the client's FIN. */
const silent = (s: net.Socket): void => void s.resume()

/** Listens on loopback; tracks open sockets so a test can see the probe closed its own. */
async function listen(server: net.Server): Promise<{ port: number; open: () => number }> {
  const sockets = new Set<net.Socket>()
  server.on('connection', (s: net.Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  closers.push(() => new Promise<void>((r) => {
    for (const s of sockets) s.destroy()
    server.close(() => r())
  }))
  return { port: (server.address() as net.AddressInfo).port, open: () => sockets.size }
}

async function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('http probes', () => {
  it('GETs http_path with the configured headers and Kong’s Host, and reports the status', async () => {
    const seen: http.IncomingHttpHeaders[] = []
    const { port } = await listen(http.createServer((req, res) => {
      seen.push({ ...req.headers, path: req.url })
      res.writeHead(req.url === '/status' ? 503 : 200).end()
    }))
    const result = await probe(target(port), checks({ httpPath: '/status', headers: { 'x-probe': ['a'] } }), 'api.internal', never)
    expect(result).toEqual({ kind: 'status', status: 503 })
    expect(seen[0]).toMatchObject({ path: '/status', host: 'api.internal', 'x-probe': 'a', connection: 'close' })
  })

  it('closes its connection once the status line is in, even while the body is still coming', async () => {
    const server = await listen(http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('streaming forever')
    }))
    expect(await probe(target(server.port), checks(), 'h', never)).toEqual({ kind: 'status', status: 200 })
    await until(() => server.open() === 0)
  })

  it('reports an answer that is not HTTP as status 0', async () => {
    const { port } = await listen(net.createServer((s) => s.end('SSH-2.0-OpenSSH_9.6\r\n\r\n')))
    expect(await probe(target(port), checks(), 'h', never)).toEqual({ kind: 'status', status: 0 })
  })

  it('reports a refused connection as a tcp failure', async () => {
    expect(await probe(target(await closedPort()), checks(), 'h', never)).toEqual({ kind: 'tcp' })
  })

  it('reports a timeout when no status line arrives in time, and drops the connection', async () => {
    const server = await listen(net.createServer(silent))
    const started = Date.now()
    expect(await probe(target(server.port), checks({ timeoutMs: 100 }), 'h', never)).toEqual({ kind: 'timeout' })
    expect(Date.now() - started).toBeLessThan(1000)
    await until(() => server.open() === 0)
  })

  it('resolves null and closes its socket when the checker aborts it', async () => {
    const server = await listen(net.createServer(silent))
    const aborter = new AbortController()
    const pending = probe(target(server.port), checks({ timeoutMs: 10_000 }), 'h', aborter.signal)
    await until(() => server.open() === 1)
    aborter.abort()
    expect(await pending).toBeNull()
    await until(() => server.open() === 0)
  })
})

describe('tcp probes', () => {
  it('succeed on connect and fail on a closed port', async () => {
    const server = await listen(net.createServer(silent))
    expect(await probe(target(server.port), checks({ type: 'tcp' }), 'h', never)).toEqual({ kind: 'connected' })
    expect(await probe(target(await closedPort()), checks({ type: 'tcp' }), 'h', never)).toEqual({ kind: 'tcp' })
    await until(() => server.open() === 0)
  })
})

describe('https probes', () => {
  it('verify the certificate unless https_verify_certificate is off, sending https_sni', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-probe-tls-'))
    const [certPath, keyPath] = [join(dir, 'cert.pem'), join(dir, 'key.pem')]
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-keyout', keyPath, '-out', certPath], { stdio: 'ignore' })
    const snis: (string | false)[] = []
    const server = https.createServer({ key: readFileSync(keyPath), cert: readFileSync(certPath) }, (req, res) => {
      snis.push((req.socket as unknown as { servername: string | false }).servername)
      res.writeHead(302).end()
    })
    const { port } = await listen(server)
    expect(await probe(target(port), checks({ type: 'https' }), 'h', never)).toEqual({ kind: 'tcp' })
    const unverified = checks({ type: 'https', httpsVerifyCertificate: false, httpsSni: 'svc.example' })
    expect(await probe(target(port), unverified, 'h', never)).toEqual({ kind: 'status', status: 302 })
    expect(snis).toEqual(['svc.example'])
  })
})
