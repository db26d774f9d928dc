// One finished request (RequestLog) as the JSON object Kong's log serializer makes (kong.log.serialize),
// shared by the access log, file-log and http-log; fields the gateway cannot know are left out, not faked.
import { stripPort } from '../net/host.js'
import { parseHostPort } from '../config/typedefs.js'
import { parseFormArgs } from '../plugins/query-string.js'
import type { RequestLog } from '../plugins/types.js'

/** Request headers whose values never reach a log (Kong 3.x redacts the same two). */
const REDACTED = new Set(['authorization', 'proxy-authorization'])

export interface SerializedLog {
  request: { method: string; uri: string; url: string; querystring: Record<string, unknown>; size: number; headers?: Record<string, string> }
  response: { status: number; size: number }
  latencies: { request: number; proxy: number; kong: number }
  upstream_uri: string
  tries?: { ip: string; port: number }[]
  route: { name: string; id: string } | null
  service: { name: string; id: string } | null
  consumer: { id: string; username: string | null; custom_id: string | null } | null
  client_ip: string
  started_at: number
  request_id: string
  /** Kong 3.x: `upstream` when the upstream answered, `kong` when the gateway did (a plugin, an error). */
  source: 'upstream' | 'kong'
  /** Extensions: the client went away before the response was complete; proxy-cache's decision; a 429 from a limit. */
  aborted: boolean
  cache_status?: string
  rate_limited?: boolean
}

/** Kong's latencies rounded to whole ms like Kong's; -1 for "no upstream", as Kong writes it. */
function ms(n: number): number {
  return n < 0 ? -1 : Math.round(n)
}

function headersOf(headers: Map<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of headers) out[name] = REDACTED.has(name) ? 'REDACTED' : value
  return out
}

function triesOf(target: string): { ip: string; port: number }[] | undefined {
  if (target === '') return undefined
  const hp = parseHostPort(target)
  return hp === null ? undefined : [{ ip: hp.host, port: hp.port ?? 0 }]
}

/**
 * Kong's shape: request {method, uri, url, querystring, size, headers}, response {status, size},
 * latencies {request, proxy, kong}, upstream_uri, tries, route, service, consumer, client_ip, started_at.
 * `latencies.proxy` is Kong's upstream wait (written upstream → first response byte), `kong` the gateway's own
 * time before that (or all of it when no upstream was called); sizes are body bytes. `withHeaders` adds the
 * request headers (Authorization and Proxy-Authorization redacted).
 */
export function serializeLog(log: RequestLog, withHeaders: boolean): SerializedLog {
  const req = log.request
  const uri = req.query === '' ? req.path : req.path + '?' + req.query
  const host = stripPort(req.host)
  const consumer = req.consumer
  const out: SerializedLog = {
    request: {
      method: req.method,
      uri,
      url: req.scheme + '://' + (host === '' ? 'localhost' : host) + ':' + String(req.port) + uri,
      querystring: parseFormArgs(req.query),
      size: log.bytesIn,
    },
    response: { status: log.status, size: log.bytesOut },
    latencies: { request: ms(log.totalMs), proxy: ms(log.upstreamMs), kong: ms(log.proxyMs >= 0 ? log.proxyMs : log.totalMs) },
    upstream_uri: log.upstreamUri,
    route: req.routeId === '' ? null : { name: req.routeName, id: req.routeId },
    service: req.serviceId === '' ? null : { name: req.serviceName, id: req.serviceId },
    consumer: consumer === null ? null : { id: consumer.id, username: consumer.username, custom_id: consumer.customId },
    client_ip: req.clientIp,
    started_at: Math.round(log.startedAt),
    request_id: req.requestId,
    source: log.upstreamMs >= 0 ? 'upstream' : 'kong',
    aborted: log.aborted,
  }
  if (withHeaders) out.request.headers = headersOf(req.headers)
  const tries = triesOf(log.upstreamTarget)
  if (tries !== undefined) out.tries = tries
  if (log.cacheStatus !== '') out.cache_status = log.cacheStatus
  if (log.rateLimited) out.rate_limited = true
  return out
}
