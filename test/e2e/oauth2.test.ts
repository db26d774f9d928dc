// oauth2 end to end (SPEC §3): the real gateway as a resource server of a real authorization server
// (oidc-provider, started here): introspected opaque tokens (cached: one call per token), JWT access tokens
// via jwks_uri, scopes and audience, tokens the gateway issues at <route>/oauth2/token (valid in every worker
// and after a reload), and what a dead or hanging authorization server does (503 within the timeout).
import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLIENTS, RESOURCES, startAuthServer, type AuthServer } from '../helpers/auth-server.js'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request, type Reply } from '../helpers/http.js'
import { closedPort, echoHandler, startRawUpstream, startUpstream, type Upstream } from '../helpers/upstream.js'

const SIGNING_SECRET = 'e2e-oauth2-signing-secret-0123456789abcdef'
const INVALID_TOKEN = { error: 'invalid_token', error_description: 'The access token is invalid or has expired' }
const INVALID_CHALLENGE = 'Bearer realm="service" error="invalid_token" error_description="The access token is invalid or has expired"'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface Echo {
  url: string
  headers: Record<string, string | undefined>
}

describe('oauth2 resource server and token endpoint', () => {
  let as: AuthServer
  let up: Upstream
  let silent: Upstream
  let gw: RunningGateway
  let config: object

  beforeAll(async () => {
    as = await startAuthServer()
    up = await startUpstream(echoHandler)
    silent = await startRawUpstream(() => null)
    const dead = await closedPort()
    const introspection = {
      introspection_endpoint: as.introspectionEndpoint,
      introspection_client_id: CLIENTS.gateway.id,
      introspection_client_secret: '{vault://env/OAUTH2_INTROSPECTION_SECRET}',
    }
    const oauth2 = (cfg: Record<string, unknown>) => [{ name: 'oauth2', config: cfg }]
    config = {
      consumers: [
        { username: 'alice', custom_id: 'alice-42', oauth2_credentials: [{ name: 'alice-app', client_id: CLIENTS.app1.id, client_secret: CLIENTS.app1.secret }] },
        { username: 'bob', oauth2_credentials: [{ name: 'bob-app', client_id: 'bob-client', client_secret: 'bob-secret' }] },
        { username: 'guest' },
      ],
      services: [
        {
          name: 'api',
          url: `http://127.0.0.1:${up.port}`,
          routes: [
            { name: 'introspect', paths: ['/introspect'], plugins: oauth2({ ...introspection, audience: ['api-opaque'] }) },
            { name: 'scoped', paths: ['/scoped'], plugins: oauth2({ ...introspection, scopes: ['admin'], mandatory_scope: true }) },
            { name: 'jwt', paths: ['/jwt'], plugins: oauth2({ jwks_uri: as.jwksUri, audience: ['api-jwt'] }) },
            { name: 'anon', paths: ['/anon'], plugins: oauth2({ ...introspection, anonymous: 'guest' }) },
            {
              name: 'as-refused', paths: ['/as-refused'],
              plugins: oauth2({ introspection_endpoint: `http://127.0.0.1:${dead}/introspect`, introspection_client_id: 'x', introspection_client_secret: 'y', timeout: 300 }),
            },
            {
              name: 'as-hangs', paths: ['/as-hangs'],
              plugins: oauth2({ introspection_endpoint: `http://127.0.0.1:${silent.port}/introspect`, introspection_client_id: 'x', introspection_client_secret: 'y', timeout: 300 }),
            },
          ],
        },
        {
          name: 'issuing',
          url: `http://127.0.0.1:${up.port}`,
          routes: [{
            name: 'issuing', paths: ['/issuing'],
            plugins: oauth2({
              enable_client_credentials: true, token_signing_secret: '{vault://env/OAUTH2_SIGNING_SECRET}', scopes: ['read', 'write'],
              accept_http_if_already_terminated: true, token_expiration: 600, hide_credentials: true,
            }),
          }],
        },
      ],
    }
    gw = await startGateway(config, {
      workers: 2,
      env: { GATEWAY_TRUSTED_IPS: '127.0.0.1/32', OAUTH2_SIGNING_SECRET: SIGNING_SECRET, OAUTH2_INTROSPECTION_SECRET: CLIENTS.gateway.secret },
    })
  }, 60_000)

  afterAll(async () => {
    await gw?.stop()
    await Promise.all([as?.close(), up?.close(), silent?.close()])
  })

  const get = (path: string, token?: string, agent?: http.Agent): Promise<Reply> =>
    request(gw.url + path, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, agent })

  function expectInvalid(r: Reply): void {
    expect(r.status).toBe(401)
    expect(r.json()).toEqual(INVALID_TOKEN)
    expect(r.headers['www-authenticate']).toBe(INVALID_CHALLENGE)
    expect(r.headers['content-type']).toMatch(/^application\/json/)
  }

  it('proxies a request with a valid opaque token as the consumer its client belongs to', async () => {
    const token = await as.token(CLIENTS.app1, { resource: RESOURCES.opaque, scope: 'read write' })
    const r = await get('/introspect/items', token)
    expect(r.status).toBe(200)
    const echo = r.json<Echo>()
    expect(echo.url).toBe('/items')
    expect(echo.headers['x-consumer-username']).toBe('alice')
    expect(echo.headers['x-consumer-custom-id']).toBe('alice-42')
    expect(echo.headers['x-consumer-id']).toBeDefined()
    expect(echo.headers['x-credential-identifier']).toBe(CLIENTS.app1.id)
    expect(echo.headers['x-authenticated-scope']).toBe('read write')
    expect(echo.headers['x-anonymous-consumer']).toBeUndefined()
    expect(echo.headers.authorization).toBe(`Bearer ${token}`)
  })

  it('introspects a token once for repeated requests (the authorization server sees one call)', async () => {
    const token = await as.token(CLIENTS.app1, { resource: RESOURCES.opaque })
    const before = as.requests('/token/introspection')
    // One keep-alive connection: one worker, whose cache answers every request after the first.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      for (let i = 0; i < 20; i++) expect((await get('/introspect', token, agent)).status).toBe(200)
    } finally {
      agent.destroy()
    }
    expect(as.requests('/token/introspection') - before).toBe(1)
    // Other connections may land on the other worker, which asks at most once more.
    for (let i = 0; i < 10; i++) expect((await get('/introspect', token)).status).toBe(200)
    expect(as.requests('/token/introspection') - before).toBeLessThanOrEqual(2)
  })

  it('lets a valid token of a client that is no consumer through without a consumer, dropping forged X-Consumer-*', async () => {
    const token = await as.token(CLIENTS.app2, { resource: RESOURCES.opaque })
    const r = await request(gw.url + '/introspect', { headers: { authorization: `Bearer ${token}`, 'x-consumer-username': 'admin', 'x-consumer-id': 'forged' } })
    expect(r.status).toBe(200)
    const echo = r.json<Echo>()
    expect(echo.headers['x-consumer-username']).toBeUndefined()
    expect(echo.headers['x-consumer-id']).toBeUndefined()
    expect(echo.headers['x-credential-identifier']).toBe(CLIENTS.app2.id)
  })

  it('answers 401 invalid_request with a Bearer challenge when the token is missing', async () => {
    const r = await get('/introspect')
    expect(r.status).toBe(401)
    expect(r.json()).toEqual({ error: 'invalid_request', error_description: 'The access token is missing' })
    expect(r.headers['www-authenticate']).toBe('Bearer realm="service"')
    expect(up.requests()).toBeGreaterThan(0)
  })

  it('answers 401 invalid_token for an unknown or revoked token', async () => {
    expectInvalid(await get('/introspect', 'no-such-token'))
    const revoked = await as.token(CLIENTS.app1, { resource: RESOURCES.opaque })
    await as.revoke(revoked, CLIENTS.app1)
    expectInvalid(await get('/introspect', revoked))
  })

  it('answers 401 once a token expired, though its verdict was cached (introspected and JWT)', async () => {
    const opaque = await as.token(CLIENTS.app1, { resource: RESOURCES.short })
    const jwt = await as.token(CLIENTS.app1, { resource: RESOURCES.jwtShort })
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      expect((await get('/introspect', opaque, agent)).status).toBe(200)
      expect((await get('/jwt', jwt, agent)).status).toBe(200)
      await sleep(3100)
      expectInvalid(await get('/introspect', opaque, agent))
      expectInvalid(await get('/jwt', jwt, agent))
    } finally {
      agent.destroy()
    }
  })

  it('answers 401 when the token is for another audience', async () => {
    expectInvalid(await get('/introspect', await as.token(CLIENTS.app1, { resource: RESOURCES.other })))
  })

  it('answers 403 insufficient_scope when mandatory_scope and the token has none of the scopes', async () => {
    const reader = await as.token(CLIENTS.app1, { resource: RESOURCES.opaque, scope: 'read' })
    const r = await get('/scoped', reader)
    expect(r.status).toBe(403)
    expect(r.json()).toEqual({ error: 'insufficient_scope', error_description: 'The access token does not have the required scope' })
    expect(r.headers['www-authenticate']).toBe('Bearer realm="service" error="insufficient_scope" error_description="The access token does not have the required scope" scope="admin"')
    const admin = await as.token(CLIENTS.app1, { resource: RESOURCES.opaque, scope: 'read admin' })
    expect((await get('/scoped', admin)).status).toBe(200)
  })

  it('verifies JWT access tokens with the jwks_uri, refusing tampered and opaque ones', async () => {
    const token = await as.token(CLIENTS.app1, { resource: RESOURCES.jwt, scope: 'read' })
    const before = as.requests('/token/introspection')
    const r = await get('/jwt/x', token)
    expect(r.status).toBe(200)
    expect(r.json<Echo>().headers['x-consumer-username']).toBe('alice')
    expect(r.json<Echo>().headers['x-authenticated-scope']).toBe('read')
    expect(as.requests('/token/introspection')).toBe(before)
    const [h, p] = token.split('.')
    expectInvalid(await get('/jwt', `${h}.${p}.${Buffer.from('forged').toString('base64url')}`))
    expectInvalid(await get('/jwt', await as.token(CLIENTS.app1, { resource: RESOURCES.opaque })))
  })

  it('lets a request without a valid token through as the anonymous consumer', async () => {
    for (const r of [await get('/anon'), await get('/anon', 'bogus')]) {
      expect(r.status).toBe(200)
      expect(r.json<Echo>().headers['x-consumer-username']).toBe('guest')
      expect(r.json<Echo>().headers['x-anonymous-consumer']).toBe('true')
    }
  })

  describe('client credentials at <route>/oauth2/token', () => {
    const issue = (form: Record<string, string>, headers: Record<string, string> = { 'x-forwarded-proto': 'https' }): Promise<Reply> =>
      request(gw.url + '/issuing/oauth2/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(form).toString(),
      })

    it('issues a token that every worker accepts as the client\'s consumer, even after a reload', async () => {
      const r = await issue({ grant_type: 'client_credentials', client_id: 'bob-client', client_secret: 'bob-secret', scope: 'read' })
      expect(r.status).toBe(200)
      expect(r.headers['cache-control']).toBe('no-store')
      const body = r.json<{ access_token: string; token_type: string; expires_in: number }>()
      expect(body.token_type).toBe('bearer')
      expect(body.expires_in).toBe(600)
      // New connections spread over both workers; each must verify the token.
      for (let i = 0; i < 10; i++) {
        const res = await get('/issuing/data', body.access_token)
        expect(res.status).toBe(200)
        const echo = res.json<Echo>()
        expect(echo.headers['x-consumer-username']).toBe('bob')
        expect(echo.headers['x-authenticated-scope']).toBe('read')
        expect(echo.headers.authorization).toBeUndefined() // hide_credentials
      }
      const mark = gw.logs().length
      gw.writeConfig(config)
      gw.proc.kill('SIGHUP')
      await gw.waitForLog('config reloaded', mark)
      expect((await get('/issuing/data', body.access_token)).status).toBe(200)
      // Bound to its service: the introspecting routes do not know it.
      expect((await get('/introspect', body.access_token)).status).toBe(401)
    })

    it('accepts HTTP Basic client authentication and answers 401 with a Basic challenge for a wrong secret', async () => {
      const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64')
      const ok = await issue({ grant_type: 'client_credentials' }, { 'x-forwarded-proto': 'https', authorization: basic('bob-client', 'bob-secret') })
      expect(ok.status).toBe(200)
      const bad = await issue({ grant_type: 'client_credentials' }, { 'x-forwarded-proto': 'https', authorization: basic('bob-client', 'nope') })
      expect(bad.status).toBe(401)
      expect(bad.json()).toEqual({ error: 'invalid_client', error_description: 'Invalid client authentication' })
      expect(bad.headers['www-authenticate']).toBe('Basic realm="OAuth2.0"')
    })

    it('refuses plain HTTP, unknown grants and scopes outside `scopes`', async () => {
      const creds = { client_id: 'bob-client', client_secret: 'bob-secret' }
      const plain = await issue({ grant_type: 'client_credentials', ...creds }, {})
      expect([plain.status, plain.json()]).toEqual([400, { error: 'access_denied', error_description: 'You must use HTTPS' }])
      const grant = await issue({ grant_type: 'password', ...creds })
      expect([grant.status, grant.json()]).toEqual([400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' }])
      const scope = await issue({ grant_type: 'client_credentials', scope: 'admin', ...creds })
      expect([scope.status, scope.json()]).toEqual([400, { error: 'invalid_scope', error_description: '"admin" is an invalid scope' }])
    })
  })

  describe('authorization server unavailable', () => {
    it('answers 503 at once when the server refuses connections', async () => {
      const started = Date.now()
      const r = await get('/as-refused', 'some-token')
      expect(Date.now() - started).toBeLessThan(1000)
      expect(r.status).toBe(503)
      expect(r.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'The authorization server could not be reached to validate the access token' })
      expect(r.headers['retry-after']).toBe('1')
    })

    it('answers 503 after the timeout when the server does not answer, and never hangs', async () => {
      const started = Date.now()
      const replies = await Promise.all(['t1', 't2', 't3'].map((t) => get('/as-hangs', t)))
      expect(Date.now() - started).toBeLessThan(2000)
      expect(replies.map((r) => r.status)).toEqual([503, 503, 503])
      // The gateway keeps serving everything else meanwhile.
      expect((await get('/anon')).status).toBe(200)
    })
  })
})
