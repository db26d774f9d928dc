// jwt end to end (SPEC §3): real tokens signed here with jose for every algorithm, verified by the real
// gateway against consumers' jwt_secrets, Kong's 401 answers for each rejection, the token sources, the
// anonymous fallback, X-Consumer-* upstream; and jwks_uri against a local key server: rotation, the
// rate-limited refresh for unknown kids, and outages that never block requests on keys already held.
import { createPublicKey, type KeyObject } from 'node:crypto'
import http from 'node:http'
import type net from 'node:net'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request, type Reply } from '../helpers/http.js'
import { echoHandler, startUpstream, type Upstream } from '../helpers/upstream.js'

const ALGORITHMS = [
  'HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA',
] as const
type Alg = (typeof ALGORITHMS)[number]

const now = (): number => Math.floor(Date.now() / 1000)
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')
const secretOf = (alg: Alg): string => `${alg.toLowerCase()}-secret-that-is-long-enough-for-sha512-0123456789abcdef0123456789abcdef`

interface Echo {
  url: string
  headers: Record<string, string | undefined>
}

function expectKong401(r: Reply, message: string, challenge = 'Bearer error="invalid_token"'): void {
  expect(r.status).toBe(401)
  expect(r.headers['content-type']).toMatch(/^application\/json/)
  expect(r.headers['www-authenticate']).toBe(challenge)
  const body = r.json<{ message: string; request_id: string }>()
  expect(body.message).toBe(message)
  expect(body.request_id).toBe(r.headers['x-request-id'])
}

const bearer = (token: string, extra: Record<string, string> = {}) => ({ headers: { authorization: `Bearer ${token}`, ...extra } })

describe('jwt with consumers’ jwt_secrets (2 worker threads)', () => {
  let upstream: Upstream
  let gw: RunningGateway
  const keys = new Map<Alg, { privateKey: KeyObject; pem: string }>()

  /** A token for the `${alg}-key` credential, valid for 5 minutes unless `claims` say otherwise. */
  async function sign(alg: Alg, claims: JWTPayload = {}): Promise<string> {
    const key = alg.startsWith('HS') ? new TextEncoder().encode(secretOf(alg)) : keys.get(alg)!.privateKey
    return new SignJWT({ iss: `${alg}-key`, sub: 'someone', exp: now() + 300, nbf: now() - 5, ...claims })
      .setProtectedHeader({ alg, typ: 'JWT' }).sign(key)
  }

  beforeAll(async () => {
    for (const alg of ALGORITHMS) {
      if (alg.startsWith('HS')) continue
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
      // RS384's credential holds a PKCS#1 "RSA PUBLIC KEY", as older Kong setups often do; the rest SPKI.
      const pem = alg === 'RS384'
        ? createPublicKey(await exportSPKI(publicKey)).export({ type: 'pkcs1', format: 'pem' }).toString()
        : await exportSPKI(publicKey)
      keys.set(alg, { privateKey: privateKey as KeyObject, pem })
    }
    upstream = await startUpstream(echoHandler)
    const jwt = (config: Record<string, unknown>) => [{ name: 'jwt', config }]
    gw = await startGateway({
      consumers: [
        ...ALGORITHMS.map((alg) => ({
          username: `${alg}-user`,
          custom_id: `${alg}-custom`,
          jwt_secrets: [alg.startsWith('HS')
            ? { key: `${alg}-key`, algorithm: alg, secret: secretOf(alg) }
            : { key: `${alg}-key`, algorithm: alg, rsa_public_key: keys.get(alg)!.pem }],
        })),
        { username: 'guest' },
      ],
      services: [{
        name: 'jwt',
        url: `http://127.0.0.1:${upstream.port}`,
        routes: [
          { name: 'secrets', paths: ['/jwt'], strip_path: false, plugins: jwt({ claims_to_verify: ['exp', 'nbf'], realm: 'gw' }) },
          { name: 'maxexp', paths: ['/maxexp'], strip_path: false, plugins: jwt({ claims_to_verify: ['exp'], maximum_expiration: 60 }) },
          { name: 'sources', paths: ['/sources'], strip_path: false, plugins: jwt({ uri_param_names: ['token'], cookie_names: ['auth'] }) },
          { name: 'anon', paths: ['/anon'], strip_path: false, plugins: jwt({ anonymous: 'guest' }) },
          { name: 'preflight', paths: ['/preflight'], strip_path: false, plugins: jwt({ run_on_preflight: false }) },
        ],
      }],
    }, { workers: 2 })
  }, 60_000)

  afterAll(async () => {
    await gw?.stop()
    await upstream?.close()
  })

  for (const alg of ALGORITHMS) {
    it(`accepts a ${alg} token and sends the consumer upstream as X-Consumer-*`, async () => {
      // The client's own X-Consumer-* values never reach the upstream.
      const r = await request(`${gw.url}/jwt`, bearer(await sign(alg), { 'x-consumer-username': 'forged', 'x-anonymous-consumer': 'true' }))
      expect(r.status).toBe(200)
      const echo = r.json<Echo>()
      expect(echo.headers['x-consumer-username']).toBe(`${alg}-user`)
      expect(echo.headers['x-consumer-id']).toBe(`${alg}-user`)
      expect(echo.headers['x-consumer-custom-id']).toBe(`${alg}-custom`)
      expect(echo.headers['x-credential-identifier']).toBe(`${alg}-key`)
      expect(echo.headers['x-anonymous-consumer']).toBeUndefined()
    })
  }

  it('answers 401 Unauthorized with a Bearer challenge when no token is sent', async () => {
    expectKong401(await request(`${gw.url}/jwt`), 'Unauthorized', 'Bearer realm="gw"')
  })

  it('rejects alg none', async () => {
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: 'HS256-key', exp: now() + 300 })}.`
    expectKong401(await request(`${gw.url}/jwt`, bearer(token)), 'Bad token; invalid alg', 'Bearer realm="gw" error="invalid_token"')
  })

  it('rejects an HS256 token signed with an RS256 credential’s public key as HMAC secret', async () => {
    const token = await new SignJWT({ iss: 'RS256-key', exp: now() + 300 })
      .setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(keys.get('RS256')!.pem))
    expectKong401(await request(`${gw.url}/jwt`, bearer(token)), 'Invalid algorithm', 'Bearer realm="gw" error="invalid_token"')
  })

  it('rejects tokens whose payload was changed after signing', async () => {
    for (const alg of ['HS256', 'RS256', 'ES256', 'EdDSA'] as const) {
      const [header, , signature] = (await sign(alg)).split('.')
      const tampered = `${header}.${b64({ iss: `${alg}-key`, sub: 'admin', exp: now() + 300 })}.${signature}`
      expectKong401(await request(`${gw.url}/jwt`, bearer(tampered)), 'Invalid signature', 'Bearer realm="gw" error="invalid_token"')
    }
  })

  it('rejects an expired token with Kong’s claim map', async () => {
    const r = await request(`${gw.url}/jwt`, bearer(await sign('RS256', { exp: now() - 10 })))
    expect(r.status).toBe(401)
    expect(r.json()).toMatchObject({ exp: 'token expired', message: 'token expired' })
  })

  it('rejects a token that is not valid yet', async () => {
    const r = await request(`${gw.url}/jwt`, bearer(await sign('HS256', { nbf: now() + 600 })))
    expect(r.status).toBe(401)
    expect(r.json()).toMatchObject({ nbf: 'token not valid yet', message: 'token not valid yet' })
  })

  it('rejects a token without the claims it must verify', async () => {
    const token = await new SignJWT({ iss: 'HS256-key' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secretOf('HS256')))
    const r = await request(`${gw.url}/jwt`, bearer(token))
    expect(r.status).toBe(401)
    expect(r.json()).toMatchObject({ exp: 'must be a number', nbf: 'must be a number', message: "'exp' must be a number, 'nbf' must be a number" })
  })

  it('enforces maximum_expiration', async () => {
    const r = await request(`${gw.url}/maxexp`, bearer(await sign('ES384', { exp: now() + 3600 })))
    expect(r.status).toBe(401)
    expect(r.json()).toMatchObject({ exp: 'exceeds maximum allowed expiration' })
    expect((await request(`${gw.url}/maxexp`, bearer(await sign('ES384', { exp: now() + 30 })))).status).toBe(200)
  })

  it('rejects a token without iss, and one whose iss names no credential', async () => {
    expectKong401(await request(`${gw.url}/jwt`, bearer(await sign('HS256', { iss: undefined }))), "No mandatory 'iss' in claims", 'Bearer realm="gw" error="invalid_token"')
    expectKong401(await request(`${gw.url}/jwt`, bearer(await sign('HS256', { iss: 'nobody' }))), "No credentials found for given 'iss'", 'Bearer realm="gw" error="invalid_token"')
  })

  it('rejects two different tokens in one request', async () => {
    const a = await sign('HS256')
    const b = await sign('HS384')
    expectKong401(await request(`${gw.url}/jwt?jwt=${a}`, bearer(b)), 'Multiple tokens provided', 'Bearer realm="gw" error="invalid_token"')
    // The same token in two places is one token.
    expect((await request(`${gw.url}/jwt?jwt=${a}`, bearer(a))).status).toBe(200)
  })

  it('reads the token from a configured cookie and query parameter', async () => {
    const token = await sign('PS256')
    const byCookie = await request(`${gw.url}/sources`, { headers: { cookie: `other=1; auth=${token}` } })
    expect(byCookie.status).toBe(200)
    expect(byCookie.json<Echo>().headers['x-consumer-username']).toBe('PS256-user')
    const byQuery = await request(`${gw.url}/sources?a=1&token=${token}`)
    expect(byQuery.status).toBe(200)
    expect(byQuery.json<Echo>().headers['x-consumer-username']).toBe('PS256-user')
    // jwt is not one of this route's uri_param_names.
    expectKong401(await request(`${gw.url}/sources?jwt=${token}`), 'Unauthorized', 'Bearer')
  })

  it('lets a failed authentication through as the anonymous consumer', async () => {
    const anonymous = (await request(`${gw.url}/anon`, bearer('not.a.token'))).json<Echo>()
    expect(anonymous.headers['x-consumer-username']).toBe('guest')
    expect(anonymous.headers['x-anonymous-consumer']).toBe('true')
    expect(anonymous.headers['x-credential-identifier']).toBeUndefined()
    const known = (await request(`${gw.url}/anon`, bearer(await sign('ES512')))).json<Echo>()
    expect(known.headers['x-consumer-username']).toBe('ES512-user')
    expect(known.headers['x-anonymous-consumer']).toBeUndefined()
  })

  it('lets OPTIONS through without a token only when run_on_preflight is off', async () => {
    expect((await request(`${gw.url}/preflight`, { method: 'OPTIONS' })).status).toBe(200)
    expect((await request(`${gw.url}/preflight`)).status).toBe(401)
    expect((await request(`${gw.url}/jwt`, { method: 'OPTIONS' })).status).toBe(401)
  })
})

// ---------------------------------------------------------------------------------------------
// jwks_uri

/** A key server: publishes `keys` at /jwks, counts fetches, and can drop connections or never answer. */
async function startKeyServer(): Promise<{ port: number; keys: JWK[]; fetches: () => number; mode: (m: 'ok' | 'down' | 'hang') => void; close: () => Promise<void> }> {
  let fetches = 0
  let mode: 'ok' | 'down' | 'hang' = 'ok'
  const keys: JWK[] = []
  const sockets = new Set<net.Socket>()
  const server = http.createServer((req, res) => {
    fetches++
    if (mode === 'down') return void req.socket.destroy()
    if (mode === 'hang') return
    const body = JSON.stringify({ keys })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
  server.on('connection', (s: net.Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return {
    port: (server.address() as net.AddressInfo).port,
    keys,
    fetches: () => fetches,
    mode: (m) => (mode = m),
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy()
      server.close(() => r())
    }),
  }
}

/** A provider signing key: its private half, and the public JWK it publishes under `kid`. */
async function providerKey(alg: Exclude<Alg, `HS${string}`>, kid: string): Promise<{ kid: string; alg: string; privateKey: KeyObject; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  return { kid, alg, privateKey: privateKey as KeyObject, jwk: { ...(await exportJWK(publicKey)), kid, use: 'sig' } }
}

const providerToken = (k: { kid: string; alg: string; privateKey: KeyObject }, claims: JWTPayload = {}): Promise<string> =>
  new SignJWT({ sub: 'user-1', exp: now() + 300, ...claims }).setProtectedHeader({ alg: k.alg, kid: k.kid }).sign(k.privateKey)

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now()
  const value = await f()
  return { value, ms: performance.now() - start }
}

async function jwksGateway(keyServerPort: number, upstreamPort: number): Promise<RunningGateway> {
  const jwks_uri = `http://127.0.0.1:${keyServerPort}/jwks`
  return startGateway({
    consumers: [{ username: 'jwks-alice', custom_id: 'alice-7' }],
    services: [{
      name: 'idp',
      url: `http://127.0.0.1:${upstreamPort}`,
      routes: [
        { name: 'jwks', paths: ['/jwks'], strip_path: false, plugins: [{ name: 'jwt', config: { jwks_uri, claims_to_verify: ['exp'] } }] },
        { name: 'jwks-consumer', paths: ['/jwks-consumer'], strip_path: false, plugins: [{ name: 'jwt', config: { jwks_uri, consumer_claim: 'sub' } }] },
      ],
    }],
  }, { workers: 1 })
}

describe('jwt with jwks_uri: key rotation', () => {
  let upstream: Upstream
  let keyServer: Awaited<ReturnType<typeof startKeyServer>>
  let gw: RunningGateway
  let k1: Awaited<ReturnType<typeof providerKey>>

  beforeAll(async () => {
    upstream = await startUpstream(echoHandler)
    keyServer = await startKeyServer()
    k1 = await providerKey('RS256', 'k1')
    keyServer.keys.push(k1.jwk)
    gw = await jwksGateway(keyServer.port, upstream.port)
  }, 60_000)

  afterAll(async () => {
    await gw?.stop()
    await keyServer?.close()
    await upstream?.close()
  })

  it('accepts a token signed by a published key, with no consumer unless consumer_claim names one', async () => {
    const r = await request(`${gw.url}/jwks`, bearer(await providerToken(k1), { 'x-consumer-username': 'forged' }))
    expect(r.status).toBe(200)
    const echo = r.json<Echo>()
    expect(echo.headers['x-consumer-username']).toBeUndefined()
    expect(echo.headers['x-credential-identifier']).toBe('user-1')
    // One worker: the key set was fetched once, when the Snapshot was compiled.
    expect(keyServer.fetches()).toBe(1)

    const mapped = await request(`${gw.url}/jwks-consumer`, bearer(await providerToken(k1, { sub: 'jwks-alice' })))
    expect(mapped.status).toBe(200)
    expect(mapped.json<Echo>().headers['x-consumer-username']).toBe('jwks-alice')
    expect(mapped.json<Echo>().headers['x-consumer-custom-id']).toBe('alice-7')
    const unknown = await request(`${gw.url}/jwks-consumer`, bearer(await providerToken(k1, { sub: 'mallory' })))
    expect(unknown.status).toBe(401)
    expect(unknown.json<{ message: string }>().message).toBe("Could not find consumer for 'sub=mallory'")
  })

  it('rejects HMAC tokens naming a published key id, expired tokens and tampered ones', async () => {
    const hmac = await new SignJWT({ sub: 'user-1', exp: now() + 300 }).setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .sign(new TextEncoder().encode(JSON.stringify(k1.jwk)))
    expectKong401(await request(`${gw.url}/jwks`, bearer(hmac)), 'Invalid algorithm')
    const expired = await request(`${gw.url}/jwks`, bearer(await providerToken(k1, { exp: now() - 1 })))
    expect(expired.json()).toMatchObject({ exp: 'token expired' })
    const [h, , s] = (await providerToken(k1)).split('.')
    expectKong401(await request(`${gw.url}/jwks`, bearer(`${h}.${b64({ sub: 'admin', exp: now() + 300 })}.${s}`)), 'Invalid signature')
  })

  it('fetches the set again for a new kid, then waits 10 s before refreshing for another', async () => {
    const k2 = await providerKey('ES256', 'k2')
    keyServer.keys.push(k2.jwk)
    const rotated = await request(`${gw.url}/jwks`, bearer(await providerToken(k2)))
    const refreshedAt = Date.now()
    expect(rotated.status).toBe(200)
    expect(keyServer.fetches()).toBe(2)

    const k3 = await providerKey('EdDSA', 'k3')
    keyServer.keys.push(k3.jwk)
    const tooSoon = await timed(async () => request(`${gw.url}/jwks`, bearer(await providerToken(k3))))
    expectKong401(tooSoon.value, "No credentials found for given 'kid'")
    expect(keyServer.fetches()).toBe(2)
    // Keys already held keep working meanwhile.
    expect((await request(`${gw.url}/jwks`, bearer(await providerToken(k1)))).status).toBe(200)

    await sleep(Math.max(0, refreshedAt + 10_200 - Date.now()))
    expect((await request(`${gw.url}/jwks`, bearer(await providerToken(k3)))).status).toBe(200)
    expect(keyServer.fetches()).toBe(3)
  }, 30_000)
})

describe('jwt with jwks_uri: key server outages', () => {
  let upstream: Upstream
  let keyServer: Awaited<ReturnType<typeof startKeyServer>>
  let gw: RunningGateway
  let k1: Awaited<ReturnType<typeof providerKey>>
  let stranger: Awaited<ReturnType<typeof providerKey>>

  beforeAll(async () => {
    upstream = await startUpstream(echoHandler)
    keyServer = await startKeyServer()
    k1 = await providerKey('PS384', 'k1')
    stranger = await providerKey('RS256', 'never-published')
    keyServer.keys.push(k1.jwk)
    gw = await jwksGateway(keyServer.port, upstream.port)
  }, 60_000)

  afterAll(async () => {
    await gw?.stop()
    await keyServer?.close()
    await upstream?.close()
  })

  it('with the key server dropping connections: cached keys work, an unknown kid is refused at once', async () => {
    expect((await request(`${gw.url}/jwks`, bearer(await providerToken(k1)))).status).toBe(200)
    keyServer.mode('down')
    const unknown = await timed(async () => request(`${gw.url}/jwks`, bearer(await providerToken(stranger))))
    expectKong401(unknown.value, "No credentials found for given 'kid'")
    expect(unknown.ms).toBeLessThan(1000)
    expect(keyServer.fetches()).toBe(2)
    await gw.waitForLog('JWKS fetch failed; keeping the keys already loaded')
    const known = await timed(async () => request(`${gw.url}/jwks`, bearer(await providerToken(k1))))
    expect(known.value.status).toBe(200)
    expect(known.ms).toBeLessThan(1000)
  })

  it('restarted gateway with a key server that never answers: waits at most the fetch timeout', async () => {
    await gw.stop()
    keyServer.mode('ok')
    gw = await jwksGateway(keyServer.port, upstream.port)
    expect((await request(`${gw.url}/jwks`, bearer(await providerToken(k1)))).status).toBe(200)
    keyServer.mode('hang')
    const waiting = timed(async () => request(`${gw.url}/jwks`, bearer(await providerToken(stranger))))
    // While that refresh hangs, tokens of known keys are answered at once.
    await sleep(200)
    const known = await timed(async () => request(`${gw.url}/jwks`, bearer(await providerToken(k1))))
    expect(known.value.status).toBe(200)
    expect(known.ms).toBeLessThan(1000)
    const unknown = await waiting
    expectKong401(unknown.value, "No credentials found for given 'kid'")
    expect(unknown.ms).toBeGreaterThan(1500)
    expect(unknown.ms).toBeLessThan(5000)
    // The next unknown kid within 10 s is refused without another fetch.
    const fetches = keyServer.fetches()
    const again = await timed(async () => request(`${gw.url}/jwks`, bearer(await providerToken(stranger, { sub: 'other' }))))
    expectKong401(again.value, "No credentials found for given 'kid'")
    expect(again.ms).toBeLessThan(1000)
    expect(keyServer.fetches()).toBe(fetches)
  }, 30_000)
})
