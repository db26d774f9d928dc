// A real OAuth 2.0 authorization server for tests: oidc-provider on a free loopback port with the
// client credentials grant, RFC 7662 introspection, RFC 7009 revocation and RFC 8707 resource
// indicators (each resource decides the token format: opaque for introspection, JWT for jwks_uri).
import { generateKeyPairSync } from 'node:crypto'
import http from 'node:http'
import type net from 'node:net'
import Provider from 'oidc-provider'

/** Resource indicators the server knows: the audience its tokens carry, their format and lifetime. */
export const RESOURCES = {
  /** Opaque tokens (validated by introspection), audience `api-opaque`. */
  opaque: 'https://api.opaque.test',
  /** Opaque tokens for another API (audience `other-api`). */
  other: 'https://api.other.test',
  /** Opaque tokens that expire 2 s after they are issued (1–2 s from the request: `exp` is in whole seconds). */
  short: 'https://api.short.test',
  /** RS256 JWT access tokens (RFC 9068), audience `api-jwt`, verified with the jwks_uri. */
  jwt: 'https://api.jwt.test',
  /** RS256 JWT access tokens that expire 2 s after they are issued. */
  jwtShort: 'https://api.jwt-short.test',
} as const

const SERVERS: Record<string, { audience: string; format: 'opaque' | 'jwt'; ttl: number }> = {
  [RESOURCES.opaque]: { audience: 'api-opaque', format: 'opaque', ttl: 3600 },
  [RESOURCES.other]: { audience: 'other-api', format: 'opaque', ttl: 3600 },
  [RESOURCES.short]: { audience: 'api-opaque', format: 'opaque', ttl: 2 },
  [RESOURCES.jwt]: { audience: 'api-jwt', format: 'jwt', ttl: 3600 },
  [RESOURCES.jwtShort]: { audience: 'api-jwt', format: 'jwt', ttl: 2 },
}

const SCOPES = 'read write admin'

/** The client the gateway introspects with, and the applications that get tokens. */
export const CLIENTS = {
  gateway: { id: 'gateway', secret: 'gateway-introspection-secret' },
  app1: { id: 'app-1', secret: 'app-1-secret' },
  app2: { id: 'app-2', secret: 'app-2-secret' },
} as const

export type Client = { readonly id: string; readonly secret: string }

export interface AuthServer {
  issuer: string
  introspectionEndpoint: string
  jwksUri: string
  tokenEndpoint: string
  /** Gets an access token for `client` with the client credentials grant. */
  token(client: Client, opts?: { resource?: string; scope?: string }): Promise<string>
  /** Revokes a token (RFC 7009) as `client`. */
  revoke(token: string, client: Client): Promise<void>
  /** Requests the server received on `path` (e.g. '/token/introspection') so far. */
  requests(path: string): number
  /** While on, requests are accepted and never answered (an authorization server that hangs). */
  hang(on: boolean): void
  close(): Promise<void>
}

function basic(client: Client): string {
  return 'Basic ' + Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`).toString('base64')
}

export async function startAuthServer(): Promise<AuthServer> {
  const counts = new Map<string, number>()
  const sockets = new Set<net.Socket>()
  let hanging = false
  let handler: http.RequestListener = (_req, res) => res.end()
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    counts.set(path, (counts.get(path) ?? 0) + 1)
    if (hanging) return
    handler(req, res)
  })
  server.on('connection', (s: net.Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const issuer = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const provider = new Provider(issuer, {
    clients: Object.values(CLIENTS).map((c) => ({
      client_id: c.id, client_secret: c.secret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
    })),
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test-key-1', use: 'sig', alg: 'RS256' }] },
    cookies: { keys: ['auth-server-test-cookie-key'] },
    ttl: { ClientCredentials: (_ctx: unknown, token: { resourceServer?: { accessTokenTTL?: number } }) => token.resourceServer?.accessTokenTTL ?? 600 },
    scopes: SCOPES.split(' '),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => false,
        getResourceServerInfo: async (_ctx: unknown, resource: string) => {
          const rs = SERVERS[resource]
          if (rs === undefined) throw new Error(`unknown resource ${resource}`)
          return {
            scope: SCOPES, audience: rs.audience, accessTokenTTL: rs.ttl, accessTokenFormat: rs.format,
            ...(rs.format === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
          }
        },
      },
    },
  })
  handler = provider.callback()

  const tokenEndpoint = `${issuer}/token`
  return {
    issuer,
    introspectionEndpoint: `${issuer}/token/introspection`,
    jwksUri: `${issuer}/jwks`,
    tokenEndpoint,
    async token(client, opts = {}) {
      const form = new URLSearchParams({ grant_type: 'client_credentials' })
      if (opts.resource !== undefined) form.set('resource', opts.resource)
      if (opts.scope !== undefined) form.set('scope', opts.scope)
      const res = await fetch(tokenEndpoint, { method: 'POST', headers: { authorization: basic(client), 'content-type': 'application/x-www-form-urlencoded' }, body: form })
      const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string }
      if (res.status !== 200 || body.access_token === undefined) throw new Error(`token request failed: ${res.status} ${JSON.stringify(body)}`)
      return body.access_token
    },
    async revoke(token, client) {
      const res = await fetch(`${issuer}/token/revocation`, {
        method: 'POST',
        headers: { authorization: basic(client), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
      })
      if (res.status !== 200) throw new Error(`revocation failed: ${res.status} ${await res.text()}`)
    },
    requests: (path) => counts.get(path) ?? 0,
    hang(on) {
      hanging = on
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  }
}
