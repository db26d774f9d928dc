// Response parser fixtures (test/fixtures/http1/responses.ts): each runs whole, byte by byte, split at every offset
// and with a one-record event array, and must give the same event log every time.
import { describe, expect, it } from 'vitest'
import { BodyKind, ERROR, ResponseParser } from '../../src/http1/response-parser.js'
import { byteByByte, LogSink, runExchanges, splitAt, whole } from '../fixtures/http1/harness.js'
import { FIXTURES, type ResponseFixture } from '../fixtures/http1/responses.js'

function exchanges(f: ResponseFixture) {
  return [{ raw: f.raw, skipBody: f.skipBody, close: f.close }, ...(f.next ?? [])]
}

/** Where the read ends decides whether bytes after the message were "in the same read". */
function maskKeepAlive(log: string[]): string[] {
  return log.map((l) => (l.startsWith('complete ') ? 'complete ka=?' : l))
}

describe('response parser fixtures', () => {
  for (const f of FIXTURES) {
    describe(f.name, () => {
      const opts = { maxHeadBytes: f.maxHeadBytes }
      const norm = f.keepAliveDependsOnSplit === true ? maskKeepAlive : (l: string[]) => l

      it('whole', () => {
        expect(runExchanges(exchanges(f), whole, opts)).toEqual(f.expect)
      })

      it('one byte at a time', () => {
        expect(norm(runExchanges(exchanges(f), byteByByte, opts))).toEqual(norm(f.expect))
      })

      it('split at every offset', () => {
        const longest = Math.max(...exchanges(f).map((e) => e.raw.length))
        for (let at = 1; at < longest; at++) {
          const log = runExchanges(exchanges(f), splitAt(at), opts)
          expect(norm(log), `split at ${at}`).toEqual(norm(f.expect))
        }
      })

      it('with a one-record event array (pause and resume)', () => {
        expect(runExchanges(exchanges(f), whole, { ...opts, eventCapacity: 1 })).toEqual(f.expect)
        expect(norm(runExchanges(exchanges(f), splitAt(7, 19, 40), { ...opts, eventCapacity: 1 }))).toEqual(norm(f.expect))
      })
    })
  }
})

describe('response parser API', () => {
  it('delivers a 64 KiB read of one-byte chunks across many pauses', () => {
    let raw = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
    let body = ''
    while (raw.length < 64 * 1024) {
      const c = String.fromCharCode(97 + (raw.length % 26))
      raw += `1\r\n${c}\r\n`
      body += c
    }
    raw += '0\r\n\r\n'
    const log = runExchanges([{ raw }], whole)
    expect(log).toEqual(['head 200 "OK" CHUNKED cl=-1 ka=true []', `body ${JSON.stringify(body)}`, 'complete ka=true'])
  })

  it('keeps body chunks as views of the read buffer', () => {
    const views: Buffer[] = []
    const buf = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd')
    const p = new ResponseParser({ onHead() {}, onBody: (b) => views.push(b), onComplete() {} })
    expect(p.execute(buf)).toBe(0)
    expect(views).toHaveLength(1)
    expect(views[0].buffer).toBe(buf.buffer)
    expect(views[0].byteOffset).toBe(buf.byteOffset + buf.length - 4)
  })

  it('stitches a header name and value that cross reads', () => {
    const sink = new LogSink()
    const p = new ResponseParser(sink)
    for (const piece of ['HTTP/1.1 200 O', 'K\r\nX-Lo', 'ng-Name: val', 'ue  ', '  \r', '\nContent-Length: 0\r\n\r\n']) {
      expect(p.execute(Buffer.from(piece))).toBe(0)
    }
    expect(sink.log).toEqual(['head 200 "OK" LENGTH cl=0 ka=true ["X-Long-Name","value"]', 'complete ka=true'])
  })

  it('reports the Keep-Alive timeout and the HTTP version', () => {
    const p = new ResponseParser(new LogSink())
    p.execute(Buffer.from('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: max=5, Timeout=12\r\nContent-Length: 0\r\n\r\n'))
    expect(p.keepAliveTimeout).toBe(12)
    expect(p.httpVersion).toBe(10)
    expect(p.statusCode).toBe(200)
    p.reset(false)
    expect(p.keepAliveTimeout).toBe(-1)
  })

  it('reports where the upgraded protocol starts after a 101', () => {
    const p = new ResponseParser(new LogSink())
    const head = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n'
    expect(p.execute(Buffer.from(head + 'xyz'))).toBe(0)
    expect(p.upgradeOffset).toBe(head.length)
    expect(p.execute(Buffer.from('more'))).toBe(ERROR.UPGRADED)
    expect(p.finish()).toBe(ERROR.UPGRADED)
    p.reset(false)
    expect(p.upgradeOffset).toBe(-1)
  })

  it('keeps errors until reset and explains them', () => {
    const p = new ResponseParser(new LogSink())
    expect(p.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'))).toBe(ERROR.DUPLICATE_CONTENT_LENGTH)
    expect(p.errorReason).toMatch(/Content-Length/)
    expect(p.execute(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'))).toBe(ERROR.DUPLICATE_CONTENT_LENGTH)
    expect(p.finish()).toBe(ERROR.DUPLICATE_CONTENT_LENGTH)
    p.reset(false)
    expect(p.errorReason).toBe('')
    expect(p.execute(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n'))).toBe(0)
  })

  it('stops dispatching when a callback resets the parser', () => {
    const seen: string[] = []
    const p: ResponseParser = new ResponseParser({
      onHead: () => seen.push('head'),
      onBody: () => seen.push('body'),
      onComplete: (ka) => {
        seen.push(`complete ${ka}`)
        p.reset(false) // e.g. the pool hands the socket to the next request right away
      },
    })
    expect(p.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx'))).toBe(0)
    expect(p.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ny'))).toBe(0)
    expect(seen).toEqual(['head', 'body', 'complete true', 'head', 'body', 'complete true'])
  })

  it('a second finish after a close-delimited body is a no-op', () => {
    const sink = new LogSink()
    const p = new ResponseParser(sink)
    expect(p.execute(Buffer.from('HTTP/1.1 200 OK\r\n\r\nabc'))).toBe(0)
    expect(p.finish()).toBe(0)
    expect(p.finish()).toBe(0)
    expect(p.execute(Buffer.from('x'))).toBe(ERROR.UNEXPECTED_DATA)
    expect(sink.log).toEqual(['head 200 "OK" EOF cl=-1 ka=false []', 'body "abc"', 'complete ka=false'])
  })

  it('lets the head limit change between responses', () => {
    const p = new ResponseParser(new LogSink(), 1024)
    expect(p.maxHeadBytes).toBe(1024)
    p.maxHeadBytes = 20
    expect(p.execute(Buffer.from('HTTP/1.1 200 OK\r\nX-Long: 123456789\r\n\r\n'))).toBe(ERROR.HEADER_OVERFLOW)
    expect(() => (p.maxHeadBytes = 0)).toThrow(RangeError)
  })

  it('exports BodyKind values', () => {
    expect(BodyKind).toEqual({ NONE: 0, LENGTH: 1, CHUNKED: 2, EOF: 3 })
  })
})
