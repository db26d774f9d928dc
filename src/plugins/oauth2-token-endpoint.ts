// The oauth2 plugin's own endpoints, as Kong serves them on any route the plugin is on: POST …/oauth2/token
// (the client credentials grant issues a signed access token) and POST …/oauth2/authorize (whose flows
// need a token store and are refused). Messages, statuses and the order of checks are Kong's access.lua.
import { createHash, pbkdf2, timingSafeEqual } from 'node:crypto'
import type { Snapshot } from '../config/types.js'
import type { Logger } from '../logger.js'
import { consumerRef } from './consumer.js'
import type { TokenSigner } from './oauth2-issued-tokens.js'
import { DONE, type ConsumerRef, type PluginRequest } from './types.js'

const JSON_TYPE = 'application/json; charset=utf-8'
/** The largest token request body read (they are a few form fields). */
export const TOKEN_REQUEST_LIMIT = 64 * 1024

/** What the endpoints need of the compiled plugin config. */
export interface TokenEndpointConfig {
  readonly scopes: readonly string[] | null
  readonly mandatoryScope: boolean
  readonly provisionKey: string | null
  readonly tokenExpiration: number
  readonly clientCredentials: boolean
  readonly acceptHttpIfTerminated: boolean
  readonly globalCredentials: boolean
  /** Lower-case auth_header_name (client credentials may come as Basic in it). */
  readonly authHeader: string
  /** Signs issued tokens; null when enable_client_credentials is off. */
  readonly signer: TokenSigner | null
  readonly clients: ReadonlyMap<string, OAuth2Client>
}

/** PBKDF2 as Kong stores hashed client secrets: `$pbkdf2-sha512$i=10000,l=32$<salt>$<hash>` (base64). */
interface Pbkdf2Hash {
  readonly digest: string
  readonly iterations: number
  readonly salt: Buffer
  readonly hash: Buffer
}

/** One oauth2_credentials entry, ready for the token endpoint and for mapping tokens to consumers. */
export interface OAuth2Client {
  readonly clientId: string
  readonly consumer: ConsumerRef
  /** The secret as written (hash_secret false, or true with a plain value: Kong hashes that on insert). */
  readonly secret: string | null
  readonly pbkdf2: Pbkdf2Hash | null
  /** A hash we cannot check (argon2, bcrypt: Kong CE itself only enables PBKDF2): never authenticates. */
  readonly unverifiable: boolean
}

function parsePbkdf2(phc: string): Pbkdf2Hash | null {
  const parts = phc.split('$')
  if (parts.length !== 5 || !parts[1]!.startsWith('pbkdf2-')) return null
  const params = new Map(parts[2]!.split(',').map((kv) => kv.split('=') as [string, string]))
  const iterations = Number(params.get('i'))
  const salt = Buffer.from(parts[3]!, 'base64')
  const hash = Buffer.from(parts[4]!, 'base64')
  if (!Number.isInteger(iterations) || iterations < 1 || hash.length === 0) return null
  return { digest: parts[1]!.slice('pbkdf2-'.length), iterations, salt, hash }
}

const tables = new WeakMap<Snapshot, Map<string, OAuth2Client>>()

/** The Snapshot's oauth2 credentials by client_id (built once per Snapshot, shared by every oauth2 instance). */
export function clientsOf(snapshot: Snapshot, log: Logger): Map<string, OAuth2Client> {
  let table = tables.get(snapshot)
  if (table !== undefined) return table
  table = new Map()
  for (const consumer of snapshot.consumers) {
    const ref = consumerRef(consumer)
    for (const cred of consumer.oauth2) {
      const secret = typeof cred.client_secret === 'string' ? cred.client_secret : null
      const hashed = cred.hash_secret === true && secret !== null && secret.startsWith('$')
      const pbkdf2 = hashed ? parsePbkdf2(secret) : null
      const unverifiable = hashed && pbkdf2 === null
      if (unverifiable) log.warn({ client_id: cred.client_id }, 'oauth2: client_secret is a hash this gateway cannot verify (only $pbkdf2-… ones); the client cannot get tokens')
      table.set(cred.client_id as string, { clientId: cred.client_id as string, consumer: ref, secret: hashed ? null : secret, pbkdf2, unverifiable })
    }
  }
  tables.set(snapshot, table)
  return table
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

/** Whether `given` is the client's secret (constant time; PBKDF2 hashes are checked off the event loop). */
export function secretMatches(client: OAuth2Client, given: string | null): boolean | Promise<boolean> {
  if (given === null || client.unverifiable) return false
  if (client.secret !== null) return timingSafeEqual(sha256(client.secret), sha256(given))
  const h = client.pbkdf2
  if (h === null) return false
  return new Promise((resolve) => {
    pbkdf2(given, h.salt, h.iterations, h.hash.length, h.digest, (err, derived) => resolve(err === null && timingSafeEqual(derived, h.hash)))
  })
}

/** Kong's path test: the path ends with `/oauth2/token` (or `/oauth2/token/`). */
export function endsWithEndpoint(path: string, endpoint: string): boolean {
  return path.endsWith(endpoint) || (path.endsWith('/') && path.length > endpoint.length && path.endsWith(endpoint, path.length - 1))
}

interface OAuthError {
  readonly error: string
  readonly error_description: string
}

const err = (error: string, error_description: string): OAuthError => ({ error, error_description })
const INVALID_CLIENT = err('invalid_client', 'Invalid client authentication')
const INVALID_PROVISION_KEY = err('invalid_provision_key', 'Invalid provision_key')

/** Kong's check_https: HTTPS, or (accept_http_if_already_terminated) a trusted proxy's X-Forwarded-Proto: https. */
function httpsProblem(ctx: PluginRequest, c: TokenEndpointConfig): string | null {
  if (ctx.scheme === 'https') return null
  if (c.acceptHttpIfTerminated && ctx.peerTrusted === true) {
    const proto = ctx.headers.get('x-forwarded-proto')
    if (proto !== undefined && proto.includes(',')) return 'Only one X-Forwarded-Proto header allowed'
    if (proto !== undefined && proto.trim().toLowerCase() === 'https') return null
  }
  return 'You must use HTTPS'
}

/** Query and body parameters (form or JSON), the body's winning, as Kong's retrieve_parameters. */
async function parametersOf(ctx: PluginRequest): Promise<Map<string, string>> {
  const params = new Map<string, string>()
  for (const [k, v] of new URLSearchParams(ctx.query)) if (!params.has(k)) params.set(k, v)
  const body = await ctx.readBody(TOKEN_REQUEST_LIMIT)
  if (body.length === 0) return params
  const type = (ctx.headers.get('content-type') ?? '').toLowerCase()
  if (type.includes('application/x-www-form-urlencoded')) {
    const seen = new Set<string>()
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) {
      if (seen.has(k)) continue
      seen.add(k)
      params.set(k, v)
    }
  } else if (type.includes('application/json')) {
    let json: unknown
    try {
      json = JSON.parse(body.toString('utf8'))
    } catch {
      return params
    }
    if (json !== null && typeof json === 'object' && !Array.isArray(json)) {
      for (const [k, v] of Object.entries(json)) if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') params.set(k, String(v))
    }
  }
  return params
}

/** client_id and client_secret from the parameters, else from `Basic` in auth_header_name (Kong's order). */
function clientCredentialsOf(ctx: PluginRequest, p: Map<string, string>, c: TokenEndpointConfig): { id: string | null; secret: string | null; fromHeader: boolean } {
  const id = p.get('client_id')
  const secret = p.get('client_secret')
  if (id !== undefined && secret !== undefined) return { id, secret, fromHeader: false }
  const header = ctx.headers.get(c.authHeader)
  if (header === undefined) return { id: null, secret: null, fromHeader: false }
  const m = /^\s*[Bb]asic\s*(.+)$/.exec(header)
  if (m === null) return { id: null, secret: null, fromHeader: true }
  const decoded = Buffer.from(m[1]!.trim(), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon === -1) return { id: decoded, secret: null, fromHeader: true }
  return { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1), fromHeader: true }
}

/**
 * Kong's retrieve_scope: with `scopes` configured, every requested scope must be one of them; with
 * mandatory_scope, one must be requested (an empty `scope` counts as none here; Kong would issue a token
 * without scope for it). Without `scopes`, a requested scope is ignored.
 */
function scopeOf(p: Map<string, string>, c: TokenEndpointConfig): string | OAuthError {
  const raw = p.get('scope')
  const requested = raw === undefined ? [] : raw.split(/\s+/).filter((s) => s !== '')
  if (requested.length === 0) return c.mandatoryScope ? err('invalid_scope', 'You must specify a scope') : ''
  if (c.scopes === null) return ''
  for (const s of requested) if (!c.scopes.includes(s)) return err('invalid_scope', `"${s}" is an invalid scope`)
  return requested.join(' ')
}

function answer(ctx: PluginRequest, status: number, body: object, state: string | undefined, basicChallenge: boolean): typeof DONE {
  const headers: Array<[string, string]> = [['Content-Type', JSON_TYPE], ['Cache-Control', 'no-store'], ['Pragma', 'no-cache']]
  if (basicChallenge) headers.push(['WWW-Authenticate', 'Basic realm="OAuth2.0"'])
  ctx.reply(status, JSON.stringify(state === undefined ? body : { ...body, state }), headers)
  return DONE
}

/**
 * POST …/oauth2/token. Kong's issue_token, for the grants this gateway can serve without a token store:
 * client_credentials issues a signed token (no refresh token, as Kong); authorization_code and
 * refresh_token are accepted as grant types, as Kong does, but no code or refresh token can exist here.
 * 400 for every error, except 401 with `WWW-Authenticate: Basic` when the client authenticated with it.
 */
export async function tokenEndpoint(ctx: PluginRequest, c: TokenEndpointConfig): Promise<typeof DONE> {
  const p = await parametersOf(ctx)
  const state = p.get('state')
  const https = httpsProblem(ctx, c)
  if (https !== null) return answer(ctx, 400, err('access_denied', https), state, false)

  let error: OAuthError | null = null
  let challenge = false
  const grant = p.get('grant_type')
  if (!(grant === 'authorization_code' || grant === 'refresh_token' || (c.clientCredentials && grant === 'client_credentials'))) {
    error = err('unsupported_grant_type', 'Invalid grant_type')
  }
  const creds = clientCredentialsOf(ctx, p, c)
  const client = creds.id === null || creds.id === '' ? undefined : c.clients.get(creds.id)
  if (grant !== 'client_credentials' && client === undefined) {
    error = INVALID_CLIENT
    challenge = creds.fromHeader
  }
  if (client !== undefined && !(await secretMatches(client, creds.secret))) {
    error = INVALID_CLIENT
    challenge = creds.fromHeader
  }
  if (error !== null) return answer(ctx, challenge ? 401 : 400, error, state, challenge)

  if (grant === 'authorization_code') return answer(ctx, 400, err('invalid_request', 'Invalid code'), state, false)
  if (grant === 'refresh_token') return answer(ctx, 400, err('invalid_request', 'Invalid refresh_token'), state, false)

  // client_credentials: Kong checks provision_key only when the caller names a resource owner.
  const userid = p.get('authenticated_userid')
  if (userid !== undefined && (c.provisionKey === null || p.get('provision_key') !== c.provisionKey)) {
    return answer(ctx, 400, INVALID_PROVISION_KEY, state, false)
  }
  if (client === undefined) return answer(ctx, 400, INVALID_CLIENT, state, false)
  const scope = scopeOf(p, c)
  if (typeof scope !== 'string') return answer(ctx, 400, scope, state, false)
  const token = c.signer!.issue({
    clientId: client.clientId,
    scope,
    serviceId: c.globalCredentials ? null : ctx.serviceId,
    authenticatedUserid: userid === undefined || userid.trim() === '' ? null : userid,
    expiresIn: c.tokenExpiration,
  })
  const body: Record<string, unknown> = { access_token: token, token_type: 'bearer' }
  if (c.tokenExpiration > 0) body.expires_in = c.tokenExpiration
  return answer(ctx, 200, body, state, false)
}

/**
 * POST …/oauth2/authorize. The authorization code and implicit flows are refused at config time (they need
 * a token store), so this answers with Kong's first error for the request, ending at unsupported_response_type.
 */
export async function authorizeEndpoint(ctx: PluginRequest, c: TokenEndpointConfig): Promise<typeof DONE> {
  const p = await parametersOf(ctx)
  const state = p.get('state')
  const https = httpsProblem(ctx, c)
  if (https !== null) return answer(ctx, 400, err('access_denied', https), state, false)
  if (c.provisionKey === null || p.get('provision_key') !== c.provisionKey) return answer(ctx, 400, INVALID_PROVISION_KEY, state, false)
  const userid = p.get('authenticated_userid')
  if (userid === undefined || userid.trim() === '') {
    return answer(ctx, 400, err('invalid_authenticated_userid', 'Missing authenticated_userid parameter'), state, false)
  }
  return answer(ctx, 400, err('unsupported_response_type', 'Invalid response_type'), state, false)
}
