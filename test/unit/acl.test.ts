// acl (Kong's plugin): allow/deny by consumer groups, Kong's 401 without a consumer and 403 "You cannot
// consume this service", X-Consumer-Groups (or its removal), schema checks; then the auth plugins in a
// real chain: priorities, stacked key-auth + basic-auth with anonymous, and consumer-scoped plugins.
import { describe, expect, it } from 'vitest'
import { compileSnapshot } from '../../src/config/compile.js'
import { validateConfig } from '../../src/config/validate.js'
import type { Snapshot } from '../../src/config/types.js'
import plugin, { type AclConfig } from '../../src/plugins/acl.js'
import { CONTINUE, DONE, type ConsumerRef, type PluginRequest } from '../../src/plugins/types.js'
import { buildChains, runAccess } from '../../src/worker/chain.js'
import { compilePlugin, fakeRequest, testEnv, type FakeRequest } from '../helpers/plugins.js'

type Doc = Record<string, unknown>

const compiled = (config: Doc): AclConfig => compilePlugin(plugin, config)
const consumer = (groups: string[], id = 'c1'): ConsumerRef => ({ id, username: id, customId: null, groups })

function run(c: AclConfig, over: Partial<PluginRequest>): { result: unknown; ctx: FakeRequest } {
  const ctx = fakeRequest(over)
  return { result: plugin.phases.access!(ctx, c), ctx }
}

function expectReply(r: { result: unknown; ctx: FakeRequest }, status: number, message: string): void {
  expect(r.result).toBe(DONE)
  expect(r.ctx.replies[0]!.status).toBe(status)
  expect(JSON.parse(r.ctx.replies[0]!.body)).toEqual({ message, request_id: 'rid' })
}

function problems(config: Doc): { errors: string[]; warnings: string[] } {
  const r = validateConfig({ _format_version: '3.0', plugins: [{ name: 'acl', config }] })
  return {
    errors: r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`),
    warnings: r.warnings.map((w) => `${w.path}: ${w.message}`),
  }
}

describe('acl schema', () => {
  it("needs exactly one of allow and deny, with Kong's messages", () => {
    expect(problems({}).errors).toEqual([
      "plugins[0].config: exactly one of these fields must be non-empty: 'allow', 'deny'",
      "plugins[0].config: at least one of these fields must be non-empty: 'allow', 'deny'",
    ])
    expect(problems({ allow: ['a'], deny: ['b'] }).errors).toEqual([
      "plugins[0].config: exactly one of these fields must be non-empty: 'allow', 'deny'",
    ])
    expect(problems({ allow: ['a'] }).errors).toEqual([])
    expect(problems({ whitelist: ['a'] }).errors).toContain('plugins[0].config.whitelist: unknown field')
  })

  it('accepts always_use_authenticated_groups with a warning when set', () => {
    const p = problems({ deny: ['x'], always_use_authenticated_groups: true })
    expect(p.errors).toEqual([])
    expect(p.warnings.some((w) => w.startsWith('plugins[0].config.always_use_authenticated_groups:'))).toBe(true)
  })
})

describe('acl', () => {
  it('lets a consumer in an allowed group through and tells the upstream its groups', () => {
    const r = run(compiled({ allow: ['admin', 'ops'] }), { consumer: consumer(['dev', 'ops']), credentialId: 'k' })
    expect(r.result).toBe(CONTINUE)
    expect(r.ctx.upstreamHeaders).toEqual([['X-Consumer-Groups', 'dev, ops']])
  })

  it('answers 403 "You cannot consume this service" outside the allow list, or inside the deny list', () => {
    expectReply(run(compiled({ allow: ['admin'] }), { consumer: consumer(['dev']), credentialId: 'k' }), 403, 'You cannot consume this service')
    expectReply(run(compiled({ allow: ['admin'] }), { consumer: consumer([]), credentialId: 'k' }), 403, 'You cannot consume this service')
    expectReply(run(compiled({ deny: ['banned'] }), { consumer: consumer(['x', 'banned']), credentialId: 'k' }), 403, 'You cannot consume this service')
  })

  it('lets a consumer without groups past a deny list, without an X-Consumer-Groups value', () => {
    const headers = new Map([['x-consumer-groups', 'forged']])
    const r = run(compiled({ deny: ['banned'] }), { consumer: consumer([]), credentialId: 'k', headers })
    expect(r.result).toBe(CONTINUE)
    expect(r.ctx.headers.has('x-consumer-groups')).toBe(false)
  })

  it('answers 401 Unauthorized when no consumer was identified, 403 when only a credential was', () => {
    expectReply(run(compiled({ allow: ['a'] }), {}), 401, 'Unauthorized')
    expectReply(run(compiled({ allow: ['a'] }), { credentialId: 'jwks-token' }), 403, 'You cannot consume this service')
  })

  it('hide_groups_header removes X-Consumer-Groups, the client\'s own value included', () => {
    const headers = new Map([['x-consumer-groups', 'admin']])
    const r = run(compiled({ allow: ['dev'], hide_groups_header: true }), { consumer: consumer(['dev']), credentialId: 'k', headers })
    expect(r.result).toBe(CONTINUE)
    expect(r.ctx.headers.has('x-consumer-groups')).toBe(false)
  })

  it('uses the anonymous consumer\'s groups', () => {
    expect(run(compiled({ allow: ['guests'] }), { consumer: consumer(['guests'], 'anon'), credentialId: null }).result).toBe(CONTINUE)
  })

  it('remembers the decision per groups array', () => {
    const c = compiled({ allow: ['a'] })
    const groups = ['a', 'b']
    run(c, { consumer: consumer(groups), credentialId: 'k' })
    expect(c.decisions.get(groups)).toBe('a, b')
  })
})

// ---------------------------------------------------------------------------------------------
// The plugins together, in the chain the worker builds.

const basic = (user: string, password: string): string => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64')

function snapshot(doc: Doc): Snapshot {
  const r = validateConfig({ _format_version: '3.0', ...doc })
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'))
  return compileSnapshot(r.config, '', 0)
}

type ChainCtx = FakeRequest & { state: number }

function runRoute(snap: Snapshot, routeIndex: number, headers: Record<string, string>, query = ''): ChainCtx {
  const chains = buildChains(snap, testEnv())
  const ctx = fakeRequest({ headers: new Map(Object.entries(headers)), query }) as ChainCtx
  ctx.state = 0
  const r = runAccess(ctx, chains[routeIndex]!)
  if (r instanceof Promise) throw new Error('unexpected async chain')
  return ctx
}

const STACKED = {
  consumers: [
    { username: 'anon' },
    { username: 'kim', keyauth_credentials: [{ key: 'kim-key' }], acls: [{ group: 'staff' }] },
    { username: 'bo', basicauth_credentials: [{ username: 'bo', password: 'pw' }], acls: [{ group: 'staff' }] },
    { username: 'eve', keyauth_credentials: [{ key: 'eve-key' }], acls: [{ group: 'outsiders' }] },
  ],
  services: [{
    name: 's', url: 'http://127.0.0.1:9',
    routes: [
      {
        name: 'or', paths: ['/or'],
        plugins: [
          { name: 'key-auth', config: { anonymous: 'anon' } },
          { name: 'basic-auth', config: { anonymous: 'anon' } },
        ],
      },
      {
        name: 'and', paths: ['/and'],
        plugins: [{ name: 'key-auth' }, { name: 'basic-auth' }, { name: 'acl', config: { allow: ['staff'] } }],
      },
      {
        name: 'scoped', paths: ['/scoped'],
        plugins: [
          { name: 'key-auth' },
          { name: 'request-termination', config: { status_code: 418, message: 'route' } },
        ],
      },
    ],
  }],
  plugins: [
    { name: 'request-termination', consumer: 'eve', config: { status_code: 451, message: 'eve everywhere' } },
  ],
}

describe('auth plugins in a chain', () => {
  const snap = snapshot(STACKED)

  it('runs key-auth (1250), basic-auth (1100), acl (950) in priority order', () => {
    const chains = buildChains(snap, testEnv())
    expect(chains[1]!.entries.map((e) => `${e.name}:${e.priority}`)).toEqual(['key-auth:1250', 'basic-auth:1100', 'acl:950'])
  })

  it('logical OR: either credential authenticates, neither means the anonymous consumer', () => {
    expect(runRoute(snap, 0, { apikey: 'kim-key' }).consumer?.username).toBe('kim')
    const viaBasic = runRoute(snap, 0, { authorization: basic('bo', 'pw') })
    expect(viaBasic.consumer?.username).toBe('bo')
    expect(viaBasic.headers.get('x-anonymous-consumer')).toBeUndefined()
    const both = runRoute(snap, 0, { apikey: 'kim-key', authorization: basic('bo', 'pw') })
    expect(both.consumer?.username).toBe('kim')
    const none = runRoute(snap, 0, { apikey: 'wrong' })
    expect(none.consumer?.username).toBe('anon')
    expect(none.replies).toEqual([])
    expect(none.headers.get('x-anonymous-consumer')).toBe('true')
  })

  it('logical AND: without anonymous, each auth plugin must pass', () => {
    const keyOnly = runRoute(snap, 1, { apikey: 'kim-key' })
    expect(keyOnly.replies[0]!.status).toBe(401)
    expect(keyOnly.replies[0]!.headers).toContainEqual(['WWW-Authenticate', 'Basic realm="service"'])
    const both = runRoute(snap, 1, { apikey: 'kim-key', authorization: basic('bo', 'pw') })
    expect(both.replies).toEqual([])
    expect(both.headers.get('x-consumer-groups')).toBe('staff')
  })

  it('a plugin scoped to a consumer replaces the route\'s instance for that consumer only', () => {
    const eve = runRoute(snap, 2, { apikey: 'eve-key' })
    expect(eve.replies[0]!.status).toBe(451)
    const kim = runRoute(snap, 2, { apikey: 'kim-key' })
    expect(kim.replies[0]!.status).toBe(418)
    expect(kim.consumer?.username).toBe('kim')
  })
})
