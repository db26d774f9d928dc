// grpc-gateway's access phase: finds the binding for the request, turns its path, query and JSON body
// into the request message, and leaves the call on the context for the listener to send (grpc-exchange.ts).
import { CONTINUE, DONE, type PhaseResult, type PluginRequest } from '../../plugins/types.js'
import type { GrpcCall } from './call.js'
import { CODE, replyGrpcError } from './status.js'
import { TranscodeError, type BindingMatch, type Transcoder } from './transcoder.js'

/** What the access phase needs from the plugin's compiled config. */
export interface TranscodeAccessConfig {
  readonly transcoder: Transcoder
  /** STREAM_JSON_ARRAY | STREAM_NDJSON | STREAM_SSE (call.ts). */
  readonly streamFormat: number
  /** GATEWAY_MAX_BODY_SIZE: the most of a JSON body read (413 past it). */
  readonly maxBodySize: number
}

const EMPTY = Buffer.alloc(0)
const UNSUPPORTED_MEDIA_TYPE = 415

/** A JSON body, or none said: application/json, any `+json` type, parameters allowed (Envoy transcodes only these). */
function isJsonType(contentType: string | undefined): boolean {
  if (contentType === undefined) return true
  const semi = contentType.indexOf(';')
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase()
  return type === 'application/json' || type.endsWith('+json')
}

function hasBody(ctx: PluginRequest): boolean {
  const length = ctx.headers.get('content-length')
  return (length !== undefined && length !== '0') || ctx.headers.has('transfer-encoding')
}

/** Encodes the message and leaves the call for the listener; a request the message cannot hold gets 400, code 3. */
function prepare(ctx: PluginRequest, c: TranscodeAccessConfig, m: BindingMatch, body: Buffer): typeof CONTINUE | typeof DONE {
  let message: Uint8Array
  try {
    message = c.transcoder.encodeRequest(m, ctx.query, body)
  } catch (err) {
    if (!(err instanceof TranscodeError)) throw err
    replyGrpcError(ctx, CODE.INVALID_ARGUMENT, err.message, [])
    return DONE
  }
  const call: GrpcCall = { transcoder: c.transcoder, binding: m.binding, message, streamFormat: c.streamFormat }
  ctx.grpcCall = call
  return CONTINUE
}

export function transcodeAccess(ctx: PluginRequest, c: TranscodeAccessConfig): PhaseResult {
  const m = c.transcoder.match(ctx.method, ctx.path)
  if (m === null) {
    replyGrpcError(ctx, CODE.NOT_FOUND, `no gRPC method is bound to ${ctx.method} ${ctx.path}`, [])
    return DONE
  }
  if (!hasBody(ctx)) return prepare(ctx, c, m, EMPTY)
  if (!isJsonType(ctx.headers.get('content-type'))) {
    replyGrpcError(ctx, CODE.INVALID_ARGUMENT, `Content-Type must be application/json, not ${ctx.headers.get('content-type')!}`, [], UNSUPPORTED_MEDIA_TYPE)
    return DONE
  }
  return ctx.readBody(c.maxBodySize).then((body) => prepare(ctx, c, m, body))
}
