// The `aggregate` extension plugin (SPEC §8, KrakenD-style): one route fans out to several JSON backends
// in parallel and answers with their merged bodies itself; a part that failed is left out (X-Gateway-Completed).
import { errorBody } from '../errors.js'
import { arrayOf, int, isPresent, mapOf, mutuallyExclusive, oneOf, record, str, type EntityCheck } from '../config/schema.js'
import { headerNameError } from '../config/typedefs.js'
import { combine, fieldTree, shape, type Shape, type Strategy } from './aggregate-merge.js'
import { expandPath, FROM_CAPTURE, parseUrlTemplate, urlTemplateError, type UrlTemplate } from './aggregate-template.js'
import { forwardedHeaders, forwardedQuery, RequestVars, RouteCaptures } from './aggregate-vars.js'
import { BackendCall, TIMEOUT, type BackendTarget, type CallOwner } from './aggregate-backend.js'
import { DONE, definePlugin, type ClientAbortListener, type PluginEnv, type PluginRequest, type PluginScope } from './types.js'
import type { Logger } from '../logger.js'
import type { Settings } from '../settings.js'

const JSON_TYPE = 'application/json; charset=utf-8'
const COMPLETED = 'X-Gateway-Completed'
const BAD_GATEWAY = 'An invalid response was received from the upstream server'
const TIMING_OUT = 'The upstream server is timing out'
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']
const FIELD_PATH = /^[^.]+(\.[^.]+)*$/
const CRLF = /[\r\n]/

interface Backend {
  url: UrlTemplate
  target: BackendTarget
  /** Added to (or replacing) the forwarded headers, lower-case names. */
  headers: Readonly<Record<string, string>>
  shape: Shape
}

export interface AggregateConfig {
  backends: Backend[]
  strategy: Strategy
  timeoutMs: number
  maxResponseSize: number
  /** Lower-case header names forwarded from the client; null = all (`*`). */
  inputHeaders: ReadonlySet<string> | null
  /** Query parameter names forwarded from the client; null = all (`*`). */
  inputQuery: ReadonlySet<string> | null
  captures: RouteCaptures
  settings: Settings
  log: Logger
  /** Log each left-out part at debug level (decided once, so the request path builds no log object otherwise). */
  logFailures: boolean
}

const fieldPath = (): ReturnType<typeof str> => str({ match: FIELD_PATH, matchError: 'must be a field name or a dotted path (a.b.c)' })

const backendSchema = record({
  url: str({ required: true, custom: urlTemplateError }),
  method: oneOf(METHODS, 'GET'),
  headers: mapOf(str({ custom: headerNameError }), str({ custom: (v: string) => (CRLF.test(v) ? 'must not contain CR or LF' : null) }), { default: {} }),
  group: str({ minLength: 1 }),
  target: fieldPath(),
  allow: arrayOf(fieldPath()),
  deny: arrayOf(fieldPath()),
  mapping: mapOf(str({ minLength: 1 }), str({ minLength: 1 })),
  timeout: int({ between: [1, 2 ** 31 - 2] }),
}, { checks: [mutuallyExclusive('allow', 'deny')] })

/** strategy `group` puts every backend under its own key, so each needs one. */
const groupsNamed: EntityCheck = (c) => {
  if (c.strategy !== 'group') return null
  const backends = (c.backends ?? []) as Record<string, unknown>[]
  const missing = backends.flatMap((b, i) => (isPresent(b.group) ? [] : [`backends[${i}]`]))
  return missing.length === 0 ? null : `strategy 'group' needs a 'group' on every backend (missing on ${missing.join(', ')})`
}

function nameSet(list: readonly string[], lower: boolean): ReadonlySet<string> | null {
  if (list.includes('*')) return null
  return new Set(lower ? list.map((n) => n.toLowerCase()) : list)
}

function compileBackend(b: Record<string, unknown>): Backend {
  const url = parseUrlTemplate(b.url as string) as UrlTemplate // validated at load
  const allow = b.allow as string[] | null
  const deny = b.deny as string[] | null
  const mapping = b.mapping as Record<string, string> | null
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(b.headers as Record<string, string>)) headers[name.toLowerCase()] = value
  return {
    url,
    target: { https: url.https, hostname: url.hostname, port: url.port, method: b.method as string, timeoutMs: (b.timeout as number | null) ?? 0 },
    headers,
    shape: {
      target: b.target === null ? null : (b.target as string).split('.'),
      allow: allow === null ? null : fieldTree(allow),
      deny: deny === null ? null : fieldTree(deny),
      mapping: mapping === null ? null : new Map(Object.entries(mapping)),
      group: b.group as string | null,
    },
  }
}

function compile(c: Record<string, unknown>, env: PluginEnv, scope: PluginScope): AggregateConfig {
  const backends = (c.backends as Record<string, unknown>[]).map(compileBackend)
  const needed = [...new Set(backends.flatMap((b) => b.url.vars.filter((v) => v.from === FROM_CAPTURE).map((v) => v.name)))]
  const captures = new RouteCaptures(scope.snapshot, scope, needed, (route, names) => {
    env.log.warn({ plugin: 'aggregate', route, captures: names }, 'aggregate: the route has no regex path capturing these names; they expand to ""')
  })
  return {
    backends,
    strategy: c.strategy as Strategy,
    timeoutMs: c.timeout as number,
    maxResponseSize: c.max_response_size as number,
    inputHeaders: nameSet(c.input_headers as string[], true),
    inputQuery: nameSet(c.input_query_strings as string[], false),
    captures,
    settings: env.settings,
    log: env.log,
    logFailures: env.log.isLevelEnabled('debug'),
  }
}

/** One client request's fan-out: calls every backend, collects the parts in order, answers once. */
class Aggregation implements CallOwner, ClientAbortListener {
  private readonly ctx: PluginRequest
  private readonly c: AggregateConfig
  private readonly calls: BackendCall[]
  private readonly parts: (Record<string, unknown> | null)[]
  private pending: number
  private failed = 0
  private timeouts = 0
  private started = false
  private over = false
  private timer: NodeJS.Timeout | null = null
  private resolve!: (r: typeof DONE) => void

  constructor(ctx: PluginRequest, c: AggregateConfig) {
    this.ctx = ctx
    this.c = c
    this.calls = c.backends.map((_, i) => new BackendCall(this, i, c.maxResponseSize))
    this.parts = c.backends.map(() => null)
    this.pending = c.backends.length
  }

  run(): Promise<typeof DONE> {
    const done = new Promise<typeof DONE>((resolve) => (this.resolve = resolve))
    const { ctx, c } = this
    ctx.onClientAbort?.(this)
    const vars = new RequestVars(ctx, c.captures)
    const query = forwardedQuery(ctx.query, c.inputQuery)
    const base = forwardedHeaders(ctx.headers, c.inputHeaders)
    base['x-request-id'] = ctx.requestId
    base['x-forwarded-for'] = ctx.clientIp
    for (let i = 0; i < c.backends.length; i++) {
      const b = c.backends[i]!
      let path = expandPath(b.url, vars)
      if (query !== '') path += (path.includes('?') ? '&' : '?') + query
      this.calls[i]!.start(c.settings, b.target, path, { ...base, ...b.headers })
    }
    this.started = true
    if (this.pending === 0) this.answer()
    else this.timer = setTimeout(this.onTotalTimeout, c.timeoutMs)
    return done
  }

  settled(index: number, body: Record<string, unknown> | unknown[] | null, failure: string): void {
    if (this.over) return
    this.pending--
    if (body !== null) {
      this.parts[index] = shape(body, this.c.backends[index]!.shape)
    } else {
      this.failed++
      if (failure === TIMEOUT) this.timeouts++
      if (this.c.logFailures) this.c.log.debug({ requestId: this.ctx.requestId, backend: index, failure }, 'aggregate: backend left out')
    }
    if (this.pending === 0 && this.started) this.answer()
  }

  /** The total timeout: answer with what arrived; the rest count as timed out. */
  private readonly onTotalTimeout = (): void => {
    this.timer = null
    this.failed += this.pending
    this.timeouts += this.pending
    this.pending = 0
    this.answer()
  }

  /** The client left (or the request was failed): drop every call and timer; nothing is written. */
  clientAborted(): void {
    if (this.over) return
    this.stop()
    this.resolve(DONE)
  }

  private stop(): void {
    this.over = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    for (const call of this.calls) call.cancel()
  }

  private answer(): void {
    if (this.over) return
    this.stop()
    const { ctx } = this
    ctx.onClientAbort?.(null)
    const n = this.parts.length
    if (this.failed === n) {
      const status = this.timeouts === n ? 504 : 502
      ctx.reply(status, errorBody(status === 504 ? TIMING_OUT : BAD_GATEWAY, ctx.requestId), [['Content-Type', JSON_TYPE], [COMPLETED, 'false']])
    } else {
      const body = JSON.stringify(combine(this.parts, this.c.strategy))
      ctx.reply(200, body, [['Content-Type', JSON_TYPE], [COMPLETED, this.failed === 0 ? 'true' : 'false']])
    }
    this.resolve(DONE)
  }
}

export default definePlugin<AggregateConfig>({
  name: 'aggregate',
  // After authentication, ACLs and rate limiting (Kong's priorities above 900), like a terminating plugin.
  priority: 3,
  schema: record({
    backends: arrayOf(backendSchema, { required: true, minLength: 1 }),
    strategy: oneOf(['merge', 'group', 'collect'], 'merge'),
    timeout: int({ between: [1, 2 ** 31 - 2], default: 2000 }),
    max_response_size: int({ between: [1, 2 ** 31 - 1], default: 1024 * 1024 }),
    input_headers: arrayOf(str({ custom: (v: string) => (v === '*' ? null : headerNameError(v)) }), { default: [] }),
    input_query_strings: arrayOf(str({ minLength: 1 }), { default: [] }),
  }, { checks: [groupsNamed] }),
  compile,
  phases: { access: (ctx, c) => new Aggregation(ctx, c).run() },
})
