// One backend call of an aggregation, over node:http(s) with this worker's keep-alive agents: the
// response is read into a bounded buffer and counts only as a 2xx JSON object or array.
import http from 'node:http'
import https from 'node:https'
import type { Settings } from '../settings.js'

/** Why a backend's part was left out (`TIMEOUT` is told apart: when every backend timed out the answer is 504). */
export const TIMEOUT = 'timeout'

/** Sockets per backend origin per worker; requests past it wait in the agent's queue (within their timeouts). */
const MAX_SOCKETS_PER_ORIGIN = 256
const IDEMPOTENT = new Set(['GET', 'PUT', 'DELETE'])

/** What a call reports to, exactly once (unless it was cancelled). */
export interface CallOwner {
  /** `body` is the parsed JSON object or array, or null with `failure` saying why. */
  settled(index: number, body: Record<string, unknown> | unknown[] | null, failure: string): void
}

export interface BackendTarget {
  https: boolean
  hostname: string
  port: number
  method: string
  /** Per-backend timeout in ms; 0 = only the aggregation's total timeout applies. */
  timeoutMs: number
}

interface Agents {
  http: http.Agent
  https: https.Agent
}

let agents: Agents | null = null

/**
 * The worker's agents, made on first use and kept across reloads (so a reload leaves no idle sockets
 * behind): idle sockets are capped per origin by GATEWAY_UPSTREAM_KEEPALIVE and closed after
 * GATEWAY_UPSTREAM_IDLE_TIMEOUT_MS; Node unrefs them, so they never hold a draining worker open.
 */
function agentsFor(settings: Settings): Agents {
  if (agents !== null) return agents
  const options: http.AgentOptions = {
    keepAlive: settings.upstreamKeepalive > 0,
    maxSockets: MAX_SOCKETS_PER_ORIGIN,
    maxFreeSockets: Math.max(1, settings.upstreamKeepalive),
    timeout: settings.upstreamIdleTimeoutMs,
    scheduling: 'lifo',
  }
  agents = { http: new http.Agent(options), https: new https.Agent(options) }
  return agents
}

/**
 * Deepest nesting a body may have. JSON.parse copes with any depth, but JSON.stringify and the merge recurse:
 * a body nested a hundred thousand levels deep would overflow the stack, so it counts as failed instead.
 */
const MAX_DEPTH = 512
const OPEN_BRACE = 0x7b
const OPEN_BRACKET = 0x5b
const CLOSE_BRACE = 0x7d
const CLOSE_BRACKET = 0x5d
const QUOTE = 0x22
const BACKSLASH = 0x5c

/** True when the JSON text nests objects and arrays deeper than `max` (brackets inside strings do not count). */
export function nestsDeeperThan(text: Buffer, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
    } else if (c === QUOTE) {
      inString = true
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--
    }
  }
  return false
}

function isJsonType(contentType: string | undefined): boolean {
  if (contentType === undefined) return true
  const semi = contentType.indexOf(';')
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase()
  return type === 'application/json' || type.endsWith('+json')
}

export class BackendCall {
  private readonly owner: CallOwner
  private readonly index: number
  private readonly limit: number
  private req: http.ClientRequest | null = null
  private timer: NodeJS.Timeout | null = null
  private chunks: Buffer[] = []
  private size = 0
  private options: https.RequestOptions | null = null
  private secure = false
  /** The backend answered (a failure after that is never retried). */
  private responded = false
  /** A stale kept-alive socket was retried already (once per call). */
  private retried = false
  /** Settled or cancelled: nothing more is reported. */
  private over = false

  /** `limit`: the most response body bytes read; past it the backend counts as failed. */
  constructor(owner: CallOwner, index: number, limit: number) {
    this.owner = owner
    this.index = index
    this.limit = limit
  }

  start(settings: Settings, target: BackendTarget, path: string, headers: Record<string, string>): void {
    const pool = agentsFor(settings)
    this.options = {
      agent: target.https ? pool.https : pool.http,
      host: target.hostname,
      port: target.port,
      method: target.method,
      path,
      headers,
    }
    this.secure = target.https
    this.send()
    if (target.timeoutMs > 0 && !this.over) this.timer = setTimeout(this.onTimeout, target.timeoutMs)
  }

  private send(): void {
    let req: http.ClientRequest
    try {
      req = this.secure ? https.request(this.options!) : http.request(this.options!)
    } catch (err) {
      // Node refuses a path or header it cannot send (e.g. a forwarded query with raw spaces).
      return this.fail(`request: ${(err as Error).message}`)
    }
    this.req = req
    req.on('response', this.onResponse)
    req.on('error', this.onError)
    req.end()
  }

  /** Stops the call without reporting (the aggregation answered or the client left); its socket is destroyed. */
  cancel(): void {
    if (this.over) return
    this.over = true
    this.release()
  }

  private release(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    const req = this.req
    this.req = null
    this.chunks = []
    if (req !== null && !req.destroyed) req.destroy()
  }

  private fail(failure: string): void {
    if (this.over) return
    this.over = true
    this.release()
    this.owner.settled(this.index, null, failure)
  }

  private readonly onTimeout = (): void => {
    this.timer = null
    this.fail(TIMEOUT)
  }

  private readonly onError = (err: Error): void => {
    const code = (err as NodeJS.ErrnoException).code
    // A kept-alive socket the backend closed while it sat idle fails before any response: the request never
    // reached the backend, so an idempotent one is sent once more (on a fresh or another idle socket).
    const req = this.req
    if (!this.over && !this.retried && req !== null && req.reusedSocket && !this.responded && IDEMPOTENT.has(this.options!.method!)
      && (code === 'ECONNRESET' || code === 'EPIPE')) {
      this.retried = true
      return this.send()
    }
    this.fail(`connection: ${code ?? err.message}`)
  }

  private readonly onResponse = (res: http.IncomingMessage): void => {
    this.responded = true
    const status = res.statusCode ?? 0
    if (status < 200 || status > 299) return this.fail(`status ${status}`)
    if (!isJsonType(res.headers['content-type'])) return this.fail(`content type ${res.headers['content-type']}`)
    const length = Number(res.headers['content-length'] ?? -1)
    if (length > this.limit) return this.fail('response too large')
    res.on('data', this.onData)
    res.on('end', this.onEnd)
    res.on('error', this.onError)
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.over) return
    this.size += chunk.length
    if (this.size > this.limit) return this.fail('response too large')
    this.chunks.push(chunk)
  }

  private readonly onEnd = (): void => {
    if (this.over) return
    const raw = Buffer.concat(this.chunks, this.size)
    if (nestsDeeperThan(raw, MAX_DEPTH)) return this.fail(`JSON nested deeper than ${MAX_DEPTH} levels`)
    let body: unknown
    try {
      body = JSON.parse(raw.toString('utf8'))
    } catch {
      return this.fail('invalid JSON')
    }
    if (typeof body !== 'object' || body === null) return this.fail('JSON that is not an object or array')
    this.over = true
    // The response is complete: the agent already has its socket back for reuse; only the timer goes.
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.req = null
    this.chunks = []
    this.owner.settled(this.index, body as Record<string, unknown> | unknown[], '')
  }
}
