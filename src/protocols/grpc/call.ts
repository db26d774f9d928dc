// A transcoded call as the grpc-gateway plugin hands it to the listener (RequestContext.grpcCall):
// the method to call, the encoded request message and how to render the answer.
import type { GrpcBinding, Transcoder } from './transcoder.js'

/** How a server-streaming response is written (the plugin's `stream_format`). */
export const STREAM_JSON_ARRAY = 0
export const STREAM_NDJSON = 1
export const STREAM_SSE = 2

/** `stream_format` names, by their STREAM_* number. */
export const STREAM_FORMATS = ['json-array', 'ndjson', 'sse'] as const

export interface GrpcCall {
  readonly transcoder: Transcoder
  readonly binding: GrpcBinding
  /** The request message's protobuf bytes (no length prefix). */
  readonly message: Uint8Array
  /** STREAM_JSON_ARRAY | STREAM_NDJSON | STREAM_SSE. */
  readonly streamFormat: number
}
