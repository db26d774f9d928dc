// Kong's traditional router: routes compiled once per Snapshot into host tables with radix tries of
// prefixes and of regex literal prefixes, matched in Kong's precedence order allocating only the result.
import type { RouteRecord, Snapshot } from '../config/types.js'
import { compileHeaderRegex, compilePathRegex, literalPrefix } from '../config/regex.js'
import { normalizePath } from '../config/uri.js'

export interface RouteMatch {
  route: RouteRecord
  /** Index into Snapshot.routes. */
  routeIndex: number
  /** Service path joined with the (possibly stripped) request path, per the route's path_handling. */
  upstreamPath: string
  /** What strip_path removed (for X-Forwarded-Prefix), '' when nothing was stripped. */
  strippedPrefix: string
}

// Kong's MATCH_RULES category bits (kong/router/traditional.lua). QUERY is our extension: it counts
// as one more matched attribute, ranked below the others when the counts tie.
const HOST = 0x40
const HEADER = 0x20
const URI = 0x10
const METHOD = 0x08
const SNI = 0x04
const QUERY = 0x02
// Kong's MATCH_SUBRULES, the tie-breakers inside a category.
const HAS_REGEX_URI = 0x01
const PLAIN_HOSTS_ONLY = 0x02
const HAS_WILDCARD_HOST_PORT = 0x04

interface Wildcard {
  /** `example.` for `example.*`, else null. */
  prefix: string | null
  /** `.example.com` for `*.example.com`, else null. */
  suffix: string | null
  /** Port written after the wildcard host, else null. */
  port: string | null
}

interface HeaderMatcher {
  name: string
  values: string[]
  regexes: RegExp[]
}

interface QueryMatcher {
  name: string
  values: string[]
}

/** One (route, path) pair: like Kong, a route with several paths is split so each path sorts on its own. */
interface Entry {
  rank: number
  routeIndex: number
  route: RouteRecord
  /** The service path, '/' when none. */
  base: string
  methods: Set<string> | null
  wildcards: Wildcard[]
  headers: HeaderMatcher[] | null
  query: QueryMatcher[] | null
  snis: Set<string> | null
  prefix: string | null
  regex: RegExp | null
  /** Text every match of `regex` starts with ('' if none): its key in the regex trie. */
  literal: string
  // sort keys
  weight: number
  bits: number
  submatch: number
  headerCount: number
  queryCount: number
  uriLength: number
  pathIndex: number
}

/** A radix-trie node: `label` is the text on the edge from its parent; children are keyed by first char. */
interface TrieNode {
  label: string
  next: Map<number, TrieNode> | null
  /** Entries whose key ends here, in rank order. */
  entries: Entry[]
}

/**
 * The routes reachable for one kind of host: plain prefixes in a trie, routes without paths, and
 * regex routes in a second trie keyed by the literal text their matches must start with.
 */
interface Table {
  prefixes: TrieNode
  noPath: Entry[]
  regexes: TrieNode
}

const NO_HEADERS: Map<string, string> = new Map()

const newNode = (label = ''): TrieNode => ({ label, next: null, entries: [] })
const newTable = (): Table => ({ prefixes: newNode(), noPath: [], regexes: newNode() })

function popcount(n: number): number {
  let c = 0
  for (let v = n; v !== 0; v &= v - 1) c++
  return c
}

function parseWildcard(host: string): Wildcard {
  const colon = host.lastIndexOf(':')
  const name = colon === -1 ? host : host.slice(0, colon)
  const port = colon === -1 ? null : host.slice(colon + 1)
  return name.startsWith('*')
    ? { prefix: null, suffix: name.slice(1), port }
    : { prefix: name.slice(0, -1), suffix: null, port }
}

/** Kong's sort_categories then sort_routes, with config order as the last tie-breaker. */
function compareEntries(a: Entry, b: Entry): number {
  if (a.weight !== b.weight) return b.weight - a.weight
  if (a.bits !== b.bits) return b.bits - a.bits
  if (a.submatch !== b.submatch) return b.submatch - a.submatch
  if (a.headerCount !== b.headerCount) return b.headerCount - a.headerCount
  if (a.queryCount !== b.queryCount) return b.queryCount - a.queryCount
  if ((a.submatch & HAS_REGEX_URI) !== 0 && a.route.regexPriority !== b.route.regexPriority) {
    return b.route.regexPriority - a.route.regexPriority
  }
  if (a.uriLength !== b.uriLength) return b.uriLength - a.uriLength
  if (a.route.order !== b.route.order) return a.route.order - b.route.order
  return a.pathIndex - b.pathIndex
}

function makeEntries(route: RouteRecord, routeIndex: number, base: string): Entry[] {
  const wildcards = route.hosts.filter((h) => h.includes('*')).map(parseWildcard)
  let bits = 0
  let submatch = 0
  if (route.hosts.length > 0) {
    bits |= HOST
    if (wildcards.length === 0) submatch |= PLAIN_HOSTS_ONLY
    if (wildcards.some((w) => w.port !== null)) submatch |= HAS_WILDCARD_HOST_PORT
  }
  if (route.headers.length > 0) bits |= HEADER
  if (route.paths.length > 0) bits |= URI
  if (route.methods.length > 0) bits |= METHOD
  if (route.snis.length > 0) bits |= SNI
  if (route.query.length > 0) bits |= QUERY
  const methods = route.methods.length === 0 ? null : new Set(route.methods.flatMap((m) => [m, m.toLowerCase()]))
  const headers = route.headers.length === 0 ? null : route.headers.map((h) => ({
    name: h.name, values: h.values, regexes: h.regexes.map(compileHeaderRegex),
  }))
  const query = route.query.length === 0 ? null : route.query.map((q) => ({ name: q.name, values: q.values }))
  const snis = route.snis.length === 0 ? null : new Set(route.snis)
  // One object literal with every field in the same order: all entries share one hidden class.
  const entry = (pathIndex: number, prefix: string | null, pattern: string | null): Entry => ({
    rank: 0,
    routeIndex,
    route,
    base,
    methods,
    wildcards,
    headers,
    query,
    snis,
    prefix,
    regex: pattern === null ? null : compilePathRegex(pattern),
    literal: pattern === null ? '' : literalPrefix(pattern),
    weight: popcount(bits),
    bits,
    submatch: pattern === null ? submatch : submatch | HAS_REGEX_URI,
    headerCount: route.headers.length,
    queryCount: route.query.length,
    uriLength: prefix === null ? 0 : prefix.length,
    pathIndex,
  })
  if (route.paths.length === 0) return [entry(0, null, null)]
  return route.paths.map((p, i) => (p.startsWith('~') ? entry(i, null, p.slice(1)) : entry(i, p, null)))
}

function insert(root: TrieNode, key: string, e: Entry): void {
  let node = root
  let i = 0
  while (i < key.length) {
    node.next ??= new Map()
    const first = key.charCodeAt(i)
    let child = node.next.get(first)
    if (child === undefined) {
      child = newNode(key.slice(i))
      node.next.set(first, child)
      node = child
      break
    }
    let k = 0
    while (k < child.label.length && i + k < key.length && child.label.charCodeAt(k) === key.charCodeAt(i + k)) k++
    if (k < child.label.length) {
      // The key leaves (or ends inside) this edge: split it at the divergence.
      const mid = newNode(child.label.slice(0, k))
      child.label = child.label.slice(k)
      mid.next = new Map([[child.label.charCodeAt(0), child]])
      node.next.set(first, mid)
      child = mid
    }
    node = child
    i += k
  }
  node.entries.push(e)
}

function place(t: Table, e: Entry): void {
  if (e.prefix !== null) insert(t.prefixes, e.prefix, e)
  else if (e.regex !== null) insert(t.regexes, e.literal, e)
  else t.noPath.push(e)
}

/** ASCII case-insensitive `s[start, end) === want`, where `want` is already lower-case. */
function equalsLower(s: string, start: number, end: number, want: string): boolean {
  if (end - start !== want.length) return false
  for (let i = 0; i < want.length; i++) {
    let c = s.charCodeAt(start + i)
    if (c >= 65 && c <= 90) c += 32
    if (c !== want.charCodeAt(i)) return false
  }
  return true
}

/** Whether a header value (duplicates joined with ', ') is, or has an element equal to, `want`. */
function headerValueIs(value: string, want: string): boolean {
  if (equalsLower(value, 0, value.length, want)) return true
  let start = 0
  while (start <= value.length) {
    let end = value.indexOf(',', start)
    if (end === -1) {
      if (start === 0) return false // no comma: the whole value was already compared
      end = value.length
    }
    let s = start
    let e = end
    while (s < e && (value.charCodeAt(s) === 32 || value.charCodeAt(s) === 9)) s++
    while (e > s && (value.charCodeAt(e - 1) === 32 || value.charCodeAt(e - 1) === 9)) e--
    if (equalsLower(value, s, e, want)) return true
    start = end + 1
  }
  return false
}

function headersMatch(matchers: HeaderMatcher[], headers: Map<string, string>): boolean {
  for (let i = 0; i < matchers.length; i++) {
    const m = matchers[i]
    const value = headers.get(m.name)
    if (value === undefined) return false
    let ok = false
    for (let j = 0; j < m.values.length && !ok; j++) ok = headerValueIs(value, m.values[j])
    for (let j = 0; j < m.regexes.length && !ok; j++) ok = m.regexes[j].test(value)
    if (!ok) return false
  }
  return true
}

function queryValueIs(query: string, start: number, end: number, want: string): boolean {
  if (start >= end) return want === ''
  for (let i = start; i < end; i++) {
    const c = query.charCodeAt(i)
    if (c === 37 || c === 43) { // '%' or '+': decode this one value (rare, allocates)
      try {
        return decodeURIComponent(query.slice(start, end).replace(/\+/g, ' ')) === want
      } catch {
        return false
      }
    }
  }
  return end - start === want.length && query.startsWith(want, start)
}

/** Every named parameter must be present with one of its listed values (any occurrence counts). */
function queryMatches(matchers: QueryMatcher[], query: string): boolean {
  for (let i = 0; i < matchers.length; i++) {
    const m = matchers[i]
    let found = false
    let start = 0
    while (!found && start < query.length) {
      let end = query.indexOf('&', start)
      if (end === -1) end = query.length
      let eq = query.indexOf('=', start)
      if (eq === -1 || eq > end) eq = end
      if (eq - start === m.name.length && query.startsWith(m.name, start)) {
        for (let j = 0; j < m.values.length && !found; j++) found = queryValueIs(query, eq + 1, end, m.values[j])
      }
      start = end + 1
    }
    if (!found) return false
  }
  return true
}

/** Kong's sanitize_uri_postfix. */
function sanitizePostfix(p: string): string {
  if (p === '.' || p === '..') return ''
  if (p.startsWith('./')) return p.slice(2)
  if (p.startsWith('../')) return p.slice(3)
  return p
}

/**
 * Kong's upstream path construction (kong/router/traditional.lua and utils.get_upstream_uri).
 * `matchLen` is the length of the path part the route matched, -1 when the route has no paths.
 */
export function joinUpstreamPath(route: RouteRecord, base: string, path: string, matchLen: number): string {
  const strip = route.stripPath
  const postfix = matchLen >= 0 ? sanitizePostfix(path.slice(matchLen)) : path.slice(1)
  const baseSlash = base.charCodeAt(base.length - 1) === 47
  if (route.pathHandling === 'v1') {
    if (!strip) return base + path.slice(1)
    return baseSlash && postfix.charCodeAt(0) === 47 ? base.slice(0, -1) + postfix : base + postfix
  }
  if (baseSlash) {
    if (!strip) return base === '/' ? path : base + path.slice(1)
    if (postfix === '') {
      if (base === '/') return '/'
      return path.charCodeAt(path.length - 1) === 47 ? base : base.slice(0, -1)
    }
    return postfix.charCodeAt(0) === 47 ? base.slice(0, -1) + postfix : base + postfix
  }
  if (!strip) return path === '/' ? base : base + path
  if (postfix === '') return path.length > 1 && path.charCodeAt(path.length - 1) === 47 ? base + '/' : base
  return postfix.charCodeAt(0) === 47 ? base + postfix : base + '/' + postfix
}

export class Router {
  private readonly exact = new Map<string, Table>()
  private readonly wildcard = newTable()
  private readonly anyHost = newTable()
  private readonly hasWildcards: boolean
  // Per-match state, kept in fields so matching allocates nothing (one match at a time per worker).
  private best: Entry | null = null
  private bestRank = Infinity
  private bestLen = -1
  private matchLen = -1
  private method = ''
  private hostName = ''
  private port = ''
  private path = ''
  private headers: Map<string, string> = NO_HEADERS
  private query = ''
  private sni = ''

  constructor(snapshot: Snapshot) {
    const entries: Entry[] = []
    snapshot.routes.forEach((route, i) => {
      const service = route.service === -1 ? undefined : snapshot.services[route.service]
      const base = service === undefined || service.path === '' ? '/' : service.path
      entries.push(...makeEntries(route, i, base))
    })
    entries.sort(compareEntries)
    entries.forEach((e, rank) => {
      e.rank = rank
      if (e.route.hosts.length === 0) return place(this.anyHost, e)
      for (const h of e.route.hosts) {
        if (h.includes('*')) continue
        let t = this.exact.get(h)
        if (t === undefined) this.exact.set(h, (t = newTable()))
        place(t, e)
      }
      if (e.wildcards.length > 0) place(this.wildcard, e)
    })
    this.hasWildcards = entries.some((e) => e.wildcards.length > 0)
  }

  /**
   * The route for a request, or null. `host` is the Host header as received, `path` the request path
   * without the query, `headers` lower-case name → value, `query` the raw query string without '?',
   * `sni` the TLS server name ('' for plain HTTP, where routes with `snis` still match, as in Kong).
   */
  match(method: string, host: string, path: string, headers: Map<string, string>, query: string, sni = ''): RouteMatch | null {
    this.best = null
    this.bestRank = Infinity
    this.bestLen = -1
    this.method = method
    this.path = normalizePath(path)
    this.headers = headers
    this.query = query
    this.sni = sni

    // Host: lower-case, without the port; no allocation when it is already both.
    let upper = false
    let colon = -1
    for (let i = 0; i < host.length; i++) {
      const c = host.charCodeAt(i)
      if (c >= 65 && c <= 90) upper = true
      else if (c === 58) colon = i
      else if (c === 93) colon = -1 // ']' closes an IPv6 literal: its colons are not a port
    }
    const full = upper ? host.toLowerCase() : host
    this.hostName = colon === -1 ? full : full.slice(0, colon)
    this.port = colon === -1 ? '' : full.slice(colon + 1)

    const byName = this.exact.get(this.hostName)
    const byHostPort = colon === -1 ? undefined : this.exact.get(full)
    // Plain prefixes and path-less routes first; regexes last, and only those that could still win.
    if (byName !== undefined) this.scanCheap(byName, false)
    if (byHostPort !== undefined) this.scanCheap(byHostPort, false)
    if (this.hasWildcards) this.scanCheap(this.wildcard, true)
    this.scanCheap(this.anyHost, false)
    if (byName !== undefined) this.walk(byName.regexes, false)
    if (byHostPort !== undefined) this.walk(byHostPort.regexes, false)
    if (this.hasWildcards) this.walk(this.wildcard.regexes, true)
    this.walk(this.anyHost.regexes, false)

    this.headers = NO_HEADERS // do not keep the request's headers alive until the next match
    const e = this.best as Entry | null // set by the scans above (TS narrowed it to null)
    if (e === null) return null
    const len = this.bestLen
    return {
      route: e.route,
      routeIndex: e.routeIndex,
      upstreamPath: joinUpstreamPath(e.route, e.base, this.path, len),
      strippedPrefix: e.route.stripPath && len >= 0 ? this.path.slice(0, len) : '',
    }
  }

  private scanCheap(t: Table, wild: boolean): void {
    this.walk(t.prefixes, wild)
    this.scanList(t.noPath, wild)
  }

  /** Tries the entries of every trie node along the path: exactly those whose key prefixes the path. */
  private walk(root: TrieNode, wild: boolean): void {
    let node = root
    if (node.entries.length > 0) this.scanList(node.entries, wild)
    const path = this.path
    let i = 0
    while (i < path.length && node.next !== null) {
      const child = node.next.get(path.charCodeAt(i))
      if (child === undefined || !path.startsWith(child.label, i)) return
      i += child.label.length
      node = child
      if (node.entries.length > 0) this.scanList(node.entries, wild)
    }
  }

  /** Tries a rank-ordered list, stopping at the first match or at an entry that cannot beat the best. */
  private scanList(list: Entry[], wild: boolean): void {
    for (let i = 0; i < list.length; i++) {
      const e = list[i]
      if (e.rank >= this.bestRank) return
      if (this.accepts(e, wild)) {
        this.best = e
        this.bestRank = e.rank
        this.bestLen = this.matchLen
        return
      }
    }
  }

  /** Every attribute of the entry, cheapest first; the path regex runs last. */
  private accepts(e: Entry, wild: boolean): boolean {
    if (e.methods !== null && !e.methods.has(this.method)) return false
    if (wild && !this.wildcardMatches(e.wildcards)) return false
    if (e.snis !== null && this.sni !== '' && !e.snis.has(this.sni)) return false
    if (e.query !== null && !queryMatches(e.query, this.query)) return false
    if (e.headers !== null && !headersMatch(e.headers, this.headers)) return false
    if (e.regex !== null) {
      e.regex.lastIndex = 0
      if (!e.regex.test(this.path)) return false
      this.matchLen = e.regex.lastIndex
    } else {
      this.matchLen = e.prefix === null ? -1 : e.prefix.length
    }
    return true
  }

  private wildcardMatches(wildcards: Wildcard[]): boolean {
    const name = this.hostName
    for (let i = 0; i < wildcards.length; i++) {
      const w = wildcards[i]
      // A wildcard written with a port needs that port; a request without one is on 80 or 443.
      if (w.port !== null && (this.port === '' ? w.port !== '80' && w.port !== '443' : this.port !== w.port)) continue
      if (w.suffix !== null ? name.length > w.suffix.length && name.endsWith(w.suffix)
        : name.length > (w.prefix as string).length && name.startsWith(w.prefix as string)) return true
    }
    return false
  }
}
