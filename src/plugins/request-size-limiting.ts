// Kong's request-size-limiting: 413 for a body over allowed_payload_size. Kong reads the whole body first;
// here the cap is handed to the body stream (ctx.limitBody), so a chunked upload is cut off as it passes it.
import { bool, int, oneOf, record } from '../config/schema.js'
import { errorBody } from '../errors.js'
import { CONTINUE, DONE, definePlugin, type PhaseResult, type PluginRequest } from './types.js'

const SIZE_UNITS = ['megabytes', 'kilobytes', 'bytes'] as const
type SizeUnit = (typeof SIZE_UNITS)[number]
/** Kong's unit_multiplication_factor: binary units. */
const UNIT_BYTES: Readonly<Record<SizeUnit, number>> = { megabytes: 1024 * 1024, kilobytes: 1024, bytes: 1 }
const LENGTH_REQUIRED = 'A valid Content-Length header is required'
const JSON_TYPE: ReadonlyArray<readonly [string, string]> = [['Content-Type', 'application/json; charset=utf-8']]

export interface RequestSizeLimitingConfig {
  readonly maxBytes: number
  readonly requireContentLength: boolean
}

function compile(c: Record<string, unknown>): RequestSizeLimitingConfig {
  return {
    maxBytes: (c.allowed_payload_size as number) * UNIT_BYTES[c.size_unit as SizeUnit],
    requireContentLength: c.require_content_length as boolean,
  }
}

/**
 * Kong's order: a request without Content-Length that is not chunked gets 411 when require_content_length
 * is set; otherwise the size is checked. Kong answers 417 instead of 413 when the client sent
 * `Expect: 100-continue`; here uWS has already sent `100 Continue` by itself before any plugin runs, so
 * the answer is 413 either way. Every 413 closes the connection (the rest of the body is never read).
 */
function access(ctx: PluginRequest, c: RequestSizeLimitingConfig): PhaseResult {
  if (c.requireContentLength && !ctx.headers.has('content-length') && ctx.headers.get('transfer-encoding')?.toLowerCase() !== 'chunked') {
    ctx.reply(411, errorBody(LENGTH_REQUIRED, ctx.requestId), JSON_TYPE)
    return DONE
  }
  return ctx.limitBody(c.maxBytes) ? CONTINUE : DONE
}

export default definePlugin<RequestSizeLimitingConfig>({
  name: 'request-size-limiting',
  priority: 951,
  schema: record({
    // Kong sets no lower bound; a negative size would refuse even empty bodies, so 0 is the least here.
    allowed_payload_size: int({ min: 0, default: 128 }),
    size_unit: oneOf(SIZE_UNITS, 'megabytes', { required: true }),
    require_content_length: bool({ default: false, required: true }),
  }),
  compile,
  phases: { access },
})
