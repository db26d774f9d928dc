// Access tokens the oauth2 plugin issues itself (enable_client_credentials): HS256 JWTs signed with a key
// taken from the config, so every worker, every reload and every gateway host with that config verifies them.
import { createHash, createHmac, hkdfSync, randomUUID, timingSafeEqual } from 'node:crypto'
import { INVALID, splitScope, type TokenInfo } from './oauth2-token-cache.js'

/** The `iss` of our tokens. */
export const ISSUER = 'api-gateway/oauth2'

/** What a token issued at the token endpoint says. */
export interface IssuedClaims {
  clientId: string
  /** Space-separated, '' for none. */
  scope: string
  /** The service the token is bound to, or null for a global token (global_credentials). */
  serviceId: string | null
  /** Kong's authenticated_userid (client credentials with provision_key), or null. */
  authenticatedUserid: string | null
  /** Lifetime in seconds; 0 = never expires (Kong's token_expiration 0). */
  expiresIn: number
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url')

/**
 * The signing key: `token_signing_secret` as given, else one derived from `provision_key` (HKDF-SHA256), so
 * a Kong file with a provision_key works unchanged; null when neither is set.
 */
export function signingKey(secret: string | null, provisionKey: string | null): Buffer | null {
  if (secret !== null && secret !== '') return Buffer.from(secret, 'utf8')
  if (provisionKey !== null && provisionKey !== '') {
    return Buffer.from(hkdfSync('sha256', provisionKey, 'api-gateway oauth2', 'access token signing key', 32))
  }
  return null
}

export class TokenSigner {
  private readonly key: Buffer
  /** `base64url(header).`: every token of this key starts with it (the header names the key by kid). */
  readonly head: string

  constructor(key: Buffer) {
    this.key = key
    const kid = createHash('sha256').update(key).digest().subarray(0, 9).toString('base64url')
    this.head = b64url(JSON.stringify({ alg: 'HS256', typ: 'at+jwt', kid })) + '.'
  }

  /** True when `token` was made with this key's header (it may still be forged: verify() decides). */
  owns(token: string): boolean {
    return token.startsWith(this.head)
  }

  issue(c: IssuedClaims, nowSeconds = Math.floor(Date.now() / 1000)): string {
    const claims: Record<string, unknown> = { iss: ISSUER, jti: randomUUID(), iat: nowSeconds }
    if (c.expiresIn > 0) claims.exp = nowSeconds + Math.ceil(c.expiresIn)
    claims.client_id = c.clientId
    claims.sub = c.authenticatedUserid ?? c.clientId
    if (c.scope !== '') claims.scope = c.scope
    if (c.serviceId !== null) claims.sid = c.serviceId
    if (c.authenticatedUserid !== null) claims.authenticated_userid = c.authenticatedUserid
    const signed = this.head + b64url(JSON.stringify(claims))
    return signed + '.' + this.mac(signed).toString('base64url')
  }

  /** The token's claims when the signature is ours and the claims are well formed (expiry is the caller's). */
  verify(token: string): TokenInfo | typeof INVALID {
    if (!this.owns(token)) return INVALID
    const dot = token.lastIndexOf('.')
    if (dot <= this.head.length) return INVALID
    const signed = token.slice(0, dot)
    const given = Buffer.from(token.slice(dot + 1), 'base64url')
    const expected = this.mac(signed)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return INVALID
    let claims: Record<string, unknown>
    try {
      claims = JSON.parse(Buffer.from(signed.slice(this.head.length), 'base64url').toString('utf8')) as Record<string, unknown>
    } catch {
      return INVALID
    }
    if (claims === null || typeof claims !== 'object' || claims.iss !== ISSUER || typeof claims.client_id !== 'string') return INVALID
    const exp = claims.exp === undefined ? 0 : claims.exp
    if (typeof exp !== 'number') return INVALID
    const scope = typeof claims.scope === 'string' ? claims.scope : ''
    const userid = typeof claims.authenticated_userid === 'string' ? claims.authenticated_userid : null
    return {
      clientId: claims.client_id,
      subject: typeof claims.sub === 'string' ? claims.sub : null,
      scope,
      scopes: splitScope(scope),
      audience: [],
      exp,
      nbf: 0,
      boundService: typeof claims.sid === 'string' ? claims.sid : '',
      authenticatedUserid: userid,
    }
  }

  private mac(data: string): Buffer {
    return createHmac('sha256', this.key).update(data).digest()
  }
}
