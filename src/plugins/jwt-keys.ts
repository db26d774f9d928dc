// JWS algorithms for the jwt plugin: keys turned once into ready-to-use verifiers, and a synchronous verify.
// node:crypto rather than jose on the request path: jose verifies through a promise on libuv's thread pool.
import { constants, createHmac, createPublicKey, timingSafeEqual, verify, type KeyObject } from 'node:crypto'

import { JWT_ALGORITHMS } from '../config/entities/consumers.js'

/** Every `alg` the plugin accepts (Kong 3.x's jwt_secrets algorithms); `none` is never one of them. */
export { JWT_ALGORITHMS }
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number]

const SUPPORTED: ReadonlySet<string> = new Set(JWT_ALGORITHMS)

export function isAlgorithm(alg: unknown): alg is JwtAlgorithm {
  return typeof alg === 'string' && SUPPORTED.has(alg)
}

export function isHmac(alg: JwtAlgorithm): boolean {
  return alg.charCodeAt(0) === 72 // 'H'
}

const HASH: Readonly<Record<JwtAlgorithm, string | null>> = {
  HS256: 'sha256', HS384: 'sha384', HS512: 'sha512',
  RS256: 'sha256', RS384: 'sha384', RS512: 'sha512',
  PS256: 'sha256', PS384: 'sha384', PS512: 'sha512',
  ES256: 'sha256', ES384: 'sha384', ES512: 'sha512',
  EdDSA: null,
}

/** The named curve each ECDSA algorithm is defined over (RFC 7518 §3.4), as node:crypto names it. */
const EC_CURVE: Readonly<Partial<Record<JwtAlgorithm, string>>> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' }

/** What verifySignature needs for one (key, algorithm) pair, built once: the hash and node's key input. */
export interface Verifier {
  readonly alg: JwtAlgorithm
  readonly hmac: boolean
  /** Digest name; null for EdDSA (the curve fixes it). */
  readonly hash: string | null
  /** The secret (HMAC, a private copy), or the public key with its padding / signature-encoding options. */
  readonly key: Buffer | KeyObject | { key: KeyObject; padding?: number; saltLength?: number; dsaEncoding?: 'ieee-p1363' }
}

/** An HMAC verifier for `secret` (the raw bytes; Kong's secret_is_base64 is decoded by the caller). */
export function hmacVerifier(alg: JwtAlgorithm, secret: Buffer): Verifier {
  return { alg, hmac: true, hash: HASH[alg], key: Buffer.from(secret) }
}

/**
 * A verifier of `alg` signatures with the public `key`, or a message saying why the key cannot verify `alg`
 * (an RSA key for ES256, a P-256 key for ES384 …). The check is what stops algorithm confusion with
 * JWKS keys: a key only ever verifies the algorithms of its own type.
 */
export function publicVerifier(alg: JwtAlgorithm, key: KeyObject): Verifier | string {
  if (key.type !== 'public') return 'not a public key'
  const type = key.asymmetricKeyType
  const hash = HASH[alg]
  switch (alg.slice(0, 2)) {
    case 'HS':
      return `${alg} needs a secret, not a public key`
    case 'RS':
      if (type !== 'rsa') return `${alg} needs an RSA key, got ${type}`
      return { alg, hmac: false, hash, key }
    case 'PS':
      if (type !== 'rsa' && type !== 'rsa-pss') return `${alg} needs an RSA key, got ${type}`
      return { alg, hmac: false, hash, key: { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } }
    case 'ES': {
      if (type !== 'ec') return `${alg} needs an EC key, got ${type}`
      const curve = key.asymmetricKeyDetails?.namedCurve
      if (curve !== EC_CURVE[alg]) return `${alg} needs curve ${EC_CURVE[alg]}, got ${curve}`
      return { alg, hmac: false, hash, key: { key, dsaEncoding: 'ieee-p1363' } }
    }
    default:
      if (type !== 'ed25519' && type !== 'ed448') return `EdDSA needs an Ed25519 or Ed448 key, got ${type}`
      return { alg, hmac: false, hash: null, key }
  }
}

/** A public key from PEM (SPKI "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or an X.509 certificate), or null. */
export function publicKeyFromPem(pem: string): KeyObject | null {
  try {
    const key = createPublicKey(pem)
    return key.type === 'public' ? key : null
  } catch {
    return null
  }
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/

/**
 * Kong's secret_is_base64 decoding (standard or URL alphabet, padding optional), or null when `s` is not
 * base64: Kong answers "Invalid key/secret" then, where Buffer.from would skip the bad characters.
 */
export function decodeBase64Secret(s: string): Buffer | null {
  if (!BASE64.test(s) || s.replace(/=+$/, '').length % 4 === 1) return null
  return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
}

/**
 * Checks `signature` over `signingInput` (the token's `header.payload`, ASCII). Synchronous: an HMAC costs
 * about a microsecond and an RSA-2048 verify tens of them (native-bench/jwt-bench.ts), less than a trip
 * through the thread pool. A malformed signature (wrong length, bad DER) is just false.
 */
export function verifySignature(v: Verifier, signingInput: string, signature: Buffer): boolean {
  if (v.hmac) {
    const mac = createHmac(v.hash as string, v.key as Buffer).update(signingInput, 'latin1').digest()
    return mac.length === signature.length && timingSafeEqual(mac, signature)
  }
  try {
    return verify(v.hash, Buffer.from(signingInput, 'latin1'), v.key, signature)
  } catch {
    return false
  }
}
