// Property tests for the response parser: generated valid responses match a model however the bytes are cut,
// and random or mutated input never throws and always ends in 0 or a known ERROR code.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { KNOWN_HEADER_NAMES, KNOWN_HEADER_VALUES } from '../../src/http1/constants.js'
import { ERROR, ResponseParser } from '../../src/http1/response-parser.js'
import { byteByByte, runExchanges, splitAt, whole } from '../fixtures/http1/harness.js'
import type { Exchange } from '../fixtures/http1/responses.js'

const TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('')
const VCHAR: string[] = []
for (let c = 0x21; c <= 0xff; c++) if (c !== 0x7f) VCHAR.push(String.fromCharCode(c))
const SPECIAL = /^(content-length|transfer-encoding|connection|keep-alive|te|trailer|upgrade|proxy-.*)$/i

const latin1 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1')

// Random tokens, plus the names and values the native side recognises (and near misses of them).
const nearMiss = (list: readonly string[]) => fc.constantFrom(...list.slice(1)).chain((s) => fc.constantFrom(s, s.slice(1), s + 'x', s.toUpperCase()))
const headerName = fc
  .oneof(fc.string({ unit: fc.constantFrom(...TCHAR), minLength: 1, maxLength: 16 }), nearMiss(KNOWN_HEADER_NAMES))
  .filter((n) => n.length > 0 && !SPECIAL.test(n))
// A value with inner spaces/tabs but none at its ends; OWS is added around it when serialised.
const headerValue = fc.oneof(
  fc
    .array(fc.string({ unit: fc.constantFrom(...VCHAR), minLength: 1, maxLength: 12 }), { minLength: 0, maxLength: 3 })
    .chain((words) => fc.constantFrom(' ', '\t', '  ').map((sep) => words.join(sep))),
  nearMiss(KNOWN_HEADER_VALUES),
)
const ows = fc.constantFrom('', ' ', '\t', ' \t ')
const header = fc.record({ name: headerName, value: headerValue, before: ows, after: ows })
const hopByHop = fc.constantFrom('Keep-Alive: timeout=5', 'TE: trailers', 'Trailer: X-Sum', 'Upgrade: h2c', 'Proxy-Authenticate: Basic', 'proxy-foo: 1')
const reasonText = fc.string({ unit: fc.constantFrom(...VCHAR, ' ', '\t'), maxLength: 20 })
const chunkExt = fc.constantFrom('', ';a', ';a=b', ' ; a = "q \\" s"', ';x;y=z')

interface Generated {
  exchange: Exchange
  expect: string[]
}

const response: fc.Arbitrary<Generated> = fc
  .record({
    v11: fc.boolean(),
    status: fc.oneof(fc.constantFrom(200, 201, 204, 206, 301, 304, 404, 500), fc.integer({ min: 200, max: 599 })),
    reason: reasonText,
    interim: fc.array(fc.record({ status: fc.constantFrom(100, 102, 103), headers: fc.array(header, { maxLength: 2 }) }), { maxLength: 2 }),
    headers: fc.array(header, { maxLength: 8 }),
    hop: fc.array(hopByHop, { maxLength: 2 }),
    connection: fc.constantFrom('', 'close', 'keep-alive', 'Keep-Alive, close'),
    framing: fc.constantFrom('length', 'chunked', 'eof'),
    body: fc.uint8Array({ maxLength: 400 }).map(latin1),
    chunks: fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
    exts: fc.array(chunkExt, { minLength: 21, maxLength: 21 }),
    trailers: fc.array(header, { maxLength: 2 }),
    skipBody: fc.boolean(),
  })
  .map((r) => {
    const line = (status: number, reason: string) => `HTTP/1.${r.v11 ? 1 : 0} ${status} ${reason}\r\n`
    const field = (h: { name: string; value: string; before: string; after: string }) => `${h.name}:${h.before}${h.value}${h.after}\r\n`
    let raw = ''
    for (const i of r.interim) raw += line(i.status, 'Info') + i.headers.map(field).join('') + '\r\n'
    raw += line(r.status, r.reason)
    const headers: string[] = []
    r.headers.forEach((h, i) => {
      raw += field(h)
      headers.push(h.name, h.value)
      if (i === 1) for (const hb of r.hop) raw += hb + '\r\n'
    })
    if (r.connection !== '') raw += `Connection: ${r.connection}\r\n`
    const noBody = r.skipBody || r.status === 204 || r.status === 304
    let kind: string
    let cl = -1
    let body = r.body
    let close = false
    if (r.framing === 'length') {
      raw += `Content-Length: ${body.length}\r\n\r\n`
      kind = noBody ? 'NONE' : 'LENGTH'
      cl = r.status === 204 ? -1 : body.length
      if (!noBody) raw += body
    } else if (r.framing === 'chunked') {
      raw += 'Transfer-Encoding: chunked\r\n\r\n'
      kind = noBody ? 'NONE' : 'CHUNKED'
      if (!noBody) {
        let at = 0
        let n = 0
        while (at < body.length) {
          const size = r.chunks[n % r.chunks.length]
          const piece = body.slice(at, at + size)
          raw += `${piece.length.toString(16)}${r.exts[n % r.exts.length]}\r\n${piece}\r\n`
          at += size
          n++
        }
        raw += `0${r.exts[20]}\r\n` + r.trailers.map(field).join('') + '\r\n'
      }
    } else {
      raw += '\r\n'
      kind = noBody ? 'NONE' : 'EOF'
      if (!noBody) {
        raw += body
        close = true
      }
    }
    if (kind === 'NONE') body = ''
    const closeToken = r.connection.toLowerCase().includes('close')
    const keepAliveToken = r.connection.toLowerCase().includes('keep-alive')
    const ka = kind !== 'EOF' && !closeToken && (r.v11 || keepAliveToken) && (r.v11 || r.framing !== 'chunked')
    const expect = [`head ${r.status} ${JSON.stringify(r.reason)} ${kind} cl=${cl} ka=${ka} ${JSON.stringify(headers)}`]
    if (body.length > 0) expect.push(`body ${JSON.stringify(body)}`)
    expect.push(`complete ka=${ka}`)
    if (close) expect.push('finish')
    return { exchange: { raw, skipBody: r.skipBody, close }, expect }
  })

const offsets = fc.array(fc.integer({ min: 1, max: 4000 }), { maxLength: 6 })
const KNOWN_ERRORS = new Set<number>(Object.values(ERROR))

describe('response parser properties', () => {
  it('valid responses give the model events however the reads are cut', () => {
    fc.assert(
      fc.property(response, offsets, fc.integer({ min: 1, max: 6 }), (g, cuts, capacity) => {
        expect(runExchanges([g.exchange], whole)).toEqual(g.expect)
        expect(runExchanges([g.exchange], splitAt(...cuts))).toEqual(g.expect)
        expect(runExchanges([g.exchange], splitAt(...cuts), { eventCapacity: capacity })).toEqual(g.expect)
      }),
      { numRuns: 400 },
    )
  })

  it('valid responses parse byte by byte', () => {
    fc.assert(
      fc.property(response, (g) => {
        expect(runExchanges([g.exchange], byteByByte)).toEqual(g.expect)
      }),
      { numRuns: 60 },
    )
  })

  it('back-to-back responses on one connection after reset', () => {
    fc.assert(
      fc.property(fc.array(response, { minLength: 2, maxLength: 4 }), offsets, (gs, cuts) => {
        // Only the last exchange may be close-delimited (the socket is gone after it).
        const list = gs.filter((g, i) => !g.exchange.close || i === gs.length - 1)
        const expected = list.flatMap((g, i) => (i === 0 ? g.expect : ['reset', ...g.expect]))
        expect(runExchanges(list.map((g) => g.exchange), splitAt(...cuts))).toEqual(expected)
      }),
      { numRuns: 150 },
    )
  })

  it('random bytes never throw and end in 0 or a known error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), offsets, fc.boolean(), (bytes, cuts, head) => {
        const raw = (head ? 'HTTP/1.1 200 OK\r\n' : '') + latin1(bytes)
        checkRobust(raw, cuts)
      }),
      { numRuns: 500 },
    )
  })

  it('mutated valid responses never throw, end in 0 or a known error, and do not depend on the cuts', () => {
    const mutation = fc.record({
      at: fc.nat(),
      kind: fc.constantFrom('replace', 'insert', 'delete'),
      byte: fc.constantFrom(0, 9, 10, 13, 32, 44, 58, 59, 48, 70, 127, 255, 65, 97),
    })
    fc.assert(
      fc.property(response, fc.array(mutation, { minLength: 1, maxLength: 4 }), offsets, (g, muts, cuts) => {
        let raw = g.exchange.raw
        for (const m of muts) {
          if (raw.length === 0) break
          const at = m.at % raw.length
          const ch = String.fromCharCode(m.byte)
          if (m.kind === 'replace') raw = raw.slice(0, at) + ch + raw.slice(at + 1)
          else if (m.kind === 'insert') raw = raw.slice(0, at) + ch + raw.slice(at)
          else raw = raw.slice(0, at) + raw.slice(at + 1)
        }
        checkRobust(raw, cuts)
        const ex = { ...g.exchange, raw, close: true }
        const mask = (log: string[]) => log.map((l) => (l.startsWith('complete ') ? 'complete' : l))
        expect(mask(runExchanges([ex], splitAt(...cuts)))).toEqual(mask(runExchanges([ex], whole)))
      }),
      { numRuns: 500 },
    )
  })
})

/** Feeds `raw` in pieces; every result must be 0 or a known code and the sink calls must be well-ordered. */
function checkRobust(raw: string, cuts: number[]): void {
  let heads = 0
  let completes = 0
  let bodyBytes = 0
  const sink = {
    onHead() {
      expect(completes).toBe(0)
      heads++
    },
    onBody(b: Buffer) {
      expect(heads).toBe(1)
      expect(completes).toBe(0)
      expect(b.length).toBeGreaterThan(0)
      bodyBytes += b.length
    },
    onComplete() {
      expect(heads).toBe(1)
      completes++
    },
  }
  const p = new ResponseParser(sink, undefined, 2)
  for (const piece of splitAt(...cuts)(raw)) {
    const rc = p.execute(Buffer.from(piece, 'latin1'))
    expect(KNOWN_ERRORS.has(rc)).toBe(true)
    if (rc !== 0) {
      expect(p.errorReason.length).toBeGreaterThan(0)
      break
    }
  }
  const rc = p.finish()
  expect(KNOWN_ERRORS.has(rc)).toBe(true)
  expect(heads).toBeLessThanOrEqual(1)
  expect(completes).toBeLessThanOrEqual(1)
  expect(bodyBytes).toBeLessThanOrEqual(raw.length)
}
