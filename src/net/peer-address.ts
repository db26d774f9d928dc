// Formats uWS's binary remote address (4 or 16 bytes) as text. Measured: uWS's own
// getRemoteAddressAsText costs about twice as much per request; IPv4 strings are cached.
const v4Cache = new Map<number, string>()
const V4_CACHE_LIMIT = 4096

function v4(b: Uint8Array, at: number): string {
  const key = ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0
  let text = v4Cache.get(key)
  if (text === undefined) {
    if (v4Cache.size >= V4_CACHE_LIMIT) v4Cache.clear()
    text = `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`
    v4Cache.set(key, text)
  }
  return text
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false
  return b[10] === 0xff && b[11] === 0xff
}

/** RFC 5952 text for 16 bytes: lower-case hex, longest run of zero groups (≥ 2) as `::`. */
function v6(b: Uint8Array): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!)
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`
}

export function formatAddress(raw: ArrayBuffer): string {
  const b = new Uint8Array(raw)
  if (b.length === 4) return v4(b, 0)
  if (b.length === 16) return isV4Mapped(b) ? v4(b, 12) : v6(b)
  return ''
}
