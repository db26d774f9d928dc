// The shared log serializer (Kong's kong.log.serialize shape) and the access log writer built on it.
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createAccessLog } from '../../src/observability/access-log.js'
import { serializeLog } from '../../src/observability/log-serializer.js'
import { readSettings } from '../../src/settings.js'
import type { RequestLog } from '../../src/plugins/types.js'
import { fakeRequest } from '../helpers/plugins.js'

function finished(over: Partial<RequestLog> = {}): RequestLog {
  const request = fakeRequest({
    method: 'POST', path: '/echo/items', query: 'a=1&b=x%20y&a=2&flag', host: 'api.example.com:8443', port: 8443, scheme: 'https',
    headers: new Map([['host', 'api.example.com:8443'], ['authorization', 'Bearer secret'], ['x-trace', 't1']]),
    clientIp: '10.0.0.7', requestId: 'req-1', routeName: 'items', routeId: 'r-1', serviceName: 'echo', serviceId: 's-1',
  })
  return {
    request, status: 201, startedAt: 1_700_000_000_123.6, totalMs: 12.6, proxyMs: 0.4, upstreamMs: 11.2, bytesIn: 17, bytesOut: 42,
    upstreamTarget: '127.0.0.1:3001', upstreamUri: '/items?a=1', aborted: false, cacheStatus: '', rateLimited: false, ...over,
  }
}

describe('serializeLog', () => {
  it("writes Kong's request, response, latencies, route, service and tries for a proxied request", () => {
    const out = serializeLog(finished(), false)
    expect(out.request).toEqual({
      method: 'POST', uri: '/echo/items?a=1&b=x%20y&a=2&flag', url: 'https://api.example.com:8443/echo/items?a=1&b=x%20y&a=2&flag',
      querystring: { a: ['1', '2'], b: 'x y', flag: true }, size: 17,
    })
    expect(out.response).toEqual({ status: 201, size: 42 })
    expect(out.latencies).toEqual({ request: 13, proxy: 11, kong: 0 })
    expect(out.upstream_uri).toBe('/items?a=1')
    expect(out.tries).toEqual([{ ip: '127.0.0.1', port: 3001 }])
    expect(out.route).toEqual({ name: 'items', id: 'r-1' })
    expect(out.service).toEqual({ name: 'echo', id: 's-1' })
    expect(out.consumer).toBeNull()
    expect(out.client_ip).toBe('10.0.0.7')
    expect(out.started_at).toBe(1_700_000_000_124)
    expect(out.request_id).toBe('req-1')
    expect(out.source).toBe('upstream')
    expect(out.aborted).toBe(false)
    expect('cache_status' in out).toBe(false)
  })

  it('marks an answer the gateway made itself: no upstream latency, all time is the gateway\'s', () => {
    const out = serializeLog(finished({ status: 429, proxyMs: -1, upstreamMs: -1, upstreamTarget: '', upstreamUri: '', rateLimited: true, totalMs: 0.7 }), false)
    expect(out.latencies).toEqual({ request: 1, proxy: -1, kong: 1 })
    expect(out.source).toBe('kong')
    expect(out.tries).toBeUndefined()
    expect(out.rate_limited).toBe(true)
  })

  it('adds request headers only when asked, with credentials redacted', () => {
    expect(serializeLog(finished(), false).request.headers).toBeUndefined()
    expect(serializeLog(finished(), true).request.headers).toEqual({ host: 'api.example.com:8443', authorization: 'REDACTED', 'x-trace': 't1' })
  })

  it('names the consumer, the cache decision and an IPv6 target', () => {
    const log = finished({ cacheStatus: 'Hit', upstreamTarget: '[::1]:8080', aborted: true })
    log.request.consumer = { id: 'c-1', username: 'alice', customId: null, groups: [] }
    const out = serializeLog(log, false)
    expect(out.consumer).toEqual({ id: 'c-1', username: 'alice', custom_id: null })
    expect(out.cache_status).toBe('Hit')
    expect(out.tries).toEqual([{ ip: '::1', port: 8080 }])
    expect(out.aborted).toBe(true)
  })

  it('leaves route and service out of a request that matched none', () => {
    const log = finished({ status: 404, proxyMs: -1, upstreamMs: -1, upstreamTarget: '', upstreamUri: '' })
    Object.assign(log.request, { routeName: '', routeId: '', serviceName: '', serviceId: '' })
    const out = serializeLog(log, false)
    expect(out.route).toBeNull()
    expect(out.service).toBeNull()
  })
})

describe('createAccessLog', () => {
  it('is null when GATEWAY_ACCESS_LOG=off', () => {
    expect(createAccessLog(readSettings({ GATEWAY_ACCESS_LOG: 'off' }))).toBeNull()
  })

  it('appends one JSON line per request to the file', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gw-access-')), 'access.log')
    const write = createAccessLog(readSettings({ GATEWAY_ACCESS_LOG: file }))!
    write(finished())
    write(finished({ status: 502 }))
    const deadline = Date.now() + 5000
    let lines: string[] = []
    while (Date.now() < deadline) {
      lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '')
      if (lines.length === 2) break
      await new Promise((r) => setTimeout(r, 10))
    }
    expect(lines.map((l) => (JSON.parse(l) as { response: { status: number } }).response.status)).toEqual([201, 502])
  })
})
