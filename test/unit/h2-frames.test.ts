// HTTP/2 frame headers and the frame reader: reassembly across any split of the socket reads, views for
// frames inside one read, and FRAME_SIZE_ERROR for a frame above the limit.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { DATA, frame, FRAME_SIZE_ERROR, FrameReader, HEADERS, NO_ERROR, PING, SETTINGS, writeFrameHeader } from '../../src/protocols/grpc/h2/frames.js'

interface Seen { type: number; flags: number; streamId: number; payload: number[]; view: boolean }

/** Reads `chunks`; records each frame with a copy of its payload and whether it was a view of the read it came in. */
function readAll(chunks: Buffer[], max = 16384): { frames: Seen[]; results: number[] } {
  const frames: Seen[] = []
  let current: Buffer | null = null
  const reader = new FrameReader({
    onFrame: (type, flags, streamId, payload) => frames.push({ type, flags, streamId, payload: [...payload], view: payload.buffer === current!.buffer }),
  }, max)
  const results = chunks.map((c) => {
    current = c
    return reader.push(c)
  })
  return { frames, results }
}

function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [0, ...cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]
  const out: Buffer[] = []
  for (let i = 1; i < points.length; i++) out.push(Buffer.from(bytes.subarray(points[i - 1], points[i])))
  return out
}

describe('HTTP/2 frames', () => {
  it('writes the 9-byte header: 24-bit length, type, flags, 31-bit stream id', () => {
    const out = Buffer.alloc(9)
    writeFrameHeader(out, 0, 0x012345, HEADERS, 0x25, 0x80000007)
    expect([...out]).toEqual([0x01, 0x23, 0x45, 0x01, 0x25, 0x00, 0x00, 0x00, 0x07])
    expect([...frame(PING, 1, 0, Buffer.from([1, 2]))]).toEqual([0, 0, 2, 6, 1, 0, 0, 0, 0, 1, 2])
  })

  it('hands a frame inside one read on as a view of it', () => {
    const wire = Buffer.concat([frame(DATA, 1, 3, Buffer.from('abc')), frame(SETTINGS, 0, 0, Buffer.alloc(0))])
    const { frames, results } = readAll([wire])
    expect(results).toEqual([NO_ERROR])
    expect(frames).toEqual([
      { type: DATA, flags: 1, streamId: 3, payload: [...Buffer.from('abc')], view: true },
      { type: SETTINGS, flags: 0, streamId: 0, payload: [], view: true },
    ])
  })

  it('gives the same frames whatever way the stream is split', () => {
    const frameArb = fc.record({ type: fc.integer({ min: 0, max: 9 }), flags: fc.integer({ min: 0, max: 255 }), streamId: fc.integer({ min: 0, max: 0x7fffffff }), payload: fc.uint8Array({ maxLength: 200 }) })
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (sent, cuts) => {
        const wire = Buffer.concat(sent.map((f) => frame(f.type, f.flags, f.streamId, f.payload)))
        const { frames, results } = readAll(split(wire, cuts))
        expect(results.every((r) => r === NO_ERROR)).toBe(true)
        expect(frames.map(({ view: _, ...f }) => f)).toEqual(sent.map((f) => ({ ...f, payload: [...f.payload] })))
      }),
      { numRuns: 500 },
    )
  })

  it('refuses a frame longer than the limit, even when only its header has arrived', () => {
    const big = frame(DATA, 0, 1, Buffer.alloc(101))
    expect(readAll([big.subarray(0, 9)], 100).results).toEqual([FRAME_SIZE_ERROR])
    expect(readAll([big], 101).results).toEqual([NO_ERROR])
  })
})
