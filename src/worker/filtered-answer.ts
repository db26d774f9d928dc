// A gateway-made answer (ctx.reply, errors) for a request with response filters: Kong runs header_filter
// and body_filter on kong.response.exit answers too, so filters see them as they see an upstream response.
import { statusLine } from '../http-status.js'
import type { RequestContext } from './context.js'
import { writeHeaderLines } from './response-headers.js'
import { ResponsePipe, filterableHeaders, headerLinesOf, runHeadFilters } from './response-pipe.js'

const NON_ASCII = /[^\x00-\x7f]/ // eslint-disable-line no-control-regex

/** Header pairs are UTF-8 strings, while a header block goes out as latin1 bytes: re-spell them as those bytes. */
function latin1Of(value: string): string {
  return NON_ASCII.test(value) ? Buffer.from(value, 'utf8').toString('latin1') : value
}

export function respondFiltered(ctx: RequestContext, status: number, body: string | Buffer, pairs: ReadonlyArray<readonly [string, string]> | null, close: boolean): void {
  const res = ctx.res
  const bytes = typeof body === 'string' ? Buffer.from(body) : body
  const base: string[] = []
  if (pairs !== null) for (const [name, value] of pairs) base.push(latin1Of(name), latin1Of(value))
  const headers = filterableHeaders(base, ctx.responseLines)
  const head = ctx.method === 'HEAD' || status === 204 || status === 304
  const active = runHeadFilters(ctx.filters!, status, head, bytes.length, headers)
  ctx.status = status
  if (active === null && ctx.method !== 'HEAD') ctx.bytesOut = bytes.length
  res.cork(() => {
    res.writeStatus(statusLine(status))
    writeHeaderLines(res, ctx.requestId, headerLinesOf(headers))
    // A HEAD answer carries the length its GET would have, never the bytes (RFC 9110 §9.3.2).
    if (ctx.method === 'HEAD') res.endWithoutBody(bytes.length, close)
    else if (active === null) res.end(bytes, close)
  })
  if (active === null || ctx.method === 'HEAD') return ctx.finished()
  const pipe = new ResponsePipe(ctx, active, null, close)
  pipe.write(bytes)
  pipe.end()
}
