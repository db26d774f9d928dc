// Kong's basic-auth (PRIORITY 1100): `Basic` credentials from Proxy-Authorization, then Authorization,
// checked against every consumer's basicauth_credentials by username (one Map per Snapshot).
//
// Passwords are compared in constant time: SHA-256 digests of equal length through timingSafeEqual, and an
// unknown username still costs one digest and one comparison. Passwords are written in plain text in the
// declarative file (or as `{vault://env/X}`), as Kong reads them before hashing them itself; Kong's own
// salted SHA-1 hashes (a decK dump of a database) cannot be checked here.
import { Buffer } from 'node:buffer'
import { createHash, timingSafeEqual } from 'node:crypto'
import { bool, str } from '../config/schema.js'
import type { Snapshot } from '../config/types.js'
import { alreadyAuthenticated, authenticate, consumerRef } from './consumer.js'
import { challengeHeaders, compileAnonymous, fail, realmField, UNAUTHORIZED, useAnonymous, type Anonymous } from './auth-common.js'
import { CONTINUE, DONE, definePlugin, type ConsumerRef, type PluginEnv, type PluginRequest, type PluginScope } from './types.js'

const AUTHORIZATION = 'authorization'
const PROXY_AUTHORIZATION = 'proxy-authorization'

export interface BasicCredential {
  readonly consumer: ConsumerRef
  readonly id: string
  /** X-Credential-Identifier: Kong sends the credential's username for basic-auth. */
  readonly username: string
  /** SHA-256 of the password (UTF-8). */
  readonly digest: Buffer
}

export interface BasicAuthConfig {
  readonly credentials: ReadonlyMap<string, BasicCredential>
  readonly hideCredentials: boolean
  readonly anonymous: Anonymous | null
  /** Headers of the 401: JSON type and `WWW-Authenticate: Basic realm="…"`. */
  readonly challenge: ReadonlyArray<readonly [string, string]>
}

const sha256 = (data: Buffer | string): Buffer => createHash('sha256').update(data).digest()

/** Compared against when the username is unknown, so that case costs what a wrong password costs. */
const NO_DIGEST = sha256('')

const tables = new WeakMap<Snapshot, Map<string, BasicCredential>>()

/** Username → credential for the whole Snapshot (usernames are unique across consumers, validated at load). */
export function credentialTable(snapshot: Snapshot): Map<string, BasicCredential> {
  let table = tables.get(snapshot)
  if (table !== undefined) return table
  table = new Map()
  for (const c of snapshot.consumers) {
    if (c.basicauth.length === 0) continue
    const consumer = consumerRef(c)
    for (const cred of c.basicauth) {
      const { username, password } = cred
      if (typeof username !== 'string' || typeof password !== 'string') continue
      table.set(username, { consumer, id: cred.id, username, digest: sha256(password) })
    }
  }
  tables.set(snapshot, table)
  return table
}

function compile(c: Record<string, unknown>, env: PluginEnv, scope: PluginScope): BasicAuthConfig {
  return {
    credentials: credentialTable(scope.snapshot),
    hideCredentials: c.hide_credentials as boolean,
    anonymous: compileAnonymous(c.anonymous, 'basic-auth', env, scope),
    challenge: challengeHeaders(`Basic realm="${c.realm as string}"`),
  }
}

const SCHEME = /^\s*basic\s*(\S+)\s*$/i
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

export interface GivenCredentials {
  username: string
  password: Buffer
}

/**
 * `Basic <base64(user:password)>` (RFC 7617): null when the value is another scheme, not base64, or has no
 * `:` after a non-empty username (Kong's `([^:]+):(.*)`). The password may be empty.
 */
export function parseBasic(value: string): GivenCredentials | null {
  const m = SCHEME.exec(value)
  if (m === null) return null
  const encoded = m[1]!
  if (!BASE64.test(encoded) || encoded.length % 4 === 1) return null
  const decoded = Buffer.from(encoded, 'base64')
  const colon = decoded.indexOf(0x3a)
  if (colon <= 0) return null
  return { username: decoded.toString('utf8', 0, colon), password: decoded.subarray(colon + 1) }
}

/** Reads one header's credentials, removing the header upstream first when hide_credentials is on. */
function retrieve(ctx: PluginRequest, c: BasicAuthConfig, name: string, value: string | undefined): GivenCredentials | null {
  if (value === undefined) return null
  if (c.hideCredentials) ctx.setUpstreamHeader(name, null)
  return parseBasic(value)
}

/** Kong's order: Proxy-Authorization first; Authorization only when that named no known user. */
function check(ctx: PluginRequest, c: BasicAuthConfig): BasicCredential | null {
  const proxyValue = ctx.headers.get(PROXY_AUTHORIZATION)
  const value = ctx.headers.get(AUTHORIZATION)
  if (proxyValue === undefined && value === undefined) return null
  let given = retrieve(ctx, c, PROXY_AUTHORIZATION, proxyValue)
  let cred = given === null ? undefined : c.credentials.get(given.username)
  if (cred === undefined) {
    given = retrieve(ctx, c, AUTHORIZATION, value)
    if (given === null) return null
    cred = c.credentials.get(given.username)
  }
  const ok = timingSafeEqual(sha256(given!.password), cred === undefined ? NO_DIGEST : cred.digest)
  return ok && cred !== undefined ? cred : null
}

function access(ctx: PluginRequest, c: BasicAuthConfig): typeof CONTINUE | typeof DONE {
  // With anonymous set, stacked auth plugins are a logical OR: a real credential already won.
  if (c.anonymous !== null && alreadyAuthenticated(ctx)) return CONTINUE
  const cred = check(ctx, c)
  if (cred !== null) {
    authenticate(ctx, cred.consumer, cred.id)
    ctx.setUpstreamHeader('X-Credential-Identifier', cred.username)
    return CONTINUE
  }
  if (c.anonymous !== null) return useAnonymous(ctx, c.anonymous)
  return fail(ctx, 401, UNAUTHORIZED, c.challenge)
}

export default definePlugin<BasicAuthConfig>({
  name: 'basic-auth',
  priority: 1100,
  noConsumer: true,
  schema: {
    anonymous: str(),
    hide_credentials: bool({ default: false }),
    realm: realmField('service'),
  },
  compile,
  phases: { access },
})
