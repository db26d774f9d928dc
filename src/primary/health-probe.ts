// One active health probe (Kong's run_single_check): a TCP connect, a TLS handshake, or a GET judged by
// its status line. Each probe has its own socket (no keep-alive), destroyed as soon as the answer is known.
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import type { ActiveChecks, TargetRecord } from '../config/types.js'

/**
 * What a probe saw, in Kong's reporting terms:
 *   connected   tcp/grpc: connected; grpcs: TLS handshake done                  → success
 *   status      http/https: the response status; 0 = no valid status line       → judged by the status lists
 *   tcp         connect (DNS included), TLS handshake, send or receive failed   → tcp failure
 *   timeout     no answer within `timeout`                                       → timeout
 */
export type ProbeResult = { kind: 'connected' } | { kind: 'status'; status: number } | { kind: 'tcp' } | { kind: 'timeout' }

const CONNECTED: ProbeResult = { kind: 'connected' }
const TCP_FAILURE: ProbeResult = { kind: 'tcp' }
const TIMEOUT: ProbeResult = { kind: 'timeout' }
const BAD_STATUS_LINE: ProbeResult = { kind: 'status', status: 0 }

const ignore = (): void => {}

interface Closable {
  destroy(): void
}

/**
 * Probes `target` once. Resolves null when `signal` aborts first (the checker stopped); never rejects.
 * `hostHeader` is Kong's: the upstream's host_header, else the target's host (no port).
 */
export function probe(target: TargetRecord, checks: ActiveChecks, hostHeader: string, signal: AbortSignal): Promise<ProbeResult | null> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(null)
    let handle: Closable | null = null
    let settled = false
    const finish = (result: ProbeResult | null): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      handle?.destroy()
      resolve(result)
    }
    const onAbort = (): void => finish(null)
    const timer = setTimeout(() => finish(TIMEOUT), Math.max(1, checks.timeoutMs))
    signal.addEventListener('abort', onAbort)
    try {
      handle = open(target, checks, hostHeader, finish)
    } catch {
      finish(TCP_FAILURE) // e.g. a header value Node refuses: the probe cannot be sent
    }
  })
}

function open(target: TargetRecord, checks: ActiveChecks, hostHeader: string, finish: (r: ProbeResult) => void): Closable {
  const { host, port } = target
  // SNI carries host names only (RFC 6066 §3). '' also stops Node deriving it from the Host header.
  const servername = checks.httpsSni ?? (net.isIP(host) === 0 ? host : '')
  switch (checks.type) {
    case 'tcp':
    case 'grpc': {
      const socket = net.connect({ host, port })
      socket.once('connect', () => finish(CONNECTED))
      socket.on('error', () => finish(TCP_FAILURE))
      return socket
    }
    case 'grpcs': {
      const socket = tls.connect({ host, port, servername, rejectUnauthorized: checks.httpsVerifyCertificate, ALPNProtocols: ['h2'] })
      socket.once('secureConnect', () => finish(CONNECTED))
      socket.on('error', () => finish(TCP_FAILURE))
      return socket
    }
    default: {
      const send = checks.type === 'https' ? https.request : http.request
      const req = send({
        host, port, method: 'GET', path: checks.httpPath, agent: false, servername, rejectUnauthorized: checks.httpsVerifyCertificate,
        headers: { host: hostHeader, ...checks.headers, connection: 'close' },
      })
      req.once('response', (res) => {
        res.on('error', ignore) // destroying the request mid-body makes the response emit ECONNRESET "aborted"
        finish(res.statusCode === undefined ? BAD_STATUS_LINE : { kind: 'status', status: res.statusCode })
      })
      // Node's parser errors (HPE_*) mean the status line was not HTTP: Kong reports that as HTTP status nil.
      req.on('error', (err: NodeJS.ErrnoException) => finish(typeof err.code === 'string' && err.code.startsWith('HPE_') ? BAD_STATUS_LINE : TCP_FAILURE))
      req.end()
      return req
    }
  }
}
