// The log phase's view of one finished request (RequestLog): figures derived from the RequestContext's
// timestamps and counters once, when the request ended. Built only when a log plugin or the access log runs.
import type { RequestLog } from '../plugins/types.js'
import type { RequestContext } from './context.js'

/** Written upstream → first response byte, in ms; -1 when no upstream answered. */
export function upstreamMsOf(ctx: RequestContext): number {
  return ctx.upstreamFirstByteAt > 0 && ctx.upstreamSentAt > 0 ? ctx.upstreamFirstByteAt - ctx.upstreamSentAt : -1
}

/** `endedAt`: performance.now() when the response was complete or the client went away. */
export function finishedRequest(ctx: RequestContext, endedAt: number, aborted: boolean): RequestLog {
  const path = ctx.upstreamPath ?? (ctx.match === null ? '' : ctx.match.upstreamPath)
  return {
    request: ctx,
    status: ctx.status,
    startedAt: Date.now() - (endedAt - ctx.startedAt),
    totalMs: endedAt - ctx.startedAt,
    proxyMs: ctx.upstreamSentAt > 0 ? ctx.upstreamSentAt - ctx.startedAt : -1,
    upstreamMs: upstreamMsOf(ctx),
    bytesIn: ctx.body === null ? 0 : ctx.body.received,
    bytesOut: ctx.bytesOut,
    upstreamTarget: ctx.upstreamTarget,
    upstreamUri: ctx.upstreamSentAt === 0 ? '' : ctx.query === '' ? path : path + '?' + ctx.query,
    aborted,
    cacheStatus: ctx.cacheStatus,
    rateLimited: ctx.rateLimited,
  }
}
