// Micro-benchmark: what JWT verification costs per request, in ns, for HS256 and RS256 (and ES256, EdDSA):
// our synchronous node:crypto verify, the whole jwt access phase with and without the verified-token cache,
// and jose's jwtVerify for reference. Run with `node --import tsx native-bench/jwt-bench.ts`.
import { exportSPKI, generateKeyPair, jwtVerify, SignJWT, type KeyLike } from 'jose'
import type { KeyObject } from 'node:crypto'
import { newReport, validateRecord } from '../src/config/schema.js'
import type { ConsumerRecord, Snapshot } from '../src/config/types.js'
import { createLogger } from '../src/logger.js'
import jwt, { clearVerifiedTokens, type JwtConfig } from '../src/plugins/jwt.js'
import { hmacVerifier, publicKeyFromPem, publicVerifier, verifySignature, type Verifier } from '../src/plugins/jwt-keys.js'
import { decodeToken } from '../src/plugins/jwt-token.js'
import type { PluginEnv, PluginRequest } from '../src/plugins/types.js'
import { readSettings } from '../src/settings.js'

const BUDGET_MS = 400
const WARMUP_MS = 200
const ROUNDS = 3
/** More distinct tokens than the verified-token cache holds (4096, first in first out): cycling through them always misses. */
const DISTINCT_TOKENS = 4352
const SECRET = 'bench-secret-bench-secret-bench-secret'

type Alg = 'HS256' | 'RS256' | 'ES256' | 'EdDSA'
const ALGS: readonly Alg[] = ['HS256', 'RS256', 'ES256', 'EdDSA']

/** Median ns per call of `fn` over ROUNDS runs of about BUDGET_MS each (sync). */
function measure(fn: (i: number) => unknown): number {
  const once = (budgetMs: number): number => {
    let ops = 0
    const start = process.hrtime.bigint()
    const budget = BigInt(budgetMs) * 1_000_000n
    let elapsed = 0n
    while (elapsed < budget) {
      for (let b = 0; b < 256; b++) fn(ops + b)
      ops += 256
      elapsed = process.hrtime.bigint() - start
    }
    return Number(elapsed) / ops
  }
  once(WARMUP_MS)
  const runs = Array.from({ length: ROUNDS }, () => once(BUDGET_MS)).sort((a, b) => a - b)
  return runs[ROUNDS >> 1]!
}

/** The same for an async `fn`, awaited one at a time (latency per verify, as a request would see it). */
async function measureAsync(fn: (i: number) => Promise<unknown>): Promise<number> {
  const once = async (budgetMs: number): Promise<number> => {
    let ops = 0
    const start = process.hrtime.bigint()
    const budget = BigInt(budgetMs) * 1_000_000n
    let elapsed = 0n
    while (elapsed < budget) {
      for (let b = 0; b < 64; b++) await fn(ops + b)
      ops += 64
      elapsed = process.hrtime.bigint() - start
    }
    return Number(elapsed) / ops
  }
  await once(WARMUP_MS)
  const runs: number[] = []
  for (let r = 0; r < ROUNDS; r++) runs.push(await once(BUDGET_MS))
  runs.sort((a, b) => a - b)
  return runs[ROUNDS >> 1]!
}

/** A PluginRequest that records nothing: the access phase's own cost, without a listener around it. */
function benchRequest(authorization: string): PluginRequest {
  return {
    method: 'GET', path: '/api', query: '', headers: new Map([['host', 'gw'], ['authorization', authorization]]),
    clientIp: '127.0.0.1', scheme: 'http', host: 'gw', port: 8000, requestId: 'rid', routeName: 'r', routeId: 'r',
    serviceName: 's', serviceId: 's', consumer: null, credentialId: null,
    addResponseHeader() {}, addResponseLines() {}, setUpstreamHeader() {}, setUpstreamQuery() {}, observeResponse() {},
    reply() {
      throw new Error('the bench token was rejected')
    },
    readBody: () => Promise.resolve(Buffer.alloc(0)),
  } as unknown as PluginRequest
}

async function main(): Promise<void> {
  const privateKeys = new Map<Alg, KeyLike | Uint8Array>()
  const verifiers = new Map<Alg, Verifier>()
  const joseKeys = new Map<Alg, KeyLike | Uint8Array>()
  const consumers: ConsumerRecord[] = []
  for (const alg of ALGS) {
    let cred: Record<string, unknown>
    if (alg === 'HS256') {
      const secret = new TextEncoder().encode(SECRET)
      privateKeys.set(alg, secret)
      joseKeys.set(alg, secret)
      verifiers.set(alg, hmacVerifier(alg, Buffer.from(SECRET)))
      cred = { secret: SECRET }
    } else {
      const { privateKey, publicKey } = await generateKeyPair(alg)
      const pem = await exportSPKI(publicKey)
      privateKeys.set(alg, privateKey)
      joseKeys.set(alg, publicKey)
      verifiers.set(alg, publicVerifier(alg, publicKeyFromPem(pem) as KeyObject) as Verifier)
      cred = { rsa_public_key: pem }
    }
    consumers.push({
      id: alg, name: alg, username: alg, customId: null, groups: [], keyauth: [], basicauth: [], oauth2: [],
      jwt: [{ id: `${alg}-cred`, key: `${alg}-key`, algorithm: alg, secret: null, rsa_public_key: null, ...cred }],
    })
  }
  const snapshot: Snapshot = { hash: '', source: '', loadedAt: 0, services: [], routes: [], upstreams: [], plugins: [], consumers, healthSlots: 0 }
  const report = newReport()
  const validated = validateRecord(jwt.schema, { claims_to_verify: ['exp'] }, 'config', report)!
  const env = { settings: readSettings({}), log: createLogger('silent'), count() {} } as unknown as PluginEnv
  const conf: JwtConfig = jwt.compile(validated, env, { id: 'bench', route: null, service: null, snapshot })
  const access = jwt.phases.access!

  const exp = Math.floor(Date.now() / 1000) + 3600
  console.log(`node ${process.version}; median of ${ROUNDS} x ${BUDGET_MS} ms after a ${WARMUP_MS} ms warm-up; tokens carry iss, sub, exp, jti\n`)
  console.log('| alg | signature only (sync) | decode + signature | access phase, uncached | access phase, cached token | jose jwtVerify (async) |')
  console.log('|---|---:|---:|---:|---:|---:|')
  for (const alg of ALGS) {
    const tokens: string[] = []
    const n = DISTINCT_TOKENS
    for (let i = 0; i < n; i++) {
      tokens.push(await new SignJWT({ iss: `${alg}-key`, sub: `user-${i}`, jti: `t-${i}` }).setExpirationTime(exp)
        .setProtectedHeader({ alg, typ: 'JWT' }).sign(privateKeys.get(alg)!))
    }
    const decoded = tokens.map((t) => decodeToken(t)).map((d) => {
      if (typeof d === 'string') throw new Error(d)
      return d
    })
    const v = verifiers.get(alg)!
    const sigOnly = measure((i) => {
      const d = decoded[i % n]!
      if (!verifySignature(v, d.signingInput, d.signature)) throw new Error('bad signature')
    })
    const decodeAndSig = measure((i) => {
      const d = decodeToken(tokens[i % n]!)
      if (typeof d === 'string' || !verifySignature(v, d.signingInput, d.signature)) throw new Error('bad token')
    })
    // Uncached: cycling through more tokens than the cache holds, every lookup misses.
    const requests = tokens.map((t) => benchRequest(`Bearer ${t}`))
    const uncached = measure((i) => {
      const ctx = requests[i % n]!
      ctx.consumer = null
      if (access(ctx, conf) !== undefined) throw new Error('not admitted')
    })
    clearVerifiedTokens()
    const one = requests[0]!
    const cached = measure(() => {
      one.consumer = null
      if (access(one, conf) !== undefined) throw new Error('not admitted')
    })
    const key = joseKeys.get(alg)!
    const jose = await measureAsync((i) => jwtVerify(tokens[i % n]!, key, { algorithms: [alg] }))
    const fmt = (ns: number): string => Math.round(ns).toLocaleString('en-US')
    console.log(`| ${alg} | ${fmt(sigOnly)} | ${fmt(decodeAndSig)} | ${fmt(uncached)} | ${fmt(cached)} | ${fmt(jose)} |`)
  }
  console.log('\nns per verification; one thread. RSA 2048-bit, P-256, Ed25519. "cached token": the same token again (a client reusing its token).')
}

await main()
