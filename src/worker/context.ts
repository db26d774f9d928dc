// One RequestContext per client request: everything read from uWS's stack-allocated request,
// copied once in the constructor, plus the numeric state every later callback checks first.
import { randomUUID } from 'node:crypto'
import type { HttpRequest, HttpResponse } from '../uws.js'
import type { PluginRequest } from '../plugins/types.js'
import type { RouteMatch } from './router.js'
import type { Listener } from './listener.js'
import type { RequestBody } from './request-body.js'

export const OPEN = 0
export const ABORTED = 1
export const DONE = 2

/** Framing problems found while copying the headers (SPEC §4): any of these → 400 + close. */
export const FRAMING_OK = 0
export const FRAMING_DUPLICATE_CL = 1
export const FRAMING_CL_AND_TE = 2
export const FRAMING_BAD_HEADER = 3
export const FRAMING_BAD_CL = 4

// RFC 9110 §5.6.2 token characters, for header names; values: VCHAR / obs-text / SP / HTAB (§5.5).
const TOKEN = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TOKEN[c.charCodeAt(0)] = 1

function validName(name: string): boolean {
  if (name.length === 0) return false
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c > 127 || TOKEN[c] === 0) return false
  }
  return true
}

function validValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return false
  }
  return true
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

export class RequestContext implements PluginRequest {
  state = OPEN
  readonly res: HttpResponse
  readonly listener: Listener
  readonly method: string
  readonly path: string
  readonly query: string
  readonly headers = new Map<string, string>()
  readonly host: string
  readonly peerIp: string
  clientIp: string
  readonly scheme: 'http' | 'https'
  readonly port: number
  requestId: string
  readonly startedAt: number
  /** -1 when the request has no Content-Length. */
  contentLength = -1
  chunked = false
  framing = FRAMING_OK
  match: RouteMatch | null = null
  routeName = ''
  serviceName = ''
  /** Set by the proxy while an upstream exchange is running; released on abort. */
  onAbort: (() => void) | null = null
  /** The request body stream, set by the listener when the request has one. */
  body: RequestBody | null = null

  constructor(res: HttpResponse, req: HttpRequest, listener: Listener) {
    this.res = res
    this.listener = listener
    this.startedAt = performance.now()
    this.method = req.getCaseSensitiveMethod()
    const url = req.getUrl()
    this.path = url
    this.query = req.getQuery() ?? ''
    this.scheme = 'http'
    this.port = listener.port
    req.forEach(this.copyHeader)
    this.host = this.headers.get('host') ?? ''
    this.peerIp = Buffer.from(res.getRemoteAddressAsText()).toString('latin1')
    this.clientIp = listener.clientIpFor(this.peerIp, this.headers)
    const id = this.headers.get('x-request-id')
    this.requestId = id !== undefined && validRequestId(id) ? id : randomUUID()
    if (this.chunked && this.contentLength >= 0) this.framing = FRAMING_CL_AND_TE
  }

  /** req.forEach callback: copies a header, joining duplicates, and checks framing rules. */
  private readonly copyHeader = (name: string, value: string): void => {
    if (!validName(name) || !validValue(value)) {
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
    if (onAbort !== null) onAbort()
  }

  /** Marks the response as fully sent (after a successful end/tryEnd). */
  finished(): void {
    if (this.state !== OPEN) return
    this.state = DONE
    this.onAbort = null
    this.listener.requestEnded(this)
  }

  reply(status: number, body: string | Buffer, headers?: ReadonlyArray<readonly [string, string]>): void {
    this.listener.respond(this, status, body, headers ?? null, false)
  }

  readBody(limit: number): Promise<Buffer> {
    return this.listener.readBody(this, limit)
  }
}
