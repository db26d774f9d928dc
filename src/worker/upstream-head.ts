// Builds the upstream request head as one string (STYLE 2.7): request line, the client's
// end-to-end headers, the X-Forwarded-* set and body framing (SPEC §4).
import type { ServiceRecord } from '../config/types.js'
import type { RequestContext } from './context.js'
import type { RouteMatch } from './router.js'

/** Headers never copied from the client: hop-by-hop (RFC 9110 §7.6.1) and the ones we set ourselves. */
const DROP = new Set([
  'host', 'connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect',
  'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'content-length',
  'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix',
  'x-real-ip', 'x-request-id',
])

function isDropped(name: string, connectionTokens: string | undefined): boolean {
  if (DROP.has(name) || name.startsWith('proxy-')) return true
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

/**
 * The head without the Host line, which the exchange adds per target: `request-line CRLF rest`.
 * `trusted` = the peer is in GATEWAY_TRUSTED_IPS, so its X-Forwarded-* values are believed.
 */
export function buildUpstreamHead(ctx: RequestContext, match: RouteMatch, _service: ServiceRecord, trusted: boolean): string {
  const h = ctx.headers
  let head = `${ctx.method} ${match.upstreamPath}${ctx.query === '' ? '' : '?' + ctx.query} HTTP/1.1\r\n`
  const connection = h.get('connection')
  const connectionTokens = connection === undefined ? undefined : connection.toLowerCase()
  for (const [name, value] of h) {
    if (isDropped(name, connectionTokens)) continue
    head += `${name}: ${value}\r\n`
  }
  // X-Forwarded-For always appends the peer (as NGINX's $proxy_add_x_forwarded_for and Kong do).
  const xff = h.get('x-forwarded-for')
  head += `X-Forwarded-For: ${xff === undefined ? ctx.peerIp : `${xff}, ${ctx.peerIp}`}\r\n`
  const trustedValue = (name: string): string | undefined => (trusted ? h.get(name) : undefined)
  head += `X-Forwarded-Proto: ${trustedValue('x-forwarded-proto') ?? ctx.scheme}\r\n`
  head += `X-Forwarded-Host: ${trustedValue('x-forwarded-host') ?? stripPort(ctx.host)}\r\n`
  head += `X-Forwarded-Port: ${trustedValue('x-forwarded-port') ?? ctx.port}\r\n`
  const prefix = trustedValue('x-forwarded-prefix') ?? (match.strippedPrefix === '' ? undefined : match.strippedPrefix)
  if (prefix !== undefined) head += `X-Forwarded-Prefix: ${prefix}\r\n`
  head += `X-Real-IP: ${ctx.clientIp}\r\n`
  head += `X-Request-Id: ${ctx.requestId}\r\n`
  if (ctx.chunked) head += 'Transfer-Encoding: chunked\r\n'
  else if (ctx.contentLength >= 0) head += `Content-Length: ${ctx.contentLength}\r\n`
  return head + '\r\n'
}

function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']')
    return end < 0 ? host : host.slice(0, end + 1)
  }
  const colon = host.indexOf(':')
  return colon < 0 ? host : host.slice(0, colon)
}
