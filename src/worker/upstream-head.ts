// Builds the upstream request head as one string (STYLE 2.7): request line, the client's
// end-to-end headers, the X-Forwarded-* set and body framing (SPEC §4).
import { stripPort } from '../net/host.js'
import type { RequestContext } from './context.js'
import type { RouteMatch } from './router.js'

/** Headers never copied from the client: hop-by-hop (RFC 9110 §7.6.1) and the ones we set ourselves. */
const DROP = new Set([
  'host', 'connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect',
  'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'content-length',
  'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix',
  'x-real-ip', 'x-request-id',
])

/** Hop-by-hop or set by the gateway itself: never forwarded as the client sent it. */
export function alwaysDropped(name: string): boolean {
  return DROP.has(name) || name.startsWith('proxy-')
}

/** True when a Connection value names headers beyond close/keep-alive/upgrade (they are hop-by-hop too). */
export function namesExtraHeaders(connection: string): boolean {
  for (const token of connection.split(',')) {
    const t = token.trim().toLowerCase()
    if (t !== '' && t !== 'close' && t !== 'keep-alive' && t !== 'upgrade') return true
  }
  return false
}

function isDropped(name: string, connectionTokens: string | undefined): boolean {
  if (alwaysDropped(name)) return true
  if (connectionTokens === undefined) return false
  // Connection: close, x-foo → x-foo is hop-by-hop too (RFC 9110 §7.6.1).
  let start = 0
  while (start < connectionTokens.length) {
    let end = connectionTokens.indexOf(',', start)
    if (end < 0) end = connectionTokens.length
    if (connectionTokens.slice(start, end).trim() === name) return true
    start = end + 1
  }
  return false
}

/** The request line, e.g. `GET /users?id=1 HTTP/1.1\r\n` (method and path as a plugin may have changed them). */
export function requestLine(ctx: RequestContext, match: RouteMatch): string {
  const method = ctx.upstreamMethod ?? ctx.method
  const path = ctx.upstreamPath ?? match.upstreamPath
  return ctx.query === '' ? `${method} ${path} HTTP/1.1\r\n` : `${method} ${path}?${ctx.query} HTTP/1.1\r\n`
}

/**
 * Parts of the head being built, joined once: `+=` on strings makes ropes that V8 must flatten
 * again when the socket writes them (measured slower in place than one join).
 */
const parts: string[] = []
let dropTokens: string | undefined

function appendClientHeader(value: string, name: string): void {
  if (isDropped(name, dropTokens)) return
  parts.push(name, ': ', value, '\r\n')
}

/** The client's end-to-end header lines, from the headers Map (when ctx.forwardLines is unusable). */
function clientLines(ctx: RequestContext): void {
  const h = ctx.headers
  const connection = h.get('connection')
  dropTokens = connection === undefined ? undefined : connection.toLowerCase()
  h.forEach(appendClientHeader)
}

/**
 * Every header line after Host (the exchange adds Host per target) and the blank line.
 * `trusted` = the peer is in GATEWAY_TRUSTED_IPS, so its X-Forwarded-* values are believed.
 * The client's own lines were usually collected while uWS handed the headers over
 * (ctx.forwardLines); they are rebuilt from the Map when that was not possible.
 */
export function headerLines(ctx: RequestContext, match: RouteMatch, trusted: boolean): string {
  const h = ctx.headers
  parts.length = 0
  if (ctx.forwardLines !== null) parts.push(ctx.forwardLines)
  else clientLines(ctx)
  // X-Forwarded-For always appends the peer (as NGINX's $proxy_add_x_forwarded_for and Kong do).
  const xff = h.get('x-forwarded-for')
  parts.push('X-Forwarded-For: ')
  if (xff !== undefined) parts.push(xff, ', ')
  parts.push(ctx.peerIp, '\r\nX-Forwarded-Proto: ', (trusted && h.get('x-forwarded-proto')) || ctx.scheme)
  parts.push('\r\nX-Forwarded-Host: ', (trusted && h.get('x-forwarded-host')) || stripPort(ctx.host))
  parts.push('\r\nX-Forwarded-Port: ', (trusted && h.get('x-forwarded-port')) || String(ctx.port), '\r\n')
  const prefix = (trusted && h.get('x-forwarded-prefix')) || match.strippedPrefix
  if (prefix !== '') parts.push('X-Forwarded-Prefix: ', prefix, '\r\n')
  parts.push('X-Real-IP: ', ctx.clientIp, '\r\nX-Request-Id: ', ctx.requestId, '\r\n')
  if (ctx.chunked) parts.push('Transfer-Encoding: chunked\r\n')
  else if (ctx.contentLength >= 0) parts.push('Content-Length: ', String(ctx.contentLength), '\r\n')
  parts.push('\r\n')
  return parts.join('')
}
