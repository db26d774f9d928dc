// Kong's ip-restriction: refuses clients by address, `deny` first (a match is refused even when `allow`
// also matches), then `allow` (when set, everything outside it is refused). Lists compile once per Snapshot.
import { isIPv4 } from 'node:net'
import { arrayOf, atLeastOneOf, int, record, str } from '../config/schema.js'
import { errorBody } from '../errors.js'
import { addressBytes, cidrContains, parseCidr, type Cidr } from '../net/cidr.js'
import { CONTINUE, DONE, definePlugin, type PhaseResult, type PluginRequest } from './types.js'

const JSON_TYPE: ReadonlyArray<readonly [string, string]> = [['Content-Type', 'application/json; charset=utf-8']]
/** ctx.clientIp is not an address (a trusted proxy sent garbage in X-Forwarded-For): refused, never let through. */
const UNIDENTIFIED = 'Cannot identify the client IP address'
/** Verdicts remembered per plugin instance; the map is emptied when full (cheaper than an LRU here). */
const VERDICT_CACHE_LIMIT = 4096

/** Kong's typedefs.ip_or_cidr: an IPv4 or IPv6 address, or a CIDR range of either. */
export function ipOrCidrError(value: string): string | null {
  const invalid = `invalid ip or cidr range: '${value}'`
  // parseCidr forgives surrounding spaces and ignores a second '/'; a config entry gets neither.
  if (/\s/.test(value) || value.indexOf('/') !== value.lastIndexOf('/')) return invalid
  try {
    parseCidr(value)
    return null
  } catch {
    return invalid
  }
}

const ipOrCidr = () => str({ custom: ipOrCidrError })

/**
 * One list entry. IPv4 is matched as IPv4-mapped IPv6 (::ffff:a.b.c.d, see net/cidr), so `10.0.0.0/8`
 * also matches a client written `::ffff:10.1.2.3` and `::ffff:10.0.0.0/104` matches `10.1.2.3`. An IPv6
 * range shorter than /96 would otherwise swallow every IPv4 client (`::/0` is "all of IPv6"), so such a
 * range never matches a mapped address, as Kong's matcher keeps the two families apart.
 */
interface Entry {
  cidr: Cidr
  /** An IPv6 range wider than ::ffff:0:0/96. */
  v6Wide: boolean
}

function entry(text: string): Entry {
  const cidr = parseCidr(text)
  const ip = text.split('/')[0]!
  return { cidr, v6Wide: !isIPv4(ip) && cidr.bits < 96 }
}

function isMapped(addr: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (addr[i] !== 0) return false
  return addr[10] === 0xff && addr[11] === 0xff
}

function matches(list: readonly Entry[], addr: Uint8Array, mapped: boolean): boolean {
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!
    if (mapped && e.v6Wide) continue
    if (cidrContains(e.cidr, addr)) return true
  }
  return false
}

export interface IpRestrictionConfig {
  readonly allow: readonly Entry[]
  readonly deny: readonly Entry[]
  readonly status: number
  /** null: Kong's default, `IP address not allowed: <client ip>`. */
  readonly message: string | null
  /** Client IP → allowed; one map per instance and Snapshot. */
  readonly verdicts: Map<string, boolean>
}

function compile(c: Record<string, unknown>): IpRestrictionConfig {
  const list = (v: unknown): Entry[] => ((v as string[] | null) ?? []).map(entry)
  return {
    allow: list(c.allow),
    deny: list(c.deny),
    status: (c.status as number | null) ?? 403,
    message: c.message as string | null,
    verdicts: new Map(),
  }
}

/** true = allowed, false = refused, null = not an address. */
export function verdict(c: IpRestrictionConfig, ip: string): boolean | null {
  const addr = addressBytes(ip)
  if (addr === null) return null
  const mapped = isMapped(addr)
  if (c.deny.length !== 0 && matches(c.deny, addr, mapped)) return false
  if (c.allow.length !== 0 && !matches(c.allow, addr, mapped)) return false
  return true
}

function access(ctx: PluginRequest, c: IpRestrictionConfig): PhaseResult {
  const ip = ctx.clientIp
  let allowed = c.verdicts.get(ip)
  if (allowed === undefined) {
    const v = verdict(c, ip)
    if (v === null) {
      ctx.reply(403, errorBody(UNIDENTIFIED, ctx.requestId), JSON_TYPE)
      return DONE
    }
    if (c.verdicts.size >= VERDICT_CACHE_LIMIT) c.verdicts.clear()
    c.verdicts.set(ip, v)
    allowed = v
  }
  if (allowed) return CONTINUE
  ctx.reply(c.status, errorBody(c.message ?? `IP address not allowed: ${ip}`, ctx.requestId), JSON_TYPE)
  return DONE
}

export default definePlugin<IpRestrictionConfig>({
  name: 'ip-restriction',
  priority: 990,
  schema: record({
    allow: arrayOf(ipOrCidr()),
    deny: arrayOf(ipOrCidr()),
    status: int({ between: [100, 599] }),
    message: str(),
  }, { checks: [atLeastOneOf('allow', 'deny')] }),
  compile,
  phases: { access },
})
