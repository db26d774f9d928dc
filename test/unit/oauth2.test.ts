// oauth2 (Kong's plugin as a resource server, SPEC §3): schema checks, where the token is read from, Kong's
// 401/403 answers, the client credentials token endpoint and its signed tokens, and validation against a
// real authorization server (oidc-provider in this process): introspection with its cache, and JWKS.
import { pbkdf2Sync, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { validateConfig } from '../../src/config/validate.js'
import type { ConsumerRecord, Snapshot } from '../../src/config/types.js'
import { createLogger } from '../../src/logger.js'
import plugin, { accessTokenOf, verdictOf, type OAuth2Config } from '../../src/plugins/oauth2.js'
import { FAIL_FAST_MS, Introspector } from '../../src/plugins/oauth2-introspection.js'
import { ISSUER, TokenSigner, signingKey } from '../../src/plugins/oauth2-issued-tokens.js'
import { JwksVerifier, looksLikeJwt } from '../../src/plugins/oauth2-jwks.js'
import { INVALID, NEGATIVE_TTL_MS, TokenCache, UNAVAILABLE, tokenInfoOf, type TokenInfo } from '../../src/plugins/oauth2-token-cache.js'
import { CONTINUE, DONE, type PhaseResult, type PluginRequest } from '../../src/plugins/types.js'
import { CLIENTS, RESOURCES, startAuthServer, type AuthServer } from '../helpers/auth-server.js'
import { compilePlugin, fakeRequest, snapshotWith, testEnv, type FakeRequest } from '../helpers/plugins.js'
import { closedPort, startRawUpstream, type Upstream } from '../helpers/upstream.js'

type Doc = Record<string, unknown>

const SECRET = 'a-signing-secret-of-at-least-32-characters'
const silent = createLogger('silent')

function problems(config: Doc): string[] {
  const r = validateConfig({ _format_version: '3.0', plugins: [{ name: 'oauth2', config }] }, { env: {} })
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)
}

function validated(config: Doc): { config: Doc; warnings: string[] } {
  const r = validateConfig({ _format_version: '3.0', plugins: [{ name: 'oauth2', config }] }, { env: {} })
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'))
  return { config: r.config.plugins[0]!.config, warnings: r.warnings.map((w) => `${w.path}: ${w.message}`) }
}

function consumer(name: string, oauth2: Array<Record<string, unknown>> = []): ConsumerRecord {
  return {
    id: `${name}-id`, name, username: name, customId: null, groups: [], keyauth: [], basicauth: [], jwt: [],
    oauth2: oauth2.map((c, i) => ({ hash_secret: false, ...c, id: `oauth2:${name}:${i}` })),
  }
}

const SNAPSHOT: Snapshot = snapshotWith({
  consumers: [
    consumer('alice', [{ name: 'alice-app', client_id: 'alice-client', client_secret: 'alice-secret' }]),
    consumer('carol', [{ name: 'carol-app', client_id: 'carol-client', client_secret: hashed('carol-secret'), hash_secret: true }]),
    consumer('dave', [{ name: 'dave-app', client_id: 'dave-client', client_secret: '$argon2id$v=19$m=4096,t=1,p=1$c2FsdA$aGFzaA', hash_secret: true }]),
    consumer('app1-owner', [{ name: 'as-app', client_id: CLIENTS.app1.id, client_secret: CLIENTS.app1.secret }]),
    consumer('guest'),
  ],
})

/** A client secret hashed as Kong stores it (PBKDF2-SHA512, base64 without padding). */
function hashed(secret: string): string {
  const salt = randomBytes(16)
  const hash = pbkdf2Sync(secret, salt, 10000, 32, 'sha512')
  const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '')
  return `$pbkdf2-sha512$i=10000,l=32$${b64(salt)}$${b64(hash)}`
}

function compile(config: Doc, snapshot = SNAPSHOT): OAuth2Config {
  return compilePlugin(plugin, config, testEnv(), 'oauth2-test', snapshot)
}

const ISSUING = { enable_client_credentials: true, token_signing_secret: SECRET, scopes: ['read', 'write'], accept_http_if_already_terminated: true }

async function run(c: OAuth2Config, ctx: PluginRequest): Promise<typeof CONTINUE | typeof DONE> {
  const r: PhaseResult = plugin.phases.access!(ctx, c)
  return r instanceof Promise ? await r : r
}

function bearer(token: string, over: Partial<PluginRequest> = {}): FakeRequest {
  return fakeRequest({ headers: new Map([['host', 'gw.local'], ['authorization', `Bearer ${token}`]]), ...over })
}

/** A token endpoint request from a trusted proxy that terminated TLS. */
function tokenRequest(form: Record<string, string>, over: Partial<PluginRequest> & { body?: string } = {}, headers: Record<string, string> = {}): FakeRequest {
  return fakeRequest({
    method: 'POST', path: '/api/oauth2/token', peerTrusted: true,
    headers: new Map(Object.entries({ host: 'gw.local', 'x-forwarded-proto': 'https', 'content-type': 'application/x-www-form-urlencoded', ...headers })),
    body: new URLSearchParams(form).toString(),
    ...over,
  })
}

function upstreamHeader(ctx: FakeRequest, name: string): string | null | undefined {
  let v: string | null | undefined
  for (const [n, value] of ctx.upstreamHeaders) if (n.toLowerCase() === name.toLowerCase()) v = value
  return v
}

function replyJson(ctx: FakeRequest): Record<string, unknown> {
  return JSON.parse(ctx.replies[0]!.body) as Record<string, unknown>
}

function replyHeader(ctx: FakeRequest, name: string): string | undefined {
  return ctx.replies[0]!.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1]
}

async function issue(c: OAuth2Config, form: Record<string, string>, over: Partial<PluginRequest> = {}): Promise<string> {
  const ctx = tokenRequest({ grant_type: 'client_credentials', client_id: 'alice-client', client_secret: 'alice-secret', ...form }, over)
  expect(await run(c, ctx)).toBe(DONE)
  const body = replyJson(ctx)
  if (ctx.replies[0]!.status !== 200) throw new Error(JSON.stringify(body))
  return body.access_token as string
}

const INVALID_TOKEN_BODY = { error: 'invalid_token', error_description: 'The access token is invalid or has expired' }
const INVALID_TOKEN_CHALLENGE = 'Bearer realm="service" error="invalid_token" error_description="The access token is invalid or has expired"'

describe('oauth2 schema', () => {
  it("fills Kong's defaults", () => {
    const { config } = validated({ enable_client_credentials: true, provision_key: 'pk' })
    expect(config).toMatchObject({
      mandatory_scope: false, token_expiration: 7200, enable_authorization_code: false, enable_implicit_grant: false,
      enable_password_grant: false, hide_credentials: false, accept_http_if_already_terminated: false, global_credentials: false,
      auth_header_name: 'authorization', refresh_token_ttl: 1209600, reuse_refresh_token: false, pkce: 'lax', timeout: 5000,
      scopes: null, anonymous: null, introspection_endpoint: null, jwks_uri: null, audience: null,
    })
  })

  it('needs a way to validate or issue tokens', () => {
    expect(problems({})).toEqual(["plugins[0].config: at least one of these must be set: 'enable_client_credentials' (true), 'introspection_endpoint', 'jwks_uri'"])
    expect(problems({ jwks_uri: 'https://as.example/jwks' })).toEqual([])
  })

  it('refuses the flows that need a token store, naming what to use instead', () => {
    const p = problems({ jwks_uri: 'https://as.example/jwks', enable_authorization_code: true, enable_implicit_grant: true, enable_password_grant: true })
    expect(p).toHaveLength(3)
    expect(p[0]).toMatch(/^plugins\[0\]\.config\.enable_authorization_code: the authorization code flow needs a token store/)
    expect(p[0]).toContain('introspection_endpoint or jwks_uri')
    expect(p[1]).toMatch(/^plugins\[0\]\.config\.enable_implicit_grant: /)
    expect(p[2]).toMatch(/^plugins\[0\]\.config\.enable_password_grant: /)
  })

  it('requires scopes with mandatory_scope (Kong) and the client credentials with introspection_endpoint', () => {
    expect(problems({ jwks_uri: 'https://as.example/jwks', mandatory_scope: true })).toEqual([
      "plugins[0].config.scopes: required field missing (because 'mandatory_scope' is 'true')",
    ])
    expect(problems({ introspection_endpoint: 'https://as.example/introspect' })).toEqual([
      "plugins[0].config.introspection_client_id: required field missing (because 'introspection_endpoint' is set)",
      "plugins[0].config.introspection_client_secret: required field missing (because 'introspection_endpoint' is set)",
    ])
  })

  it('requires a signing key for enable_client_credentials: token_signing_secret (32+ characters) or provision_key', () => {
    expect(problems({ enable_client_credentials: true })).toEqual([
      "plugins[0].config.token_signing_secret: required field missing (because 'enable_client_credentials' is 'true' and no 'provision_key' is set): issued tokens are signed with it",
    ])
    expect(problems({ enable_client_credentials: true, token_signing_secret: 'short' })).toEqual(['plugins[0].config.token_signing_secret: length must be at least 32'])
    expect(problems({ enable_client_credentials: true, token_signing_secret: SECRET })).toEqual([])
  })

  it('checks URLs, header names and types', () => {
    expect(problems({ jwks_uri: 'ftp://as.example/jwks' })).toEqual(['plugins[0].config.jwks_uri: must be an absolute http or https URL'])
    expect(problems({ jwks_uri: 'not a url' })).toEqual(['plugins[0].config.jwks_uri: must be an absolute http or https URL'])
    expect(problems({ jwks_uri: 'https://a/j', auth_header_name: 'bad header' })).toEqual([
      "plugins[0].config.auth_header_name: bad header name 'bad header', allowed characters are A-Z, a-z, 0-9, '_', and '-'",
    ])
    expect(problems({ jwks_uri: 'https://a/j', audience: 'api' })).toEqual(['plugins[0].config.audience: expected an array'])
    expect(problems({ jwks_uri: 'https://a/j', pkce: 'always' })).toEqual(['plugins[0].config.pkce: expected one of: none, lax, strict'])
    expect(problems({ jwks_uri: 'https://a/j', no_such_field: 1 })).toEqual(['plugins[0].config.no_such_field: unknown field'])
  })

  it('warns that the refresh token settings have no effect', () => {
    const { warnings } = validated({ jwks_uri: 'https://a/j', refresh_token_ttl: 60, reuse_refresh_token: true, pkce: 'strict' })
    expect(warnings).toEqual([
      'plugins[0].config.refresh_token_ttl: accepted for Kong compatibility; no refresh tokens are issued here (client credentials only)',
      'plugins[0].config.reuse_refresh_token: accepted for Kong compatibility; no refresh tokens are issued here (client credentials only)',
      'plugins[0].config.pkce: accepted for Kong compatibility; PKCE belongs to the authorization code flow, which is not supported',
    ])
  })
})

describe('oauth2 token in the request', () => {
  const c = compile({ ...ISSUING })

  it('reads `Bearer` and `Token` from the Authorization header', () => {
    expect(accessTokenOf(bearer('abc'), c)).toBe('abc')
    expect(accessTokenOf(fakeRequest({ headers: new Map([['authorization', 'token  xyz ']]) }), c)).toBe('xyz')
  })

  it('reads the access_token query parameter when there is no header', () => {
    expect(accessTokenOf(fakeRequest({ query: 'a=1&access_token=t%2Bk&b=2' }), c)).toBe('t+k')
    expect(accessTokenOf(fakeRequest({ query: 'xaccess_token=1' }), c)).toBe(0)
  })

  it('answers 401 invalid_request with a Bearer challenge when there is no token', async () => {
    const ctx = fakeRequest()
    expect(await run(c, ctx)).toBe(DONE)
    expect(ctx.replies[0]!.status).toBe(401)
    expect(replyJson(ctx)).toEqual({ error: 'invalid_request', error_description: 'The access token is missing' })
    expect(replyHeader(ctx, 'www-authenticate')).toBe('Bearer realm="service"')
  })

  it('answers 401 invalid_token for a header that is not a bearer token', async () => {
    for (const value of ['Basic YTpi', 'Bearer', 'Bearer a b']) {
      const ctx = fakeRequest({ headers: new Map([['authorization', value]]) })
      expect(await run(c, ctx)).toBe(DONE)
      expect(ctx.replies[0]!.status).toBe(401)
      expect(replyJson(ctx)).toEqual(INVALID_TOKEN_BODY)
      expect(replyHeader(ctx, 'www-authenticate')).toBe(INVALID_TOKEN_CHALLENGE)
    }
  })

  it('uses the configured realm and auth_header_name', async () => {
    const custom = compile({ ...ISSUING, realm: 'my "api"', auth_header_name: 'X-Token' })
    const ctx = fakeRequest({ headers: new Map([['authorization', 'Bearer ignored']]) })
    await run(custom, ctx)
    expect(replyHeader(ctx, 'www-authenticate')).toBe('Bearer realm="my \\"api\\""')
    const token = await issue(custom, {})
    const ok = fakeRequest({ headers: new Map([['x-token', `Bearer ${token}`]]) })
    expect(await run(custom, ok)).toBe(CONTINUE)
  })

  it('removes the token from the upstream request with hide_credentials', async () => {
    const c2 = compile({ ...ISSUING, hide_credentials: true })
    const token = await issue(c2, {})
    const viaHeader = bearer(token)
    expect(await run(c2, viaHeader)).toBe(CONTINUE)
    expect(viaHeader.headers.has('authorization')).toBe(false)
    const viaQuery = fakeRequest({ query: `a=1&access_token=${token}&b=2` })
    expect(await run(c2, viaQuery)).toBe(CONTINUE)
    expect(viaQuery.query).toBe('a=1&b=2')
    const kept = bearer(token)
    expect(await run(c, kept)).toBe(CONTINUE)
    expect(kept.headers.get('authorization')).toBe(`Bearer ${token}`)
  })
})

describe('oauth2 token endpoint (enable_client_credentials)', () => {
  const c = compile({ ...ISSUING })

  it('issues a bearer token to a client with its secret in the body, Kong-shaped and not cacheable', async () => {
    const ctx = tokenRequest({ grant_type: 'client_credentials', client_id: 'alice-client', client_secret: 'alice-secret', scope: 'read', state: 'xyz' })
    expect(await run(c, ctx)).toBe(DONE)
    const r = ctx.replies[0]!
    expect(r.status).toBe(200)
    const body = replyJson(ctx)
    expect(body).toMatchObject({ token_type: 'bearer', expires_in: 7200, state: 'xyz' })
    expect(body.refresh_token).toBeUndefined()
    expect(replyHeader(ctx, 'cache-control')).toBe('no-store')
    expect(replyHeader(ctx, 'pragma')).toBe('no-cache')
    const claims = JSON.parse(Buffer.from((body.access_token as string).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>
    expect(claims).toMatchObject({ iss: ISSUER, client_id: 'alice-client', scope: 'read', sid: 's-id' })
    expect((claims.exp as number) - (claims.iat as number)).toBe(7200)
  })

  it('accepts the client credentials as HTTP Basic in the auth header', async () => {
    const basic = 'Basic ' + Buffer.from('alice-client:alice-secret').toString('base64')
    const ctx = tokenRequest({ grant_type: 'client_credentials' }, {}, { authorization: basic })
    await run(c, ctx)
    expect(ctx.replies[0]!.status).toBe(200)
  })

  it('lets the issued token through as the client\'s consumer, with its scope upstream', async () => {
    const token = await issue(c, { scope: 'read write' })
    const ctx = bearer(token)
    expect(await run(c, ctx)).toBe(CONTINUE)
    expect(ctx.consumer).toMatchObject({ id: 'alice-id', username: 'alice' })
    expect(ctx.credentialId).toBe('alice-client')
    expect(upstreamHeader(ctx, 'X-Consumer-Username')).toBe('alice')
    expect(upstreamHeader(ctx, 'X-Credential-Identifier')).toBe('alice-client')
    expect(upstreamHeader(ctx, 'X-Authenticated-Scope')).toBe('read write')
    expect(upstreamHeader(ctx, 'X-Authenticated-Userid')).toBeNull()
  })

  it('verifies tokens in another compile of the same config (another worker, a reload), not under another key', async () => {
    const token = await issue(c, {})
    expect(await run(compile({ ...ISSUING }), bearer(token))).toBe(CONTINUE)
    const other = compile({ ...ISSUING, token_signing_secret: SECRET + '-rotated' })
    const ctx = bearer(token)
    expect(await run(other, ctx)).toBe(DONE)
    expect(ctx.replies[0]!.status).toBe(401)
  })

  it('derives the key from provision_key when no token_signing_secret is set', async () => {
    const a = compile({ enable_client_credentials: true, provision_key: 'pk-1', accept_http_if_already_terminated: true })
    const token = await issue(a, {})
    expect(await run(compile({ enable_client_credentials: true, provision_key: 'pk-1' }), bearer(token))).toBe(CONTINUE)
    expect(await run(compile({ enable_client_credentials: true, provision_key: 'pk-2' }), bearer(token))).toBe(DONE)
    expect(signingKey(null, 'pk-1')).toEqual(signingKey(null, 'pk-1'))
    expect(signingKey(null, null)).toBeNull()
  })

  it('refuses a tampered, expired or foreign-service token', async () => {
    const token = await issue(c, { scope: 'read' })
    const [h, p, s] = token.split('.')
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: 'read write' })).toString('base64url')}.${s}`
    const signer = new TokenSigner(signingKey(SECRET, null)!)
    const expired = signer.issue({ clientId: 'alice-client', scope: '', serviceId: 's-id', authenticatedUserid: null, expiresIn: 10 }, Math.floor(Date.now() / 1000) - 60)
    for (const [t, over] of [[forged, {}], [expired, {}], [token, { serviceId: 'other-service' }]] as const) {
      const ctx = bearer(t, over)
      expect(await run(c, ctx)).toBe(DONE)
      expect(ctx.replies[0]!.status).toBe(401)
      expect(replyJson(ctx)).toEqual(INVALID_TOKEN_BODY)
    }
  })

  it('binds tokens to the service unless global_credentials, with Kong\'s message for a global token', async () => {
    const global = compile({ ...ISSUING, global_credentials: true })
    const token = await issue(global, {})
    expect(await run(global, bearer(token, { serviceId: 'any-service' }))).toBe(CONTINUE)
    const ctx = bearer(token)
    expect(await run(c, ctx)).toBe(DONE)
    expect(replyJson(ctx)).toEqual({ error: 'invalid_token', error_description: "The access token is global, but the current plugin is configured without 'global_credentials'" })
  })

  it('issues tokens that never expire with token_expiration 0, and no expires_in', async () => {
    const forever = compile({ ...ISSUING, token_expiration: 0 })
    const ctx = tokenRequest({ grant_type: 'client_credentials', client_id: 'alice-client', client_secret: 'alice-secret' })
    await run(forever, ctx)
    const body = replyJson(ctx)
    expect(body.expires_in).toBeUndefined()
    const claims = JSON.parse(Buffer.from((body.access_token as string).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>
    expect(claims.exp).toBeUndefined()
    expect(await run(forever, bearer(body.access_token as string))).toBe(CONTINUE)
  })

  it('requires HTTPS: 400 access_denied over plain HTTP, unless a trusted proxy says it terminated TLS', async () => {
    const cases: Array<[OAuth2Config, Partial<PluginRequest>, Record<string, string>, string | null]> = [
      [c, { peerTrusted: false }, {}, 'You must use HTTPS'],
      [c, {}, { 'x-forwarded-proto': 'http' }, 'You must use HTTPS'],
      [c, {}, { 'x-forwarded-proto': 'https, http' }, 'Only one X-Forwarded-Proto header allowed'],
      [compile({ ...ISSUING, accept_http_if_already_terminated: false }), {}, {}, 'You must use HTTPS'],
      [c, { scheme: 'https', peerTrusted: false }, { 'x-forwarded-proto': '' }, null],
    ]
    for (const [conf, over, headers, description] of cases) {
      const ctx = tokenRequest({ grant_type: 'client_credentials', client_id: 'alice-client', client_secret: 'alice-secret' }, over, headers)
      await run(conf, ctx)
      if (description === null) expect(ctx.replies[0]!.status).toBe(200)
      else expect([ctx.replies[0]!.status, replyJson(ctx)]).toEqual([400, { error: 'access_denied', error_description: description }])
    }
  })

  it("answers Kong's errors for bad clients, grants, scopes and provision keys", async () => {
    const basic = (id: string, secret: string) => ({ authorization: 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64') })
    const cases: Array<[Record<string, string>, Record<string, string>, number, Record<string, unknown>]> = [
      [{ grant_type: 'client_credentials', client_id: 'alice-client', client_secret: 'wrong' }, {}, 400, { error: 'invalid_client', error_description: 'Invalid client authentication' }],
      [{ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'x' }, {}, 400, { error: 'invalid_client', error_description: 'Invalid client authentication' }],
      [{ grant_type: 'client_credentials' }, basic('alice-client', 'wrong'), 401, { error: 'invalid_client', error_description: 'Invalid client authentication' }],
      [{ client_id: 'alice-client', client_secret: 'alice-secret' }, {}, 400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' }],
      [{ grant_type: 'password', client_id: 'alice-client', client_secret: 'alice-secret' }, {}, 400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' }],
      [{ grant_type: 'authorization_code', code: 'c', client_id: 'alice-client', client_secret: 'alice-secret' }, {}, 400, { error: 'invalid_request', error_description: 'Invalid code' }],
      [{ grant_type: 'refresh_token', refresh_token: 'r', client_id: 'alice-client', client_secret: 'alice-secret' }, {}, 400, { error: 'invalid_request', error_description: 'Invalid refresh_token' }],
      [{ grant_type: 'client_credentials', client_id: 'alice-client', client_secret: 'alice-secret', scope: 'read admin' }, {}, 400, { error: 'invalid_scope', error_description: '"admin" is an invalid scope' }],
      [{ grant_type: 'client_credentials', client_id: 'alice-client', client_secret: 'alice-secret', authenticated_userid: 'u1' }, {}, 400, { error: 'invalid_provision_key', error_description: 'Invalid provision_key' }],
      [{ grant_type: 'client_credentials', client_id: 'dave-client', client_secret: 'anything' }, {}, 400, { error: 'invalid_client', error_description: 'Invalid client authentication' }],
    ]
    for (const [form, headers, status, body] of cases) {
      const ctx = tokenRequest(form, {}, headers)
      expect(await run(c, ctx)).toBe(DONE)
      expect([ctx.replies[0]!.status, replyJson(ctx)]).toEqual([status, body])
      expect(replyHeader(ctx, 'www-authenticate')).toBe(status === 401 ? 'Basic realm="OAuth2.0"' : undefined)
    }
    const disabled = compile({ jwks_uri: 'https://as.example/jwks', accept_http_if_already_terminated: true })
    const ctx = tokenRequest({ grant_type: 'client_credentials', client_id: 'alice-client', client_secret: 'alice-secret' })
    await run(disabled, ctx)
    expect([ctx.replies[0]!.status, replyJson(ctx)]).toEqual([400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' }])
  })

  it('needs a scope with mandatory_scope', async () => {
    const mandatory = compile({ ...ISSUING, mandatory_scope: true })
    const ctx = tokenRequest({ grant_type: 'client_credentials', client_id: 'alice-client', client_secret: 'alice-secret', scope: ' ' })
    await run(mandatory, ctx)
    expect([ctx.replies[0]!.status, replyJson(ctx)]).toEqual([400, { error: 'invalid_scope', error_description: 'You must specify a scope' }])
  })

  it('names the resource owner with authenticated_userid and the provision_key', async () => {
    const c2 = compile({ ...ISSUING, provision_key: 'the-provision-key' })
    const token = await issue(c2, { authenticated_userid: 'user-42', provision_key: 'the-provision-key' })
    const ctx = bearer(token)
    expect(await run(c2, ctx)).toBe(CONTINUE)
    expect(upstreamHeader(ctx, 'X-Authenticated-Userid')).toBe('user-42')
  })

  it('checks PBKDF2-hashed client secrets (hash_secret, as Kong stores them)', async () => {
    const ok = tokenRequest({ grant_type: 'client_credentials', client_id: 'carol-client', client_secret: 'carol-secret' })
    await run(c, ok)
    expect(ok.replies[0]!.status).toBe(200)
    const bad = tokenRequest({ grant_type: 'client_credentials', client_id: 'carol-client', client_secret: 'carol-secreT' })
    await run(c, bad)
    expect(bad.replies[0]!.status).toBe(400)
  })

  it('reads a JSON body and query parameters too', async () => {
    const ctx = tokenRequest({}, { query: 'grant_type=client_credentials', body: JSON.stringify({ client_id: 'alice-client', client_secret: 'alice-secret' }) }, { 'content-type': 'application/json' })
    await run(c, ctx)
    expect(ctx.replies[0]!.status).toBe(200)
  })

  it('answers POST …/oauth2/authorize with Kong\'s errors (the flows behind it are not supported)', async () => {
    const authorize = (form: Record<string, string>, conf = c) => {
      const ctx = tokenRequest(form, { path: '/api/oauth2/authorize/' })
      return run(conf, ctx).then(() => [ctx.replies[0]!.status, replyJson(ctx).error])
    }
    expect(await authorize({ response_type: 'code' })).toEqual([400, 'invalid_provision_key'])
    const withKey = compile({ ...ISSUING, provision_key: 'pk' })
    expect(await authorize({ provision_key: 'pk' }, withKey)).toEqual([400, 'invalid_authenticated_userid'])
    expect(await authorize({ provision_key: 'pk', authenticated_userid: 'u', response_type: 'code' }, withKey)).toEqual([400, 'unsupported_response_type'])
  })

  it('only intercepts POST to a path ending in /oauth2/token', async () => {
    const get = fakeRequest({ method: 'GET', path: '/api/oauth2/token' })
    await run(c, get)
    expect(replyJson(get).error).toBe('invalid_request')
    const inside = tokenRequest({ grant_type: 'client_credentials', client_id: 'alice-client', client_secret: 'alice-secret' }, { path: '/api/oauth2/token/more' })
    await run(c, inside)
    expect(replyJson(inside).error).toBe('invalid_request')
  })
})

describe('oauth2 scopes and anonymous', () => {
  it('answers 403 insufficient_scope when mandatory_scope and the token has none of `scopes`', async () => {
    const c = compile({ ...ISSUING, scopes: ['read', 'write', 'admin'], mandatory_scope: true })
    const reader = compile({ ...ISSUING, scopes: ['admin'], mandatory_scope: true })
    const token = await issue(c, { scope: 'read' })
    expect(await run(c, bearer(token))).toBe(CONTINUE)
    const ctx = bearer(token)
    expect(await run(reader, ctx)).toBe(DONE)
    expect(ctx.replies[0]!.status).toBe(403)
    expect(replyJson(ctx)).toEqual({ error: 'insufficient_scope', error_description: 'The access token does not have the required scope' })
    expect(replyHeader(ctx, 'www-authenticate')).toBe('Bearer realm="service" error="insufficient_scope" error_description="The access token does not have the required scope" scope="admin"')
  })

  it('lets a request without a valid token through as the anonymous consumer', async () => {
    const c = compile({ ...ISSUING, anonymous: 'guest' })
    for (const ctx of [fakeRequest(), bearer('nope')]) {
      expect(await run(c, ctx)).toBe(CONTINUE)
      expect(ctx.consumer).toMatchObject({ username: 'guest' })
      expect(ctx.credentialId).toBeNull()
      expect(upstreamHeader(ctx, 'X-Anonymous-Consumer')).toBe('true')
    }
  })

  it('leaves a request another auth plugin authenticated alone when anonymous is set', async () => {
    const c = compile({ ...ISSUING, anonymous: 'guest' })
    const ctx = fakeRequest({ consumer: { id: 'x', username: 'x', customId: null, groups: [] }, credentialId: 'key-1' })
    expect(await run(c, ctx)).toBe(CONTINUE)
    expect(ctx.upstreamHeaders).toEqual([])
  })

  it('answers 500 when the anonymous consumer does not exist', async () => {
    const ctx = fakeRequest()
    expect(await run(compile({ ...ISSUING, anonymous: 'nobody' }), ctx)).toBe(DONE)
    expect(ctx.replies[0]!.status).toBe(500)
  })
})

describe('oauth2 token cache and parsing', () => {
  it('normalises introspection claims (scope string or scp, aud string or list)', () => {
    expect(tokenInfoOf({ active: true, client_id: 'c', scope: 'a  b', aud: 'x', exp: 10 })).toMatchObject({ clientId: 'c', scopes: ['a', 'b'], scope: 'a b', audience: ['x'], exp: 10, nbf: 0 })
    expect(tokenInfoOf({ azp: 'c', scp: ['a'], aud: ['x', 'y'], sub: 'user' })).toMatchObject({ clientId: 'c', scopes: ['a'], audience: ['x', 'y'], authenticatedUserid: 'user' })
    expect(tokenInfoOf({ client_id: 'c', sub: 'c' })!.authenticatedUserid).toBeNull()
    expect(tokenInfoOf({ exp: 'soon' })).toBeNull()
  })

  it('keeps at most its bound, dropping the oldest first, and forgets stale entries', () => {
    const cache = new TokenCache(2)
    const info = tokenInfoOf({ exp: 2_000 })!
    cache.keepValid('a', info, 0)
    cache.keepValid('b', info, 0)
    cache.keepInvalid('c', 0)
    expect([cache.get('a', 0), cache.get('b', 0), cache.get('c', 0)]).toEqual([undefined, info, INVALID])
    expect(cache.get('b', 2_000_000)).toBeUndefined()
    expect(cache.get('c', NEGATIVE_TTL_MS)).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it('tells JWTs from opaque tokens', () => {
    expect(looksLikeJwt('eyJh.eyJi.sig')).toBe(true)
    expect(looksLikeJwt('eyJh.eyJi.sig.more')).toBe(false)
    expect(looksLikeJwt('opaque-token')).toBe(false)
    expect(looksLikeJwt('eyJh..sig')).toBe(false)
  })
})

describe('oauth2 against a real authorization server (oidc-provider)', () => {
  let as: AuthServer
  let silentServer: Upstream

  beforeAll(async () => {
    as = await startAuthServer()
    silentServer = await startRawUpstream(() => null)
  })
  afterAll(async () => {
    await as?.close()
    await silentServer?.close()
  })

  const introspecting = (over: Doc = {}) => compile({
    introspection_endpoint: as.introspectionEndpoint, introspection_client_id: CLIENTS.gateway.id,
    introspection_client_secret: CLIENTS.gateway.secret, ...over,
  })

  it('introspects an opaque token once, maps its client to the consumer and caches the verdict', async () => {
    const c = introspecting({ audience: ['api-opaque'] })
    const token = await as.token(CLIENTS.app1, { resource: RESOURCES.opaque, scope: 'read write' })
    const before = as.requests('/token/introspection')
    const first = bearer(token)
    expect(await run(c, first)).toBe(CONTINUE)
    expect(first.consumer).toMatchObject({ username: 'app1-owner' })
    expect(upstreamHeader(first, 'X-Authenticated-Scope')).toBe('read write')
    expect(upstreamHeader(first, 'X-Credential-Identifier')).toBe(CLIENTS.app1.id)
    for (let i = 0; i < 5; i++) {
      const r = plugin.phases.access!(bearer(token), c)
      expect(r).toBe(CONTINUE) // cached: answered synchronously
    }
    expect(as.requests('/token/introspection') - before).toBe(1)
  })

  it('makes one call for concurrent requests with the same new token', async () => {
    const c = introspecting()
    const token = await as.token(CLIENTS.app1, { resource: RESOURCES.opaque })
    const before = as.requests('/token/introspection')
    const results = await Promise.all(Array.from({ length: 10 }, () => run(c, bearer(token))))
    expect(results).toEqual(Array(10).fill(CONTINUE))
    expect(as.requests('/token/introspection') - before).toBe(1)
  })

  it('lets a valid token of a client that is no consumer through without X-Consumer-* headers', async () => {
    const c = introspecting()
    const token = await as.token(CLIENTS.app2)
    const ctx = bearer(token)
    ctx.headers.set('x-consumer-username', 'forged')
    expect(await run(c, ctx)).toBe(CONTINUE)
    expect(ctx.consumer).toBeNull()
    expect(ctx.credentialId).toBe(CLIENTS.app2.id)
    expect(ctx.headers.has('x-consumer-username')).toBe(false)
    expect(upstreamHeader(ctx, 'X-Credential-Identifier')).toBe(CLIENTS.app2.id)
  })

  it('answers 401 for an unknown or revoked token and keeps that verdict briefly', async () => {
    const c = introspecting()
    const token = await as.token(CLIENTS.app1, { resource: RESOURCES.opaque })
    await as.revoke(token, CLIENTS.app1)
    for (const t of [token, 'not-a-token-the-server-knows']) {
      const ctx = bearer(t)
      expect(await run(c, ctx)).toBe(DONE)
      expect([ctx.replies[0]!.status, replyJson(ctx)]).toEqual([401, INVALID_TOKEN_BODY])
    }
    const introspector = c.introspector!
    const before = as.requests('/token/introspection')
    expect(introspector.check(token)).toBe(INVALID)
    expect(as.requests('/token/introspection')).toBe(before)
    expect(await introspector.check(token, Date.now() + NEGATIVE_TTL_MS + 1)).toBe(INVALID)
    expect(as.requests('/token/introspection')).toBe(before + 1)
  })

  it('answers 401 when no audience value matches', async () => {
    const c = introspecting({ audience: ['api-opaque', 'api-jwt'] })
    const ctx = bearer(await as.token(CLIENTS.app1, { resource: RESOURCES.other }))
    expect(await run(c, ctx)).toBe(DONE)
    expect(ctx.replies[0]!.status).toBe(401)
    expect(await run(c, bearer(await as.token(CLIENTS.app1, { resource: RESOURCES.opaque })))).toBe(CONTINUE)
  })

  it('answers 403 when mandatory_scope and the introspected token lacks every configured scope', async () => {
    const c = introspecting({ scopes: ['admin'], mandatory_scope: true })
    const reader = bearer(await as.token(CLIENTS.app1, { resource: RESOURCES.opaque, scope: 'read' }))
    expect(await run(c, reader)).toBe(DONE)
    expect(reader.replies[0]!.status).toBe(403)
    expect(await run(c, bearer(await as.token(CLIENTS.app1, { resource: RESOURCES.opaque, scope: 'read admin' })))).toBe(CONTINUE)
  })

  it('answers 503 when the server cannot be asked (refused, wrong credentials, no answer in time), then fails fast', async () => {
    const refused = compile({ introspection_endpoint: `http://127.0.0.1:${await closedPort()}/introspect`, introspection_client_id: 'a', introspection_client_secret: 'b' })
    const ctx = bearer('tok')
    expect(await run(refused, ctx)).toBe(DONE)
    expect([ctx.replies[0]!.status, replyJson(ctx).error, replyHeader(ctx, 'retry-after')]).toEqual([503, 'temporarily_unavailable', '1'])

    const wrongSecret = new Introspector({ endpoint: as.introspectionEndpoint, clientId: CLIENTS.gateway.id, clientSecret: 'wrong', timeoutMs: 2000, log: silent })
    expect(await wrongSecret.check('tok')).toBe(UNAVAILABLE)

    const slow = new Introspector({ endpoint: `http://127.0.0.1:${silentServer.port}/introspect`, clientId: 'a', clientSecret: 'b', timeoutMs: 200, log: silent })
    const started = Date.now()
    expect(await slow.check('tok-1')).toBe(UNAVAILABLE)
    expect(Date.now() - started).toBeLessThan(1500)
    // Within FAIL_FAST_MS of a failure, new tokens are not even tried.
    expect(slow.check('tok-2')).toBe(UNAVAILABLE)
    expect(slow.check('tok-2', Date.now() + FAIL_FAST_MS)).toBeInstanceOf(Promise)
  })

  it('verifies JWT access tokens with the jwks_uri, fetching the keys once and caching verdicts', async () => {
    const c = compile({ jwks_uri: as.jwksUri, audience: ['api-jwt'] })
    const jwksBefore = as.requests('/jwks')
    const token = await as.token(CLIENTS.app1, { resource: RESOURCES.jwt, scope: 'read' })
    const ctx = bearer(token)
    expect(await run(c, ctx)).toBe(CONTINUE)
    expect(ctx.consumer).toMatchObject({ username: 'app1-owner' })
    expect(upstreamHeader(ctx, 'X-Authenticated-Scope')).toBe('read')
    expect(plugin.phases.access!(bearer(token), c)).toBe(CONTINUE)
    expect(await run(c, bearer(await as.token(CLIENTS.app2, { resource: RESOURCES.jwt })))).toBe(CONTINUE)
    expect(as.requests('/jwks') - jwksBefore).toBe(1)

    const [h, p] = token.split('.')
    const tampered = bearer(`${h}.${p}.${Buffer.from('not the signature').toString('base64url')}`)
    expect(await run(c, tampered)).toBe(DONE)
    expect(tampered.replies[0]!.status).toBe(401)
    const opaque = bearer(await as.token(CLIENTS.app1, { resource: RESOURCES.opaque }))
    expect(await run(c, opaque)).toBe(DONE)
    expect(opaque.replies[0]!.status).toBe(401)
  })

  it('sends JWTs to the JWKS and opaque tokens to introspection when both are set', async () => {
    const c = introspecting({ jwks_uri: as.jwksUri })
    const jwt = await as.token(CLIENTS.app1, { resource: RESOURCES.jwt })
    const opaque = await as.token(CLIENTS.app1, { resource: RESOURCES.opaque })
    const before = as.requests('/token/introspection')
    expect(await verdictOf(c, jwt)).toMatchObject({ clientId: CLIENTS.app1.id, audience: ['api-jwt'] } satisfies Partial<TokenInfo>)
    expect(as.requests('/token/introspection')).toBe(before)
    expect(await verdictOf(c, opaque)).toMatchObject({ clientId: CLIENTS.app1.id, audience: ['api-opaque'] })
    expect(as.requests('/token/introspection')).toBe(before + 1)
  })

  it('answers 503 within the timeout when the JWKS cannot be fetched', async () => {
    const jwt = await as.token(CLIENTS.app1, { resource: RESOURCES.jwt })
    const hanging = new JwksVerifier({ uri: `http://127.0.0.1:${silentServer.port}/jwks`, timeoutMs: 200, log: silent })
    const started = Date.now()
    expect(await hanging.check(jwt)).toBe(UNAVAILABLE)
    expect(Date.now() - started).toBeLessThan(1500)
    const refused = new JwksVerifier({ uri: `http://127.0.0.1:${await closedPort()}/jwks`, timeoutMs: 2000, log: silent })
    expect(await refused.check(jwt)).toBe(UNAVAILABLE)
  })
})
