// IPv4/IPv6 address and CIDR parsing and matching, for trusted proxies (and later ip-restriction).
// Addresses become 16-byte arrays (IPv4 as ::ffff:a.b.c.d) so one compare covers both families.
import { isIPv4, isIPv6 } from 'node:net'

export interface Cidr { bytes: Uint8Array; bits: number }
export type CidrList = Cidr[]

/** 16 bytes for an IPv4 or IPv6 address (IPv4 mapped), or null when it is not an address. */
export function addressBytes(ip: string): Uint8Array | null {
  if (isIPv4(ip)) {
    const out = new Uint8Array(16)
    out[10] = 0xff; out[11] = 0xff
    const parts = ip.split('.')
    for (let i = 0; i < 4; i++) out[12 + i] = Number(parts[i])
    return out
  }
  if (!isIPv6(ip)) return null
  const zone = ip.indexOf('%')
  const addr = zone >= 0 ? ip.slice(0, zone) : ip
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(addr)
  let hex = addr
  if (v4tail) {
    const v4 = v4tail[1]!.split('.').map(Number)
    hex = addr.slice(0, -v4tail[1]!.length) + ((v4[0]! << 8) | v4[1]!).toString(16) + ':' + ((v4[2]! << 8) | v4[3]!).toString(16)
  }
  const [head, tail] = hex.split('::') as [string, string | undefined]
  const headParts = head ? head.split(':') : []
  const tailParts = tail ? tail.split(':') : []
  const groups = tail === undefined ? headParts : [...headParts, ...Array(8 - headParts.length - tailParts.length).fill('0'), ...tailParts]
  const out = new Uint8Array(16)
  for (let i = 0; i < 8; i++) {
    const g = parseInt(groups[i] ?? '0', 16)
    out[i * 2] = g >> 8
    out[i * 2 + 1] = g & 0xff
  }
  return out
}

export function parseCidr(text: string): Cidr {
  const [ip, len] = text.trim().split('/') as [string, string | undefined]
  const bytes = addressBytes(ip)
  if (!bytes) throw new Error(`"${text}" is not an IP address or CIDR`)
  const max = isIPv4(ip) ? 32 : 128
  const bits = len === undefined ? max : Number(len)
  if (!Number.isInteger(bits) || bits < 0 || bits > max || (len !== undefined && !/^\d+$/.test(len))) {
    throw new Error(`"${text}" has an invalid prefix length`)
  }
  return { bytes, bits: max === 32 ? bits + 96 : bits }
}

/** Comma or space separated CIDRs; '' → empty list. */
export function parseCidrList(text: string): CidrList {
  return text.split(/[\s,]+/).filter((s) => s !== '').map(parseCidr)
}

export function cidrContains(cidr: Cidr, addr: Uint8Array): boolean {
  let bits = cidr.bits
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff
    if ((cidr.bytes[i]! & mask) !== (addr[i]! & mask)) return false
  }
  return true
}

export function listContains(list: CidrList, ip: string): boolean {
  if (list.length === 0) return false
  const addr = addressBytes(ip)
  if (!addr) return false
  for (let i = 0; i < list.length; i++) if (cidrContains(list[i]!, addr)) return true
  return false
}
