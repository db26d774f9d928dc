// Path normalization as Kong does it before routing (kong.tools.uri.normalize with merge_slashes):
// decode percent-encoded unreserved characters, remove dot segments (RFC 3986 §5.2.4), merge slashes.

const HEX = '0123456789ABCDEF'

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 65 && c <= 70) return c - 55
  if (c >= 97 && c <= 102) return c - 87
  return -1
}

/** RFC 3986 §2.3 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126
}

/**
 * True when `path` may change under normalization: it has a `%`, an empty segment (`//`) or a dot
 * segment. Allocation-free, so the router can skip normalizing the common clean path.
 */
export function needsNormalization(path: string): boolean {
  const n = path.length
  for (let i = 0; i < n; i++) {
    const c = path.charCodeAt(i)
    if (c === 37) return true // '%'
    if (c !== 47 || i + 1 >= n) continue // not '/', or last char
    const c1 = path.charCodeAt(i + 1)
    if (c1 === 47) return true // '//'
    if (c1 !== 46) continue // not '/.'
    if (i + 2 >= n) return true // ends with '/.'
    const c2 = path.charCodeAt(i + 2)
    if (c2 === 47) return true // '/./'
    if (c2 === 46 && (i + 3 >= n || path.charCodeAt(i + 3) === 47)) return true // '/..' or '/../'
  }
  return false
}

function decodeUnreserved(path: string): string {
  let out = ''
  let last = 0
  for (let i = path.indexOf('%'); i !== -1 && i < path.length; i = path.indexOf('%', i + 1)) {
    if (i + 2 >= path.length) break
    const hi = hexValue(path.charCodeAt(i + 1))
    const lo = hexValue(path.charCodeAt(i + 2))
    if (hi < 0 || lo < 0) continue
    const code = hi * 16 + lo
    out += path.slice(last, i) + (isUnreserved(code) ? String.fromCharCode(code) : '%' + HEX[hi] + HEX[lo])
    last = i + 3
  }
  return last === 0 ? path : out + path.slice(last)
}

function removeDotSegments(path: string): string {
  const input = path.split('/')
  const out: string[] = []
  for (let i = 1; i < input.length; i++) {
    const seg = input[i]
    const isLast = i === input.length - 1
    if (seg === '.' || seg === '..') {
      if (seg === '..') out.pop()
      if (isLast) out.push('')
      continue
    }
    out.push(seg)
  }
  return '/' + out.join('/')
}

/** Kong's normalized form of a request path (a path that does not start with '/' is returned as is). */
export function normalizePath(path: string): string {
  if (path.charCodeAt(0) !== 47 || !needsNormalization(path)) return path
  const merged = decodeUnreserved(path).replace(/\/{2,}/g, '/')
  return removeDotSegments(merged)
}
