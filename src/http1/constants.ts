// Numbers shared by the response grammar, its C glue and the JS wrapper: error codes, flags, header kinds, events.
// They are part of the addon's ABI: once shipped a number never changes meaning; add new ones at the end.

/** Codes returned by `ResponseParser.execute()`/`finish()`. 0 is success; everything else is a malformed response. */
export const ERROR = {
  OK: 0,
  INTERNAL: 1,
  INVALID_VERSION: 2,
  INVALID_STATUS: 3,
  INVALID_REASON: 4,
  INVALID_HEADER_TOKEN: 5,
  INVALID_HEADER_VALUE: 6,
  OBS_FOLD: 7,
  INVALID_EOL: 8,
  INVALID_CONTENT_LENGTH: 9,
  DUPLICATE_CONTENT_LENGTH: 10,
  CONTENT_LENGTH_WITH_TRANSFER_ENCODING: 11,
  INVALID_TRANSFER_ENCODING: 12,
  INVALID_CHUNK_SIZE: 13,
  CHUNK_SIZE_OVERFLOW: 14,
  INVALID_CHUNK_EXTENSION: 15,
  INVALID_CHUNK_DATA: 16,
  HEADER_OVERFLOW: 17,
  UNEXPECTED_DATA: 18,
  TRUNCATED: 19,
  UPGRADED: 20,
} as const
export type ErrorCode = (typeof ERROR)[keyof typeof ERROR]

/** Default text for each error code (the native side may give a more precise one). */
export const ERROR_REASON: Readonly<Record<number, string>> = {
  [ERROR.OK]: '',
  [ERROR.INTERNAL]: 'internal parser error',
  [ERROR.INVALID_VERSION]: 'expected "HTTP/1.x" at the start of the status line',
  [ERROR.INVALID_STATUS]: 'invalid status code',
  [ERROR.INVALID_REASON]: 'invalid character in reason phrase',
  [ERROR.INVALID_HEADER_TOKEN]: 'invalid character in header name',
  [ERROR.INVALID_HEADER_VALUE]: 'invalid character in header value',
  [ERROR.OBS_FOLD]: 'obsolete line folding (or whitespace before a header line) is not accepted',
  [ERROR.INVALID_EOL]: 'expected CRLF',
  [ERROR.INVALID_CONTENT_LENGTH]: 'invalid Content-Length',
  [ERROR.DUPLICATE_CONTENT_LENGTH]: 'Content-Length repeated with a different value',
  [ERROR.CONTENT_LENGTH_WITH_TRANSFER_ENCODING]: 'Content-Length together with Transfer-Encoding',
  [ERROR.INVALID_TRANSFER_ENCODING]: 'invalid Transfer-Encoding (chunked applied twice)',
  [ERROR.INVALID_CHUNK_SIZE]: 'invalid chunk size',
  [ERROR.CHUNK_SIZE_OVERFLOW]: 'chunk size too large',
  [ERROR.INVALID_CHUNK_EXTENSION]: 'invalid chunk extension',
  [ERROR.INVALID_CHUNK_DATA]: 'expected CRLF after chunk data',
  [ERROR.HEADER_OVERFLOW]: 'response head (or chunk header, or trailer section) larger than the limit',
  [ERROR.UNEXPECTED_DATA]: 'data after the end of the response',
  [ERROR.TRUNCATED]: 'connection closed before the response was complete',
  [ERROR.UPGRADED]: 'the stream was upgraded (101); it is no longer HTTP',
}

/**
 * Internal pause codes (never returned to users of ResponseParser). PAUSED_FULL: the event array
 * is full, the wrapper drains it and resumes at the reported offset. PAUSED_UPGRADE: a 101 was
 * parsed, the bytes from the reported offset on belong to the tunnel.
 */
export const PAUSE = {
  FULL: 64,
  UPGRADE: 65,
} as const

/** Bits of the `flags` property (per message). */
export const FLAGS = {
  CONNECTION_CLOSE: 1 << 0,
  CONNECTION_KEEP_ALIVE: 1 << 1,
  CONNECTION_UPGRADE: 1 << 2,
  /** Connection lists a token other than close/keep-alive/upgrade: those header names must go too. */
  CONNECTION_OTHER: 1 << 3,
  CONTENT_LENGTH: 1 << 4,
  TRANSFER_ENCODING: 1 << 5,
  /** chunked is the final transfer coding so far. */
  CHUNKED: 1 << 6,
  /** chunked was seen at all (a second one is an error, RFC 9112 §6.1). */
  CHUNKED_SEEN: 1 << 7,
} as const

/** Header kinds, found by the grammar with a case-insensitive select on the name. */
export const HEADER_KIND = {
  GENERAL: 0,
  CONTENT_LENGTH: 1,
  TRANSFER_ENCODING: 2,
  CONNECTION: 3,
  KEEP_ALIVE: 4,
  TE: 5,
  TRAILER: 6,
  UPGRADE: 7,
  /** Any name starting with "proxy-" (Proxy-Authenticate, Proxy-Authorization, Proxy-Connection, …). */
  PROXY: 8,
} as const

/** Tokens of the Connection header value the grammar recognises (value of the `conn_token` property). */
export const CONNECTION_TOKEN = {
  CLOSE: 1,
  KEEP_ALIVE: 2,
  UPGRADE: 3,
} as const

/**
 * Framing chosen in C after the head (value of the `framing` property), llhttp-style:
 * the grammar branches on it.
 */
export const FRAMING = {
  UNDECIDED: 0,
  NONE: 1,
  LENGTH: 2,
  CHUNKED: 3,
  EOF: 4,
  INFORMATIONAL: 5,
  UPGRADE: 6,
} as const

/** How the body of a response is delimited, as reported to `ResponseSink.onHead`. */
export const BODY_KIND = {
  NONE: 0,
  LENGTH: 1,
  CHUNKED: 2,
  EOF: 3,
} as const

/**
 * Records the native side writes into the shared Int32Array, EVENT_STRIDE ints each. Record 0 is
 * the call header: [count, offset where parsing stopped (resume/error/upgrade), 0, 0, 0].
 * Offsets are into the Buffer given to that execute() call.
 *
 *   type            a           b           c            d
 *   REASON_PIECE    off         len                                  part of a reason that crosses reads
 *   NAME_PIECE      off         len                                  part of a header name
 *   VALUE_PIECE     off         len                                  part of a header value
 *   STATUS          reasonOff   reasonLen   status       major*10+minor
 *   HEADER(+bits)   nameOff     nameLen     valueOff     valueLen (trailing OWS trimmed)
 *     type word bits: kind << 8 (4 bits), OTHER (bit 12), known name id << 16, known value id << 24
 *   HEAD_DONE       bodyKind | keepAlive<<8   flags   contentLength low 32   high 32 (-1,-1 = none)
 *   BODY            off         len
 *   COMPLETE        keepAlive
 */
export const EVENT = {
  REASON_PIECE: 1,
  NAME_PIECE: 2,
  VALUE_PIECE: 3,
  STATUS: 4,
  HEADER: 5,
  HEAD_DONE: 6,
  BODY: 7,
  COMPLETE: 8,
} as const
export const EVENT_STRIDE = 5
/** Bit in a HEADER record's type word: this Connection header lists other header names. */
export const EVENT_HEADER_OTHER = 1 << 12
export const EVENT_HEADER_KIND_SHIFT = 8
/** Index into KNOWN_HEADER_NAMES (0 = not a known name: slice it from the buffer). */
export const EVENT_HEADER_NAME_SHIFT = 16
/** Index into KNOWN_HEADER_VALUES (0 = not a known value). */
export const EVENT_HEADER_VALUE_SHIFT = 24
/** Records beyond the capacity the native side may write before it pauses (pieces flushed on return). */
export const EVENT_HEADROOM = 8

/** Default limit of the response head (status line + headers), of one chunk-size line and of the trailers. */
export const DEFAULT_MAX_HEAD_BYTES = 64 * 1024

/**
 * Header names the native side recognises byte for byte (exact case), so the wrapper hands out
 * these strings instead of slicing a new one from the read: a string from a Buffer costs ~60 ns,
 * and most upstream heads repeat the same few names. Index 0 is reserved; at most 255 entries.
 * Append only (the ids are in the event records).
 */
export const KNOWN_HEADER_NAMES: readonly string[] = [
  '',
  'Date',
  'Server',
  'Content-Type',
  'Cache-Control',
  'ETag',
  'Last-Modified',
  'Expires',
  'Vary',
  'Set-Cookie',
  'Location',
  'Content-Encoding',
  'Content-Language',
  'Content-Disposition',
  'Content-Range',
  'Content-Location',
  'Content-Security-Policy',
  'Accept-Ranges',
  'Age',
  'Allow',
  'Access-Control-Allow-Origin',
  'Access-Control-Allow-Credentials',
  'Access-Control-Allow-Headers',
  'Access-Control-Allow-Methods',
  'Access-Control-Expose-Headers',
  'Access-Control-Max-Age',
  'Strict-Transport-Security',
  'X-Content-Type-Options',
  'X-Frame-Options',
  'X-XSS-Protection',
  'X-Powered-By',
  'X-Request-Id',
  'X-Correlation-Id',
  'X-Cache',
  'Via',
  'Link',
  'Pragma',
  'Retry-After',
  'WWW-Authenticate',
  'Referrer-Policy',
  'Alt-Svc',
  'Timing-Allow-Origin',
  'Cross-Origin-Resource-Policy',
  'Cross-Origin-Opener-Policy',
  'Permissions-Policy',
  'Server-Timing',
  'X-RateLimit-Limit',
  'X-RateLimit-Remaining',
  'X-RateLimit-Reset',
  'date',
  'server',
  'content-type',
  'cache-control',
  'etag',
  'last-modified',
  'expires',
  'vary',
  'set-cookie',
  'location',
  'content-encoding',
  'content-disposition',
  'accept-ranges',
  'age',
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'strict-transport-security',
  'x-content-type-options',
  'x-frame-options',
  'x-xss-protection',
  'x-powered-by',
  'x-request-id',
  'via',
  'link',
  'pragma',
  'retry-after',
  'www-authenticate',
  'referrer-policy',
  'alt-svc',
  'content-security-policy',
]

/** Header values recognised the same way (exact bytes, after OWS trimming). At most 127 entries; append only. */
export const KNOWN_HEADER_VALUES: readonly string[] = [
  '',
  'application/json',
  'application/json; charset=utf-8',
  'application/json;charset=UTF-8',
  'text/html',
  'text/html; charset=utf-8',
  'text/html; charset=UTF-8',
  'text/plain',
  'text/plain; charset=utf-8',
  'text/plain;charset=UTF-8',
  'text/css',
  'application/javascript',
  'text/javascript',
  'application/octet-stream',
  'application/grpc',
  'image/png',
  'image/jpeg',
  'no-cache',
  'no-store',
  'no-cache, no-store, must-revalidate',
  'private',
  'public',
  'max-age=0',
  'public, max-age=0',
  'gzip',
  'br',
  'deflate',
  'identity',
  'Accept-Encoding',
  'Origin',
  '*',
  'true',
  'bytes',
  'none',
  'nosniff',
  'DENY',
  'SAMEORIGIN',
  '0',
  '1; mode=block',
  'max-age=31536000',
  'max-age=31536000; includeSubDomains',
  'no-referrer',
  'strict-origin-when-cross-origin',
  'Express',
  'nginx',
  'HIT',
  'MISS',
]
