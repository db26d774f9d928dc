// key-auth (Kong's plugin): schema defaults, where the key is looked for and in what order, Kong's 401
// messages and WWW-Authenticate, hide_credentials, anonymous (logical OR), run_on_preflight, the
// per-Snapshot key table (vault keys included) and the body parsers for key_in_body.
import { describe, expect, it } from 'vitest'
import { compileSnapshot } from '../../src/config/compile.js'
import { parseConfigText } from '../../src/config/load.js'
import { validateConfig } from '../../src/config/validate.js'
import type { Snapshot } from '../../src/config/types.js'
import plugin, { keyTable, parseMultipart, queryArg, stripQueryArg, type KeyAuthConfig } from '../../src/plugins/key-auth.js'
import { CONTINUE, DONE, type PluginRequest } from '../../src/plugins/types.js'
import { compilePlugin, fakeRequest, testEnv, type FakeRequest } from '../helpers/plugins.js'

type Doc = Record<string, unknown>

const CONSUMERS = [
  { username: 'bob', custom_id: 'bob-cid', keyauth_credentials: [{ id: 'cred-bob', key: 'bob-key' }] },
  { id: 'anon-id', username: 'anonymous' },
  { username: 'carol', keyauth_credentials: [{ key: 'carol-key' }] },
]

function snapshot(doc: Doc = {}): Snapshot {
  const r = validateConfig({ _format_version: '3.0', consumers: CONSUMERS, ...doc })
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'))
  return compileSnapshot(r.config, '', 0)
}

const SNAP = snapshot()

function compiled(config: Doc = {}, snap = SNAP): KeyAuthConfig {
  return compilePlugin(plugin, config, testEnv(), 'key-auth-test', snap)
}

function problems(config: Doc): string[] {
  const r = validateConfig({ _format_version: '3.0', plugins: [{ name: 'key-auth', config }] })
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)
}

type Run = { result: unknown; ctx: FakeRequest }

async function run(c: KeyAuthConfig, over: Partial<PluginRequest> & { body?: string } = {}): Promise<Run> {
  const ctx = fakeRequest(over)
  const result = await plugin.phases.access!(ctx, c)
  return { result, ctx }
}

const withHeaders = (h: Record<string, string>): Map<string, string> => new Map([['host', 'gw.local:8000'], ...Object.entries(h)])
const upstream = (ctx: FakeRequest, name: string): string | null | undefined => {
  let v: string | null | undefined
  for (const [n, value] of ctx.upstreamHeaders) if (n.toLowerCase() === name.toLowerCase()) v = value
  return v
}

function expect401(r: Run, message: string, challenge = 'Key'): void {
  expect(r.result).toBe(DONE)
  expect(r.ctx.replies).toHaveLength(1)
  const reply = r.ctx.replies[0]!
  expect(reply.status).toBe(401)
  expect(JSON.parse(reply.body)).toEqual({ message, request_id: 'rid' })
  expect(reply.headers).toContainEqual(['WWW-Authenticate', challenge])
  expect(reply.headers).toContainEqual(['Content-Type', 'application/json; charset=utf-8'])
  expect(r.ctx.consumer).toBeNull()
}

describe('key-auth schema', () => {
  it('fills Kong 3.x defaults', () => {
    const r = validateConfig({ _format_version: '3.0', plugins: [{ name: 'key-auth' }] })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.config.plugins[0]!.config).toEqual({
      key_names: ['apikey'], hide_credentials: false, anonymous: null, key_in_header: true, key_in_query: true,
      key_in_body: false, run_on_preflight: true, realm: null,
    })
  })

  it('rejects key names that are not header names, unknown fields and a realm that would break the header', () => {
    expect(problems({ key_names: ['api key'] })).toEqual([
      "plugins[0].config.key_names[0]: bad header name 'api key', allowed characters are A-Z, a-z, 0-9, '_', and '-'",
    ])
    expect(problems({ key_in_cookie: true })).toEqual(['plugins[0].config.key_in_cookie: unknown field'])
    expect(problems({ realm: 'a"b' })).toEqual(['plugins[0].config.realm: must not contain quotes, backslashes or control characters'])
  })
})

describe('key-auth lookup', () => {
  it('authenticates a key in the apikey header and sets the consumer headers upstream', async () => {
    const r = await run(compiled(), { headers: withHeaders({ apikey: 'bob-key' }) })
    expect(r.result).toBe(CONTINUE)
    expect(r.ctx.consumer).toMatchObject({ id: 'bob', username: 'bob', customId: 'bob-cid' })
    expect(r.ctx.credentialId).toBe('cred-bob')
    expect(upstream(r.ctx, 'X-Consumer-ID')).toBe('bob')
    expect(upstream(r.ctx, 'X-Consumer-Username')).toBe('bob')
    expect(upstream(r.ctx, 'X-Consumer-Custom-ID')).toBe('bob-cid')
    expect(upstream(r.ctx, 'X-Credential-Identifier')).toBe('cred-bob')
    expect(upstream(r.ctx, 'X-Anonymous-Consumer')).toBeNull()
    // Not hidden by default.
    expect(r.ctx.headers.get('apikey')).toBe('bob-key')
  })

  it('authenticates a key in the query string, percent-decoded', async () => {
    const r = await run(compiled(), { query: 'x=1&apikey=carol%2Dkey' })
    expect(r.result).toBe(CONTINUE)
    expect(r.ctx.consumer?.username).toBe('carol')
    expect(r.ctx.credentialId).toBe('key-auth:carol:0')
  })

  it('answers 401 "No API key found in request" with WWW-Authenticate: Key when there is none', async () => {
    expect401(await run(compiled()), 'No API key found in request')
    expect401(await run(compiled(), { query: 'apikey=' }), 'No API key found in request')
    expect401(await run(compiled({ realm: 'gw' })), 'No API key found in request', 'Key realm="gw"')
  })

  it('answers 401 "Unauthorized" for a key no consumer has', async () => {
    expect401(await run(compiled(), { headers: withHeaders({ apikey: 'nope' }) }), 'Unauthorized')
  })

  it('answers 401 "Duplicate API key found" for a repeated query key', async () => {
    expect401(await run(compiled(), { query: 'apikey=bob-key&apikey=bob-key' }), 'Duplicate API key found')
  })

  it('tries each key name in order: header, then query, for the first name before the second', async () => {
    const c = compiled({ key_names: ['first', 'second'] })
    const r = await run(c, { headers: withHeaders({ second: 'bob-key' }), query: 'first=carol-key' })
    expect(r.ctx.consumer?.username).toBe('carol')
    // A bare `first` (Kong's `true`) is not a key: the search moves on to the next name.
    const bare = await run(c, { query: 'first&second=bob-key' })
    expect(bare.ctx.consumer?.username).toBe('bob')
  })

  it('reads header names case-insensitively, and a key name with `_` from the `-` header', async () => {
    const r = await run(compiled({ key_names: ['X-API_Key'] }), { headers: withHeaders({ 'x-api-key': 'bob-key' }) })
    expect(r.ctx.consumer?.username).toBe('bob')
  })

  it('honours key_in_header: false and key_in_query: false', async () => {
    expect401(await run(compiled({ key_in_header: false }), { headers: withHeaders({ apikey: 'bob-key' }) }), 'No API key found in request')
    expect401(await run(compiled({ key_in_query: false }), { query: 'apikey=bob-key' }), 'No API key found in request')
  })
})

describe('key-auth hide_credentials', () => {
  it('removes the key header and strips the query argument, keeping the rest of the query as sent', async () => {
    const c = compiled({ hide_credentials: true })
    const h = await run(c, { headers: withHeaders({ apikey: 'bob-key' }), query: 'a=1&apikey=x&b=%20' })
    expect(h.result).toBe(CONTINUE)
    expect(h.ctx.headers.has('apikey')).toBe(false)
    expect(h.ctx.query).toBe('a=1&b=%20')
    const q = await run(c, { query: 'apikey=bob-key' })
    expect(q.ctx.consumer?.username).toBe('bob')
    expect(q.ctx.query).toBe('')
  })

  it('strips the credential even when the key is invalid', async () => {
    const r = await run(compiled({ hide_credentials: true, anonymous: 'anonymous' }), { query: 'apikey=bad&z=1' })
    expect(r.ctx.query).toBe('z=1')
    expect(r.ctx.consumer?.username).toBe('anonymous')
  })
})

describe('key-auth key_in_body', () => {
  const post = (contentType: string, body: string, extra: Record<string, string> = {}): Partial<PluginRequest> & { body: string } => ({
    method: 'POST',
    headers: withHeaders({ 'content-type': contentType, 'content-length': String(Buffer.byteLength(body)), ...extra }),
    body,
  })
  const c = compiled({ key_in_body: true })

  it('finds the key in a form, a JSON object and a multipart body', async () => {
    expect((await run(c, post('application/x-www-form-urlencoded', 'a=1&apikey=bob-key'))).ctx.consumer?.username).toBe('bob')
    expect((await run(c, post('application/json; charset=utf-8', '{"apikey":"carol-key"}'))).ctx.consumer?.username).toBe('carol')
    const multipart = '--XyZ\r\nContent-Disposition: form-data; name="other"\r\n\r\nv\r\n' +
      '--XyZ\r\nContent-Disposition: form-data; name="apikey"\r\n\r\nbob-key\r\n--XyZ--\r\n'
    expect((await run(c, post('multipart/form-data; boundary=XyZ', multipart))).ctx.consumer?.username).toBe('bob')
  })

  it('goes asynchronous only when the body is needed', () => {
    const viaHeader = fakeRequest({ ...post('application/json', '{}'), headers: withHeaders({ apikey: 'bob-key', 'content-type': 'application/json', 'content-length': '2' }) })
    expect(plugin.phases.access!(viaHeader, c)).toBe(CONTINUE)
    const viaBody = fakeRequest(post('application/json', '{"apikey":"bob-key"}'))
    expect(plugin.phases.access!(viaBody, c)).toBeInstanceOf(Promise)
  })

  it('reports a JSON array or repeated form field as a duplicate key', async () => {
    expect401(await run(c, post('application/json', '{"apikey":["a","b"]}')), 'Duplicate API key found')
    expect401(await run(c, post('application/x-www-form-urlencoded', 'apikey=a&apikey=b')), 'Duplicate API key found')
  })

  it('ignores bodies of other types, invalid JSON and bodies above the read limit', async () => {
    let reads = 0
    const counting = (o: Partial<PluginRequest> & { body: string }): Partial<PluginRequest> => ({
      ...o, readBody: async () => { reads++; return Buffer.from(o.body) },
    })
    expect401(await run(c, counting(post('text/plain', 'apikey=bob-key'))), 'No API key found in request')
    expect(reads).toBe(0)
    expect401(await run(c, post('application/json', '{"apikey":')), 'No API key found in request')
    const big = post('application/json', '{"apikey":"bob-key"}', { 'content-length': String(2 * 1024 * 1024) })
    expect401(await run(c, counting(big)), 'No API key found in request')
    expect(reads).toBe(0)
  })

  it('does not read a body when key_in_body is off', async () => {
    let reads = 0
    const r = await run(compiled(), { ...post('application/json', '{"apikey":"bob-key"}'), readBody: async () => { reads++; return Buffer.alloc(0) } })
    expect401(r, 'No API key found in request')
    expect(reads).toBe(0)
  })
})

describe('key-auth anonymous and preflight', () => {
  it('lets a request without a valid key through as the anonymous consumer', async () => {
    const c = compiled({ anonymous: 'anon-id' })
    for (const over of [{}, { query: 'apikey=wrong' }] as Partial<PluginRequest>[]) {
      const r = await run(c, over)
      expect(r.result).toBe(CONTINUE)
      expect(r.ctx.replies).toEqual([])
      expect(r.ctx.consumer).toMatchObject({ id: 'anon-id', username: 'anonymous' })
      expect(r.ctx.credentialId).toBeNull()
      expect(upstream(r.ctx, 'X-Anonymous-Consumer')).toBe('true')
      expect(upstream(r.ctx, 'X-Credential-Identifier')).toBeNull()
    }
    // A valid key still wins.
    expect((await run(c, { query: 'apikey=bob-key' })).ctx.consumer?.username).toBe('bob')
  })

  it('finds the anonymous consumer by username too', async () => {
    expect((await run(compiled({ anonymous: 'anonymous' }))).ctx.consumer?.id).toBe('anon-id')
  })

  it("answers Kong's 500 when the anonymous consumer does not exist", async () => {
    const r = await run(compiled({ anonymous: 'ghost' }))
    expect(r.result).toBe(DONE)
    expect(r.ctx.replies[0]!.status).toBe(500)
    expect(JSON.parse(r.ctx.replies[0]!.body).message).toBe("anonymous consumer ghost is configured but doesn't exist")
  })

  it('with anonymous set, leaves a request another plugin authenticated alone (logical OR)', async () => {
    const ctx = fakeRequest({ consumer: { id: 'x', username: 'x', customId: null, groups: [] }, credentialId: 'other-cred' })
    expect(plugin.phases.access!(ctx, compiled({ anonymous: 'anon-id' }))).toBe(CONTINUE)
    expect(ctx.consumer?.id).toBe('x')
    expect(ctx.upstreamHeaders).toEqual([])
    // Without anonymous (logical AND) the key is still required.
    const and = fakeRequest({ consumer: { id: 'x', username: 'x', customId: null, groups: [] }, credentialId: 'other-cred' })
    expect(plugin.phases.access!(and, compiled())).toBe(DONE)
  })

  it('skips OPTIONS requests only when run_on_preflight is false', async () => {
    expect((await run(compiled({ run_on_preflight: false }), { method: 'OPTIONS' })).result).toBe(CONTINUE)
    expect401(await run(compiled(), { method: 'OPTIONS' }), 'No API key found in request')
  })
})

describe('key-auth key table', () => {
  it('is built once per Snapshot and shared by every instance', () => {
    const a = compiled()
    const b = compiled({ key_names: ['other'] })
    expect(a.keys).toBe(b.keys)
    expect(keyTable(SNAP).get('bob-key')).toMatchObject({ id: 'cred-bob', consumer: { username: 'bob' } })
    expect(keyTable(SNAP).size).toBe(2)
  })

  it('holds keys written as {vault://env/NAME}, resolved at load', async () => {
    const text = JSON.stringify({
      _format_version: '3.0',
      consumers: [{ username: 'vic', keyauth_credentials: [{ key: '{vault://env/vic-key}' }] }],
    })
    const loaded = parseConfigText(text, 'inline', { format: 'json', env: { VIC_KEY: 'from-the-env' } })
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors))
    const c = compiled({}, compileSnapshot(loaded.config, '', 0))
    const r = await run(c, { headers: withHeaders({ apikey: 'from-the-env' }) })
    expect(r.ctx.consumer?.username).toBe('vic')
  })
})

describe('key-auth helpers', () => {
  it('queryArg follows kong.request.get_query()', () => {
    expect(queryArg('', 'a')).toBeUndefined()
    expect(queryArg('a=1', 'a')).toBe('1')
    expect(queryArg('a', 'a')).toBe(true)
    expect(queryArg('a=', 'a')).toBe('')
    expect(queryArg('a=1&a', 'a')).toEqual(['1', true])
    expect(queryArg('b=1&%61=x+y', 'a')).toBe('x y')
    expect(queryArg('ab=1', 'a')).toBeUndefined()
  })

  it('stripQueryArg removes every occurrence and keeps the rest byte for byte', () => {
    expect(stripQueryArg('a=1&k=2&b=%2F&k', 'k')).toBe('a=1&b=%2F')
    expect(stripQueryArg('k=1', 'k')).toBe('')
    expect(stripQueryArg('kk=1', 'k')).toBe('kk=1')
  })

  it('parseMultipart reads fields, quoted boundaries and repeated names', () => {
    const body = Buffer.from('--b"1\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--b"1\r\n' +
      'Content-Disposition: form-data; name="a"\r\nContent-Type: text/plain\r\n\r\ny\r\n--b"1--')
    expect(parseMultipart(Buffer.from(body.toString().replaceAll('b"1', 'b1')), 'multipart/form-data; boundary="b1"')).toEqual(
      Object.assign(Object.create(null), { a: ['x', 'y'] }),
    )
    expect(parseMultipart(body, 'multipart/form-data')).toEqual({})
  })
})
