// HPACK: the RFC 7541 Appendix C examples (integers, literals, static and dynamic table, eviction, Huffman),
// malformed blocks, and round trips of the encoder and of Huffman coding.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { encodeHeaders, HpackDecoder, HpackError, writeInteger } from '../../src/protocols/grpc/h2/hpack.js'
import { huffmanDecode, huffmanEncode } from '../../src/protocols/grpc/h2/huffman.js'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

function decode(decoder: HpackDecoder, block: string): string[][] {
  const out: string[] = []
  decoder.decode(hex(block), out)
  const pairs: string[][] = []
  for (let i = 0; i < out.length; i += 2) pairs.push([out[i]!, out[i + 1]!])
  return pairs
}

const REQ1 = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']]
const REQ2 = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']]
const REQ3 = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']]
const RES1 = [[':status', '302'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com']]
const RES2 = [[':status', '307'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com']]
const RES3 = [
  [':status', '200'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'], ['location', 'https://www.example.com'],
  ['content-encoding', 'gzip'], ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
]

describe('HPACK integers (RFC 7541 C.1)', () => {
  it('encodes 10 and 1337 with a 5-bit prefix and 42 at an octet boundary', () => {
    const out = new Uint8Array(8)
    expect([...out.subarray(0, writeInteger(out, 0, 0, 5, 10))]).toEqual([0x0a])
    expect([...out.subarray(0, writeInteger(out, 0, 0, 5, 1337))]).toEqual([0x1f, 0x9a, 0x0a])
    expect([...out.subarray(0, writeInteger(out, 0, 0, 8, 42))]).toEqual([0x2a])
  })
})

describe('HPACK decoder (RFC 7541 C.2-C.6)', () => {
  it('C.2: literal with indexing, without indexing, never indexed, indexed', () => {
    const d = new HpackDecoder()
    expect(decode(d, '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')).toEqual([['custom-key', 'custom-header']])
    expect(d.dynamicSize).toBe(55)
    const d2 = new HpackDecoder()
    expect(decode(d2, '040c 2f73 616d 706c 652f 7061 7468')).toEqual([[':path', '/sample/path']])
    expect(decode(d2, '1008 7061 7373 776f 7264 0673 6563 7265 74')).toEqual([['password', 'secret']])
    expect(decode(d2, '82')).toEqual([[':method', 'GET']])
    expect(d2.dynamicCount).toBe(0)
  })

  it('C.3: requests without Huffman share the dynamic table', () => {
    const d = new HpackDecoder()
    expect(decode(d, '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d')).toEqual(REQ1)
    expect(d.dynamicSize).toBe(57)
    expect(decode(d, '8286 84be 5808 6e6f 2d63 6163 6865')).toEqual(REQ2)
    expect(d.dynamicSize).toBe(110)
    expect(decode(d, '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65')).toEqual(REQ3)
    expect([d.dynamicCount, d.dynamicSize]).toEqual([3, 164])
  })

  it('C.4: the same requests with Huffman', () => {
    const d = new HpackDecoder()
    expect(decode(d, '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')).toEqual(REQ1)
    expect(decode(d, '8286 84be 5886 a8eb 1064 9cbf')).toEqual(REQ2)
    expect(decode(d, '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')).toEqual(REQ3)
    expect(d.dynamicSize).toBe(164)
  })

  it('C.5: responses without Huffman evict from a 256-byte table', () => {
    const d = new HpackDecoder(256)
    expect(decode(d, `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d
      546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`)).toEqual(RES1)
    expect([d.dynamicCount, d.dynamicSize]).toEqual([4, 222])
    expect(decode(d, '4803 3330 37c1 c0bf')).toEqual(RES2)
    expect([d.dynamicCount, d.dynamicSize]).toEqual([4, 222])
    expect(decode(d, `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f
      6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369
      6f6e 3d31`)).toEqual(RES3)
    expect([d.dynamicCount, d.dynamicSize]).toEqual([3, 215])
  })

  it('C.6: the same responses with Huffman', () => {
    const d = new HpackDecoder(256)
    expect(decode(d, `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7
      8f0b 97c8 e9ae 82ae 43d3`)).toEqual(RES1)
    expect(decode(d, '4883 640e ffc1 c0bf')).toEqual(RES2)
    expect(decode(d, `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335
      dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07`)).toEqual(RES3)
    expect([d.dynamicCount, d.dynamicSize]).toEqual([3, 215])
  })

  it('applies a table size update at the start of a block and empties the table for size 0', () => {
    const d = new HpackDecoder()
    decode(d, '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')
    expect(decode(d, '20 82')).toEqual([[':method', 'GET']])
    expect(d.dynamicCount).toBe(0)
    // Back up to 4096: the next literal with indexing is kept again.
    decode(d, '3fe1 1f 400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')
    expect(d.dynamicCount).toBe(1)
  })

  it('refuses malformed blocks', () => {
    const bad = ['80', 'be', '3fe2 1f', '82 20', '410f 7777', '4182 ff', '4185 fffffffffe', '418c f1e3 c2e5 f23a 6ba0 ab90 f4fe']
    for (const block of bad) expect(() => new HpackDecoder().decode(hex(block), []), block).toThrow(HpackError)
  })
})

describe('HPACK encoder and Huffman round trips', () => {
  const token = fc.stringMatching(/^[a-z0-9-]{1,20}$/)
  const value = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 300 })

  it('decodes what it encodes, static names or not', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.oneof(token, fc.constantFrom(':path', ':authority', 'content-type', 'te', 'user-agent')), value), { maxLength: 12 }), (fields) => {
        const flat = fields.flat()
        const out: string[] = []
        new HpackDecoder().decode(encodeHeaders(flat), out)
        expect(out).toEqual(flat)
      }),
      { numRuns: 300 },
    )
  })

  it('Huffman-decodes what it Huffman-encodes, every byte value', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const text = Buffer.from(bytes).toString('latin1')
        const coded = huffmanEncode(text)
        expect(huffmanDecode(coded, 0, coded.length)).toBe(text)
      }),
      { numRuns: 500 },
    )
  })
})
