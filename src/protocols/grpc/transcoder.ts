// The one interface the grpc-gateway exchange calls: HTTP method + path → binding, JSON → request
// bytes, response bytes → JSON. Built once per Snapshot from the primary's plain descriptor.
//
// Contract for the exchange: match() → null means 404 / gRPC code 5; encodeRequest() throws only
// TranscodeError (→ 400, code 3); renderResponse() and renderStatusDetails() throw a plain Error
// on bytes that do not decode (an upstream fault, not the client's).
import protobuf from 'protobufjs'
import type { Buffer } from 'node:buffer'
import type { DescribedProto } from './described.js'
import { planBinding, type BindingPlan } from './binding-plan.js'
import { BindingTable } from './bindings.js'
import { encodeRequest } from './request-message.js'
import { fieldToJson, messageToJson, type OutputOptions } from './json-output.js'

export type { DescribedProto } from './described.js'
export { TranscodeError } from './transcode-error.js'

export interface GrpcBinding {
  /** '/bookstore.v1.Bookstore/GetBook' */
  readonly grpcPath: string
  readonly serverStreaming: boolean
  /** Client streaming is not transcoded: the JSON body is sent as one message. */
  readonly clientStreaming: boolean
}

export interface BindingMatch {
  readonly binding: GrpcBinding
  /** Values of the template's variables, percent-decoded, in template order. */
  readonly values: readonly string[]
}

export interface TranscoderOptions {
  /** Answer 400 for a query parameter that names no field of the request message (default: ignore it). */
  readonly rejectUnknownQuery: boolean
  /** Print proto field names instead of lowerCamelCase JSON names in responses. */
  readonly protoNames: boolean
}

export interface Transcoder {
  /** null when no binding matches this method and path (the caller answers 404, code 5). */
  match(method: string, path: string): BindingMatch | null
  /** Protobuf bytes of the request message (no gRPC length prefix). Throws TranscodeError. */
  encodeRequest(m: BindingMatch, query: string, body: Buffer): Uint8Array
  /** JSON text of one response message, response_body applied. Throws (a plain Error) on bytes that are not the response type. */
  renderResponse(binding: GrpcBinding, message: Uint8Array): string
  /** google.rpc.Status from a grpc-status-details-bin value (base64-decoded) → its details rendered as JSON values. Throws on bad bytes. */
  renderStatusDetails(statusBin: Uint8Array): unknown[]
}


/** google.rpc.Status (googleapis rpc/status.proto: code 1, message 2, details 3), added when the proto does not define it. */
const RPC_STATUS = {
  nested: { google: { nested: { rpc: { nested: { Status: { fields: {
    code: { type: 'int32', id: 1 },
    message: { type: 'string', id: 2 },
    details: { rule: 'repeated', type: 'google.protobuf.Any', id: 3 },
  } } } } } } },
}

class ProtoTranscoder implements Transcoder {
  private readonly table: BindingTable<BindingPlan>
  private readonly status: protobuf.Type
  private readonly output: OutputOptions

  constructor(described: DescribedProto, private readonly options: TranscoderOptions) {
    const root = protobuf.Root.fromJSON(described.descriptor as protobuf.INamespace)
    if (root.lookup('google.rpc.Status') === null) root.addJSON(RPC_STATUS.nested)
    root.resolveAll()
    const plans: BindingPlan[] = []
    for (const method of described.methods) for (const rule of method.rules) plans.push(planBinding(root, method, rule))
    this.table = new BindingTable(plans)
    this.status = root.lookupType('google.rpc.Status')
    this.output = { protoNames: options.protoNames }
  }

  match(method: string, path: string): BindingMatch | null {
    return this.table.match(method, path)
  }

  encodeRequest(m: BindingMatch, query: string, body: Buffer): Uint8Array {
    return encodeRequest(m.binding as BindingPlan, m.values, query, body, this.options)
  }

  renderResponse(binding: GrpcBinding, message: Uint8Array): string {
    const plan = binding as BindingPlan
    const decoded = plan.responseType.decode(message)
    if (plan.responseField === null) return JSON.stringify(messageToJson(plan.responseType, decoded, this.output))
    const field = plan.responseField
    const value = (decoded as unknown as Record<string, unknown>)[field.name]
    // An unset message field renders as null, as the field's own JSON would.
    return JSON.stringify(value === null || value === undefined ? null : fieldToJson(field, value, this.output))
  }

  renderStatusDetails(statusBin: Uint8Array): unknown[] {
    const status = this.status.decode(statusBin)
    const details = this.status.fieldsById[3]
    const list = (status as unknown as Record<string, unknown>)[details.name] as unknown[]
    return fieldToJson(details, list, this.output) as unknown[]
  }
}

/**
 * Builds the Root from the plain descriptor and resolves every binding (once per Snapshot, in
 * each worker). The primary already validated the same plans, so this does not throw for a
 * descriptor that came out of loadProto().
 */
export function createTranscoder(described: DescribedProto, options: TranscoderOptions): Transcoder {
  return new ProtoTranscoder(described, options)
}
