// IPv4/IPv6 CIDR parsing and matching used for trusted proxies.
import { describe, expect, it } from 'vitest'
import { listContains, parseCidrList } from '../../src/net/cidr.js'

describe('cidr', () => {
  it('matches IPv4 ranges and single addresses', () => {
    const list = parseCidrList('10.0.0.0/8 192.168.1.7')
    expect(listContains(list, '10.200.3.4')).toBe(true)
    expect(listContains(list, '11.0.0.1')).toBe(false)
    expect(listContains(list, '192.168.1.7')).toBe(true)
    expect(listContains(list, '192.168.1.8')).toBe(false)
  })

  it('matches IPv6 ranges, including compressed forms and mapped IPv4', () => {
    const list = parseCidrList('2001:db8::/32,::1')
    expect(listContains(list, '2001:db8:0:1::5')).toBe(true)
    expect(listContains(list, '2001:db9::1')).toBe(false)
    expect(listContains(list, '::1')).toBe(true)
    expect(listContains(parseCidrList('127.0.0.0/8'), '::ffff:127.0.0.1')).toBe(true)
  })

  it('rejects garbage', () => {
    expect(() => parseCidrList('300.1.1.1')).toThrow()
    expect(() => parseCidrList('::1/129')).toThrow()
    expect(listContains(parseCidrList('0.0.0.0/0'), 'not-an-ip')).toBe(false)
  })
})
