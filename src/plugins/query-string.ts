// Query strings and form bodies (application/x-www-form-urlencoded) as Kong's plugins read them:
// components decoded with '+' as space, repeated names collected into arrays, a bare name is true.

/** A decoded component, or null when its %-escapes are malformed (callers decide: keep it raw or skip it). */
export function decodeFormComponent(s: string): string | null {
  if (s.indexOf('%') === -1 && s.indexOf('+') === -1) return s
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return null
  }
}

/** Kong's kong.request.get_query() / get_post_args(): repeated names become arrays, a name without `=` is true. */
export function parseFormArgs(raw: string): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null)
  if (raw === '') return out
  for (const part of raw.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const rawKey = eq === -1 ? part : part.slice(0, eq)
    const key = decodeFormComponent(rawKey) ?? rawKey
    const rawValue = eq === -1 ? null : part.slice(eq + 1)
    const value: unknown = rawValue === null ? true : decodeFormComponent(rawValue) ?? rawValue
    const prev = out[key]
    out[key] = prev === undefined ? value : Array.isArray(prev) ? [...(prev as unknown[]), value] : [prev, value]
  }
  return out
}
