// request-termination (Kong's plugin): its answers for status/message, body/content_type, echo and
// trigger, checked through the PluginRequest contract with a recording fake request.
import { describe, expect, it } from 'vitest'
import plugin, { hasQueryParam, parseQuery, type RequestTerminationConfig } from '../../src/plugins/request-termination.js'
import { DONE, type PluginRequest } from '../../src/plugins/types.js'
import { compilePlugin, fakeRequest, type Reply } from '../helpers/plugins.js'

function conf(config: Record<string, unknown>): RequestTerminationConfig {
  return compilePlugin(plugin, config)
}

function request(over: Partial<PluginRequest> & { body?: string } = {}): { ctx: PluginRequest; replies: Reply[] } {
  const ctx = fakeRequest(over)
  return { ctx, replies: ctx.replies }
}

async function run(c: RequestTerminationConfig, ctx: PluginRequest): Promise<unknown> {
  return await (plugin.phases.access as (ctx: PluginRequest, c: RequestTerminationConfig) => unknown)(ctx, c)
}

describe('request-termination', () => {
  it('answers 503 "Service unavailable" by default, as JSON', async () => {
    const { ctx, replies } = request()
    expect(await run(conf({}), ctx)).toBe(DONE)
    expect(replies).toEqual([{ status: 503, body: '{"message":"Service unavailable"}', headers: [['Content-Type', 'application/json; charset=utf-8']] }])
  })

  it('uses the configured message, or Kong’s default for the status, or an empty body', async () => {
    const bodies = []
    for (const c of [{ status_code: 403, message: 'Go away' }, { status_code: 404 }, { status_code: 418 }]) {
      const { ctx, replies } = request()
      await run(conf(c), ctx)
      bodies.push([replies[0].status, replies[0].body, replies[0].headers.length])
    }
    expect(bodies).toEqual([[403, '{"message":"Go away"}', 1], [404, '{"message":"Not found"}', 1], [418, '', 0]])
  })

  it('sends a raw body with its content type (JSON by default)', async () => {
    const a = request()
    await run(conf({ status_code: 200, body: '<p>hi</p>', content_type: 'text/html' }), a.ctx)
    expect(a.replies[0]).toEqual({ status: 200, body: '<p>hi</p>', headers: [['Content-Type', 'text/html']] })
    const b = request()
    await run(conf({ body: '{"a":1}' }), b.ctx)
    expect(b.replies[0].headers).toEqual([['Content-Type', 'application/json; charset=utf-8']])
  })

  it('only terminates when the trigger header or query argument is present', async () => {
    const c = conf({ trigger: 'X-Stop' })
    const none = request()
    expect(await run(c, none.ctx)).toBeUndefined()
    expect(none.replies).toEqual([])
    const header = request({ headers: new Map([['x-stop', '']]) })
    expect(await run(c, header.ctx)).toBe(DONE)
    const query = request({ query: 'a=1&X-Stop' })
    expect(await run(c, query.ctx)).toBe(DONE)
    const other = request({ query: 'X-Stopper=1' })
    expect(await run(c, other.ctx)).toBeUndefined()
  })

  it('echoes the request as JSON with the configured status', async () => {
    const { ctx, replies } = request({
      method: 'post', query: 'a=1&a=2&flag&q=x%20y',
      headers: new Map([['content-type', 'application/json'], ['content-length', '9']]),
      body: '{"k":"v"}',
    })
    const result = run(conf({ echo: true, status_code: 200 }), ctx)
    expect(await result).toBe(DONE)
    expect(replies[0].status).toBe(200)
    expect(JSON.parse(replies[0].body)).toEqual({
      request: {
        scheme: 'http', host: 'gw.local', port: 8000,
        headers: { 'content-type': 'application/json', 'content-length': '9' },
        query: { a: ['1', '2'], flag: true, q: 'x y' },
        body: { k: 'v' }, raw_body: '{"k":"v"}', method: 'POST', path: '/echo/x', uri: '/echo/x?a=1&a=2&flag&q=x%20y',
        uri_captures: { named: {}, unnamed: [] },
      },
      matched_route: { name: 'r' },
      matched_service: { name: 's' },
    })
  })

  it('echoes synchronously (no promise) when the request has no body', () => {
    const { ctx, replies } = request()
    const direct = (plugin.phases.access as (ctx: PluginRequest, c: RequestTerminationConfig) => unknown)(ctx, conf({ echo: true, message: 'hello' }))
    expect(direct).toBe(DONE)
    expect(JSON.parse(replies[0].body)).toMatchObject({ message: 'hello', request: { raw_body: '', method: 'GET' } })
  })

  it('parses query strings and finds parameters as Kong does', () => {
    expect(parseQuery('')).toEqual({})
    expect(parseQuery('a=%zz&b=1+2&&c')).toEqual({ a: '%zz', b: '1 2', c: true })
    expect(hasQueryParam('x=1&trig=', 'trig')).toBe(true)
    expect(hasQueryParam('trigger=1', 'trig')).toBe(false)
    expect(hasQueryParam('', 'trig')).toBe(false)
  })
})
