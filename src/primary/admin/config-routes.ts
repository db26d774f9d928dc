// POST /config and POST /config/validate (SPEC §9): a declarative config posted as YAML or JSON, or
// Kong's `{"config": "<declarative text>"}` form, validated exactly as a reload of the file is.
import type { ApplyResult } from '../gateway.js'
import type { AdminAnswer } from './cache-routes.js'

/** Largest config the admin API accepts in one request. */
export const CONFIG_BODY_LIMIT = 16 * 1024 * 1024

/** JSON when the client says so; otherwise YAML, which also reads JSON. */
export function configFormat(contentType: string): 'json' | 'yaml' {
  return /^\s*application\/(?:[\w.+-]+\+)?json\b/i.test(contentType) ? 'json' : 'yaml'
}

/**
 * The declarative text inside a body: Kong's DB-less `/config` takes `{"config": "<yaml or json>"}`
 * as well as the document itself, so both work here.
 */
export function unwrapConfig(text: string, format: 'json' | 'yaml'): { text: string; format: 'json' | 'yaml' } {
  if (format !== 'json') return { text, format }
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return { text, format } // the loader reports the syntax error with its position
  }
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const keys = Object.keys(body)
    const inner = (body as Record<string, unknown>).config
    if (keys.length === 1 && typeof inner === 'string') return { text: inner, format: 'yaml' }
  }
  return { text, format }
}

/** The answer to a rejected config: 400 with every problem as `path: message`. */
export function rejected(result: Extract<ApplyResult, { ok: false }>): AdminAnswer {
  return { status: 400, body: { message: 'invalid config: nothing was applied', errors: result.errors, warnings: result.warnings } }
}

/** The answer to an applied config; `pending` lists workers that had not switched when the wait ended. */
export function applied(result: Extract<ApplyResult, { ok: true }>, pending: number[]): AdminAnswer {
  const message = pending.length === 0 ? 'config applied by every worker' : 'config accepted; some workers have not applied it yet'
  return { status: 201, body: { message, config_hash: result.hash, summary: result.summary, warnings: result.warnings, workers_pending: pending } }
}

export function validated(result: Extract<ApplyResult, { ok: true }>): AdminAnswer {
  return { status: 200, body: { message: 'config is valid', config_hash: result.hash, summary: result.summary, warnings: result.warnings } }
}
