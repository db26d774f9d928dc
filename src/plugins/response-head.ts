// Edits a response head's flat `[name, value, …]` header list in place, names compared case-insensitively,
// as Kong's kong.response.get_header / set_header / add_header / clear_header do on the head.

/** Index of the first entry called `lower` (lower-case), from `from`; -1 when none. */
export function findHeader(headers: readonly string[], lower: string, from = 0): number {
  for (let i = from; i < headers.length; i += 2) {
    const name = headers[i]!
    if (name.length === lower.length && name.toLowerCase() === lower) return i
  }
  return -1
}

/** The first value of `lower`, or undefined. */
export function getHeader(headers: readonly string[], lower: string): string | undefined {
  const i = findHeader(headers, lower)
  return i === -1 ? undefined : headers[i + 1]
}

/** Every value of `lower` joined with ', ' (RFC 9110 §5.3), or undefined when there is none. */
export function joinedHeader(headers: readonly string[], lower: string): string | undefined {
  let out: string | undefined
  for (let i = findHeader(headers, lower); i !== -1; i = findHeader(headers, lower, i + 2)) {
    out = out === undefined ? headers[i + 1] : out + ', ' + headers[i + 1]!
  }
  return out
}

/** Removes every entry called `lower`; true when there was one. */
export function removeHeader(headers: string[], lower: string): boolean {
  let removed = false
  for (let i = findHeader(headers, lower); i !== -1; i = findHeader(headers, lower, i)) {
    headers.splice(i, 2)
    removed = true
  }
  return removed
}

/** Replaces every entry called `name` with one `name: value` (kong.response.set_header). */
export function setHeader(headers: string[], name: string, value: string): void {
  const lower = name.toLowerCase()
  const i = findHeader(headers, lower)
  if (i === -1) {
    headers.push(name, value)
    return
  }
  headers[i] = name
  headers[i + 1] = value
  for (let j = findHeader(headers, lower, i + 2); j !== -1; j = findHeader(headers, lower, j)) headers.splice(j, 2)
}
