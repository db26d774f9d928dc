// The one JSON-body check the transformers share: a body that parses to a JSON object, or null
// (invalid JSON, an array, a scalar), which they then leave untouched.
export function parseJsonObject(raw: Buffer): Record<string, unknown> | null {
  let parsed: unknown
  try {
    parsed = JSON.parse(raw.toString('utf8'))
  } catch {
    return null
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null
}
