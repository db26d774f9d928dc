// HPACK's Huffman code (RFC 7541 §5.2, Appendix B): the code is canonical, so the table is written out as
// each symbol's code length (symbols 0-255, then EOS = 256); the codes follow from the lengths.

/** RFC 7541 Appendix B code lengths, by symbol. */
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
]

export const EOS = 256
const MAX_LENGTH = 30

/** Each symbol's code (right-aligned in `CODES[s]`, CODE_LENGTHS[s] bits). */
export const CODES = new Uint32Array(257)
/** Canonical decoding: per length, the first code, how many codes, and where they start in SORTED. */
const FIRST = new Int32Array(MAX_LENGTH + 1)
const COUNT = new Int32Array(MAX_LENGTH + 1)
const OFFSET = new Int32Array(MAX_LENGTH + 1)
/** Symbols by (length, symbol): the canonical order. */
const SORTED = new Uint16Array(257)

{
  const order = [...CODE_LENGTHS.keys()].sort((a, b) => CODE_LENGTHS[a]! - CODE_LENGTHS[b]! || a - b)
  let code = 0
  let length = CODE_LENGTHS[order[0]!]!
  order.forEach((symbol, i) => {
    const l = CODE_LENGTHS[symbol]!
    code *= 2 ** (l - length)
    length = l
    if (COUNT[l] === 0) {
      FIRST[l] = code
      OFFSET[l] = i
    }
    COUNT[l]!++
    CODES[symbol] = code
    SORTED[i] = symbol
    code++
  })
}

/** Decodes a Huffman string; null when it is malformed (EOS inside, padding longer than 7 bits or not all ones). */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string | null {
  let out = ''
  let code = 0
  let length = 0
  for (let i = start; i < end; i++) {
    const byte = src[i]!
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1)
      length++
      const index = code - FIRST[length]!
      if (COUNT[length]! > 0 && index >= 0 && index < COUNT[length]!) {
        const symbol = SORTED[OFFSET[length]! + index]!
        if (symbol === EOS) return null
        out += String.fromCharCode(symbol)
        code = 0
        length = 0
      } else if (length === MAX_LENGTH) {
        return null
      }
    }
  }
  // Padding: the most significant bits of EOS (all ones), fewer than 8 of them.
  if (length > 7 || code !== 2 ** length - 1) return null
  return out
}

/** Huffman-encodes latin1 text (the encoder in tests and round trips; the client sends raw literals). */
export function huffmanEncode(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1')
  const out: number[] = []
  let acc = 0
  let bits = 0
  for (const b of bytes) {
    const l = CODE_LENGTHS[b]!
    const c = CODES[b]!
    for (let k = l - 1; k >= 0; k--) {
      acc = (acc << 1) | (Math.floor(c / 2 ** k) & 1)
      if (++bits === 8) {
        out.push(acc)
        acc = 0
        bits = 0
      }
    }
  }
  if (bits > 0) out.push(((acc << (8 - bits)) | (0xff >> bits)) & 0xff)
  return Buffer.from(out)
}
