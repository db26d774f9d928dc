// Text form of uWS's binary peer addresses (IPv4, IPv4-mapped IPv6, RFC 5952 IPv6).
import { describe, expect, it } from 'vitest'
import { formatAddress } from '../../src/net/peer-address.js'

const bytes = (...b: number[]): ArrayBuffer => new Uint8Array(b).buffer

describe('formatAddress', () => {
  it('formats IPv4 and IPv4-mapped IPv6 as dotted quads', () => {
    expect(formatAddress(bytes(127, 0, 0, 1))).toBe('127.0.0.1')
    expect(formatAddress(bytes(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3))).toBe('10.1.2.3')
    expect(formatAddress(bytes(127, 0, 0, 1))).toBe('127.0.0.1') // from the cache
  })

  it('formats IPv6 with the longest zero run compressed (RFC 5952)', () => {
    expect(formatAddress(bytes(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1))).toBe('::1')
    expect(formatAddress(bytes(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01))).toBe('2001:db8::1')
    expect(formatAddress(bytes(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x01))).toBe('2001:db8:0:1::1')
    expect(formatAddress(bytes(0xfe, 0x80, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7))).toBe('fe80:1:2:3:4:5:6:7')
  })

  it('gives an empty string for anything else', () => {
    expect(formatAddress(bytes())).toBe('')
  })
})
