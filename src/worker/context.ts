// One RequestContext per client request: everything read from uWS's stack-allocated request,
// copied once in the constructor, plus the numeric state every later callback checks first.
import { performance } from 'node:perf_hooks'
import { GW, GatewayError } from '../errors.js'
import { formatAddress } from '../net/peer-address.js'
import type { HttpRequest, HttpResponse, us_socket_context_t } from '../uws.js'
import { nextRequestId } from './request-id.js'
import { alwaysDropped, namesExtraHeaders } from './upstream-head.js'
import type { ConsumerRef, PluginRequest, ResponseFilter, ResponseObserver } from '../plugins/types.js'
import type { RouteMatch } from './router.js'
import type { GrpcCall } from '../protocols/grpc/call.js'
import type { Listener } from './listener.js'
import type { Runtime } from './runtime.js'
import type { Origin } from './tls-listener.js'
import { RequestBody } from './request-body.js'

export const OPEN = 0
export const ABORTED = 1
export const DONE = 2

/** Framing problems found while copying the headers (SPEC §4): any of these → 400 + close. */
export const FRAMING_OK = 0
export const FRAMING_DUPLICATE_CL = 1
export const FRAMING_CL_AND_TE = 2
export const FRAMING_BAD_HEADER = 3
export const FRAMING_BAD_CL = 4

/**
 * uWS itself drops requests with control bytes in values or non-token header names (the
 * connection gets no answer); DEL (0x7f) is the one invalid value byte it lets through (RFC 9110 §5.5).
 */
const DEL = '\x7f'
const CRLF = /[\r\n]/

/** The context whose headers req.forEach is copying (forEach is synchronous; no closure per request). */
let copying: RequestContext

function copyHeader(name: string, value: string): void {
  copying.addHeader(name, value)
}

function copyHeaders(req: HttpRequest, ctx: RequestContext): void {
  copying = ctx
  req.forEach(copyHeader)
}

/** RFC-ish X-Request-Id acceptance (SPEC §4): 1–200 visible ASCII characters, no spaces. */
function validRequestId(id: string): boolean {
  if (id.length === 0 || id.length > 200) return false
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i)
    if (c <= 0x20 || c >= 0x7f) return false
  }
  return true
}

/** Whatever holds resources for a request (the upstream exchange) and must release them on abort. */
export interface AbortListener {
  clientAborted(): void
}

export class RequestContext implements PluginRequest {
  state = OPEN
  readonly res: HttpResponse
  readonly listener: Listener
  readonly method: string
  readonly path: string
  query: string
  readonly headers = new Map<string, string>()
  readonly host: string
  readonly peerIp: string
  /** The peer is a trusted proxy (GATEWAY_TRUSTED_IPS), decided once per request. */
  readonly peerTrusted: boolean
  clientIp: string
  readonly scheme: 'http' | 'https'
  readonly port: number
  /** The listener (plain, or a TLS app's server name) the request came in on. */
  readonly origin: Origin
  requestId: string
  readonly startedAt: number
  /** -1 when the request has no Content-Length. */
  contentLength = -1
  chunked = false
  framing = FRAMING_OK
  match: RouteMatch | null = null
  routeName = ''
  routeId = ''
  serviceName = ''
  serviceId = ''
  consumer: ConsumerRef | null = null
  credentialId: string | null = null
  rateLimited = false
  cacheStatus = ''
  /** The status sent to the client (0 until a response head went out). */
  status = 0
  /**
   * The Runtime the request is served with from start to end (its router, metrics rows and log-phase chain),
   * even when a reload swaps the listener's; requests refused before routing are counted with it too.
   */
  readonly runtime: Runtime
  /** performance.now() when the request was written upstream / its first response byte came; 0 = not yet. */
  upstreamSentAt = 0
  upstreamFirstByteAt = 0
  /** `host:port` of the last upstream target tried, '' when none. */
  upstreamTarget = ''
  /** Response body bytes handed to uWS for the client. */
  bytesOut = 0
  /** Header lines plugins add to the client's response (`Name: value\r\n` …). */
  responseLines = ''
  /** Watches the upstream response for a plugin (proxy-cache), or null. */
  observer: ResponseObserver | null = null
  /** Response filters in plugin priority order, or null (the common case: the response is relayed as it is). */
  filters: ResponseFilter[] | null = null
  /** Method, path and Host sent upstream when a plugin changed them (request-transformer), else null. */
  upstreamMethod: string | null = null
  upstreamPath: string | null = null
  upstreamHost: string | null = null
  /** Set by the proxy while an upstream exchange is running; told when the client goes away. */
  onAbort: AbortListener | null = null
  /** The call grpc-gateway transcoded this request into: the listener sends it instead of proxying HTTP. */
  grpcCall: GrpcCall | null = null
  /** A WebSocket handshake to tunnel: the uWS socket context the client is upgraded with; null for HTTP. */
  upgrade: us_socket_context_t | null = null
  /** The request body stream, set by the listener when the request has one. */
  body: RequestBody | null = null
  /**
   * The client's end-to-end header lines (`name: value\r\n` …) collected while copying, or null
   * when they must be rebuilt from `headers`: Connection named extra hop-by-hop headers. A plugin
   * that changes `headers` must set it to null.
   */
  forwardLines: string | null = ''

  constructor(res: HttpResponse, req: HttpRequest, listener: Listener, origin: Origin) {
    this.res = res
    this.listener = listener
    this.runtime = listener.runtime
    this.startedAt = performance.now()
    this.method = req.getCaseSensitiveMethod()
    const url = req.getUrl()
    this.path = url
    this.query = req.getQuery() ?? ''
    this.origin = origin
    this.scheme = origin.scheme
    this.port = origin.port
    copyHeaders(req, this)
    this.host = this.headers.get('host') ?? ''
    this.peerIp = formatAddress(res.getRemoteAddress())
    this.peerTrusted = listener.isTrusted(this.peerIp)
    this.clientIp = this.peerTrusted ? listener.clientIpBehind(this.peerIp, this.headers) : this.peerIp
    const id = this.headers.get('x-request-id')
    this.requestId = id !== undefined && validRequestId(id) ? id : nextRequestId()
    if (this.chunked && this.contentLength >= 0) this.framing = FRAMING_CL_AND_TE
  }

  /** Copies one header, joining duplicates, and checks the framing rules (SPEC §4). */
  addHeader(name: string, value: string): void {
    if (value.indexOf(DEL) !== -1) {
      this.framing = FRAMING_BAD_HEADER
      return
    }
    if (name.length === 14 && name === 'content-length') {
      const trimmed = value.trim()
      if (!/^\d{1,15}$/.test(trimmed)) this.framing = FRAMING_BAD_CL
      const n = Number(trimmed)
      if (this.contentLength >= 0 && this.contentLength !== n) this.framing = FRAMING_DUPLICATE_CL
      this.contentLength = n
      this.headers.set(name, trimmed)
      return
    }
    if (name.length === 17 && name === 'transfer-encoding') this.chunked = true
    if (this.forwardLines !== null) {
      if (!alwaysDropped(name)) this.forwardLines += name + ': ' + value + '\r\n'
      else if (name.length === 10 && name === 'connection' && namesExtraHeaders(value)) this.forwardLines = null
    }
    const prev = this.headers.get(name)
    this.headers.set(name, prev === undefined ? value : prev + (name === 'cookie' ? '; ' : ', ') + value)
  }

  get hasBody(): boolean {
    return this.contentLength > 0 || this.chunked
  }

  /** The client went away (uWS onAborted): nothing may touch `res` from now on. */
  readonly aborted = (): void => {
    if (this.state !== OPEN) return
    this.state = ABORTED
    this.listener.requestEnded(this)
    const onAbort = this.onAbort
    this.onAbort = null
    if (onAbort !== null) onAbort.clientAborted()
    const observer = this.observer
    this.observer = null
    if (observer !== null) observer.onResponseAbort()
    const filters = this.filters
    if (filters !== null) for (let i = 0; i < filters.length; i++) filters[i]!.onAbort()
  }

  /** Marks the response as fully sent (after a successful end/tryEnd). */
  finished(): void {
    if (this.state !== OPEN) return
    this.state = DONE
    this.onAbort = null
    this.listener.requestEnded(this)
    const observer = this.observer
    if (observer !== null) {
      this.observer = null
      observer.onResponseEnd()
    }
  }

  /** Lines go to uWS verbatim, so a name or value with CR/LF is dropped (config validation refuses them). */
  addResponseHeader(name: string, value: string): void {
    if (CRLF.test(name) || CRLF.test(value)) return
    this.responseLines += name + ': ' + value + '\r\n'
  }

  setUpstreamHeader(name: string, value: string | null, lowerName?: string): void {
    const lower = lowerName ?? name.toLowerCase()
    if (lower === 'host') {
      // Host is never copied from the client (the exchange writes it per target): this one replaces it.
      if (value !== null && !CRLF.test(value)) this.upstreamHost = value
      return
    }
    if (value === null) {
      // Removing a header the client sent: the lines collected from uWS no longer match; rebuild from the Map.
      if (this.headers.delete(lower)) this.forwardLines = null
      return
    }
    if (CRLF.test(value)) return
    const replaces = this.headers.has(lower)
    this.headers.set(lower, value)
    // A new header (X-Consumer-ID …) is one more line; replacing one the client sent needs the rebuild.
    if (replaces) this.forwardLines = null
    else if (this.forwardLines !== null && !alwaysDropped(lower)) this.forwardLines += name + ': ' + value + '\r\n'
  }

  setUpstreamQuery(query: string): void {
    this.query = query
  }

  addResponseLines(lines: string): void {
    this.responseLines += lines
  }

  observeResponse(observer: ResponseObserver): void {
    this.observer = observer
  }

  onClientAbort(listener: AbortListener | null): void {
    this.onAbort = listener
  }

  filterResponse(filter: ResponseFilter): void {
    if (this.filters === null) this.filters = [filter]
    else this.filters.push(filter)
  }

  replaceBody(body: Buffer): void {
    // A request that had no body gets one that is already complete (nothing to read from the client).
    if (this.body === null) this.body = new RequestBody(this.res, body.length, null)
    this.body.restore(body, true)
    this.contentLength = body.length
    this.chunked = false
  }

  setUpstreamMethod(method: string): void {
    this.upstreamMethod = method
  }

  setUpstreamPath(path: string): void {
    if (!CRLF.test(path)) this.upstreamPath = path
  }

  reply(status: number, body: string | Buffer, headers?: ReadonlyArray<readonly [string, string]>): void {
    this.listener.respond(this, status, body, headers ?? null, false)
  }

  readBody(limit: number): Promise<Buffer> {
    return this.listener.readBody(this, limit, false) as Promise<Buffer>
  }

  readBodyWithin(limit: number): Promise<Buffer | null> {
    return this.listener.readBody(this, limit, true)
  }

  limitBody(maxBytes: number): boolean {
    if (this.contentLength > maxBytes || (this.body !== null && !this.body.lowerLimit(maxBytes))) {
      // Through fail(): a 413 closes the connection, so the rest of the body is never read.
      this.listener.fail(this, new GatewayError(GW.BODY_TOO_LARGE))
      return false
    }
    return true
  }
}
