// request-size-limiting (Kong's plugin): schema and units, 411 for require_content_length, the cap handed to
// the body stream (ctx.limitBody), and RequestBody enforcing a lowered cap as chunks arrive.
import { describe, expect, it } from 'vitest'
import { validateConfig } from '../../src/config/validate.js'
import plugin, { type RequestSizeLimitingConfig } from '../../src/plugins/request-size-limiting.js'
import { CONTINUE, DONE, type PluginRequest } from '../../src/plugins/types.js'
import { RequestBody } from '../../src/worker/request-body.js'
import type { HttpResponse } from '../../src/uws.js'
import { compilePlugin, fakeRequest, type FakeRequest } from '../helpers/plugins.js'

type Doc = Record<string, unknown>

function validate(config: Doc): { problems: string[]; config: Doc | null } {
  const r = validateConfig({ _format_version: '3.0', plugins: [{ name: 'request-size-limiting', config }] }, { env: {} })
  return r.ok ? { problems: [], config: r.config.plugins[0]!.config } : { problems: r.errors.map((e) => `${e.path}: ${e.message}`), config: null }
}

const conf = (config: Doc): RequestSizeLimitingConfig => compilePlugin(plugin, config)
const run = (c: RequestSizeLimitingConfig, ctx: PluginRequest) => plugin.phases.access!(ctx, c)

function req(headers: Record<string, string>): FakeRequest {
  return fakeRequest({ method: 'POST', headers: new Map([['host', 'gw.local'], ...Object.entries(headers)]) })
}

describe('request-size-limiting schema', () => {
  it('defaults to 128 megabytes without requiring Content-Length', () => {
    expect(validate({}).config).toEqual({ allowed_payload_size: 128, size_unit: 'megabytes', require_content_length: false })
    expect(conf({}).maxBytes).toBe(128 * 1024 * 1024)
  })

  it('counts kilobytes and megabytes in powers of two, as Kong does', () => {
    expect(conf({ allowed_payload_size: 3, size_unit: 'kilobytes' }).maxBytes).toBe(3072)
    expect(conf({ allowed_payload_size: 2, size_unit: 'megabytes' }).maxBytes).toBe(2 * 1048576)
    expect(conf({ allowed_payload_size: 10, size_unit: 'bytes' }).maxBytes).toBe(10)
  })

  it('refuses unknown units, fractions and negative sizes', () => {
    expect(validate({ size_unit: 'gigabytes', allowed_payload_size: 1.5 }).problems).toEqual([
      'plugins[0].config.allowed_payload_size: expected an integer',
      'plugins[0].config.size_unit: expected one of: megabytes, kilobytes, bytes',
    ])
    expect(validate({ allowed_payload_size: -1 }).problems).toEqual(['plugins[0].config.allowed_payload_size: must be at least 0'])
  })
})

describe('request-size-limiting access', () => {
  it('hands the cap in bytes to the body stream and lets a body within it through', () => {
    const ctx = req({ 'content-length': '1024' })
    expect(run(conf({ allowed_payload_size: 1, size_unit: 'kilobytes' }), ctx)).toBe(CONTINUE)
    expect(ctx.bodyLimits).toEqual([1024])
    expect(ctx.replies).toEqual([])
  })

  it('answers 413 (through limitBody) when Content-Length is over the cap', () => {
    const ctx = req({ 'content-length': '1025' })
    expect(run(conf({ allowed_payload_size: 1, size_unit: 'kilobytes' }), ctx)).toBe(DONE)
    expect(ctx.replies.map((r) => [r.status, JSON.parse(r.body).message])).toEqual([[413, 'Request size limit exceeded']])
  })

  it('caps a chunked body without Content-Length (checked while it streams)', () => {
    const ctx = req({ 'transfer-encoding': 'chunked' })
    expect(run(conf({ allowed_payload_size: 5, size_unit: 'bytes', require_content_length: true }), ctx)).toBe(CONTINUE)
    expect(ctx.bodyLimits).toEqual([5])
  })

  it('answers 411 without Content-Length when require_content_length is set and the body is not chunked', () => {
    const ctx = fakeRequest({ method: 'POST', requestId: 'rid-411' })
    expect(run(conf({ require_content_length: true }), ctx)).toBe(DONE)
    expect(ctx.replies).toEqual([{
      status: 411,
      body: '{"message":"A valid Content-Length header is required","request_id":"rid-411"}',
      headers: [['Content-Type', 'application/json; charset=utf-8']],
    }])
    expect(ctx.bodyLimits).toEqual([])
  })

  it('lets a request without a body through when Content-Length is not required', () => {
    const ctx = fakeRequest({ method: 'GET' })
    expect(run(conf({ allowed_payload_size: 0 }), ctx)).toBe(CONTINUE)
    expect(ctx.replies).toEqual([])
  })
})

/** A uWS response stand-in: the test delivers chunks through the onData handler RequestBody registers. */
function fakeRes(): { res: HttpResponse; deliver(bytes: number, isLast?: boolean): void; paused: () => boolean } {
  let handler: ((ab: ArrayBuffer, isLast: boolean) => void) | null = null
  let paused = false
  const res = {
    onData(fn: (ab: ArrayBuffer, isLast: boolean) => void) {
      handler = fn
    },
    pause() {
      paused = true
    },
    resume() {
      paused = false
    },
  } as unknown as HttpResponse
  return { res, deliver: (bytes, isLast = false) => handler!(new ArrayBuffer(bytes), isLast), paused: () => paused }
}

describe('RequestBody.lowerLimit', () => {
  it('reports too large as soon as the bytes past a lowered cap arrive', () => {
    const { res, deliver } = fakeRes()
    let tooLarge = 0
    const body = new RequestBody(res, 1_000_000, () => tooLarge++)
    const got: number[] = []
    body.attach({ onBodyChunk: (c) => got.push(c.length) })
    expect(body.lowerLimit(100)).toBe(true)
    deliver(60)
    deliver(40)
    expect(tooLarge).toBe(0)
    deliver(1)
    expect(tooLarge).toBe(1)
    expect(got).toEqual([60, 40])
    // Nothing more is delivered after the overflow.
    deliver(10, true)
    expect(got).toEqual([60, 40])
  })

  it('never raises the cap above GATEWAY_MAX_BODY_SIZE', () => {
    const { res } = fakeRes()
    const body = new RequestBody(res, 50, () => {})
    body.lowerLimit(1000)
    expect(body.limit).toBe(50)
  })

  it('returns false and drops held chunks when more than the cap already arrived', () => {
    const { res, deliver } = fakeRes()
    const body = new RequestBody(res, 1000, () => {})
    deliver(80)
    expect(body.lowerLimit(50)).toBe(false)
    const got: number[] = []
    body.attach({ onBodyChunk: (c) => got.push(c.length) })
    expect(got).toEqual([0])
  })
})
