// basic-auth (Kong's plugin): Basic parsing, Proxy-Authorization before Authorization, Kong 3.x's 401
// "Unauthorized" with WWW-Authenticate: Basic realm="service", hide_credentials, anonymous (logical OR)
// and the per-Snapshot credential table holding password digests, never passwords.
import { describe, expect, it } from 'vitest'
import { compileSnapshot } from '../../src/config/compile.js'
import { validateConfig } from '../../src/config/validate.js'
import type { Snapshot } from '../../src/config/types.js'
import plugin, { credentialTable, parseBasic, type BasicAuthConfig } from '../../src/plugins/basic-auth.js'
import { CONTINUE, DONE, type PluginRequest } from '../../src/plugins/types.js'
import { compilePlugin, fakeRequest, testEnv, type FakeRequest } from '../helpers/plugins.js'

type Doc = Record<string, unknown>

const CONSUMERS = [
  { username: 'aladdin', basicauth_credentials: [{ id: 'cred-aladdin', username: 'Aladdin', password: 'open sesame' }] },
  { username: 'empty', basicauth_credentials: [{ username: 'nopass', password: '' }] },
  { username: 'utf', basicauth_credentials: [{ username: 'jürgen', password: 'pässwörd:with:colons' }] },
  { username: 'anonymous' },
]

function snapshot(): Snapshot {
  const r = validateConfig({ _format_version: '3.0', consumers: CONSUMERS })
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'))
  return compileSnapshot(r.config, '', 0)
}

const SNAP = snapshot()
const compiled = (config: Doc = {}): BasicAuthConfig => compilePlugin(plugin, config, testEnv(), 'basic-auth-test', SNAP)
const basic = (user: string, password: string): string => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64')
const withHeaders = (h: Record<string, string>): Map<string, string> => new Map([['host', 'gw.local:8000'], ...Object.entries(h)])

function run(c: BasicAuthConfig, headers: Record<string, string> = {}, over: Partial<PluginRequest> = {}): { result: unknown; ctx: FakeRequest } {
  const ctx = fakeRequest({ headers: withHeaders(headers), ...over })
  const result = plugin.phases.access!(ctx, c)
  return { result, ctx }
}

function expect401(r: { result: unknown; ctx: FakeRequest }, realm = 'service'): void {
  expect(r.result).toBe(DONE)
  const reply = r.ctx.replies[0]!
  expect(reply.status).toBe(401)
  expect(JSON.parse(reply.body)).toEqual({ message: 'Unauthorized', request_id: 'rid' })
  expect(reply.headers).toContainEqual(['WWW-Authenticate', `Basic realm="${realm}"`])
  expect(r.ctx.consumer).toBeNull()
}

const upstream = (ctx: FakeRequest, name: string): string | null | undefined => {
  let v: string | null | undefined
  for (const [n, value] of ctx.upstreamHeaders) if (n.toLowerCase() === name.toLowerCase()) v = value
  return v
}

describe('basic-auth schema', () => {
  it('fills Kong 3.x defaults (realm "service")', () => {
    const r = validateConfig({ _format_version: '3.0', plugins: [{ name: 'basic-auth' }] })
    expect(r.ok && r.config.plugins[0]!.config).toEqual({ anonymous: null, hide_credentials: false, realm: 'service' })
  })

  it('rejects a realm with a control character', () => {
    const r = validateConfig({ _format_version: '3.0', plugins: [{ name: 'basic-auth', config: { realm: 'a\r\nb' } }] })
    expect(r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)).toEqual([
      'plugins[0].config.realm: must not contain quotes, backslashes or control characters',
    ])
  })
})

describe('basic-auth', () => {
  it('authenticates good credentials; X-Credential-Identifier is the credential username, as in Kong', () => {
    const r = run(compiled(), { authorization: basic('Aladdin', 'open sesame') })
    expect(r.result).toBe(CONTINUE)
    expect(r.ctx.consumer).toMatchObject({ id: 'aladdin', username: 'aladdin' })
    expect(r.ctx.credentialId).toBe('cred-aladdin')
    expect(upstream(r.ctx, 'X-Consumer-ID')).toBe('aladdin')
    expect(upstream(r.ctx, 'X-Credential-Identifier')).toBe('Aladdin')
    expect(upstream(r.ctx, 'X-Anonymous-Consumer')).toBeNull()
    expect(r.ctx.headers.get('authorization')).toBe(basic('Aladdin', 'open sesame'))
  })

  it('accepts an empty password, UTF-8 and colons in the password, and a lower-case scheme', () => {
    expect(run(compiled(), { authorization: basic('nopass', '') }).ctx.consumer?.username).toBe('empty')
    expect(run(compiled(), { authorization: basic('jürgen', 'pässwörd:with:colons') }).ctx.consumer?.username).toBe('utf')
    const lower = 'basic ' + Buffer.from('Aladdin:open sesame').toString('base64')
    expect(run(compiled(), { authorization: lower }).ctx.consumer?.username).toBe('aladdin')
  })

  it('answers 401 Unauthorized with WWW-Authenticate for missing, wrong, unknown and malformed credentials', () => {
    const c = compiled()
    expect401(run(c))
    expect401(run(c, { authorization: basic('Aladdin', 'wrong') }))
    expect401(run(c, { authorization: basic('nobody', 'open sesame') }))
    expect401(run(c, { authorization: 'Bearer abc' }))
    expect401(run(c, { authorization: 'Basic !!notbase64' }))
    expect401(run(c, { authorization: 'Basic ' + Buffer.from('no-colon').toString('base64') }))
    expect401(run(c, { authorization: 'Basic ' + Buffer.from(':open sesame').toString('base64') }))
    expect401(run(compiled({ realm: 'gw' })), 'gw')
  })

  it('tries Proxy-Authorization first, and Authorization when that names no known user', () => {
    const c = compiled()
    const proxyWins = run(c, { 'proxy-authorization': basic('nopass', ''), authorization: basic('Aladdin', 'open sesame') })
    expect(proxyWins.ctx.consumer?.username).toBe('empty')
    const fallback = run(c, { 'proxy-authorization': basic('nobody', 'x'), authorization: basic('Aladdin', 'open sesame') })
    expect(fallback.ctx.consumer?.username).toBe('aladdin')
    // A known Proxy-Authorization user with a wrong password is final, as in Kong.
    expect401(run(c, { 'proxy-authorization': basic('nopass', 'bad'), authorization: basic('Aladdin', 'open sesame') }))
    expect(run(c, { 'proxy-authorization': basic('Aladdin', 'open sesame') }).ctx.consumer?.username).toBe('aladdin')
  })

  it('hide_credentials removes the Authorization header upstream, also when authentication fails', () => {
    const c = compiled({ hide_credentials: true })
    const ok = run(c, { authorization: basic('Aladdin', 'open sesame') })
    expect(ok.ctx.consumer?.username).toBe('aladdin')
    expect(ok.ctx.headers.has('authorization')).toBe(false)
    const bad = run(compiled({ hide_credentials: true, anonymous: 'anonymous' }), { authorization: basic('Aladdin', 'x') })
    expect(bad.ctx.headers.has('authorization')).toBe(false)
    expect(bad.ctx.consumer?.username).toBe('anonymous')
  })

  it('falls back to the anonymous consumer, or leaves an already authenticated request alone', () => {
    const c = compiled({ anonymous: 'anonymous' })
    const anon = run(c)
    expect(anon.result).toBe(CONTINUE)
    expect(anon.ctx.consumer?.username).toBe('anonymous')
    expect(anon.ctx.credentialId).toBeNull()
    expect(upstream(anon.ctx, 'X-Anonymous-Consumer')).toBe('true')
    const already = run(c, {}, { consumer: { id: 'k', username: 'k', customId: null, groups: [] }, credentialId: 'key-cred' })
    expect(already.result).toBe(CONTINUE)
    expect(already.ctx.consumer?.id).toBe('k')
    expect(already.ctx.upstreamHeaders).toEqual([])
    // An anonymous consumer set by an earlier plugin is not a credential: basic-auth still tries.
    const upgraded = run(c, { authorization: basic('Aladdin', 'open sesame') },
      { consumer: { id: 'anonymous', username: 'anonymous', customId: null, groups: [] }, credentialId: null })
    expect(upgraded.ctx.consumer?.username).toBe('aladdin')
  })

  it("answers Kong's 500 when the anonymous consumer does not exist", () => {
    const r = run(compiled({ anonymous: 'ghost' }))
    expect(r.ctx.replies[0]!.status).toBe(500)
    expect(JSON.parse(r.ctx.replies[0]!.body).message).toBe("anonymous consumer ghost is configured but doesn't exist")
  })
})

describe('basic-auth credential table', () => {
  it('keeps SHA-256 digests, not passwords, and is shared per Snapshot', () => {
    const table = credentialTable(SNAP)
    expect(compiled().credentials).toBe(table)
    const cred = table.get('Aladdin')!
    expect(cred.digest).toHaveLength(32)
    expect(JSON.stringify(cred)).not.toContain('open sesame')
  })

  it('parseBasic splits at the first colon and rejects other schemes', () => {
    const p = parseBasic(basic('u', 'a:b'))!
    expect([p.username, p.password.toString()]).toEqual(['u', 'a:b'])
    expect(parseBasic('Digest abc')).toBeNull()
    expect(parseBasic('Basic')).toBeNull()
    expect(parseBasic('  Basic   ' + Buffer.from('u:').toString('base64'))).toMatchObject({ username: 'u' })
  })
})
