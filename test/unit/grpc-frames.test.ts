// gRPC length-prefixed message framing: encoding, and reassembly across any split of the DATA chunks.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { encodeMessage, FRAME_COMPRESSED, FRAME_OK, FRAME_TOO_LARGE, MessageReader } from '../../src/protocols/grpc/frames.js'

/** Reads `chunks` and returns the messages as copies (the reader hands out views). */
function readAll(chunks: Uint8Array[], max = 1 << 30): { messages: Buffer[]; results: number[]; boundary: boolean } {
  const messages: Buffer[] = []
  const reader = new MessageReader({ onMessage: (m) => messages.push(Buffer.from(m)) }, max)
  const results = chunks.map((c) => reader.push(c))
  return { messages, results, boundary: reader.atBoundary }
}

/** Cuts `bytes` at the given offsets (any order, duplicates allowed: empty chunks too). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [0, ...cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]
  const out: Buffer[] = []
  for (let i = 1; i < points.length; i++) out.push(bytes.subarray(points[i - 1], points[i]))
  return out
}

describe('gRPC message framing', () => {
  it('encodes a message as flag 0, big-endian length, then the bytes', () => {
    expect([...encodeMessage(Uint8Array.from([7, 8, 9]))]).toEqual([0, 0, 0, 0, 3, 7, 8, 9])
    expect([...encodeMessage(new Uint8Array(0))]).toEqual([0, 0, 0, 0, 0])
  })

  it('gives the same messages whatever way the stream is split', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (msgs, cuts) => {
        const wire = Buffer.concat(msgs.map((m) => encodeMessage(m)))
        const { messages, results, boundary } = readAll(split(wire, cuts))
        expect(results.every((r) => r === FRAME_OK)).toBe(true)
        expect(messages.map((m) => [...m])).toEqual(msgs.map((m) => [...m]))
        expect(boundary).toBe(true)
      }),
      { numRuns: 500 },
    )
  })

  it('reassembles a 1 MiB message arriving in 16 KiB frames', () => {
    const big = Buffer.alloc(1024 * 1024)
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff
    const wire = encodeMessage(big)
    const chunks: Buffer[] = []
    for (let at = 0; at < wire.length; at += 16 * 1024) chunks.push(wire.subarray(at, at + 16 * 1024))
    const { messages } = readAll(chunks)
    expect(messages).toHaveLength(1)
    expect(messages[0]!.equals(big)).toBe(true)
  })

  it('reads several messages from one chunk', () => {
    const wire = Buffer.concat([encodeMessage(Buffer.from('a')), encodeMessage(Buffer.from('bc')), encodeMessage(Buffer.alloc(0))])
    expect(readAll([wire]).messages.map((m) => m.toString())).toEqual(['a', 'bc', ''])
  })

  it('says when the stream stopped inside a message', () => {
    const wire = encodeMessage(Buffer.from('hello'))
    expect(readAll([wire.subarray(0, 3)]).boundary).toBe(false)
    expect(readAll([wire.subarray(0, 7)]).boundary).toBe(false)
  })

  it('refuses a compressed message, and keeps refusing', () => {
    const wire = encodeMessage(Buffer.from('x'))
    wire[0] = 1
    const { messages, results } = readAll([wire, encodeMessage(Buffer.from('y'))])
    expect(results).toEqual([FRAME_COMPRESSED, FRAME_COMPRESSED])
    expect(messages).toEqual([])
  })

  it('refuses a message longer than the limit before reading it', () => {
    const { results, messages } = readAll([encodeMessage(Buffer.alloc(11)).subarray(0, 5)], 10)
    expect(results).toEqual([FRAME_TOO_LARGE])
    expect(messages).toEqual([])
  })
})
