// gRPC status as HTTP: the code → status table, grpc-timeout values, grpc-message percent-coding.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { codeForHttpStatus, decodeGrpcMessage, encodeGrpcMessage, grpcErrorBody, grpcTimeout, httpStatusFor, parseGrpcStatus } from '../../src/protocols/grpc/status.js'

describe('gRPC status mapping', () => {
  it('maps every google.rpc.Code to the HTTP status of SPEC §6', () => {
    const expected = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401]
    expect(expected.map((_, code) => httpStatusFor(code))).toEqual(expected)
    expect(httpStatusFor(17)).toBe(500)
    expect(httpStatusFor(-1)).toBe(500)
  })

  it('maps a non-gRPC HTTP answer as gRPC clients do', () => {
    expect([400, 401, 403, 404, 429, 502, 503, 504, 500, 302].map(codeForHttpStatus)).toEqual([13, 16, 7, 12, 14, 14, 14, 14, 2, 2])
  })

  it('reads grpc-status, treating a missing or malformed one as UNKNOWN', () => {
    expect(parseGrpcStatus('0')).toBe(0)
    expect(parseGrpcStatus('16')).toBe(16)
    expect(parseGrpcStatus(undefined)).toBe(2)
    expect(parseGrpcStatus('x')).toBe(2)
    expect(parseGrpcStatus('123')).toBe(2)
  })

  it('writes the error body as google.rpc.Status JSON', () => {
    expect(JSON.parse(grpcErrorBody(5, 'no such book', [{ '@type': 't' }]))).toEqual({ code: 5, message: 'no such book', details: [{ '@type': 't' }] })
  })
})

describe('grpc-timeout', () => {
  it('writes milliseconds while they fit in 8 digits, then coarser units rounded up', () => {
    expect(grpcTimeout(60000)).toBe('60000m')
    expect(grpcTimeout(1)).toBe('1m')
    expect(grpcTimeout(0.2)).toBe('1m')
    expect(grpcTimeout(99_999_999)).toBe('99999999m')
    expect(grpcTimeout(100_000_000)).toBe('100000S')
    expect(grpcTimeout(200_000_000_000)).toBe('3333334M')
  })
})

describe('grpc-message', () => {
  it('decodes percent-encoded UTF-8 and leaves stray % alone', () => {
    expect(decodeGrpcMessage('no%20such%20book')).toBe('no such book')
    expect(decodeGrpcMessage('caf%C3%A9')).toBe('café')
    expect(decodeGrpcMessage('100%')).toBe('100%')
    expect(decodeGrpcMessage('%zz%4')).toBe('%zz%4')
  })

  it('round-trips any text through encode and decode', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (text) => {
      const wire = encodeGrpcMessage(text)
      expect(/^[\x20-\x7e]*$/.test(wire)).toBe(true)
      expect(decodeGrpcMessage(wire)).toBe(Buffer.from(text, 'utf8').toString('utf8'))
    }))
  })
})
