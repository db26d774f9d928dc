// Every GW_* error code the data plane can produce, with Kong's status and message (SPEC §4).
// Errors are values: the proxy turns one into a JSON response in exactly one place (failToProxy).

export type ErrorSource = 'upstream' | 'downstream' | 'internal'

export interface ErrorKind {
  readonly code: string
  readonly status: number
  readonly message: string
  readonly source: ErrorSource
}

function kind(code: string, status: number, message: string, source: ErrorSource): ErrorKind {
  return Object.freeze({ code, status, message, source })
}

export const GW = Object.freeze({
  NO_ROUTE: kind('GW_NO_ROUTE', 404, 'no Route matched with those values', 'downstream'),
  BAD_REQUEST: kind('GW_BAD_REQUEST', 400, 'Bad request', 'downstream'),
  BODY_TOO_LARGE: kind('GW_BODY_TOO_LARGE', 413, 'Request size limit exceeded', 'downstream'),
  NO_PEER: kind('GW_NO_PEER', 503, 'failure to get a peer from the ring-balancer', 'upstream'),
  NO_SERVICE: kind('GW_NO_SERVICE', 503, 'no Service found with those values', 'internal'),
  UPSTREAM_CONNECT: kind('GW_UPSTREAM_CONNECT', 502, 'An invalid response was received from the upstream server', 'upstream'),
  UPSTREAM_CONNECT_TIMEOUT: kind('GW_UPSTREAM_CONNECT_TIMEOUT', 504, 'The upstream server is timing out', 'upstream'),
  UPSTREAM_WRITE_TIMEOUT: kind('GW_UPSTREAM_WRITE_TIMEOUT', 504, 'The upstream server is timing out', 'upstream'),
  UPSTREAM_READ_TIMEOUT: kind('GW_UPSTREAM_READ_TIMEOUT', 504, 'The upstream server is timing out', 'upstream'),
  UPSTREAM_RESET: kind('GW_UPSTREAM_RESET', 502, 'An invalid response was received from the upstream server', 'upstream'),
  UPSTREAM_BAD_RESPONSE: kind('GW_UPSTREAM_BAD_RESPONSE', 502, 'An invalid response was received from the upstream server', 'upstream'),
  INTERNAL: kind('GW_INTERNAL', 500, 'An unexpected error occurred', 'internal'),
  SHUTTING_DOWN: kind('GW_SHUTTING_DOWN', 503, 'The gateway is shutting down', 'internal'),
  /** GATEWAY_MAX_CONCURRENCY requests are in flight in this worker: sent with Retry-After. */
  OVERLOADED: kind('GW_OVERLOADED', 503, 'The gateway is overloaded, retry later', 'internal'),
  /** A route of a grpc/grpcs service without grpc-gateway: the gateway does not relay native gRPC. */
  GRPC_NOT_TRANSCODED: kind('GW_GRPC_NOT_TRANSCODED', 502, 'This route reaches a gRPC service: add the grpc-gateway plugin to transcode it', 'internal'),
  /** A request without a WebSocket handshake on a route whose protocols are ws/wss only (sent with Upgrade: websocket). */
  UPGRADE_REQUIRED: kind('GW_UPGRADE_REQUIRED', 426, 'This route only accepts WebSocket connections', 'downstream'),
  /** Kong: a route whose protocols are https only, asked over plain http, with https_redirect_status_code 426. */
  HTTPS_REQUIRED: kind('GW_HTTPS_REQUIRED', 426, 'Please use HTTPS protocol', 'downstream'),
})

/** Kong's JSON error body with our request id (SPEC §4). */
export function errorBody(message: string, requestId: string): string {
  return `{"message":${JSON.stringify(message)},"request_id":${JSON.stringify(requestId)}}`
}

/** A failure with its kind; `retryable` says whether another attempt may be made (SPEC §4 retries). */
export class GatewayError extends Error {
  readonly kind: ErrorKind
  readonly retryable: boolean
  constructor(kind: ErrorKind, retryable = false, detail?: string) {
    super(detail ? `${kind.message}: ${detail}` : kind.message)
    this.kind = kind
    this.retryable = retryable
  }
  get code(): string {
    return this.kind.code
  }
  get status(): number {
    return this.kind.status
  }
}
