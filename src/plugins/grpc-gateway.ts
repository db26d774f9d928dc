// Kong's grpc-gateway: REST/JSON → gRPC transcoding from the google.api.http rules of a .proto.
// The proto is loaded once in the primary (prepare); each worker rebuilds a Transcoder from plain data.
import { createHash } from 'node:crypto'
import { bool, oneOf, record, str } from '../config/schema.js'
import { loadProto } from '../protocols/grpc/proto-loader.js'
import { createTranscoder, type DescribedProto, type Transcoder } from '../protocols/grpc/transcoder.js'
import { STREAM_FORMATS } from '../protocols/grpc/call.js'
import { transcodeAccess } from '../protocols/grpc/grpc-access.js'
import { definePlugin, type PrepareResult } from './types.js'

/** What the access phase (protocols/grpc/grpc-access.ts) gets. */
export interface GrpcGatewayConfig {
  readonly transcoder: Transcoder
  /** STREAM_JSON_ARRAY | STREAM_NDJSON | STREAM_SSE (protocols/grpc/call.ts). */
  readonly streamFormat: number
  /** GATEWAY_MAX_BODY_SIZE: the most of a JSON body read. */
  readonly maxBodySize: number
}

/** Transcoders this worker built, by proto content and options: a reload that keeps the proto reuses its own. */
const built = new Map<string, Transcoder>()
/** Enough for every proto of a config and the one before it; older ones are dropped first. */
const BUILT_LIMIT = 32

/** Building a Transcoder costs milliseconds on the listener thread (protobufjs Root.fromJSON): once per proto. */
function transcoderFor(described: DescribedProto, rejectUnknownQuery: boolean, protoNames: boolean): Transcoder {
  const key = createHash('sha256').update(JSON.stringify(described)).update(`${rejectUnknownQuery}:${protoNames}`).digest('base64')
  let transcoder = built.get(key)
  if (transcoder === undefined) {
    transcoder = createTranscoder(described, { rejectUnknownQuery, protoNames })
    if (built.size >= BUILT_LIMIT) built.delete(built.keys().next().value!)
  } else {
    built.delete(key) // re-inserted below as the most recently used
  }
  built.set(key, transcoder)
  return transcoder
}

/** Loads `proto` relative to the config file's directory; a load or binding problem is reported on `proto`. */
function prepare(config: Record<string, unknown>, baseDir: string): PrepareResult {
  const loaded = loadProto(config.proto as string, baseDir)
  if (!loaded.ok) return { ok: false, problems: [{ field: 'proto', message: loaded.message }] }
  return { ok: true, data: loaded.described }
}

export default definePlugin<GrpcGatewayConfig>({
  name: 'grpc-gateway',
  priority: 998,
  schema: record({
    proto: str({ required: true }),
    // Extensions (not in Kong): query parameters naming no field get 400 instead of being ignored;
    // responses print proto field names; how a server-streaming response is written.
    reject_unknown_query: bool({ default: false }),
    preserve_proto_field_names: bool({ default: false }),
    stream_format: oneOf(STREAM_FORMATS, 'json-array'),
  }),
  prepare,
  compile: (c, env, instance) => {
    if (instance.prepared === undefined) throw new Error(`grpc-gateway ${instance.id}: the proto was not loaded at validation`)
    return {
      transcoder: transcoderFor(instance.prepared as DescribedProto, c.reject_unknown_query as boolean, c.preserve_proto_field_names as boolean),
      streamFormat: STREAM_FORMATS.indexOf(c.stream_format as (typeof STREAM_FORMATS)[number]),
      maxBodySize: env.settings.maxBodySize,
    }
  },
  phases: { access: transcodeAccess },
})
