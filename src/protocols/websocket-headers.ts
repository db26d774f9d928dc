// The handshake's headers: which requests are WebSocket handshakes, what goes upstream (the HTTP proxy's
// forwarded set, minus what the ws client sets itself) and what comes back to the client from the upstream.
import type { HttpRequest } from '../uws.js'

/** Request headers the handshake sets itself (ws: key, version, protocols; no extension is offered) or that cannot apply. */
const NOT_FORWARDED = new Set([
  'host', 'content-length', 'transfer-encoding',
  'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol',
])

/** Response headers never relayed from the upstream's 101 or refusal: hop-by-hop, framing, uWS's own, ours. */
const NOT_RELAYED = new Set([
  'connection', 'keep-alive', 'upgrade', 'transfer-encoding', 'content-length', 'trailer', 'te', 'date', 'x-request-id',
  'proxy-connection', 'sec-websocket-accept', 'sec-websocket-protocol', 'sec-websocket-extensions',
])

/** ASCII case-insensitive: does a comma-separated header value list `token`? */
function hasToken(value: string, token: string): boolean {
  for (const part of value.split(',')) if (part.trim().toLowerCase() === token) return true
  return false
}

/**
 * uWS hands its ws route every GET with a 24-character Sec-WebSocket-Key; only an RFC 6455 §4.2.1
 * handshake (Upgrade: websocket, Connection: upgrade, version 13) is tunnelled, the rest is plain HTTP.
 */
export function isWebSocketHandshake(req: HttpRequest): boolean {
  return hasToken(req.getHeader('upgrade'), 'websocket') && hasToken(req.getHeader('connection'), 'upgrade') && req.getHeader('sec-websocket-version') === '13'
}

/** The client's end-to-end headers with X-Forwarded-*, X-Real-IP and X-Request-Id, as the HTTP proxy sends them. */
export function forwardedHeaders(lines: string): Record<string, string> {
  const headers = Object.create(null) as Record<string, string>
  let start = 0
  while (start < lines.length) {
    const end = lines.indexOf('\r\n', start)
    if (end <= start) break // the blank line that ends the head
    const colon = lines.indexOf(':', start)
    const name = lines.slice(start, colon).toLowerCase()
    const value = lines.slice(colon + 1, end).trim()
    start = end + 2
    if (NOT_FORWARDED.has(name)) continue
    const prev = headers[name]
    headers[name] = prev === undefined ? value : prev + (name === 'cookie' ? '; ' : ', ') + value
  }
  return headers
}

/** End-to-end response headers of the upstream's answer, as [name, value] pairs. */
export function relayedHeaders(raw: string[]): [string, string][] {
  const pairs: [string, string][] = []
  for (let i = 0; i < raw.length; i += 2) if (!NOT_RELAYED.has(raw[i]!.toLowerCase())) pairs.push([raw[i]!, raw[i + 1]!])
  return pairs
}

/** Sec-WebSocket-Protocol values the client offered, in its order. */
export function offeredProtocols(value: string | undefined): string[] {
  if (value === undefined) return []
  const list: string[] = []
  for (const part of value.split(',')) {
    const p = part.trim()
    if (p !== '') list.push(p)
  }
  return list
}
