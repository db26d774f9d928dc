// gRPC status as an HTTP client sees it: google.rpc.Code → HTTP status (SPEC §6), the error body
// {"code","message","details"}, grpc-message percent-coding and the grpc-timeout header value.
import type { PluginRequest } from '../../plugins/types.js'

/** google.rpc.Code values used by the gateway itself. */
export const CODE = Object.freeze({
  OK: 0,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
})

/** Index = google.rpc.Code (0 OK … 16 UNAUTHENTICATED); SPEC §6's table, which is Envoy's and grpc-gateway's. */
const HTTP_FOR_CODE = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401]

/** The HTTP status for a gRPC status code; codes outside 0–16 are UNKNOWN (500). */
export function httpStatusFor(code: number): number {
  return code >= 0 && code < HTTP_FOR_CODE.length ? HTTP_FOR_CODE[code]! : 500
}

/**
 * The grpc-status a response without one gets from its HTTP :status (grpc/doc/http-grpc-status-mapping.md):
 * an upstream that answered HTTP but not gRPC.
 */
export function codeForHttpStatus(status: number): number {
  switch (status) {
    case 400:
      return CODE.INTERNAL
    case 401:
      return CODE.UNAUTHENTICATED
    case 403:
      return CODE.PERMISSION_DENIED
    case 404:
      return CODE.UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return CODE.UNAVAILABLE
    default:
      return CODE.UNKNOWN
  }
}

/** The grpc-status header value as a code; a missing or malformed one is UNKNOWN (gRPC clients do the same). */
export function parseGrpcStatus(value: string | undefined): number {
  if (value === undefined || !/^\d{1,2}$/.test(value)) return CODE.UNKNOWN
  return Number(value)
}

/** The error body (google.rpc.Status in proto3 JSON, as Envoy's convert_grpc_status writes it). */
export function grpcErrorBody(code: number, message: string, details: readonly unknown[]): string {
  return JSON.stringify({ code, message, details })
}

export const JSON_TYPE = 'application/json'

/**
 * Answers with a gRPC status as the client sees it: the mapped HTTP status, the error body, and
 * grpc-status / grpc-message headers as the upstream would have sent them (SPEC §6).
 */
export function replyGrpcError(ctx: PluginRequest, code: number, message: string, details: readonly unknown[], status = httpStatusFor(code)): void {
  ctx.reply(status, grpcErrorBody(code, message, details), [
    ['Content-Type', JSON_TYPE], ['grpc-status', String(code)], ['grpc-message', encodeGrpcMessage(message)],
  ])
}

/** Percent-encodes what grpc-message may not carry as it is: bytes outside 0x20–0x7E, and '%' itself. */
export function encodeGrpcMessage(message: string): string {
  let plain = true
  for (let i = 0; i < message.length && plain; i++) {
    const c = message.charCodeAt(i)
    plain = c >= 0x20 && c <= 0x7e && c !== 0x25
  }
  if (plain) return message
  let out = ''
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : '%' + (byte < 16 ? '0' : '') + byte.toString(16).toUpperCase()
  }
  return out
}

/**
 * grpc-message is percent-encoded UTF-8 (PROTOCOL-HTTP2.md: "%" followed by two hex digits). Decoding is
 * lenient as the spec asks: a `%` not followed by two hex digits stays as it is.
 */
export function decodeGrpcMessage(value: string): string {
  if (value.indexOf('%') === -1) return value
  const bytes: number[] = []
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c === 0x25 && i + 2 < value.length && isHex(value.charCodeAt(i + 1)) && isHex(value.charCodeAt(i + 2))) {
      bytes.push(parseInt(value.slice(i + 1, i + 3), 16))
      i += 2
    } else {
      bytes.push(c & 0xff)
    }
  }
  return Buffer.from(bytes).toString('utf8')
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66)
}

/**
 * The grpc-timeout header for a deadline of `ms` milliseconds: at most 8 digits and a unit
 * (PROTOCOL-HTTP2.md), so 60000 → `60000m`; longer ones go to seconds, minutes, hours (rounded up).
 */
export function grpcTimeout(ms: number): string {
  const whole = Math.max(1, Math.ceil(ms))
  if (whole <= 99_999_999) return `${whole}m`
  const s = Math.ceil(whole / 1000)
  if (s <= 99_999_999) return `${s}S`
  const m = Math.ceil(s / 60)
  if (m <= 99_999_999) return `${m}M`
  return `${Math.min(99_999_999, Math.ceil(m / 60))}H`
}
