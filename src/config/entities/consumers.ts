// The consumer entity (Kong's consumers.lua) and the credential arrays decK nests in it:
// key-auth, basic-auth, jwt, acl and oauth2 credentials, validated for shape only.
import { arrayOf, atLeastOneOf, bool, int, oneOf, record, str, type EntityCheck, type Field, type RecordField } from '../schema.js'
import { id, parentRef, tags, timestamp } from '../typedefs.js'
import { pluginSchema } from './plugins.js'

/** Kong 3.x's jwt_secrets algorithms (the jwt plugin verifies exactly these). */
export const JWT_ALGORITHMS = [
  'HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA',
] as const

const bookkeeping = () => ({ id: id(), consumer: parentRef('consumer'), tags: tags(), created_at: timestamp() })

const jwtKeys: EntityCheck = (r) => {
  const alg = r.algorithm as string
  if (alg.startsWith('HS')) return r.secret === null ? { field: 'secret', message: `required field missing (because 'algorithm' is '${alg}')` } : null
  return r.rsa_public_key === null
    ? { field: 'rsa_public_key', message: `required field missing (because 'algorithm' is '${alg}')` } : null
}

/** The credential collections a consumer may carry, by their declarative key. */
export const CREDENTIALS = {
  keyauth_credentials: record({ ...bookkeeping(), key: str({ required: true, minLength: 1 }), ttl: int({ min: 0 }) }),
  basicauth_credentials: record({
    ...bookkeeping(), username: str({ required: true, minLength: 1 }), password: str({ required: true }),
  }),
  jwt_secrets: record({
    ...bookkeeping(),
    key: str({ required: true, minLength: 1 }),
    secret: str(),
    algorithm: oneOf(JWT_ALGORITHMS, 'HS256'),
    rsa_public_key: str(),
  }, { checks: [jwtKeys] }),
  acls: record({ ...bookkeeping(), group: str({ required: true, minLength: 1 }) }),
  oauth2_credentials: record({
    ...bookkeeping(),
    name: str({ required: true, minLength: 1 }),
    client_id: str({ required: true, minLength: 1 }),
    client_secret: str(),
    hash_secret: bool({ default: false }),
    redirect_uris: arrayOf(str()),
    client_type: oneOf(['confidential', 'public'], 'confidential'),
  }),
} as const

export type CredentialKind = keyof typeof CREDENTIALS

export function consumerSchema(): RecordField {
  const credentials: Record<string, Field> = {}
  for (const [k, schema] of Object.entries(CREDENTIALS)) credentials[k] = arrayOf(schema)
  return record({
    id: id(),
    username: str({ minLength: 1 }),
    custom_id: str({ minLength: 1 }),
    plugins: arrayOf(pluginSchema('consumer')),
    ...credentials,
    tags: tags(),
    created_at: timestamp(),
    updated_at: timestamp(),
  }, { checks: [atLeastOneOf('username', 'custom_id')] })
}
