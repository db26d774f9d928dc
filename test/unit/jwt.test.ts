// jwt plugin units: token extraction (query, cookie, Bearer header), decoding and Kong's "Bad token" reasons,
// registered-claim checks, signature verification for every algorithm, the plugin's answers through a
// recording request, config validation, and the JWKS cache (rotation, rate-limited refresh, outages).
import { createHash } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from 'jose'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/logger.js'
import { newReport, validateRecord } from '../../src/config/schema.js'
import type { ConsumerRecord } from '../../src/config/types.js'
import jwtPlugin, { clearVerifiedTokens } from '../../src/plugins/jwt.js'
import { JwksCache, maxAgeOf, type JwksFetch } from '../../src/plugins/jwks-cache.js'
import {
  decodeBase64Secret, hmacVerifier, JWT_ALGORITHMS, publicKeyFromPem, publicVerifier, verifySignature, type JwtAlgorithm,
} from '../../src/plugins/jwt-keys.js'
import {
  checkMaximumExpiration, claimErrorsMessage, cookieValue, decodeToken, MULTIPLE_TOKENS, retrieveToken, verifyClaims,
  type TokenSources,
} from '../../src/plugins/jwt-token.js'
import { CONTINUE, DONE } from '../../src/plugins/types.js'
import { compilePlugin, fakeRequest, snapshotWith, testEnv } from '../helpers/plugins.js'

const DEFAULT_SOURCES: TokenSources = { uriParamNames: ['jwt'], cookieNames: [], headerNames: ['authorization'] }
const headers = (entries: Record<string, string>): Map<string, string> => new Map(Object.entries(entries))
const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
const now = (): number => Math.floor(Date.now() / 1000)
const silent = createLogger('silent')

async function hs256(claims: JWTPayload, secret: string | Uint8Array, header: Record<string, unknown> = {}): Promise<string> {
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...header }).sign(key)
}

describe('retrieveToken', () => {
  it('takes the Bearer value of the Authorization header', () => {
    expect(retrieveToken('', headers({ authorization: 'Bearer a.b.c' }), DEFAULT_SOURCES)).toBe('a.b.c')
    expect(retrieveToken('', headers({ authorization: 'bearer a.b.c' }), DEFAULT_SOURCES)).toBe('a.b.c')
    expect(retrieveToken('', headers({ authorization: 'Bearer \t a.b.c' }), DEFAULT_SOURCES)).toBe('a.b.c')
  })

  it('finds Bearer anywhere in the header, as Kong’s unanchored match does', () => {
    expect(retrieveToken('', headers({ authorization: 'Token, Bearer x.y.z' }), DEFAULT_SOURCES)).toBe('x.y.z')
  })

  it('ignores a header without a Bearer value', () => {
    expect(retrieveToken('', headers({ authorization: 'Basic dXNlcjpwYXNz' }), DEFAULT_SOURCES)).toBeNull()
    expect(retrieveToken('', headers({ authorization: 'Bearer' }), DEFAULT_SOURCES)).toBeNull()
    expect(retrieveToken('', headers({}), DEFAULT_SOURCES)).toBeNull()
  })

  it('reads the configured header names only', () => {
    const src = { ...DEFAULT_SOURCES, headerNames: ['x-token'] }
    expect(retrieveToken('', headers({ authorization: 'Bearer a.b.c' }), src)).toBeNull()
    expect(retrieveToken('', headers({ 'x-token': 'Bearer d.e.f' }), src)).toBe('d.e.f')
  })

  it('reads uri_param_names from the query string, URL-decoded', () => {
    expect(retrieveToken('x=1&jwt=a.b.c&y=2', headers({}), DEFAULT_SOURCES)).toBe('a.b.c')
    expect(retrieveToken('jw%74=a%2Eb.c', headers({}), DEFAULT_SOURCES)).toBe('a.b.c')
    expect(retrieveToken('token=a.b.c', headers({}), { ...DEFAULT_SOURCES, uriParamNames: ['token'] })).toBe('a.b.c')
  })

  it('skips empty and valueless query parameters', () => {
    expect(retrieveToken('jwt=&jwt', headers({}), DEFAULT_SOURCES)).toBeNull()
    expect(retrieveToken('jwt&jwt=a.b.c', headers({}), DEFAULT_SOURCES)).toBe('a.b.c')
  })

  it('reads cookie_names from the Cookie header', () => {
    const src = { ...DEFAULT_SOURCES, cookieNames: ['session'] }
    expect(retrieveToken('', headers({ cookie: 'a=1; session=a.b.c; z=2' }), src)).toBe('a.b.c')
    expect(retrieveToken('', headers({ cookie: 'xsession=1' }), src)).toBeNull()
    expect(retrieveToken('', headers({ cookie: 'session=a.b.c' }), DEFAULT_SOURCES)).toBeNull()
  })

  it('reports two different tokens as multiple, the same one twice as one', () => {
    const src = { ...DEFAULT_SOURCES, cookieNames: ['session'] }
    expect(retrieveToken('jwt=a.b.c', headers({ authorization: 'Bearer d.e.f' }), src)).toBe(MULTIPLE_TOKENS)
    expect(retrieveToken('jwt=a.b.c&jwt=d.e.f', headers({}), src)).toBe(MULTIPLE_TOKENS)
    expect(retrieveToken('', headers({ cookie: 'session=a.b.c', authorization: 'Bearer x.y.z' }), src)).toBe(MULTIPLE_TOKENS)
    expect(retrieveToken('jwt=a.b.c', headers({ authorization: 'Bearer a.b.c', cookie: 'session=a.b.c' }), src)).toBe('a.b.c')
  })
})

describe('cookieValue', () => {
  it('returns the first cookie of that name, trimmed', () => {
    expect(cookieValue('a=1;  b=2 ; b=3', 'b')).toBe('2')
    expect(cookieValue('a=1', 'b')).toBeNull()
    expect(cookieValue('ab=1', 'b')).toBeNull()
    expect(cookieValue('b=', 'b')).toBe('')
  })
})

describe('decodeToken', () => {
  const header = b64({ alg: 'HS256', typ: 'JWT' })
  const claims = b64({ iss: 'k', n: 1 })

  it('splits a compact JWS into header, claims, signing input and signature', () => {
    const d = decodeToken(`${header}.${claims}.${b64('sig')}`)
    if (typeof d === 'string') throw new Error(d)
    expect(d.alg).toBe('HS256')
    expect(d.claims).toEqual({ iss: 'k', n: 1 })
    expect(d.signingInput).toBe(`${header}.${claims}`)
    expect(d.signature.toString()).toBe('sig')
    // A second token with the same header segment (the decoded header is reused) still gets its own claims.
    const again = decodeToken(`${header}.${b64({ iss: 'other' })}.${b64('sig')}`)
    if (typeof again === 'string') throw new Error(again)
    expect(again.header).toEqual({ alg: 'HS256', typ: 'JWT' })
    expect(again.claims).toEqual({ iss: 'other' })
  })

  it('answers Kong’s reasons for malformed tokens', () => {
    expect(decodeToken('abc')).toBe('invalid JSON')
    expect(decodeToken(`.${claims}.x`)).toBe('invalid JSON')
    expect(decodeToken(`${header}.${claims}`)).toBe('invalid JSON')
    expect(decodeToken(`${header}.!!!.x`)).toBe('invalid JSON')
    expect(decodeToken(`${b64('not json')}.${claims}.x`)).toBe('invalid JSON')
    expect(decodeToken(`${b64([1])}.${claims}.x`)).toBe('invalid JSON')
    expect(decodeToken(`${b64({ typ: 'JWT' })}.${claims}.x`)).toBe('invalid alg')
    expect(decodeToken(`${b64({ alg: 'none' })}.${claims}.`)).toBe('invalid alg')
    expect(decodeToken(`${b64({ alg: 'HS1' })}.${claims}.x`)).toBe('invalid alg')
    expect(decodeToken(`${header}.${b64(42)}.x`)).toBe('invalid claims')
    expect(decodeToken(`${header}.${claims}.a.b`)).toBe('invalid signature')
    expect(decodeToken(`${header}.${claims}.a+b`)).toBe('invalid signature')
  })
})

describe('claims', () => {
  const t = 1_700_000_000

  it('exp must be after now, nbf not after now', () => {
    expect(verifyClaims({ exp: t + 1, nbf: t }, ['exp', 'nbf'], t)).toBeNull()
    expect(verifyClaims({ exp: t }, ['exp'], t)).toEqual({ exp: 'token expired' })
    expect(verifyClaims({ nbf: t + 1 }, ['nbf'], t)).toEqual({ nbf: 'token not valid yet' })
    expect(verifyClaims({ exp: t - 1, nbf: t + 1 }, ['exp', 'nbf'], t)).toEqual({ exp: 'token expired', nbf: 'token not valid yet' })
  })

  it('a claim to verify must be a number, also when missing', () => {
    expect(verifyClaims({}, ['exp'], t)).toEqual({ exp: 'must be a number' })
    expect(verifyClaims({ exp: String(t + 100) }, ['exp'], t)).toEqual({ exp: 'must be a number' })
    expect(verifyClaims({ exp: 'x' }, [], t)).toBeNull()
  })

  it('maximum_expiration bounds exp - now', () => {
    expect(checkMaximumExpiration({ exp: t + 60 }, 60, t)).toBeNull()
    expect(checkMaximumExpiration({ exp: t + 61 }, 60, t)).toEqual({ exp: 'exceeds maximum allowed expiration' })
    expect(checkMaximumExpiration({}, 60, t)).toEqual({ exp: 'exceeds maximum allowed expiration' })
    expect(checkMaximumExpiration({}, 0, t)).toBeNull()
  })

  it('summarises claim errors in one message', () => {
    expect(claimErrorsMessage({ exp: 'token expired' })).toBe('token expired')
    expect(claimErrorsMessage({ exp: 'must be a number', nbf: 'token not valid yet' })).toBe("'exp' must be a number, token not valid yet")
  })
})

/** A key pair per asymmetric algorithm, generated once. */
const pairs = new Map<JwtAlgorithm, { privateKey: KeyObject; publicKey: KeyObject; pem: string }>()

beforeAll(async () => {
  for (const alg of JWT_ALGORITHMS) {
    if (alg.startsWith('HS')) continue
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
    pairs.set(alg, { privateKey: privateKey as KeyObject, publicKey: publicKey as KeyObject, pem: await exportSPKI(publicKey) })
  }
})

describe('signatures', () => {
  for (const alg of JWT_ALGORITHMS) {
    it(`verifies ${alg} and rejects a tampered payload`, async () => {
      const secret = 'a-shared-secret-of-enough-length-for-hs512-0123456789abcdef0123456789'
      const key = alg.startsWith('HS') ? new TextEncoder().encode(secret) : pairs.get(alg)!.privateKey
      const token = await new SignJWT({ iss: 'k', sub: 'u' }).setProtectedHeader({ alg }).sign(key)
      const d = decodeToken(token)
      if (typeof d === 'string') throw new Error(d)
      const v = alg.startsWith('HS') ? hmacVerifier(alg, Buffer.from(secret)) : publicVerifier(alg, publicKeyFromPem(pairs.get(alg)!.pem)!)
      if (typeof v === 'string') throw new Error(v)
      expect(verifySignature(v, d.signingInput, d.signature)).toBe(true)
      const [h, , s] = token.split('.')
      const tampered = decodeToken(`${h}.${b64({ iss: 'k', sub: 'admin' })}.${s}`)
      if (typeof tampered === 'string') throw new Error(tampered)
      expect(verifySignature(v, tampered.signingInput, tampered.signature)).toBe(false)
      expect(verifySignature(v, d.signingInput, Buffer.alloc(3))).toBe(false)
    })
  }

  it('a public key only verifies the algorithms of its type and curve', () => {
    const rsa = pairs.get('RS256')!.publicKey
    const p256 = pairs.get('ES256')!.publicKey
    const ed = pairs.get('EdDSA')!.publicKey
    expect(typeof publicVerifier('RS256', rsa)).toBe('object')
    expect(typeof publicVerifier('PS512', rsa)).toBe('object')
    expect(publicVerifier('ES256', rsa)).toMatch(/needs an EC key/)
    expect(publicVerifier('ES384', p256)).toMatch(/needs curve/)
    expect(publicVerifier('RS256', ed)).toMatch(/needs an RSA key/)
    expect(publicVerifier('HS256', rsa)).toMatch(/needs a secret/)
    expect(publicVerifier('EdDSA', p256)).toMatch(/Ed25519/)
  })

  it('reads PEM public keys and refuses what is not one', () => {
    expect(publicKeyFromPem(pairs.get('RS256')!.pem)?.asymmetricKeyType).toBe('rsa')
    expect(publicKeyFromPem('not a key')).toBeNull()
  })

  it('decodes base64 secrets in both alphabets, with or without padding, and refuses others', () => {
    expect(decodeBase64Secret('c2VjcmV0')?.toString()).toBe('secret')
    expect(decodeBase64Secret('+/8=')).toEqual(Buffer.from([0xfb, 0xff]))
    expect(decodeBase64Secret('-_8')).toEqual(Buffer.from([0xfb, 0xff]))
    expect(decodeBase64Secret('not base64!')).toBeNull()
    expect(decodeBase64Secret('abcde')).toBeNull()
  })
})

// ---------------------------------------------------------------------------------------------
// The plugin through a recording request

function consumer(username: string, jwt: Array<Record<string, unknown>>): ConsumerRecord {
  return {
    id: `${username}-id`, name: username, username, customId: null, groups: [], keyauth: [], basicauth: [], oauth2: [],
    jwt: jwt.map((c, i) => ({ id: `${username}-jwt-${i}`, algorithm: 'HS256', secret: null, rsa_public_key: null, ...c })),
  }
}

const SECRET = 'alice-secret'
const snapshot = (): ReturnType<typeof snapshotWith> => snapshotWith({
  consumers: [
    consumer('alice', [{ key: 'alice-key', secret: SECRET }]),
    consumer('bob', [{ key: 'bob-rsa', algorithm: 'RS256', rsa_public_key: pairs.get('RS256')!.pem }]),
    consumer('carol', [{ key: 'carol-b64', secret: Buffer.from('raw secret bytes').toString('base64') }]),
    consumer('dave', [{ key: 'dave-broken', algorithm: 'ES256', rsa_public_key: 'garbage' }]),
    consumer('anon', []),
  ],
})

function compileJwt(config: Record<string, unknown> = {}, snap = snapshot()) {
  return compilePlugin(jwtPlugin, config, testEnv(), 'jwt-test', snap)
}

function run(config: ReturnType<typeof compileJwt>, over: Parameters<typeof fakeRequest>[0]) {
  const ctx = fakeRequest(over)
  const result = jwtPlugin.phases.access!(ctx, config)
  return { ctx, result }
}

const bearer = (token: string) => ({ headers: new Map([['host', 'gw'], ['authorization', `Bearer ${token}`]]) })

describe('jwt plugin', () => {
  afterEach(() => clearVerifiedTokens())

  it('authenticates the consumer of the credential named by iss and sets Kong’s upstream headers', async () => {
    const { ctx, result } = run(compileJwt(), bearer(await hs256({ iss: 'alice-key' }, SECRET)))
    expect(result).toBe(CONTINUE)
    expect(ctx.consumer?.username).toBe('alice')
    expect(ctx.credentialId).toBe('alice-jwt-0')
    expect(ctx.headers.get('x-consumer-username')).toBe('alice')
    expect(ctx.headers.get('x-consumer-id')).toBe('alice-id')
    expect(ctx.headers.get('x-credential-identifier')).toBe('alice-key')
    expect(ctx.headers.has('x-anonymous-consumer')).toBe(false)
  })

  it('answers 401 Unauthorized with WWW-Authenticate when no token is sent', () => {
    const { ctx, result } = run(compileJwt({ realm: 'api' }), {})
    expect(result).toBe(DONE)
    expect(ctx.replies[0]!.status).toBe(401)
    expect(JSON.parse(ctx.replies[0]!.body)).toEqual({ message: 'Unauthorized', request_id: 'rid' })
    expect(ctx.replies[0]!.headers).toContainEqual(['WWW-Authenticate', 'Bearer realm="api"'])
  })

  const reasons: Array<[string, () => Promise<string>, string]> = [
    ['alg none', async () => `${b64({ alg: 'none' })}.${b64({ iss: 'alice-key' })}.`, 'Bad token; invalid alg'],
    ['no iss', async () => hs256({ sub: 'x' }, SECRET), "No mandatory 'iss' in claims"],
    ['empty iss', async () => hs256({ iss: '' }, SECRET), "Invalid 'iss' in claims"],
    ['unknown iss', async () => hs256({ iss: 'nobody' }, SECRET), "No credentials found for given 'iss'"],
    ['wrong secret', async () => hs256({ iss: 'alice-key' }, 'other'), 'Invalid signature'],
    ['HS256 against an RS256 credential, signed with its public key PEM', async () => hs256({ iss: 'bob-rsa' }, pairs.get('RS256')!.pem), 'Invalid algorithm'],
    ['an unusable credential key', async () => new SignJWT({ iss: 'dave-broken' }).setProtectedHeader({ alg: 'ES256' }).sign(pairs.get('ES256')!.privateKey), 'Invalid key/secret'],
  ]
  for (const [name, make, message] of reasons) {
    it(`rejects ${name}: ${message}`, async () => {
      const { ctx, result } = run(compileJwt(), bearer(await make()))
      expect(result).toBe(DONE)
      expect(ctx.replies[0]!.status).toBe(401)
      expect(JSON.parse(ctx.replies[0]!.body).message).toBe(message)
      expect(ctx.replies[0]!.headers).toContainEqual(['WWW-Authenticate', 'Bearer error="invalid_token"'])
      expect(ctx.consumer).toBeNull()
    })
  }

  it('answers claim failures with Kong’s claim map, plus message and request_id', async () => {
    const c = compileJwt({ claims_to_verify: ['exp', 'nbf'] })
    const { ctx } = run(c, bearer(await hs256({ iss: 'alice-key', exp: now() - 10, nbf: now() + 100 }, SECRET)))
    expect(JSON.parse(ctx.replies[0]!.body)).toEqual({
      exp: 'token expired', nbf: 'token not valid yet', message: 'token expired, token not valid yet', request_id: 'rid',
    })
  })

  it('reads key_claim_name from the header when the claims lack it', async () => {
    const { ctx, result } = run(compileJwt({ key_claim_name: 'kid' }), bearer(await hs256({ sub: 'x' }, SECRET, { kid: 'alice-key' })))
    expect(result).toBe(CONTINUE)
    expect(ctx.consumer?.username).toBe('alice')
  })

  it('decodes secrets with secret_is_base64', async () => {
    const token = await hs256({ iss: 'carol-b64' }, new TextEncoder().encode('raw secret bytes'))
    expect(run(compileJwt({ secret_is_base64: true }), bearer(token)).result).toBe(CONTINUE)
    expect(JSON.parse(run(compileJwt(), bearer(token)).ctx.replies[0]!.body).message).toBe('Invalid signature')
  })

  it('falls back to the anonymous consumer instead of answering', async () => {
    const { ctx, result } = run(compileJwt({ anonymous: 'anon' }), bearer(await hs256({ iss: 'alice-key' }, 'wrong')))
    expect(result).toBe(CONTINUE)
    expect(ctx.consumer?.username).toBe('anon')
    expect(ctx.credentialId).toBeNull()
    expect(ctx.headers.get('x-anonymous-consumer')).toBe('true')
  })

  it('leaves a request another auth plugin authenticated alone when anonymous is set', () => {
    const ctx = fakeRequest({ consumer: { id: 'x', username: 'x', customId: null, groups: [] }, credentialId: 'cred' })
    expect(jwtPlugin.phases.access!(ctx, compileJwt({ anonymous: 'anon' }))).toBe(CONTINUE)
    expect(ctx.consumer?.username).toBe('x')
  })

  it('lets OPTIONS through without a token when run_on_preflight is off', () => {
    expect(run(compileJwt({ run_on_preflight: false }), { method: 'OPTIONS' }).result).toBe(CONTINUE)
    expect(run(compileJwt(), { method: 'OPTIONS' }).result).toBe(DONE)
  })

  it('never trusts a verification remembered from another Snapshot', async () => {
    const token = await hs256({ iss: 'alice-key' }, SECRET)
    expect(run(compileJwt(), bearer(token)).result).toBe(CONTINUE)
    const rotated = snapshotWith({ consumers: [consumer('alice', [{ key: 'alice-key', secret: 'rotated' }])] })
    const { ctx } = run(compileJwt({}, rotated), bearer(token))
    expect(JSON.parse(ctx.replies[0]!.body).message).toBe('Invalid signature')
    // Reloaded with the same secret: verified again (the remembered entry holds no signature) and accepted.
    expect(run(compileJwt(), bearer(token)).result).toBe(CONTINUE)
    expect(run(compileJwt(), bearer(token)).result).toBe(CONTINUE)
  })
})

describe('jwt config', () => {
  const validate = (config: Record<string, unknown>) => {
    const report = newReport()
    const out = validateRecord(jwtPlugin.schema, config, 'config', report)
    return { out, errors: report.errors.map((e) => `${e.path}: ${e.message}`) }
  }

  it('fills Kong’s defaults', () => {
    expect(validate({}).out).toMatchObject({
      uri_param_names: ['jwt'], cookie_names: [], header_names: ['authorization'], key_claim_name: 'iss',
      secret_is_base64: false, claims_to_verify: null, anonymous: null, run_on_preflight: true, maximum_expiration: 0,
      jwks_uri: null, jwks_refresh_interval: 300, consumer_claim: null,
    })
  })

  it('requires exp among claims_to_verify for maximum_expiration', () => {
    expect(validate({ maximum_expiration: 60 }).errors).toEqual(['config.claims_to_verify: expected to contain: exp'])
    expect(validate({ maximum_expiration: 60, claims_to_verify: ['exp'] }).errors).toEqual([])
  })

  it('refuses unknown claims, bad URLs and consumer_claim without jwks_uri', () => {
    expect(validate({ claims_to_verify: ['iat'] }).errors).toEqual(['config.claims_to_verify[0]: expected one of: exp, nbf'])
    expect(validate({ jwks_uri: 'ftp://idp/keys' }).errors).toEqual(['config.jwks_uri: must be an absolute http or https URL'])
    expect(validate({ consumer_claim: 'sub' }).errors).toEqual([
      "config.consumer_claim: requires 'jwks_uri' (with jwt_secrets the consumer is the credential's)",
    ])
    expect(validate({ maximum_expiration: 31_536_001, claims_to_verify: ['exp'] }).errors).toEqual(['config.maximum_expiration: must be between 0 and 31536000'])
  })
})

// ---------------------------------------------------------------------------------------------
// JWKS cache

describe('JwksCache', () => {
  let clock = 1_000_000
  const tick = (ms: number): void => {
    clock += ms
  }

  /** A JWKS "server": the keys it publishes now, how it answers, and how often it was asked. */
  function provider() {
    const state = { jwks: { keys: [] as unknown[] }, status: 200, maxAge: null as number | null, down: false, hang: false, calls: 0 }
    const fetch: JwksFetch = (_uri, signal) => {
      state.calls++
      if (state.down) return Promise.reject(new Error('connect ECONNREFUSED'))
      if (state.hang) return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
      return Promise.resolve({ status: state.status, maxAge: state.maxAge, body: JSON.stringify(state.jwks) })
    }
    return { state, fetch }
  }

  const jwk = async (alg: JwtAlgorithm, kid: string | undefined, extra: Record<string, unknown> = {}) =>
    ({ ...(await exportJWK(pairs.get(alg)!.publicKey)), ...(kid === undefined ? {} : { kid }), ...extra })

  const cacheOf = (fetch: JwksFetch, o: { timeoutMs?: number } = {}) =>
    new JwksCache('http://idp/jwks', { refreshIntervalS: 300, log: silent, fetch, now: () => clock, ...o })

  it('loads keys by kid with the algorithms each may verify', async () => {
    const p = provider()
    p.state.jwks.keys = [await jwk('RS256', 'r1'), await jwk('ES384', 'e1', { alg: 'ES384' }), await jwk('EdDSA', 'd1')]
    const cache = cacheOf(p.fetch)
    await cache.refresh()
    expect([...cache.lookup('r1')!.verifiers.keys()]).toEqual(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'])
    expect([...cache.lookup('e1')!.verifiers.keys()]).toEqual(['ES384'])
    expect([...cache.lookup('d1')!.verifiers.keys()]).toEqual(['EdDSA'])
    expect(cache.lookup('nope')).toBeUndefined()
  })

  it('skips symmetric, encryption-only and mismatched keys', async () => {
    const p = provider()
    p.state.jwks.keys = [
      { kty: 'oct', k: 'c2VjcmV0', kid: 'o1' },
      await jwk('RS256', 'enc', { use: 'enc' }),
      await jwk('RS256', 'wrong-alg', { alg: 'ES256' }),
      await jwk('RS256', 'hs', { alg: 'HS256' }),
      { kty: 'RSA', kid: 'broken', n: 'AQAB' },
      await jwk('ES256', 'ok'),
    ]
    const cache = cacheOf(p.fetch)
    await cache.refresh()
    expect(cache.size).toBe(1)
    expect(cache.lookup('ok')).toBeDefined()
  })

  it('uses the only key for a token without kid', async () => {
    const p = provider()
    p.state.jwks.keys = [await jwk('RS256', undefined)]
    const cache = cacheOf(p.fetch)
    await cache.refresh()
    expect(cache.lookup(null)).toBeDefined()
  })

  it('refreshes for an unknown kid at once, then at most once per 10 s', async () => {
    const p = provider()
    p.state.jwks.keys = [await jwk('RS256', 'k1')]
    const cache = cacheOf(p.fetch)
    await cache.refresh()
    p.state.jwks.keys = [await jwk('RS256', 'k1'), await jwk('ES256', 'k2')]
    const first = cache.refreshForUnknownKid()
    expect(first).not.toBeNull()
    await first
    expect(cache.lookup('k2')).toBeDefined()
    expect(cache.refreshForUnknownKid()).toBeNull()
    tick(9_999)
    expect(cache.refreshForUnknownKid()).toBeNull()
    tick(1)
    expect(cache.refreshForUnknownKid()).not.toBeNull()
    expect(p.state.calls).toBe(3)
  })

  it('keeps its keys when the provider is down and retries no sooner than 10 s', async () => {
    const p = provider()
    p.state.jwks.keys = [await jwk('RS256', 'k1')]
    const cache = cacheOf(p.fetch)
    await cache.refresh()
    p.state.down = true
    tick(301_000)
    cache.lookup('k1')
    await Promise.resolve()
    expect(p.state.calls).toBe(2)
    await cache.refresh()
    expect(cache.failures).toBeGreaterThan(0)
    expect(cache.lookup('k1')).toBeDefined()
    const calls = p.state.calls
    tick(5_000)
    cache.lookup('k1')
    expect(p.state.calls).toBe(calls)
  })

  it('gives up on a fetch that hangs after the timeout, keeping the old keys', async () => {
    const p = provider()
    p.state.jwks.keys = [await jwk('RS256', 'k1')]
    const cache = cacheOf(p.fetch, { timeoutMs: 50 })
    await cache.refresh()
    p.state.hang = true
    const started = Date.now()
    await cache.refresh()
    expect(Date.now() - started).toBeLessThan(1000)
    expect(cache.failures).toBe(1)
    expect(cache.lookup('k1')).toBeDefined()
  })

  it('treats non-200 and malformed sets as failures', async () => {
    const p = provider()
    p.state.status = 500
    const cache = cacheOf(p.fetch)
    await cache.refresh()
    p.state.status = 200
    ;(p.state as { jwks: unknown }).jwks = { nokeys: true }
    tick(10_000)
    await cache.refresh()
    expect(cache.failures).toBe(2)
    expect(cache.size).toBe(0)
  })

  it('refreshes in the background once keys are older than the interval or max-age', async () => {
    const p = provider()
    p.state.jwks.keys = [await jwk('RS256', 'k1')]
    p.state.maxAge = 60
    const cache = cacheOf(p.fetch)
    await cache.refresh()
    tick(59_000)
    cache.lookup('k1')
    expect(p.state.calls).toBe(1)
    tick(1_000)
    expect(cache.lookup('k1')).toBeDefined()
    expect(p.state.calls).toBe(2)
  })

  it('reads Cache-Control max-age', () => {
    expect(maxAgeOf('public, max-age=600')).toBe(600)
    expect(maxAgeOf('no-store')).toBe(0)
    expect(maxAgeOf('private')).toBeNull()
    expect(maxAgeOf(null)).toBeNull()
  })
})

describe('jwt plugin with jwks_uri', () => {
  afterEach(() => clearVerifiedTokens())

  it('rejects HMAC tokens outright, whatever the set holds', async () => {
    // No fetch happens: HS* is refused before any key lookup.
    const c = compileJwt({ jwks_uri: 'http://127.0.0.1:9/jwks' })
    const token = await hs256({ sub: 'x' }, createHash('sha256').update('k').digest(), { kid: 'k1' })
    const { ctx } = run(c, bearer(token))
    expect(JSON.parse(ctx.replies[0]!.body).message).toBe('Invalid algorithm')
  })
})
