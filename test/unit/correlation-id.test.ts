// correlation-id's pure parts: Kong's schema defaults, the three generators, and the access phase keeping a
// client's id, setting one upstream, and (echo_downstream) setting it on the response head.
import { describe, expect, it } from 'vitest'
import plugin, { generator } from '../../src/plugins/correlation-id.js'
import { compilePlugin, fakeRequest } from '../helpers/plugins.js'

describe('correlation-id', () => {
  it("defaults to Kong's Kong-Request-ID, uuid#counter and no echo", () => {
    const c = compilePlugin(plugin, {})
    expect([c.name, c.echo]).toEqual(['Kong-Request-ID', false])
    expect(c.next(fakeRequest())).toMatch(/^[0-9a-f-]{36}#\d+$/)
  })

  it('uuid#counter counts up on one worker uuid; uuid is random v4; tracker names host, port and counter', () => {
    const next = generator('uuid#counter', '0.0.0.0')
    const [a, b] = [next(fakeRequest()), next(fakeRequest())]
    expect(a.split('#')[0]).toBe(b.split('#')[0])
    expect(Number(b.split('#')[1])).toBe(Number(a.split('#')[1]) + 1)
    expect(generator('uuid', 'h')(fakeRequest())).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(generator('tracker', '10.0.0.1')(fakeRequest({ port: 8443 }))).toMatch(new RegExp(`^10\\.0\\.0\\.1-8443-${process.pid}-\\d+-\\d+-\\d+\\.\\d{3}$`))
  })

  it('keeps the client id, or sets a new one upstream; echo replaces the header on the response', () => {
    const c = compilePlugin(plugin, { header_name: 'X-Corr', echo_downstream: true })
    const kept = fakeRequest({ headers: new Map([['x-corr', 'abc']]) })
    plugin.phases.access!(kept, c)
    expect(kept.upstreamHeaders).toEqual([])
    const h = ['x-corr', 'upstream', 'X-Other', '1', 'X-CORR', 'again']
    kept.filters[0]!.onHead({ status: 200, bodyless: false, contentLength: 0, headers: h })
    expect(h).toEqual(['X-Corr', 'abc', 'X-Other', '1'])
    const fresh = fakeRequest()
    plugin.phases.access!(fresh, c)
    expect(fresh.upstreamHeaders[0]![0]).toBe('X-Corr')
    expect(fresh.upstreamHeaders[0]![1]).toMatch(/#\d+$/)
  })
})
