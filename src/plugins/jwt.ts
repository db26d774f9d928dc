// Kong's jwt plugin: a signed token from the query, a cookie or a Bearer header, verified against the key of
// the consumer credential it names (jwt_secrets) or, as our extension, against the keys published at jwks_uri.
// Keys are imported once per Snapshot and verification is synchronous, so an authenticated request never
// allocates a promise; only a token whose JWKS kid is unknown waits, for one rate-limited refresh.
import type { ConsumerRecord, CredentialRecord, Snapshot } from '../config/types.js'
import { bool, int, num, record, setOf, str, type EntityCheck } from '../config/schema.js'
import { headerName, httpUrlError } from '../config/typedefs.js'
import { errorBody } from '../errors.js'
import type { Logger } from '../logger.js'
import { compileAnonymous, JSON_TYPE, realmField, useAnonymous, type Anonymous } from './auth-common.js'
import { alreadyAuthenticated, authenticate, consumerRef } from './consumer.js'
import { jwksCacheFor, type JwksCache, type JwksKey } from './jwks-cache.js'
import {
  decodeBase64Secret, hmacVerifier, isAlgorithm, isHmac, publicKeyFromPem, publicVerifier, verifySignature,
  type JwtAlgorithm, type Verifier,
} from './jwt-keys.js'
import {
  checkMaximumExpiration, claimErrorsMessage, decodeToken, MULTIPLE_TOKENS, own, retrieveToken, verifyClaims,
  type ClaimErrors, type DecodedToken, type RegisteredClaim, type TokenSources,
} from './jwt-token.js'
import { CONTINUE, DONE, definePlugin, type ConsumerRef, type PhaseResult, type PluginEnv, type PluginRequest, type PluginScope } from './types.js'

/** Kong's maximum_expiration bound: 365 days. */
const MAX_EXPIRATION = 31_536_000

/** Kong's entity check: a maximum_expiration above 0 needs `exp` among claims_to_verify. */
const maximumExpirationNeedsExp: EntityCheck = (c) =>
  (c.maximum_expiration as number) > 0 && !((c.claims_to_verify as string[] | null) ?? []).includes('exp')
    ? { field: 'claims_to_verify', message: 'expected to contain: exp' } : null

/** Our extension fields only mean something with jwks_uri; set without it they would be silently ignored. */
const consumerClaimNeedsJwks: EntityCheck = (c) =>
  c.consumer_claim !== null && c.jwks_uri === null
    ? { field: 'consumer_claim', message: "requires 'jwks_uri' (with jwt_secrets the consumer is the credential's)" } : null

const schema = record({
  uri_param_names: setOf(str({ minLength: 1 }), { default: ['jwt'] }),
  cookie_names: setOf(str({ minLength: 1 }), { default: [] }),
  header_names: setOf(headerName(), { default: ['authorization'] }),
  key_claim_name: str({ minLength: 1, default: 'iss' }),
  secret_is_base64: bool({ default: false }),
  claims_to_verify: setOf(str({ oneOf: ['exp', 'nbf'] })),
  anonymous: str({ minLength: 1 }),
  run_on_preflight: bool({ default: true }),
  maximum_expiration: num({ between: [0, MAX_EXPIRATION], default: 0 }),
  realm: realmField(),
  // Extensions (SPEC §3): tokens signed by an identity provider, verified against its published keys.
  jwks_uri: str({ custom: httpUrlError }),
  jwks_refresh_interval: int({ between: [1, 86_400], default: 300 }),
  consumer_claim: str({ minLength: 1 }),
}, { checks: [maximumExpirationNeedsExp, consumerClaimNeedsJwks] })

/** One jwt_secrets credential, ready to verify: `verifier` is null when its secret or key is unusable. */
export interface JwtCredential {
  readonly id: string
  readonly key: string
  readonly alg: JwtAlgorithm
  readonly consumer: ConsumerRef
  readonly verifier: Verifier | null
}

/** What a failed authentication answers; `www` picks the WWW-Authenticate value. */
interface Failure {
  readonly message: string
  readonly errors: ClaimErrors | null
  readonly www: typeof WWW_NONE | typeof WWW_BASE | typeof WWW_ERROR
}
const WWW_NONE = 0
const WWW_BASE = 1
const WWW_ERROR = 2

export interface JwtConfig {
  readonly sources: TokenSources
  readonly keyClaim: string
  /** jwt_secrets by key, for every consumer of the Snapshot (empty with jwks_uri). */
  readonly credentials: ReadonlyMap<string, JwtCredential>
  readonly jwks: JwksCache | null
  readonly consumerClaim: string | null
  /** Consumers by username, for consumer_claim. */
  readonly consumersByUsername: ReadonlyMap<string, ConsumerRef>
  readonly claimsToVerify: readonly RegisteredClaim[]
  readonly maximumExpiration: number
  readonly anonymous: Anonymous | null
  readonly runOnPreflight: boolean
  /** Response headers per `www` value: [Content-Type] + WWW-Authenticate `Bearer [realm="…"]` [error="invalid_token"]. */
  readonly replyHeaders: readonly (ReadonlyArray<readonly [string, string]>)[]
  /** The failures whose message is fixed for this config, made once. */
  readonly unauthorized: Failure
}

const failure = (message: string, www: Failure['www'] = WWW_ERROR, errors: ClaimErrors | null = null): Failure => ({ message, errors, www })

// ---------------------------------------------------------------------------------------------
// Compile: credential tables, shared by every jwt instance of one Snapshot

/** Per Snapshot, the credential table for secret_is_base64 false [0] and true [1]: keys are imported once. */
const tables = new WeakMap<Snapshot, [Map<string, JwtCredential> | null, Map<string, JwtCredential> | null]>()

function compileCredential(cred: CredentialRecord, consumer: ConsumerRef, secretIsBase64: boolean, log: Logger): JwtCredential {
  const alg = (isAlgorithm(cred.algorithm) ? cred.algorithm : 'HS256') as JwtAlgorithm
  const key = cred.key as string
  let verifier: Verifier | null = null
  let problem: string | null = null
  if (isHmac(alg)) {
    const raw = (cred.secret as string | null) ?? ''
    const secret = secretIsBase64 ? decodeBase64Secret(raw) : Buffer.from(raw, 'utf8')
    if (secret === null) problem = 'secret is not base64 (secret_is_base64 is on)'
    else verifier = hmacVerifier(alg, secret)
  } else {
    // secret_is_base64 applies to HMAC secrets only: Kong would also base64-decode a PEM, which never works.
    const publicKey = publicKeyFromPem((cred.rsa_public_key as string | null) ?? '')
    if (publicKey === null) problem = 'rsa_public_key is not a PEM public key or certificate'
    else {
      const v = publicVerifier(alg, publicKey)
      if (typeof v === 'string') problem = v
      else verifier = v
    }
  }
  if (problem !== null) log.warn({ credential: cred.id, key, algorithm: alg, problem }, "jwt credential unusable: its tokens get 'Invalid key/secret'")
  return { id: cred.id, key, alg, consumer, verifier }
}

function credentialTable(snapshot: Snapshot, secretIsBase64: boolean, log: Logger): Map<string, JwtCredential> {
  let both = tables.get(snapshot)
  if (both === undefined) tables.set(snapshot, (both = [null, null]))
  const slot = secretIsBase64 ? 1 : 0
  let table = both[slot]
  if (table === null) {
    table = new Map()
    for (const c of snapshot.consumers as ConsumerRecord[]) {
      if (c.jwt.length === 0) continue
      const ref = consumerRef(c)
      for (const cred of c.jwt) {
        // Keys are unique across consumers (config validation); the first one wins regardless.
        if (!table.has(cred.key as string)) table.set(cred.key as string, compileCredential(cred, ref, secretIsBase64, log))
      }
    }
    both[slot] = table
  }
  return table
}

function wwwHeaders(realm: string | null): ReadonlyArray<readonly [string, string]>[] {
  // realmField refuses quotes, backslashes and control characters, so the realm goes in as written.
  const base = realm === null ? 'Bearer' : `Bearer realm="${realm}"`
  return [
    [['Content-Type', JSON_TYPE]],
    [['Content-Type', JSON_TYPE], ['WWW-Authenticate', base]],
    [['Content-Type', JSON_TYPE], ['WWW-Authenticate', base + ' error="invalid_token"']],
  ]
}

function compile(c: Record<string, unknown>, env: PluginEnv, scope: PluginScope): JwtConfig {
  const jwksUri = c.jwks_uri as string | null
  const consumersByUsername = new Map<string, ConsumerRef>()
  if (c.consumer_claim !== null) {
    for (const consumer of scope.snapshot.consumers) if (consumer.username !== null) consumersByUsername.set(consumer.username, consumerRef(consumer))
  }
  return {
    sources: {
      uriParamNames: c.uri_param_names as string[],
      cookieNames: c.cookie_names as string[],
      headerNames: (c.header_names as string[]).map((h) => h.toLowerCase()),
    },
    keyClaim: c.key_claim_name as string,
    credentials: jwksUri === null ? credentialTable(scope.snapshot, c.secret_is_base64 as boolean, env.log) : new Map(),
    jwks: jwksUri === null ? null : jwksCacheFor(jwksUri, c.jwks_refresh_interval as number, env.log),
    consumerClaim: c.consumer_claim as string | null,
    consumersByUsername,
    claimsToVerify: (c.claims_to_verify as RegisteredClaim[] | null) ?? [],
    maximumExpiration: c.maximum_expiration as number,
    anonymous: compileAnonymous(c.anonymous, 'jwt', env, scope),
    runOnPreflight: c.run_on_preflight as boolean,
    replyHeaders: wwwHeaders(c.realm as string | null),
    unauthorized: failure('Unauthorized', WWW_BASE),
  }
}

// ---------------------------------------------------------------------------------------------
// Verified-token cache: a signature checked once is not checked again

/**
 * Tokens whose signature verified, by their exact text, with what verified them. A client sends the same
 * token for many requests; a hit skips decoding and (for RS/PS/ES/EdDSA) tens of microseconds of public-key
 * work. The entry is used only when the same credential or JWKS key object would verify the token again,
 * so a reload or a JWKS refresh (new objects) re-verifies; claims (exp, nbf) are checked on every request.
 * One per worker, bounded, oldest entry dropped first.
 */
interface Verified {
  readonly decoded: DecodedToken
  readonly by: JwtCredential | JwksKey
}
const verified = new Map<string, Verified>()
const VERIFIED_MAX = 4096
/** Longer tokens are not kept: at most 4096 × 4 KiB of token text, typically well under 4 MiB in all. */
const VERIFIED_MAX_TOKEN = 4096

/**
 * Insertion order for eviction, as a ring: Map's own oldest key (keys().next()) walks over every deleted
 * entry still in the table, a microsecond per insert once the cache is full. A token remembered twice sits
 * in two slots; the older slot then evicts it early, which only costs one re-verification.
 */
const order: string[] = new Array<string>(VERIFIED_MAX).fill('')
let orderAt = 0

function remember(token: string, decoded: DecodedToken, by: JwtCredential | JwksKey): void {
  if (token.length > VERIFIED_MAX_TOKEN) return
  const evicted = order[orderAt]!
  if (evicted !== '') verified.delete(evicted)
  order[orderAt] = token
  orderAt = orderAt + 1 === VERIFIED_MAX ? 0 : orderAt + 1
  // No signature kept: it is a view into Buffer's shared 8 KiB pool and would pin a slab per entry.
  verified.set(token, { decoded: { ...decoded, signature: NO_SIGNATURE }, by })
}

const NO_SIGNATURE = Buffer.alloc(0)

/** The signature to check: a remembered token's is decoded again (only when another key must verify it). */
function signatureOf(token: string, d: DecodedToken): Buffer {
  return d.signature !== NO_SIGNATURE ? d.signature : Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url')
}

/** Drops every remembered verification (tests and benchmarks measure the uncached path with it). */
export function clearVerifiedTokens(): void {
  verified.clear()
  order.fill('')
  orderAt = 0
}

// ---------------------------------------------------------------------------------------------
// Access

/** Claims then maximum_expiration, as Kong checks them after the signature. */
function claimsFailure(c: JwtConfig, claims: DecodedToken['claims']): Failure | null {
  if (c.claimsToVerify.length === 0 && c.maximumExpiration <= 0) return null
  const now = Math.floor(Date.now() / 1000)
  const errors = verifyClaims(claims, c.claimsToVerify, now) ?? checkMaximumExpiration(claims, c.maximumExpiration, now)
  return errors === null ? null : failure(claimErrorsMessage(errors), WWW_ERROR, errors)
}

/** Kong's path: the credential named by key_claim_name (claims, then header) verifies with its own algorithm. */
function viaCredential(ctx: PluginRequest, c: JwtConfig, token: string, d: DecodedToken, hit: Verified | undefined): Failure | null {
  let keyValue = own(d.claims, c.keyClaim)
  if (keyValue === undefined || keyValue === null || keyValue === false) keyValue = own(d.header, c.keyClaim)
  if (keyValue === undefined || keyValue === null || keyValue === false) return failure(`No mandatory '${c.keyClaim}' in claims`)
  if (keyValue === '') return failure(`Invalid '${c.keyClaim}' in claims`)
  const cred = typeof keyValue === 'string' ? c.credentials.get(keyValue) : undefined
  if (cred === undefined) return failure(`No credentials found for given '${c.keyClaim}'`)
  // The credential's algorithm is authoritative: an HS256 token against an RS256 credential (signed with
  // the public key as HMAC secret) stops here, before any key is used.
  if (d.alg !== cred.alg) return failure('Invalid algorithm')
  if (cred.verifier === null) return failure('Invalid key/secret')
  if (hit === undefined || hit.by !== cred) {
    if (!verifySignature(cred.verifier, d.signingInput, signatureOf(token, d))) return failure('Invalid signature')
    remember(token, d, cred)
  }
  const claims = claimsFailure(c, d.claims)
  if (claims !== null) return claims
  authenticate(ctx, cred.consumer, cred.id)
  // Kong 3.x sends the credential's key, not its id, as X-Credential-Identifier for jwt.
  ctx.setUpstreamHeader('X-Credential-Identifier', cred.key)
  return null
}

/** The JWKS path once the key is known: algorithm fit, signature, claims, then the consumer (if any). */
function withJwksKey(ctx: PluginRequest, c: JwtConfig, token: string, d: DecodedToken, key: JwksKey, hit: Verified | undefined): Failure | null {
  const verifier = key.verifiers.get(d.alg)
  if (verifier === undefined) return failure('Invalid algorithm')
  if (hit === undefined || hit.by !== key) {
    if (!verifySignature(verifier, d.signingInput, signatureOf(token, d))) return failure('Invalid signature')
    remember(token, d, key)
  }
  const claims = claimsFailure(c, d.claims)
  if (claims !== null) return claims
  const sub = own(d.claims, 'sub')
  const credentialId = typeof sub === 'string' && sub !== '' ? sub : key.kid ?? c.jwks!.uri
  if (c.consumerClaim !== null) {
    const value = own(d.claims, c.consumerClaim)
    if (typeof value !== 'string' || value === '') return failure(`No mandatory '${c.consumerClaim}' in claims`)
    const consumer = c.consumersByUsername.get(value)
    if (consumer === undefined) return failure(`Could not find consumer for '${c.consumerClaim}=${value}'`, WWW_NONE)
    authenticate(ctx, consumer, credentialId)
    return null
  }
  // Verified without a consumer: this plugin's answer replaces an earlier plugin's (Kong's last
  // set_consumer wins), and no client-sent X-Consumer-* header reaches the upstream. The token's subject
  // is the credential, so rate-limiting's limit_by consumer / credential counts per subject.
  ctx.consumer = null
  ctx.credentialId = credentialId
  ctx.setUpstreamHeader('X-Consumer-ID', null)
  ctx.setUpstreamHeader('X-Consumer-Custom-ID', null)
  ctx.setUpstreamHeader('X-Consumer-Username', null)
  ctx.setUpstreamHeader('X-Anonymous-Consumer', null)
  ctx.setUpstreamHeader('X-Credential-Identifier', credentialId)
  return null
}

function viaJwks(ctx: PluginRequest, c: JwtConfig, token: string, d: DecodedToken, hit: Verified | undefined): Failure | null | Promise<Failure | null> {
  const jwks = c.jwks!
  // Published keys are public keys: an HMAC token would mean using one as a shared secret.
  if (isHmac(d.alg)) return failure('Invalid algorithm')
  const rawKid = own(d.header, 'kid')
  if (rawKid !== undefined && typeof rawKid !== 'string') return failure("Invalid 'kid' in header")
  const kid = rawKid ?? null
  const key = jwks.lookup(kid)
  if (key !== undefined) return withJwksKey(ctx, c, token, d, key, hit)
  if (kid === null && jwks.size > 1) return failure("No mandatory 'kid' in header")
  // Unknown kid: perhaps the provider rotated. Wait for one refresh, unless one ran less than 10 s ago.
  const refresh = jwks.refreshForUnknownKid()
  if (refresh === null) return failure("No credentials found for given 'kid'")
  return refresh.then(() => {
    const fresh = jwks.lookup(kid)
    return fresh === undefined ? failure("No credentials found for given 'kid'") : withJwksKey(ctx, c, token, d, fresh, hit)
  })
}

/** Kong's do_authentication: null when the request is authenticated, else why not. */
function authenticateToken(ctx: PluginRequest, c: JwtConfig): Failure | null | Promise<Failure | null> {
  const token = retrieveToken(ctx.query, ctx.headers, c.sources)
  if (token === null) return c.unauthorized
  if (token === MULTIPLE_TOKENS) return failure('Multiple tokens provided')
  const hit = verified.get(token)
  let d: DecodedToken
  if (hit !== undefined) d = hit.decoded
  else {
    const decoded = decodeToken(token)
    if (typeof decoded === 'string') return failure('Bad token; ' + decoded)
    d = decoded
  }
  return c.jwks === null ? viaCredential(ctx, c, token, d, hit) : viaJwks(ctx, c, token, d, hit)
}

/** The answer for a failed authentication: the anonymous consumer when configured, else Kong's 401. */
function conclude(ctx: PluginRequest, c: JwtConfig, f: Failure | null): typeof CONTINUE | typeof DONE {
  if (f === null) return CONTINUE
  if (c.anonymous !== null) return useAnonymous(ctx, c.anonymous)
  // Kong answers claim failures with the claim → error map as the body; `message` and `request_id` join it.
  const body = f.errors === null
    ? errorBody(f.message, ctx.requestId)
    : JSON.stringify({ ...f.errors, message: f.message, request_id: ctx.requestId })
  ctx.reply(401, body, c.replyHeaders[f.www])
  return DONE
}

function access(ctx: PluginRequest, c: JwtConfig): PhaseResult {
  if (!c.runOnPreflight && ctx.method === 'OPTIONS') return CONTINUE
  // With anonymous, auth plugins are a logical OR: a request another one authenticated is left alone.
  if (c.anonymous !== null && alreadyAuthenticated(ctx)) return CONTINUE
  const result = authenticateToken(ctx, c)
  if (result === null) return CONTINUE
  if (result instanceof Promise) return result.then((f) => conclude(ctx, c, f))
  return conclude(ctx, c, result)
}

export default definePlugin<JwtConfig>({
  name: 'jwt',
  priority: 1450,
  noConsumer: true,
  schema,
  compile,
  phases: { access },
})
