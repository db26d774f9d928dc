// Kong's request-termination: answers the request itself with a status and a message, a raw body,
// or (echo) a JSON description of the request. compile() prebuilds the answer; access only writes it.
import { parseFormArgs } from './query-string.js'
import { Buffer } from 'node:buffer'
import { bool, int, isPresent, record, str, type EntityCheck } from '../config/schema.js'
import { headerName } from '../config/typedefs.js'
import { CONTINUE, DONE, definePlugin, type PhaseResult, type PluginRequest } from './types.js'

/** Kong's DEFAULT_RESPONSE: statuses without a message get an empty body. */
const DEFAULT_MESSAGES: Readonly<Record<number, string>> = {
  401: 'Unauthorized',
  404: 'Not found',
  405: 'Method not allowed',
  500: 'An unexpected error occurred',
  502: 'Bad Gateway',
  503: 'Service unavailable',
}
const JSON_TYPE = 'application/json; charset=utf-8'
/** The most of a request body an echo reads (past it the request gets 413). */
export const ECHO_BODY_LIMIT = 1024 * 1024
const EMPTY = Buffer.alloc(0)

/** Kong's custom_validator for the config record, same messages. */
const exclusiveOptions: EntityCheck = (c) => {
  if (isPresent(c.message) && (isPresent(c.content_type) || isPresent(c.body))) return 'message cannot be used with content_type or body'
  if (isPresent(c.content_type) && !isPresent(c.body)) return 'content_type requires a body'
  if (c.echo === true && (isPresent(c.content_type) || isPresent(c.body))) return 'echo cannot be used with content_type and body'
  return null
}

export interface RequestTerminationConfig {
  status: number
  /** The fixed answer (unused with echo). */
  body: Buffer
  headers: ReadonlyArray<readonly [string, string]>
  echo: boolean
  message: string | null
  /** Lower-cased trigger for the header lookup, and as written for the query string; null = always. */
  triggerHeader: string | null
  triggerQuery: string | null
}

function compile(c: Record<string, unknown>): RequestTerminationConfig {
  const status = c.status_code as number
  const message = (c.message as string | null) ?? DEFAULT_MESSAGES[status] ?? null
  const trigger = c.trigger as string | null
  let body = EMPTY
  let headers: [string, string][] = []
  if (isPresent(c.body)) {
    body = Buffer.from(c.body as string)
    headers = [['Content-Type', (c.content_type as string | null) ?? JSON_TYPE]]
  } else if (message !== null) {
    body = Buffer.from(JSON.stringify({ message }))
    headers = [['Content-Type', JSON_TYPE]]
  }
  return {
    status, body, headers, echo: c.echo as boolean, message,
    triggerHeader: trigger === null ? null : trigger.toLowerCase(),
    triggerQuery: trigger,
  }
}

/** True when the raw query string has a parameter called `name` (with or without a value). */
export function hasQueryParam(query: string, name: string): boolean {
  let start = 0
  const n = query.length
  while (start <= n) {
    let end = query.indexOf('&', start)
    if (end === -1) end = n
    const eq = query.indexOf('=', start)
    const keyEnd = eq === -1 || eq > end ? end : eq
    if (keyEnd - start === name.length && query.startsWith(name, start)) return true
    start = end + 1
  }
  return false
}

/** Kong's kong.request.get_query(): repeated names become arrays, a name without `=` is true. */
export function parseQuery(query: string): Record<string, unknown> {
  return parseFormArgs(query)
}

/** Kong's kong.request.get_body(): JSON and url-encoded forms; undefined when it is neither. */
function parseBody(contentType: string | undefined, raw: string): unknown {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase()
  if (type === 'application/json' || type.endsWith('+json')) {
    try {
      return JSON.parse(raw)
    } catch {
      return undefined
    }
  }
  if (type === 'application/x-www-form-urlencoded') return parseQuery(raw)
  return undefined
}

function hasBody(ctx: PluginRequest): boolean {
  const len = ctx.headers.get('content-length')
  return (len !== undefined && len !== '0') || ctx.headers.has('transfer-encoding')
}

function echo(ctx: PluginRequest, c: RequestTerminationConfig, raw: Buffer): typeof DONE {
  const rawBody = raw.toString('utf8')
  const uri = ctx.query === '' ? ctx.path : `${ctx.path}?${ctx.query}`
  const content = {
    message: c.message ?? undefined,
    request: {
      scheme: ctx.scheme,
      host: ctx.host,
      port: ctx.port,
      headers: Object.fromEntries(ctx.headers),
      query: parseQuery(ctx.query),
      body: parseBody(ctx.headers.get('content-type'), rawBody),
      raw_body: rawBody,
      method: ctx.method.toUpperCase(),
      path: ctx.path,
      uri,
      uri_captures: { named: {}, unnamed: [] },
    },
    matched_route: ctx.routeName === '' ? null : { name: ctx.routeName },
    matched_service: ctx.serviceName === '' ? null : { name: ctx.serviceName },
  }
  ctx.reply(c.status, JSON.stringify(content), [['Content-Type', JSON_TYPE]])
  return DONE
}

function access(ctx: PluginRequest, c: RequestTerminationConfig): PhaseResult {
  if (c.triggerHeader !== null && !ctx.headers.has(c.triggerHeader) && !hasQueryParam(ctx.query, c.triggerQuery as string)) {
    return CONTINUE
  }
  if (c.echo) {
    if (!hasBody(ctx)) return echo(ctx, c, EMPTY)
    return ctx.readBody(ECHO_BODY_LIMIT).then((raw) => echo(ctx, c, raw))
  }
  ctx.reply(c.status, c.body, c.headers)
  return DONE
}

export default definePlugin<RequestTerminationConfig>({
  name: 'request-termination',
  priority: 2,
  schema: record({
    status_code: int({ between: [100, 599], default: 503 }),
    message: str(),
    content_type: str(),
    body: str(),
    echo: bool({ default: false }),
    trigger: headerName(),
  }, { checks: [exclusiveOptions] }),
  compile,
  phases: { access },
})
