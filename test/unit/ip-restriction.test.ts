// ip-restriction (Kong's plugin): entry validation, allow/deny over IPv4, IPv6 and IPv4-mapped IPv6
// addresses and CIDRs, deny winning over allow, and Kong's status and message.
import { describe, expect, it } from 'vitest'
import { validateConfig } from '../../src/config/validate.js'
import plugin, { ipOrCidrError, verdict, type IpRestrictionConfig } from '../../src/plugins/ip-restriction.js'
import { CONTINUE, DONE, type PluginRequest } from '../../src/plugins/types.js'
import { compilePlugin, fakeRequest } from '../helpers/plugins.js'

type Doc = Record<string, unknown>

function problems(config: Doc): string[] {
  const r = validateConfig({ _format_version: '3.0', plugins: [{ name: 'ip-restriction', config }] }, { env: {} })
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)
}

const conf = (config: Doc): IpRestrictionConfig => compilePlugin(plugin, config)
const run = (c: IpRestrictionConfig, ctx: PluginRequest) => plugin.phases.access!(ctx, c)

/** The IPs of `ips` the config lets through. */
const allowed = (c: IpRestrictionConfig, ips: string[]): string[] => ips.filter((ip) => verdict(c, ip) === true)

describe('ip-restriction schema', () => {
  it('accepts IPv4 and IPv6 addresses and CIDRs, including IPv4-mapped ones', () => {
    expect(problems({ allow: ['10.0.0.1', '10.0.0.0/8', '0.0.0.0/0', '::1', '2001:db8::/32', '::ffff:10.0.0.0/104', '::ffff:192.0.2.1'] })).toEqual([])
  })

  it('requires allow or deny, and neither may be empty alone', () => {
    const msg = "at least one of these fields must be non-empty: 'allow', 'deny'"
    expect(problems({})).toEqual([`plugins[0].config: ${msg}`])
    expect(problems({ allow: [], deny: [] })).toEqual([`plugins[0].config: ${msg}`])
    expect(problems({ deny: ['10.0.0.1'], allow: [] })).toEqual([])
  })

  it('names each invalid entry with Kong’s message', () => {
    expect(problems({ allow: ['10.0.0.1', 'example.com', '10.0.0.0/33', '::1/129', '1.2.3.4/8/1', ' 1.2.3.4', '300.1.1.1'] })).toEqual([
      "plugins[0].config.allow[1]: invalid ip or cidr range: 'example.com'",
      "plugins[0].config.allow[2]: invalid ip or cidr range: '10.0.0.0/33'",
      "plugins[0].config.allow[3]: invalid ip or cidr range: '::1/129'",
      "plugins[0].config.allow[4]: invalid ip or cidr range: '1.2.3.4/8/1'",
      "plugins[0].config.allow[5]: invalid ip or cidr range: ' 1.2.3.4'",
      "plugins[0].config.allow[6]: invalid ip or cidr range: '300.1.1.1'",
    ])
    expect(ipOrCidrError('10.0.0.0/-1')).toBe("invalid ip or cidr range: '10.0.0.0/-1'")
  })

  it('checks status and message types', () => {
    expect(problems({ deny: ['10.0.0.1'], status: 'x', message: 5 })).toEqual([
      'plugins[0].config.status: expected an integer',
      'plugins[0].config.message: expected a string',
    ])
    expect(problems({ deny: ['10.0.0.1'], status: 99 })).toEqual(['plugins[0].config.status: must be between 100 and 599'])
  })
})

describe('ip-restriction matching', () => {
  it('allow: only addresses inside the list pass', () => {
    const c = conf({ allow: ['127.0.0.1', '10.1.0.0/16'] })
    expect(allowed(c, ['127.0.0.1', '127.0.0.2', '10.1.255.255', '10.2.0.1', '::1'])).toEqual(['127.0.0.1', '10.1.255.255'])
  })

  it('deny: addresses inside the list are refused, everyone else passes', () => {
    const c = conf({ deny: ['192.168.0.0/24', '2001:db8::/32'] })
    expect(allowed(c, ['192.168.0.7', '192.168.1.7', '2001:db8::1', '2001:db9::1', '::1'])).toEqual(['192.168.1.7', '2001:db9::1', '::1'])
  })

  it('deny wins when an address is in both lists', () => {
    const c = conf({ allow: ['10.0.0.0/8'], deny: ['10.0.0.5'] })
    expect(allowed(c, ['10.0.0.4', '10.0.0.5', '11.0.0.1'])).toEqual(['10.0.0.4'])
  })

  it('matches IPv6 addresses and prefixes', () => {
    const c = conf({ allow: ['::1', 'fd00:1:2::/48'] })
    expect(allowed(c, ['::1', '0:0:0:0:0:0:0:1', 'fd00:1:2:ffff::9', 'fd00:1:3::1', '::2'])).toEqual(['::1', '0:0:0:0:0:0:0:1', 'fd00:1:2:ffff::9'])
  })

  it('treats IPv4-mapped IPv6 as the IPv4 address, both ways', () => {
    const v4rule = conf({ allow: ['10.0.0.0/8'] })
    expect(allowed(v4rule, ['::ffff:10.9.8.7', '::ffff:a09:807', '::ffff:11.0.0.1'])).toEqual(['::ffff:10.9.8.7', '::ffff:a09:807'])
    const mappedRule = conf({ allow: ['::ffff:10.0.0.0/104', '::ffff:127.0.0.1'] })
    expect(allowed(mappedRule, ['10.9.8.7', '127.0.0.1', '11.0.0.1'])).toEqual(['10.9.8.7', '127.0.0.1'])
  })

  it('keeps wide IPv6 ranges away from IPv4 clients (::/0 is all of IPv6, not everyone)', () => {
    const c = conf({ deny: ['::/0'] })
    expect(allowed(c, ['127.0.0.1', '::ffff:127.0.0.1', '::1', '2001:db8::1'])).toEqual(['127.0.0.1', '::ffff:127.0.0.1'])
    expect(allowed(conf({ allow: ['::ffff:0:0/96'] }), ['1.2.3.4', '::1'])).toEqual(['1.2.3.4'])
  })

  it('has no verdict for text that is not an address', () => {
    expect(verdict(conf({ deny: ['10.0.0.1'] }), 'unknown')).toBeNull()
  })
})

describe('ip-restriction access', () => {
  it('lets an allowed client through without answering', () => {
    const ctx = fakeRequest({ clientIp: '10.0.0.1' })
    expect(run(conf({ allow: ['10.0.0.0/8'] }), ctx)).toBe(CONTINUE)
    expect(ctx.replies).toEqual([])
  })

  it('refuses with 403 and Kong 3.x’s default message naming the address', () => {
    const ctx = fakeRequest({ clientIp: '192.0.2.9', requestId: 'rid-1' })
    expect(run(conf({ allow: ['10.0.0.0/8'] }), ctx)).toBe(DONE)
    expect(ctx.replies).toEqual([{
      status: 403,
      body: '{"message":"IP address not allowed: 192.0.2.9","request_id":"rid-1"}',
      headers: [['Content-Type', 'application/json; charset=utf-8']],
    }])
  })

  it('uses the configured status and message', () => {
    const ctx = fakeRequest({ clientIp: '::1' })
    expect(run(conf({ deny: ['::1'], status: 401, message: 'Go away' }), ctx)).toBe(DONE)
    expect(ctx.replies.map((r) => [r.status, JSON.parse(r.body).message])).toEqual([[401, 'Go away']])
  })

  it('refuses a client whose address cannot be identified, even with only a deny list', () => {
    const ctx = fakeRequest({ clientIp: 'not-an-ip' })
    expect(run(conf({ deny: ['10.0.0.1'], status: 418 }), ctx)).toBe(DONE)
    expect(ctx.replies.map((r) => [r.status, JSON.parse(r.body).message])).toEqual([[403, 'Cannot identify the client IP address']])
  })

  it('gives the same verdict from its per-instance cache', () => {
    const c = conf({ allow: ['10.0.0.1'] })
    const verdicts = []
    for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.1', '10.0.0.2']) verdicts.push(run(c, fakeRequest({ clientIp: ip })))
    expect(verdicts).toEqual([CONTINUE, DONE, CONTINUE, DONE])
    expect(c.verdicts.size).toBe(2)
  })
})
