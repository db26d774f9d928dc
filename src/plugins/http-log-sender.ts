// Delivers one http-log batch: an HTTP(S) request on a keep-alive agent of the plugin's own, with the
// configured method, Content-Type and headers, and Basic credentials from the endpoint's userinfo (as Kong).
import http from 'node:http'
import https from 'node:https'

export interface HttpLogTarget {
  readonly url: URL
  readonly method: string
  readonly contentType: string
  /** Kong's `timeout`: the whole exchange, in ms. */
  readonly timeoutMs: number
  /** Kong's `keepalive`: how long an idle connection to the endpoint is kept, in ms. */
  readonly keepaliveMs: number
  readonly headers: Readonly<Record<string, string>>
}

export class HttpLogSender {
  private readonly target: HttpLogTarget
  private readonly agent: http.Agent
  private readonly transport: typeof http | typeof https
  private readonly headers: Record<string, string>

  constructor(target: HttpLogTarget) {
    this.target = target
    const tls = target.url.protocol === 'https:'
    this.transport = tls ? https : http
    // The agent's timeout applies to idle (free) sockets, which Node destroys when it fires.
    this.agent = tls ? new https.Agent({ keepAlive: true, timeout: target.keepaliveMs }) : new http.Agent({ keepAlive: true, timeout: target.keepaliveMs })
    this.headers = { ...target.headers, 'Content-Type': target.contentType }
    const { username, password } = target.url
    if (username !== '' && !Object.keys(target.headers).some((h) => h.toLowerCase() === 'authorization')) {
      const credentials = decodeURIComponent(username) + ':' + decodeURIComponent(password)
      this.headers.Authorization = 'Basic ' + Buffer.from(credentials).toString('base64')
    }
  }

  /** The endpoint without its credentials, for log lines. */
  get endpoint(): string {
    const u = this.target.url
    return u.protocol + '//' + u.host + u.pathname
  }

  /** Resolves true on a 2xx answer, false on any other status, a network error or the timeout. */
  send(body: string): Promise<boolean> {
    const url = this.target.url
    return new Promise((resolve) => {
      const req = this.transport.request({
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port === '' ? undefined : Number(url.port),
        path: url.pathname + url.search,
        method: this.target.method,
        agent: this.agent,
        headers: { ...this.headers, 'Content-Length': Buffer.byteLength(body) },
      }, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300))
        res.on('error', () => resolve(false))
      })
      req.setTimeout(this.target.timeoutMs, () => req.destroy(new Error('http-log: timed out')))
      req.on('error', () => resolve(false))
      req.end(body)
    })
  }

  close(): void {
    this.agent.destroy()
  }
}
