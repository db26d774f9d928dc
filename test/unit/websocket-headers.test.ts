// The WebSocket handshake's header sets: what goes upstream from the HTTP proxy's head lines, what comes
// back from the upstream's answer, and the subprotocols a client offered.
import { describe, expect, it } from 'vitest'
import { forwardedHeaders, offeredProtocols, relayedHeaders } from '../../src/protocols/websocket-headers.js'

describe('forwardedHeaders', () => {
  it('keeps the end-to-end and forwarded lines, drops what the ws client sets itself, joins repeats', () => {
    const lines = 'origin: https://app.test\r\nsec-websocket-key: abc\r\nsec-websocket-version: 13\r\n' +
      'sec-websocket-extensions: permessage-deflate\r\nsec-websocket-protocol: chat\r\ncookie: a=1\r\ncookie: b=2\r\n' +
      'x-tag: one\r\nx-tag: two\r\nX-Forwarded-For: 10.0.0.1\r\nX-Request-Id: rid-1\r\nContent-Length: 0\r\n\r\n'
    const h = forwardedHeaders(lines)
    expect({ ...h }).toEqual({
      origin: 'https://app.test',
      cookie: 'a=1; b=2',
      'x-tag': 'one, two',
      'x-forwarded-for': '10.0.0.1',
      'x-request-id': 'rid-1',
    })
  })

  it('keeps a value with colons whole and stops at the blank line', () => {
    expect({ ...forwardedHeaders('x-when: 12:30:00\r\n\r\nx-after: no\r\n') }).toEqual({ 'x-when': '12:30:00' })
  })

  it('takes a header named like an Object.prototype key as a plain header', () => {
    const h = forwardedHeaders('__proto__: x\r\nconstructor: y\r\n\r\n')
    expect(Object.getPrototypeOf(h)).toBeNull()
    expect(Object.keys(h)).toEqual(['__proto__', 'constructor'])
  })
})

describe('relayedHeaders', () => {
  it("relays the upstream's end-to-end headers, not framing, hop-by-hop, handshake or ours", () => {
    const raw = ['Set-Cookie', 's=1', 'Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 'x', 'Sec-WebSocket-Protocol', 'chat',
      'Content-Length', '7', 'Date', 'today', 'X-Request-Id', 'theirs', 'WWW-Authenticate', 'Bearer', 'Keep-Alive', 'timeout=5']
    expect(relayedHeaders(raw)).toEqual([['Set-Cookie', 's=1'], ['WWW-Authenticate', 'Bearer']])
  })
})

describe('offeredProtocols', () => {
  it('splits the offer in order, trimming, skipping empty entries', () => {
    expect(offeredProtocols(' chat, , superchat ,v2')).toEqual(['chat', 'superchat', 'v2'])
    expect(offeredProtocols(undefined)).toEqual([])
  })
})
