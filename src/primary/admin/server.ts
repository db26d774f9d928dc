// The admin API (SPEC §9) on its own uWS App in the primary, bound to 127.0.0.1 by default:
// GET / (the dashboard page, no token: it holds no data) and /dashboard/data, GET /status, /health, /metrics, /config, POST /config[/validate], /upstreams/{name}/health, /consumers/{username}/usage, cache purge; DELETE /workers/{n} ends a worker as a crash would.
// With GATEWAY_ADMIN_TOKEN set, everything but the dashboard page needs the token, unknown paths too (401 before 404),
// so the path set cannot be probed without it.
import { createHash, timingSafeEqual } from 'node:crypto'
import { uws, type HttpResponse, type HttpRequest, type us_listen_socket } from '../../uws.js'
import { statusLine } from '../../http-status.js'
import type { Gateway } from '../gateway.js'
import { upstreamHealth } from './upstream-health.js'
import { describeKey, invalidate, purgeAll, purgeKey, type AdminAnswer } from './cache-routes.js'
import { readBody } from './request-body.js'
import { consumerUsage } from './consumer-usage.js'
import { matchGlob } from '../../shared/cache-store.js'
import type { CacheTier } from '../../redis/cache-tier.js'
import { latencySummary, mergedMetrics, PROMETHEUS_CONTENT_TYPE, renderMetrics } from '../metrics-export.js'
import { DASHBOARD_CSP, DASHBOARD_HTML } from './dashboard-page.js'
import { dashboardData } from './dashboard-data.js'
import { applied, CONFIG_BODY_LIMIT, configFormat, rejected, unwrapConfig, validated } from './config-routes.js'

/** Largest JSON body the admin API reads for a purge request. */
const SMALL_BODY_LIMIT = 64 * 1024

const JSON_TYPE = 'application/json; charset=utf-8'

function send(res: HttpResponse, status: number, body: unknown): void {
  res.cork(() => {
    res.writeStatus(statusLine(status)).writeHeader('Content-Type', JSON_TYPE).end(JSON.stringify(body, null, 2))
  })
}

function answer(res: HttpResponse, a: AdminAnswer): void {
  if (a.status !== 204) return send(res, a.status, a.body)
  res.cork(() => res.writeStatus(statusLine(204)).endWithoutBody(0))
}

/**
 * Runs a purge on every Redis cache tier (strategy redis) after the local one, then answers with
 * `finish(removed in Redis, tiers that did not answer)`; the request may be aborted meanwhile.
 */
function withTiers(res: HttpResponse, tiers: CacheTier[], purge: (tier: CacheTier) => Promise<number | null>, finish: (removed: number, failed: number) => AdminAnswer): void {
  if (tiers.length === 0) return answer(res, finish(0, 0))
  let aborted = false
  res.onAborted(() => {
    aborted = true
  })
  void Promise.all(tiers.map(purge)).then((counts) => {
    if (aborted) return
    let removed = 0
    let failed = 0
    for (const c of counts) {
      if (c === null) failed++
      else removed += c
    }
    answer(res, finish(removed, failed))
  })
}

/**
 * `Authorization: Bearer <token>`, RFC 9110 §11: the scheme is case-insensitive and one or more
 * spaces separate it from the credentials; surrounding whitespace is not part of the field value.
 */
const BEARER = /^bearer +(\S.*)$/is

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest()
}

/** Whether `header` carries the admin token; compares fixed-size digests so neither content nor length leaks through timing. */
function authorized(token: string | null, header: string): boolean {
  if (token === null) return true
  const credentials = BEARER.exec(header.trim())?.[1] ?? ''
  return timingSafeEqual(digest(credentials), digest(token)) && credentials.length > 0
}

/** How long POST /config waits for every worker to switch before answering with the ones still pending. */
const APPLY_WAIT_MS = 5000

/** Answers with `use` once `work` settles, unless the client went away meanwhile (uWS: no res after abort). */
function afterwards<T>(res: HttpResponse, work: Promise<T>, use: (value: T) => void): void {
  let gone = false
  res.onAborted(() => (gone = true))
  void work.then((value) => gone || use(value))
}

/** Reads a posted config and hands its text to `use`; too large → 413, client gone → nothing. */
function withConfigBody(res: HttpResponse, req: HttpRequest, use: (text: string, format: 'yaml' | 'json') => void): void {
  const format = configFormat(req.getHeader('content-type'))
  void readBody(res, CONFIG_BODY_LIMIT).then((raw) => {
    if (raw === null) return
    if (raw === 'too-large') return answer(res, { status: 413, body: { message: `config larger than ${CONFIG_BODY_LIMIT} bytes` } })
    const config = unwrapConfig(raw.toString('utf8'), format)
    use(config.text, config.format)
  })
}

/** A path segment as the client meant it; a malformed escape stays as written (and then matches nothing). */
function decodeParameter(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

export class AdminServer {
  private listenSocket: us_listen_socket | null = null
  port = 0

  constructor(private readonly gateway: Gateway) {}

  listen(host: string, port: number): Promise<number> {
    const app = uws.App()
    const gw = this.gateway
    const guard = (handler: (res: HttpResponse, req: HttpRequest) => void) => (res: HttpResponse, req: HttpRequest) => {
      if (!authorized(gw.settings.adminToken, req.getHeader('authorization'))) {
        res.cork(() => res.writeStatus(statusLine(401)).writeHeader('Content-Type', JSON_TYPE).writeHeader('WWW-Authenticate', 'Bearer').end('{"message":"Unauthorized"}'))
        return
      }
      handler(res, req)
    }
    app.get('/status', guard((res) => afterwards(res, mergedMetrics(gw), (merged) => send(res, 200, { ...gw.status(), latency: latencySummary(merged) }))))
    app.get('/metrics', guard((res) => afterwards(res, renderMetrics(gw), (text) => {
      res.cork(() => res.writeStatus(statusLine(200)).writeHeader('Content-Type', PROMETHEUS_CONTENT_TYPE).end(text))
    })))
    app.get('/health', guard((res) => {
      const ready = gw.ready()
      send(res, ready ? 200 : 503, { status: ready ? 'ok' : 'unavailable' })
    }))
    app.get('/config', guard((res) => send(res, 200, gw.redactedConfig())))
    app.post('/config', guard((res, req) => withConfigBody(res, req, (text, format) => {
      const result = gw.applyText(text, format)
      if (!result.ok) return answer(res, rejected(result))
      afterwards(res, gw.workers.whenApplied(result.hash, APPLY_WAIT_MS), (pending) => answer(res, applied(result, pending)))
    })))
    app.post('/config/validate', guard((res, req) => withConfigBody(res, req, (text, format) => {
      const result = gw.validateText(text, format)
      answer(res, result.ok ? validated(result) : rejected(result))
    })))
    app.get('/upstreams/:name/health', guard((res, req) => {
      const body = upstreamHealth(gw.snapshot, gw.health, decodeParameter(req.getParameter(0)))
      send(res, body === null ? 404 : 200, body ?? { message: 'Not found' })
    }))
    app.del('/proxy-cache', guard((res) => {
      const local = purgeAll(gw.cache)
      withTiers(res, gw.cacheTiers(), (tier) => tier.purgeWhere(null), () => local)
    }))
    app.del('/proxy-cache/:key', guard((res, req) => {
      const key = decodeParameter(req.getParameter(0))
      const local = purgeKey(gw.cache, key)
      withTiers(res, gw.cacheTiers(), (tier) => tier.purgeKey(key), (removed) => (removed > 0 ? { status: 204, body: null } : local))
    }))
    app.get('/proxy-cache/:key', guard((res, req) => answer(res, describeKey(gw.cache, decodeParameter(req.getParameter(0))))))
    app.post('/cache/invalidate', guard((res) => {
      void readBody(res, SMALL_BODY_LIMIT).then((raw) => {
        if (raw === null) return
        if (raw === 'too-large') return answer(res, { status: 413, body: { message: `body larger than ${SMALL_BODY_LIMIT} bytes` } })
        let body: unknown
        try {
          body = JSON.parse(raw.toString('utf8'))
        } catch {
          return answer(res, { status: 400, body: { message: 'body must be JSON: {"pattern": "<glob>"}' } })
        }
        const local = invalidate(gw.cache, body)
        if (local.status !== 200) return answer(res, local)
        const pattern = (body as { pattern: string }).pattern
        withTiers(res, gw.cacheTiers(), (tier) => tier.purgeWhere((path) => matchGlob(pattern, path)), (removed, failed) => ({
          status: 200,
          body: { ...(local.body as object), redis: { purged: removed, unreachable: failed } },
        }))
      })
    }))
    app.get('/consumers/:username/usage', guard((res, req) => {
      const body = consumerUsage(gw.snapshot, gw.rateTable, decodeParameter(req.getParameter(0)))
      send(res, body === null ? 404 : 200, body ?? { message: 'Not found' })
    }))
    app.del('/workers/:index', guard((res, req) => {
      const index = Number(req.getParameter(0))
      const killed = Number.isInteger(index) && gw.workers.kill(index)
      send(res, killed ? 202 : 404, killed ? { message: `worker ${index} terminated; it is being respawned` } : { message: 'no such worker' })
    }))
    const dashboardPage = (res: HttpResponse): void => void res.cork(() => {
      res.writeStatus(statusLine(200)).writeHeader('Content-Type', 'text/html; charset=utf-8').writeHeader('Content-Security-Policy', DASHBOARD_CSP)
        .writeHeader('X-Content-Type-Options', 'nosniff').writeHeader('Cache-Control', 'no-cache').end(DASHBOARD_HTML)
    })
    app.get('/', dashboardPage)
    app.get('/dashboard', dashboardPage)
    app.get('/dashboard/data', guard((res) => {
      gw.traffic.watched()
      send(res, 200, dashboardData(gw))
    }))
    // Token first: without it an unknown path is as unauthorized as a known one.
    app.any('/*', guard((res) => send(res, 404, { message: 'Not found' })))
    return new Promise((resolve, reject) => {
      app.listen(host, port, (socket) => {
        if (!socket) return reject(new Error(`admin API cannot listen on ${host}:${port}`))
        this.listenSocket = socket
        this.port = uws.us_socket_local_port(socket)
        resolve(this.port)
      })
    })
  }

  close(): void {
    if (this.listenSocket !== null) uws.us_listen_socket_close(this.listenSocket)
    this.listenSocket = null
  }
}
