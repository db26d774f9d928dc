// Secrets are never shown by GET /config: values of credential-like fields become "<redacted>".
// Matching is by field name, so a new plugin's `password` or `client_secret` is covered without a list per plugin.

const SECRET_FIELD = /^(password|secret|client_secret|key|private_key|key_alt|token|access_token|refresh_token|introspection_client_secret|provision_key|cert_key)$|_secret$|_password$/i

export function redact(value: unknown, field = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => redact(v, field))
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = redact(v, k)
    return out
  }
  if (typeof value === 'string' && SECRET_FIELD.test(field)) return '<redacted>'
  return value
}
