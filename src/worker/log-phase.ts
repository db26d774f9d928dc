// What runs when a request ends (Kong's log phase): the worker's metrics rows always, for every request
// (refused before routing too: labels ''), then the log-phase plugins of the route and the process-wide
// access log when there are any.
import { performance } from 'node:perf_hooks'
import { CACHE_STATUSES, recordRequest } from '../observability/worker-metrics.js'
import type { Logger } from '../logger.js'
import type { RequestLog } from '../plugins/types.js'
import { runLog } from './chain.js'
import { ABORTED, type RequestContext } from './context.js'
import { finishedRequest, upstreamMsOf } from './finished-request.js'

/** The status metrics count a request under when the client left before any response head (NGINX's 499). */
const CLIENT_CLOSED = 499

export type AccessLog = (log: RequestLog) => void

export class LogPhase {
  private readonly accessLog: AccessLog | null
  private readonly log: Logger

  constructor(accessLog: AccessLog | null, log: Logger) {
    this.accessLog = accessLog
    this.log = log
  }

  run(ctx: RequestContext): void {
    // Every request is counted and logged (SPEC §10), the ones refused before routing in the unrouted rows.
    const rt = ctx.runtime
    const endedAt = performance.now()
    const match = ctx.match
    const rows = match === null ? rt.unroutedRows : rt.metricsRows[match.routeIndex]!
    const cache = ctx.cacheStatus === '' ? -1 : CACHE_STATUSES.indexOf(ctx.cacheStatus as (typeof CACHE_STATUSES)[number])
    const bytesIn = ctx.body === null ? 0 : ctx.body.received
    recordRequest(rows, ctx.method, ctx.status === 0 ? CLIENT_CLOSED : ctx.status, endedAt - ctx.startedAt, upstreamMsOf(ctx), bytesIn, ctx.bytesOut, ctx.rateLimited, cache)
    const chain = match === null ? null : rt.access[match.routeIndex]!
    const plugins = chain !== null && chain.logs
    if (!plugins && this.accessLog === null) return
    const finished = finishedRequest(ctx, endedAt, ctx.state === ABORTED)
    if (plugins) runLog(chain, finished, this.pluginFailed)
    if (this.accessLog !== null) this.accessLog(finished)
  }

  private readonly pluginFailed = (plugin: string, err: unknown): void => {
    this.log.error({ plugin, err }, 'log phase of a plugin failed')
  }
}
