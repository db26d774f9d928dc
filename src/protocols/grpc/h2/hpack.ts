// HPACK (RFC 7541): the decoder for response header blocks (static and dynamic table, size updates,
// integers, raw and Huffman literals) and the encoder for request blocks (static names, raw literals, no indexing).
import { huffmanDecode } from './huffman.js'

/** RFC 7541 Appendix A, index 1..61 (slot 0 unused). */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  ['', ''],
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
]
const STATIC_COUNT = STATIC_TABLE.length - 1
/** Per-entry overhead counted in the table size (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32

/** A header block that does not decode: a COMPRESSION_ERROR for the connection. */
export class HpackError extends Error {}

/** The first static index of each name (for name-indexed literals). */
const STATIC_NAME = new Map<string, number>()
for (let i = STATIC_COUNT; i >= 1; i--) STATIC_NAME.set(STATIC_TABLE[i]![0], i)

export class HpackDecoder {
  /** Dynamic table, newest first: names and values in parallel (index 62 = names[0]). */
  private readonly names: string[] = []
  private readonly values: string[] = []
  private size = 0
  /** The size the peer's encoder may use now (changed by a size update within our limit). */
  private maxSize: number
  /** Our SETTINGS_HEADER_TABLE_SIZE: the most a size update may ask for. */
  private readonly limit: number
  private at = 0

  constructor(limit = 4096) {
    this.limit = limit
    this.maxSize = limit
  }

  /** Appends the block's fields to `out` as name, value, name, value…; throws HpackError on a malformed block. */
  decode(block: Uint8Array, out: string[]): void {
    this.at = 0
    const end = block.length
    let fieldSeen = false
    while (this.at < end) {
      const b = block[this.at]!
      if (b & 0x80) {
        // Indexed field (§6.1).
        const index = this.integer(block, 7)
        if (index === 0) throw new HpackError('index 0')
        out.push(this.name(index), this.value(index))
      } else if (b & 0x40) {
        // Literal with incremental indexing (§6.2.1).
        const index = this.integer(block, 6)
        const name = index === 0 ? this.string(block) : this.name(index)
        const value = this.string(block)
        this.insert(name, value)
        out.push(name, value)
      } else if (b & 0x20) {
        // Dynamic table size update (§6.3): only at the start of a block.
        if (fieldSeen) throw new HpackError('table size update after a field')
        const size = this.integer(block, 5)
        if (size > this.limit) throw new HpackError(`table size update ${size} above ${this.limit}`)
        this.maxSize = size
        this.evict(0)
        continue
      } else {
        // Literal without indexing / never indexed (§6.2.2, §6.2.3): same layout, 4-bit prefix.
        const index = this.integer(block, 4)
        const name = index === 0 ? this.string(block) : this.name(index)
        out.push(name, this.string(block))
      }
      fieldSeen = true
    }
  }

  /** Entries in the dynamic table (for tests). */
  get dynamicCount(): number {
    return this.names.length
  }

  /** Bytes the dynamic table counts as used (for tests). */
  get dynamicSize(): number {
    return this.size
  }

  private name(index: number): string {
    if (index <= STATIC_COUNT) return STATIC_TABLE[index]![0]
    const name = this.names[index - STATIC_COUNT - 1]
    if (name === undefined) throw new HpackError(`index ${index} beyond the tables`)
    return name
  }

  private value(index: number): string {
    return index <= STATIC_COUNT ? STATIC_TABLE[index]![1] : this.values[index - STATIC_COUNT - 1]!
  }

  private insert(name: string, value: string): void {
    const entry = name.length + value.length + ENTRY_OVERHEAD
    // An entry larger than the table empties it and is not added (§4.4).
    this.evict(entry)
    if (entry > this.maxSize) return
    this.names.unshift(name)
    this.values.unshift(value)
    this.size += entry
  }

  /** Drops the oldest entries until `room` more bytes fit. */
  private evict(room: number): void {
    while (this.size + room > this.maxSize && this.names.length > 0) {
      this.size -= this.names.pop()!.length + this.values.pop()!.length + ENTRY_OVERHEAD
    }
  }

  /** An integer with an N-bit prefix (§5.1). */
  private integer(block: Uint8Array, prefixBits: number): number {
    const max = (1 << prefixBits) - 1
    let value = block[this.at++]! & max
    if (value < max) return value
    let shift = 0
    for (;;) {
      if (this.at >= block.length) throw new HpackError('truncated integer')
      const b = block[this.at++]!
      value += (b & 0x7f) * 2 ** shift
      shift += 7
      if ((b & 0x80) === 0) return value
      if (shift > 28) throw new HpackError('integer too large')
    }
  }

  /** A string literal (§5.2), raw or Huffman; header bytes are read as latin1. */
  private string(block: Uint8Array): string {
    if (this.at >= block.length) throw new HpackError('truncated string')
    const huffman = (block[this.at]! & 0x80) !== 0
    const length = this.integer(block, 7)
    const start = this.at
    const end = start + length
    if (end > block.length) throw new HpackError('truncated string')
    this.at = end
    if (!huffman) return latin1(block, start, end)
    const text = huffmanDecode(block, start, end)
    if (text === null) throw new HpackError('malformed Huffman string')
    return text
  }
}

function latin1(block: Uint8Array, start: number, end: number): string {
  if (end - start < 16) {
    let s = ''
    for (let i = start; i < end; i++) s += String.fromCharCode(block[i]!)
    return s
  }
  return Buffer.from(block.buffer, block.byteOffset + start, end - start).toString('latin1')
}

/**
 * A request header block from name, value, name, value… (names lower-case): each field as a literal
 * without indexing, the name by static index when it has one, values raw (no Huffman: cheaper to build,
 * and a request's headers are small). No dynamic table, so the peer's table size does not matter.
 */
export function encodeHeaders(fields: readonly string[]): Buffer {
  let bytes = 0
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!
    bytes += 2 * 5 + (STATIC_NAME.has(name) ? 0 : Buffer.byteLength(name)) + Buffer.byteLength(fields[i + 1]!)
  }
  const out = Buffer.allocUnsafe(bytes)
  let at = 0
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!
    const index = STATIC_NAME.get(name)
    if (index !== undefined) {
      at = writeInteger(out, at, 0x00, 4, index)
    } else {
      out[at++] = 0x00
      at = writeString(out, at, name)
    }
    at = writeString(out, at, fields[i + 1]!)
  }
  return out.subarray(0, at)
}

function writeString(out: Buffer, at: number, text: string): number {
  const length = Buffer.byteLength(text)
  at = writeInteger(out, at, 0x00, 7, length)
  return at + out.write(text, at)
}

/** An integer with an N-bit prefix after the pattern bits in `first` (§5.1). */
export function writeInteger(out: Uint8Array, at: number, first: number, prefixBits: number, value: number): number {
  const max = (1 << prefixBits) - 1
  if (value < max) {
    out[at++] = first | value
    return at
  }
  out[at++] = first | max
  value -= max
  while (value >= 0x80) {
    out[at++] = (value % 0x80) | 0x80
    value = Math.floor(value / 0x80)
  }
  out[at++] = value
  return at
}
