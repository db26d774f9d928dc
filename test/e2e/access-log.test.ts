// The access log (GATEWAY_ACCESS_LOG: stdout, a file, off) and the file-log plugin end to end: one JSON line
// per request in Kong's serializer shape, written by the real gateway (2 workers) for requests to real upstreams.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { certDir, makeCert } from '../helpers/certs.js'
import { CLI, startGateway, writeTempConfig, type RunningGateway } from '../helpers/gateway.js'
import { request } from '../helpers/http.js'
import { echoHandler, startUpstream, type Upstream } from '../helpers/upstream.js'

/** The slow route's upstream answers after this long: its logged upstream latency cannot be less. */
const DELAY_MS = 120

interface Line {
  request: { method: string; uri: string; size: number; headers?: Record<string, string> }
  response: { status: number; size: number }
  latencies: { request: number; proxy: number; kong: number }
  route: { name: string } | null
  service: { name: string } | null
  upstream_uri: string
  client_ip: string
  request_id: string
  source: string
}

let fast: Upstream
let slow: Upstream
const gateways: RunningGateway[] = []
const dir = mkdtempSync(join(tmpdir(), 'gw-access-e2e-'))

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

function config(plugins: object[] = []): object {
  return {
    services: [
      { name: 'fast', url: `http://127.0.0.1:${fast.port}`, routes: [{ name: 'fast-route', paths: ['/fast'] }] },
      { name: 'slow', url: `http://127.0.0.1:${slow.port}`, routes: [{ name: 'slow-route', paths: ['/slow'] }] },
    ],
    plugins,
  }
}

async function start(env: Record<string, string>, plugins: object[] = []): Promise<RunningGateway & { stdout: () => string }> {
  const gw = await startGateway(config(plugins), { env })
  gateways.push(gw)
  // Only access-log lines reach stdout (the process log is on stderr); collected from here on.
  let out = ''
  gw.proc.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  return Object.assign(gw, { stdout: () => out })
}

/** One HTTPS request to the TLS listener naming `servername` (self-signed: not verified). */
function tlsGet(port: number, servername: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path, servername, headers: { host: servername }, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode!))
    }).on('error', reject)
  })
}

/** 3 to the fast route (one with a query and a body), 2 to the slow one, 1 that matches no route. */
async function sendMix(gw: RunningGateway): Promise<void> {
  expect((await request(`${gw.url}/fast/a?x=1`)).status).toBe(200)
  expect((await request(`${gw.url}/fast/b`, { method: 'POST', body: 'hello' })).status).toBe(200)
  expect((await request(`${gw.url}/fast/c`, { headers: { authorization: 'Bearer secret' } })).status).toBe(200)
  expect((await request(`${gw.url}/slow/1`)).status).toBe(200)
  expect((await request(`${gw.url}/slow/2`)).status).toBe(200)
  expect((await request(`${gw.url}/nowhere`)).status).toBe(404)
}

function parse(text: string): Line[] {
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line)
}

/** The six lines of sendMix, whatever order the two workers wrote them in. */
function checkMix(lines: Line[]): void {
  expect(lines).toHaveLength(6)
  const byUri = new Map(lines.map((l) => [l.request.uri, l]))
  expect([...byUri.keys()].sort()).toEqual(['/fast/a?x=1', '/fast/b', '/fast/c', '/nowhere', '/slow/1', '/slow/2'])
  for (const l of lines) {
    expect(l.latencies.request).toBeGreaterThanOrEqual(0)
    expect(l.latencies.kong).toBeGreaterThanOrEqual(0)
    expect(l.client_ip).toBe('127.0.0.1')
    expect(l.request_id).toMatch(/^\S+$/)
  }
  for (const uri of ['/fast/a?x=1', '/fast/b', '/fast/c', '/slow/1', '/slow/2']) {
    const l = byUri.get(uri)!
    expect(l.response.status).toBe(200)
    expect(l.source).toBe('upstream')
    expect(l.latencies.proxy).toBeGreaterThanOrEqual(0)
    expect(l.upstream_uri).toBe(uri.replace(/^\/(fast|slow)/, '').replace(/^$/, '/'))
  }
  expect(byUri.get('/fast/a?x=1')!.route).toEqual({ name: 'fast-route', id: expect.any(String) as string })
  expect(byUri.get('/fast/a?x=1')!.service).toEqual({ name: 'fast', id: expect.any(String) as string })
  expect(byUri.get('/fast/b')!.request.size).toBe(5)
  for (const uri of ['/slow/1', '/slow/2']) {
    const l = byUri.get(uri)!
    expect(l.route!.name).toBe('slow-route')
    expect(l.latencies.proxy).toBeGreaterThanOrEqual(DELAY_MS)
    expect(l.latencies.request).toBeGreaterThanOrEqual(l.latencies.proxy)
  }
  const miss = byUri.get('/nowhere')!
  expect(miss.response.status).toBe(404)
  expect(miss.route).toBeNull()
  expect(miss.latencies.proxy).toBe(-1)
  expect(miss.source).toBe('kong')
}

beforeAll(async () => {
  fast = await startUpstream(echoHandler)
  slow = await startUpstream((req, res) => setTimeout(() => echoHandler(req, res), DELAY_MS))
})

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()))
  await Promise.all([fast.close(), slow.close()])
})

describe('access log', () => {
  it('writes one JSON line per request to stdout, and nothing else', async () => {
    const gw = await start({})
    await sendMix(gw)
    await until(() => parse(gw.stdout()).length >= 6, 'six access-log lines on stdout')
    checkMix(parse(gw.stdout()))
    // The access log leaves request headers to file-log / http-log.
    expect(parse(gw.stdout()).every((l) => l.request.headers === undefined)).toBe(true)
  })

  it('keeps stdout JSON when TLS server names make uWS print: its lines go to stderr', async () => {
    // stdout and stderr are files here: the test helper's pipes are sockets, which cannot be reopened (/proc).
    const certs = certDir()
    const [a, b] = ['a', 'b'].map((n) => makeCert(certs, n, `${n}.example.test`, { dns: [`${n}.example.test`] }))
    const fallback = makeCert(certs, 'default', 'default.test', { dns: ['default.test'] })
    const cert = (p: typeof a, name: string): object => ({ cert: p!.cert, key: p!.key, snis: [{ name }] })
    const configPath = writeTempConfig({ ...config(), certificates: [cert(a, 'a.example.test')] })
    const out = join(dir, 'tls-stdout.txt')
    const err = join(dir, 'tls-stderr.txt')
    const proc = spawn(process.execPath, [CLI, 'start', '-c', configPath], {
      env: {
        ...process.env, GATEWAY_PORT: '0', GATEWAY_HOST: '127.0.0.1', GATEWAY_ADMIN_PORT: '0', GATEWAY_WORKERS: '2', GATEWAY_LOG_LEVEL: 'info',
        GATEWAY_TLS_PORT: '0', GATEWAY_TLS_CERT: fallback.certPath, GATEWAY_TLS_KEY: fallback.keyPath,
      },
      stdio: ['ignore', openSync(out, 'a'), openSync(err, 'a')],
    })
    const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve))
    try {
      await until(() => existsSync(err) && readFileSync(err, 'utf8').includes('"gateway started"'), 'the start-up line')
      const started = JSON.parse(readFileSync(err, 'utf8').split('\n').find((l) => l.includes('"gateway started"'))!) as { tlsPort: number }
      expect(await tlsGet(started.tlsPort, 'a.example.test', '/fast/tls')).toBe(200)
      // A reload adding a server name makes uWS print "finding b.example.test" / "Browsed to SNI: b.example.test".
      writeFileSync(configPath, JSON.stringify({ _format_version: '3.0', ...config(), certificates: [cert(a, 'a.example.test'), cert(b, 'b.example.test')] }))
      proc.kill('SIGHUP')
      await until(() => readFileSync(err, 'utf8').includes('config reloaded'), 'the reload')
      expect(await tlsGet(started.tlsPort, 'b.example.test', '/fast/tls-b')).toBe(200)
    } finally {
      proc.kill('SIGTERM')
      expect(await exited).toBe(0)
    }
    expect(readFileSync(err, 'utf8')).toContain('Browsed to SNI: b.example.test')
    expect(parse(readFileSync(out, 'utf8')).map((l) => l.request.uri).sort()).toEqual(['/fast/tls', '/fast/tls-b'])
  })

  it('appends to the file GATEWAY_ACCESS_LOG names, leaving stdout empty', async () => {
    const file = join(dir, 'access.log')
    const gw = await start({ GATEWAY_ACCESS_LOG: file })
    await sendMix(gw)
    await until(() => existsSync(file) && parse(readFileSync(file, 'utf8')).length >= 6, 'six lines in the file')
    checkMix(parse(readFileSync(file, 'utf8')))
    expect(gw.stdout()).toBe('')
  })

  it('writes nothing when off, even after a graceful stop', async () => {
    const gw = await start({ GATEWAY_ACCESS_LOG: 'off' })
    await sendMix(gw)
    expect(await gw.stop()).toBe(0)
    expect(gw.stdout()).toBe('')
  })
})

describe('file-log plugin', () => {
  it('appends one line per request of its route, with request headers (credentials redacted)', async () => {
    const file = join(dir, 'fast-route.log')
    const gw = await start({ GATEWAY_ACCESS_LOG: 'off' }, [{ name: 'file-log', route: 'fast-route', config: { path: file } }])
    await sendMix(gw)
    await until(() => existsSync(file) && parse(readFileSync(file, 'utf8')).length >= 3, 'three file-log lines')
    const lines = parse(readFileSync(file, 'utf8'))
    expect(lines.map((l) => l.request.uri).sort()).toEqual(['/fast/a?x=1', '/fast/b', '/fast/c'])
    const withAuth = lines.find((l) => l.request.uri === '/fast/c')!
    expect(withAuth.request.headers!.authorization).toBe('REDACTED')
    expect(withAuth.request.headers!.host).toBe(`127.0.0.1:${gw.port}`)
  })

  it('with reopen, lets go of a rotated file: later lines go to a new file at the path', async () => {
    const file = join(dir, 'rotated.log')
    const gw = await start({ GATEWAY_ACCESS_LOG: 'off' }, [{ name: 'file-log', config: { path: file, reopen: true } }])
    expect((await request(`${gw.url}/fast/before`)).status).toBe(200)
    await until(() => existsSync(file) && parse(readFileSync(file, 'utf8')).length === 1, 'the first line')
    renameSync(file, file + '.1')
    expect((await request(`${gw.url}/fast/after`)).status).toBe(200)
    await until(() => existsSync(file) && parse(readFileSync(file, 'utf8')).length === 1, 'a line in the new file')
    expect(parse(readFileSync(file + '.1', 'utf8')).map((l) => l.request.uri)).toEqual(['/fast/before'])
    expect(parse(readFileSync(file, 'utf8')).map((l) => l.request.uri)).toEqual(['/fast/after'])
  })

  it('refuses custom_fields_by_lua at start-up with its path', async () => {
    await expect(start({}, [{ name: 'file-log', config: { path: join(dir, 'x.log'), custom_fields_by_lua: { a: 'return 1' } } }]))
      .rejects.toThrow(/plugins\[0\]\.config\.custom_fields_by_lua: is not supported/)
  })
})
