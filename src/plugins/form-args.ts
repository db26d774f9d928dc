// Argument tables as Kong's request-transformer edits them (query strings and url-encoded forms, decoded by
// parseFormArgs): Kong's rename/append semantics and the two encoders (sorted for the query, as set_query does).

/** A decoded argument: a value, `true` for a bare name, or the values of a repeated name. */
export type ArgValue = string | boolean | unknown[]
export type Args = Record<string, unknown>

/** Kong's `rename`: moves a set (truthy) value to the new name; nothing when the names are equal. */
export function renameArg(args: Args, from: string, to: string): boolean {
  // A rendered target of __proto__ would replace a parsed JSON object's prototype, not add a key.
  if (from === to || to === '__proto__') return false
  const value = args[from]
  if (value === undefined || value === false || value === null) return false
  delete args[from]
  args[to] = value
  return true
}

/** Kong's append_value (3.x): a string becomes [old, value], an array grows, anything else becomes [value]. */
export function appendArg(current: unknown, value: string): unknown[] {
  if (typeof current === 'string') return [current, value]
  if (Array.isArray(current)) {
    current.push(value)
    return current
  }
  return [value]
}

/** ngx.escape_uri: everything but letters, digits and `-_.~` is %-escaped. */
function escapeArg(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
}

function encodePair(out: string[], name: string, value: unknown): void {
  if (value === true) out.push(escapeArg(name))
  else if (Array.isArray(value)) for (const v of value) encodePair(out, name, v)
  else if (value !== false && value !== undefined && value !== null) out.push(escapeArg(name) + '=' + escapeArg(String(value)))
}

/** ngx.encode_args: `name=value` pairs in table order, a repeated name once per value, `true` as a bare name. */
export function encodeArgs(args: Args, sorted = false): string {
  const out: string[] = []
  const names = Object.keys(args)
  if (sorted) names.sort()
  for (const name of names) encodePair(out, name, args[name])
  return out.join('&')
}
