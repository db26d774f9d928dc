// Kong's oauth2 plugin as a resource server: bearer tokens are checked by RFC 7662 introspection, by the
// authorization server's JWKS (JWT access tokens), or as tokens this plugin issued itself at
// <route>/oauth2/token (client credentials). Verdicts are cached per worker, so a known token costs no I/O.
//
// Where Kong has nothing to copy (it keeps tokens in its database), this plugin decides:
// - Token sources: the auth header or the `access_token` query parameter, not a form body (it streams
//   upstream unread). A JWT signed with our key → our check; another JWT with jwks_uri set → the JWKS;
//   anything else → introspection; with no validator for it → 401.
// - Introspection results are cached per worker until the token's `exp` (60 s without one), `active: false`
//   for 5 s; a revocation is therefore seen only for tokens not cached yet. Concurrent checks of one token
//   share one call; each call waits at most `timeout` ms.
// - The authorization server unreachable, slow or answering nonsense → 503 temporarily_unavailable with
//   Retry-After (never the anonymous consumer: the token may be valid), and for FAIL_FAST_MS after a failure,
//   uncached tokens get that 503 without a call, so a dead server costs no waiting.
// - Consumer: the token's client_id (else azp) names an oauth2_credentials client → that consumer. A valid
//   token of any other client passes without a consumer (credential = its client_id), as the authorization
//   server vouches for it; an issued token whose client left the config is invalid.
// - `audience` applies to the authorization server's tokens (ours are bound to a service instead, as Kong's);
//   `mandatory_scope` wants one of `scopes` in the token (a Kong token has only scopes from that list), else
//   403 insufficient_scope whatever `anonymous` says (authentication succeeded).
// - Issued tokens are HS256 JWTs signed with `token_signing_secret`, or a key derived from `provision_key`:
//   every worker, reload and gateway host with the same config accepts them, and rotating the secret revokes
//   them all. No refresh tokens: the authorization code, implicit and password flows are refused at load.
import { arrayOf, bool, num, oneOf, noop, record, requiredWhen, str, type EntityCheck } from '../config/schema.js'
import { headerName, httpUrlError, timeout } from '../config/typedefs.js'
import { errorBody } from '../errors.js'
import { alreadyAuthenticated, authenticate, findConsumer } from './consumer.js'
import { FAIL_FAST_MS, introspectorFor, type Introspector } from './oauth2-introspection.js'
import { TokenSigner, signingKey } from './oauth2-issued-tokens.js'
import { jwksVerifierFor, looksLikeJwt, type JwksVerifier } from './oauth2-jwks.js'
import { INVALID, UNAVAILABLE, type TokenInfo, type Verdict } from './oauth2-token-cache.js'
import { authorizeEndpoint, clientsOf, endsWithEndpoint, tokenEndpoint, type TokenEndpointConfig } from './oauth2-token-endpoint.js'
import { CONTINUE, DONE, definePlugin, type ConsumerRef, type PhaseResult, type PluginEnv, type PluginRequest, type PluginScope } from './types.js'

const JSON_TYPE = 'application/json; charset=utf-8'
const INTERNAL_ERROR = 'An unexpected error occurred'
const TOKEN_PATH = '/oauth2/token'
const AUTHORIZE_PATH = '/oauth2/authorize'
/** Kong's realm when `realm` is not set. */
const DEFAULT_REALM = 'service'
const MISSING_DESCRIPTION = 'The access token is missing'
const INVALID_DESCRIPTION = 'The access token is invalid or has expired'
const GLOBAL_DESCRIPTION = "The access token is global, but the current plugin is configured without 'global_credentials'"
const SCOPE_DESCRIPTION = 'The access token does not have the required scope'
const UNAVAILABLE_DESCRIPTION = 'The authorization server could not be reached to validate the access token'

const NO_TOKEN_STORE = 'needs a token store, which this gateway has not; validate tokens of an authorization server '
  + '(introspection_endpoint or jwks_uri) or issue them here with enable_client_credentials'

const url = () => str({ custom: httpUrlError })

/** Kong's validate_flows, with the resource-server sources counting as a flow. */
const someSource: EntityCheck = (c) => c.enable_client_credentials === true || c.introspection_endpoint !== null || c.jwks_uri !== null
  ? null
  : "at least one of these must be set: 'enable_client_credentials' (true), 'introspection_endpoint', 'jwks_uri'"

const supportedFlows: EntityCheck = (c) => {
  const problems: Array<{ field: string; message: string }> = []
  if (c.enable_authorization_code === true) problems.push({ field: 'enable_authorization_code', message: `the authorization code flow ${NO_TOKEN_STORE}` })
  if (c.enable_implicit_grant === true) problems.push({ field: 'enable_implicit_grant', message: `the implicit grant ${NO_TOKEN_STORE}` })
  if (c.enable_password_grant === true) problems.push({ field: 'enable_password_grant', message: `the password grant ${NO_TOKEN_STORE}` })
  return problems
}

const introspectionCredentials: EntityCheck = (c) => {
  if (c.introspection_endpoint === null) return null
  const problems: Array<{ field: string; message: string }> = []
  for (const f of ['introspection_client_id', 'introspection_client_secret']) {
    if (c[f] === null) problems.push({ field: f, message: "required field missing (because 'introspection_endpoint' is set)" })
  }
  return problems
}

const issuingKey: EntityCheck = (c) => c.enable_client_credentials === true && c.token_signing_secret === null && c.provision_key === null
  ? { field: 'token_signing_secret', message: "required field missing (because 'enable_client_credentials' is 'true' and no 'provision_key' is set): issued tokens are signed with it" }
  : null

const NO_REFRESH = 'accepted for Kong compatibility; no refresh tokens are issued here (client credentials only)'

const schema = record({
  scopes: arrayOf(str({ minLength: 1 })),
  mandatory_scope: bool({ default: false }),
  provision_key: str({ minLength: 1 }),
  token_expiration: num({ min: 0, default: 7200 }),
  enable_authorization_code: bool({ default: false }),
  enable_implicit_grant: bool({ default: false }),
  enable_client_credentials: bool({ default: false }),
  enable_password_grant: bool({ default: false }),
  hide_credentials: bool({ default: false }),
  accept_http_if_already_terminated: bool({ default: false }),
  anonymous: str({ minLength: 1 }),
  global_credentials: bool({ default: false }),
  auth_header_name: headerName({ default: 'authorization' }),
  refresh_token_ttl: noop(num({ between: [0, 100000000], default: 1209600 }), NO_REFRESH),
  reuse_refresh_token: noop(bool({ default: false }), NO_REFRESH),
  persistent_refresh_token: noop(bool({ default: false }), NO_REFRESH),
  pkce: noop(oneOf(['none', 'lax', 'strict'], 'lax'), 'accepted for Kong compatibility; PKCE belongs to the authorization code flow, which is not supported'),
  realm: str({ match: /^[\x20-\x7e]*$/, matchError: 'must be printable ASCII' }),
  // Extensions: the resource-server side (SPEC §3).
  introspection_endpoint: url(),
  introspection_client_id: str({ minLength: 1 }),
  introspection_client_secret: str({ minLength: 1 }),
  jwks_uri: url(),
  audience: arrayOf(str({ minLength: 1 })),
  token_signing_secret: str({ minLength: 32 }),
  timeout: timeout(5000),
}, {
  checks: [someSource, supportedFlows, requiredWhen('mandatory_scope', (v) => v === true, 'scopes'), introspectionCredentials, issuingKey],
})

/** A prebuilt answer: status, body and headers. */
interface Answer {
  readonly status: number
  readonly body: string
  readonly headers: ReadonlyArray<readonly [string, string]>
}

export interface OAuth2Config extends TokenEndpointConfig {
  readonly hideCredentials: boolean
  /** The `anonymous` reference as written (null when unset), and the consumer it names (null when none). */
  readonly anonymous: string | null
  readonly anonymousConsumer: ConsumerRef | null
  readonly audience: readonly string[]
  readonly introspector: Introspector | null
  readonly jwks: JwksVerifier | null
  readonly missing: Answer
  readonly invalid: Answer
  readonly global: Answer
  readonly insufficientScope: Answer
  readonly unavailable: Answer
  readonly log: PluginEnv['log']
}

/** RFC 6750 §3 quoted-string value. */
const quoted = (s: string): string => '"' + s.replace(/["\\]/g, '\\$&') + '"'

function answer(status: number, error: string, description: string, header: readonly [string, string] | null = null): Answer {
  const headers: Array<readonly [string, string]> = [['Content-Type', JSON_TYPE]]
  if (header !== null) headers.push(header)
  return { status, body: JSON.stringify({ error, error_description: description }), headers }
}

const challenge = (value: string): readonly [string, string] => ['WWW-Authenticate', value]

function compile(c: Record<string, unknown>, env: PluginEnv, scope: PluginScope): OAuth2Config {
  const realm = 'Bearer realm=' + quoted((c.realm as string | null) ?? DEFAULT_REALM)
  const scopes = c.scopes as string[] | null
  const timeoutMs = c.timeout as number
  const key = c.enable_client_credentials === true ? signingKey(c.token_signing_secret as string | null, c.provision_key as string | null) : null
  const anonymous = c.anonymous as string | null
  const anonymousConsumer = findConsumer(scope.snapshot, anonymous)
  if (anonymous !== null && anonymousConsumer === null) env.log.warn({ plugin: scope.id, anonymous }, 'oauth2: the anonymous consumer does not exist; requests that fail authentication get 500')
  const clients = clientsOf(scope.snapshot, env.log)
  return {
    scopes,
    mandatoryScope: c.mandatory_scope as boolean,
    provisionKey: c.provision_key as string | null,
    tokenExpiration: c.token_expiration as number,
    clientCredentials: c.enable_client_credentials as boolean,
    acceptHttpIfTerminated: c.accept_http_if_already_terminated as boolean,
    globalCredentials: c.global_credentials as boolean,
    authHeader: (c.auth_header_name as string).toLowerCase(),
    signer: key === null ? null : new TokenSigner(key),
    clients,
    hideCredentials: c.hide_credentials as boolean,
    anonymous,
    anonymousConsumer,
    audience: (c.audience as string[] | null) ?? [],
    introspector: c.introspection_endpoint === null ? null : introspectorFor({
      endpoint: c.introspection_endpoint as string,
      clientId: c.introspection_client_id as string,
      clientSecret: c.introspection_client_secret as string,
      timeoutMs,
      log: env.log,
    }),
    jwks: c.jwks_uri === null ? null : jwksVerifierFor({ uri: c.jwks_uri as string, timeoutMs, log: env.log }),
    missing: answer(401, 'invalid_request', MISSING_DESCRIPTION, challenge(realm)),
    invalid: answer(401, 'invalid_token', INVALID_DESCRIPTION, challenge(`${realm} error="invalid_token" error_description=${quoted(INVALID_DESCRIPTION)}`)),
    global: answer(401, 'invalid_token', GLOBAL_DESCRIPTION),
    insufficientScope: answer(403, 'insufficient_scope', SCOPE_DESCRIPTION,
      challenge(`${realm} error="insufficient_scope" error_description=${quoted(SCOPE_DESCRIPTION)} scope=${quoted((scopes ?? []).join(' '))}`)),
    unavailable: answer(503, 'temporarily_unavailable', UNAVAILABLE_DESCRIPTION, ['Retry-After', String(FAIL_FAST_MS / 1000)]),
    log: env.log,
  }
}

/** No token in the request. */
const NONE = 0
/** An auth header that is not `Bearer <token>` / `Token <token>`: invalid, and never sent anywhere. */
const MALFORMED = 1

/**
 * Kong's parse_access_token: the auth header (`Bearer x` or `Token x`) or else the `access_token` query
 * parameter. Kong also reads `access_token` from a form body; here the body streams to the upstream
 * unread, so a token must come in the header or the query string. hide_credentials removes it.
 */
export function accessTokenOf(ctx: PluginRequest, c: OAuth2Config): string | typeof NONE | typeof MALFORMED {
  const header = ctx.headers.get(c.authHeader)
  if (header !== undefined) {
    if (c.hideCredentials) ctx.setUpstreamHeader(c.authHeader, null)
    // The common `Bearer <token>` without a regex or an array.
    if (header.length > 7 && header.charCodeAt(6) === 32 && header.indexOf(' ', 7) === -1 && /^bearer$/i.test(header.slice(0, 6))) {
      return header.slice(7)
    }
    const parts = header.trim().split(/\s+/)
    if (parts.length !== 2) return MALFORMED
    const scheme = parts[0]!.toLowerCase()
    return scheme === 'bearer' || scheme === 'token' ? parts[1]! : MALFORMED
  }
  if (ctx.query === '' || !ctx.query.includes('access_token')) return NONE
  let token: string | typeof NONE = NONE
  const kept: string[] = []
  for (const pair of ctx.query.split('&')) {
    const eq = pair.indexOf('=')
    const name = eq === -1 ? pair : pair.slice(0, eq)
    if (name !== 'access_token') {
      kept.push(pair)
      continue
    }
    if (token === NONE && eq !== -1) {
      try {
        token = decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' '))
      } catch {
        token = pair.slice(eq + 1)
      }
    }
  }
  if (c.hideCredentials) ctx.setUpstreamQuery(kept.join('&'))
  return token === '' ? NONE : token
}

function send(ctx: PluginRequest, a: Answer): typeof DONE {
  ctx.reply(a.status, a.body, a.headers)
  return DONE
}

/** Authentication failed: the anonymous consumer when configured (Kong), else the 401. */
function unauthenticated(ctx: PluginRequest, c: OAuth2Config, a: Answer): typeof CONTINUE | typeof DONE {
  if (c.anonymous === null) return send(ctx, a)
  if (c.anonymousConsumer === null) {
    c.log.error({ anonymous: c.anonymous }, 'oauth2: anonymous consumer not found')
    ctx.reply(500, errorBody(INTERNAL_ERROR, ctx.requestId), [['Content-Type', JSON_TYPE]])
    return DONE
  }
  authenticate(ctx, c.anonymousConsumer, null)
  ctx.setUpstreamHeader('X-Authenticated-Scope', null)
  ctx.setUpstreamHeader('X-Authenticated-Userid', null)
  return CONTINUE
}

function intersects(a: readonly string[], b: readonly string[]): boolean {
  for (const x of a) if (b.includes(x)) return true
  return false
}

/**
 * Marks the request as the token's. A token whose client_id is an oauth2_credentials client becomes that
 * consumer's (X-Consumer-*); a valid token of another client of the authorization server is let through
 * without a consumer (X-Credential-Identifier = its client_id, X-Consumer-* removed).
 */
function identify(ctx: PluginRequest, c: OAuth2Config, t: TokenInfo): typeof CONTINUE | typeof DONE {
  const client = t.clientId === null ? undefined : c.clients.get(t.clientId)
  if (client !== undefined) authenticate(ctx, client.consumer, client.clientId)
  else if (t.boundService !== null) return unauthenticated(ctx, c, c.invalid) // ours, but its client is gone from the config
  else {
    ctx.consumer = null
    ctx.credentialId = t.clientId ?? t.subject
    ctx.setUpstreamHeader('X-Consumer-ID', null)
    ctx.setUpstreamHeader('X-Consumer-Custom-ID', null)
    ctx.setUpstreamHeader('X-Consumer-Username', null)
    ctx.setUpstreamHeader('X-Anonymous-Consumer', null)
    ctx.setUpstreamHeader('X-Credential-Identifier', ctx.credentialId)
  }
  ctx.setUpstreamHeader('X-Authenticated-Scope', t.scope === '' ? null : t.scope)
  ctx.setUpstreamHeader('X-Authenticated-Userid', t.authenticatedUserid)
  return CONTINUE
}

/**
 * What a verdict means for the request:
 * | verdict                                   | answer                                         |
 * | UNAVAILABLE (server down/slow, bad reply) | 503 temporarily_unavailable, Retry-After: 1    |
 * | INVALID, expired, not yet valid           | 401 invalid_token (or the anonymous consumer)  |
 * | ours, bound to another service            | 401 invalid_token                              |
 * | ours, global, plugin not global           | 401 (Kong's global_credentials message)        |
 * | theirs, no `audience` value matches       | 401 invalid_token                              |
 * | mandatory_scope, no scope of `scopes`     | 403 insufficient_scope                         |
 * | otherwise                                 | CONTINUE as the token's consumer               |
 */
export function conclude(ctx: PluginRequest, c: OAuth2Config, v: Verdict): typeof CONTINUE | typeof DONE {
  if (v === UNAVAILABLE) return send(ctx, c.unavailable)
  if (v === INVALID) return unauthenticated(ctx, c, c.invalid)
  const now = Date.now() / 1000
  if ((v.exp !== 0 && v.exp <= now) || v.nbf > now) return unauthenticated(ctx, c, c.invalid)
  if (v.boundService !== null) {
    if (v.boundService === '' ? !c.globalCredentials : v.boundService !== ctx.serviceId) {
      return unauthenticated(ctx, c, v.boundService === '' ? c.global : c.invalid)
    }
  } else if (c.audience.length > 0 && !intersects(v.audience, c.audience)) {
    return unauthenticated(ctx, c, c.invalid)
  }
  if (c.mandatoryScope && !intersects(v.scopes, c.scopes ?? [])) return send(ctx, c.insufficientScope)
  return identify(ctx, c, v)
}

/**
 * Which validator a token goes to: ours when it carries our signing key's header, the JWKS when it is a
 * JWT and jwks_uri is set, else introspection; with none of them it is invalid.
 */
export function verdictOf(c: OAuth2Config, token: string): Verdict | Promise<Verdict> {
  if (c.signer !== null && c.signer.owns(token)) return c.signer.verify(token)
  if (c.jwks !== null && looksLikeJwt(token)) return c.jwks.check(token)
  if (c.introspector !== null) return c.introspector.check(token)
  return INVALID
}

function access(ctx: PluginRequest, c: OAuth2Config): PhaseResult {
  // Kong: with `anonymous` set, a request another auth plugin already authenticated is left alone.
  if (c.anonymous !== null && alreadyAuthenticated(ctx)) return CONTINUE
  if (ctx.method === 'POST') {
    if (endsWithEndpoint(ctx.path, TOKEN_PATH)) return tokenEndpoint(ctx, c)
    if (endsWithEndpoint(ctx.path, AUTHORIZE_PATH)) return authorizeEndpoint(ctx, c)
  }
  const token = accessTokenOf(ctx, c)
  if (token === NONE) return unauthenticated(ctx, c, c.missing)
  if (token === MALFORMED) return unauthenticated(ctx, c, c.invalid)
  const v = verdictOf(c, token)
  if (v instanceof Promise) return v.then((verdict) => conclude(ctx, c, verdict))
  return conclude(ctx, c, v)
}

export default definePlugin<OAuth2Config>({
  name: 'oauth2',
  priority: 1400,
  noConsumer: true,
  schema,
  compile,
  phases: { access },
})
