// GET /metrics and /status latency end to end (SPEC §10): counts summed over 2 workers match the traffic
// sent, latency histograms against an upstream with a known delay, labels only where prometheus asks.
import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request } from '../helpers/http.js'
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js'
import { samples, sum } from '../helpers/prometheus.js'

const DELAY_MS = 150
let up: Upstream
let gw: RunningGateway
let deadPort: number

async function scrape(): Promise<ReturnType<typeof samples>> {
  const reply = await request(gw.adminUrl + '/metrics')
  expect(reply.status).toBe(200)
  expect(reply.headers['content-type']).toContain('text/plain; version=0.0.4')
  return samples(reply.body)
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
const get = (path: string) => request(gw.url + path, { agent })

beforeAll(async () => {
  up = await startUpstream((req, res) => {
    const body = 'x'.repeat(100)
    const answer = () => res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length, 'cache-control': 'max-age=60' }).end(body)
    if (req.url!.startsWith('/slow')) setTimeout(answer, DELAY_MS)
    else answer()
  })
  deadPort = await closedPort()
  const url = `http://127.0.0.1:${up.port}`
  const prometheus = { name: 'prometheus', config: { status_code_metrics: true, latency_metrics: true, bandwidth_metrics: true } }
  gw = await startGateway({
    upstreams: [{ name: 'pool', targets: [{ target: `127.0.0.1:${up.port}` }, { target: `127.0.0.1:${deadPort}` }], healthchecks: { passive: { unhealthy: { tcp_failures: 1 } } } }],
    services: [
      { name: 'plain-svc', url, routes: [{ name: 'plain', paths: ['/plain'] }] },
      {
        name: 'watched-svc', url,
        routes: [
          { name: 'slow', paths: ['/slow'], strip_path: false },
          { name: 'limited', paths: ['/limited'], plugins: [{ name: 'rate-limiting', config: { minute: 5, policy: 'local' } }] },
          { name: 'cached', paths: ['/cached'], plugins: [{ name: 'proxy-cache', config: { strategy: 'memory', content_type: ['text/plain'] } }] },
        ],
        plugins: [prometheus],
      },
      { name: 'pool-svc', host: 'pool', routes: [{ name: 'pooled', paths: ['/pooled'] }] },
    ],
  })
})

afterAll(async () => {
  agent.destroy()
  await gw.stop()
  await up.close()
})

describe('GET /metrics', () => {
  it('counts every request once, summed over the workers, with route labels only where prometheus applies', async () => {
    for (let i = 0; i < 20; i++) expect((await get('/plain')).status).toBe(200)
    const limited = await Promise.all(Array.from({ length: 8 }, () => get('/limited')))
    expect(limited.filter((r) => r.status === 429).length).toBe(3)
    for (let i = 0; i < 3; i++) await get('/cached')
    for (let i = 0; i < 2; i++) expect((await get('/nowhere')).status).toBe(404)
    await Promise.all(Array.from({ length: 3 }, () => get('/slow')))
    const m = await scrape()
    expect(sum(m, 'api_gateway_requests_total', { route: 'limited', status: '200', method: 'GET', service: 'watched-svc' })).toBe(5)
    expect(sum(m, 'api_gateway_requests_total', { route: 'limited', status: '429' })).toBe(3)
    expect(sum(m, 'api_gateway_requests_total', { route: 'slow' })).toBe(3)
    // plain and unrouted requests share the unlabelled row.
    expect(sum(m, 'api_gateway_requests_total', { route: '', status: '200' })).toBe(20)
    expect(sum(m, 'api_gateway_requests_total', { route: '', status: '404' })).toBe(2)
    expect(sum(m, 'api_gateway_requests_total', { route: 'plain' })).toBe(0)
    expect(sum(m, 'api_gateway_rate_limit_exceeded_total', { route: 'limited' })).toBe(3)
    expect(sum(m, 'api_gateway_cache_total', { route: 'cached', status: 'Miss' })).toBe(1)
    expect(sum(m, 'api_gateway_cache_total', { route: 'cached', status: 'Hit' })).toBe(2)
    expect(sum(m, 'api_gateway_bandwidth_bytes_total', { route: 'cached', direction: 'egress' })).toBe(300)
    expect(sum(m, 'api_gateway_bandwidth_bytes_total', { route: 'slow', direction: 'egress' })).toBe(300)
  })

  it('times requests and upstream waits against an upstream with a known delay', async () => {
    const m = await scrape()
    const slow = { route: 'slow' }
    expect(sum(m, 'api_gateway_request_duration_ms_count', slow)).toBe(3)
    expect(sum(m, 'api_gateway_request_duration_ms_bucket', { ...slow, le: '100' })).toBe(0)
    expect(sum(m, 'api_gateway_request_duration_ms_bucket', { ...slow, le: '+Inf' })).toBe(3)
    expect(sum(m, 'api_gateway_request_duration_ms_sum', slow)).toBeGreaterThanOrEqual(3 * DELAY_MS)
    expect(sum(m, 'api_gateway_upstream_duration_ms_count', slow)).toBe(3)
    expect(sum(m, 'api_gateway_upstream_duration_ms_sum', slow)).toBeGreaterThanOrEqual(3 * DELAY_MS)
    // The gateway's own share stays far below the upstream's delay.
    const total = sum(m, 'api_gateway_request_duration_ms_sum', slow)
    expect(total - sum(m, 'api_gateway_upstream_duration_ms_sum', slow)).toBeLessThan(3 * DELAY_MS)
    // Cache hits never waited for an upstream.
    expect(sum(m, 'api_gateway_upstream_duration_ms_count', { route: 'cached' })).toBe(1)
    const status = (await request(gw.adminUrl + '/status')).json<{ latency: { request_ms: { count: number; p50: number; p99: number } } }>()
    expect(status.latency.request_ms.count).toBeGreaterThanOrEqual(36)
    expect(status.latency.request_ms.p99).toBeGreaterThanOrEqual(DELAY_MS)
  })

  it('exports target health, connections, reloads and worker restarts; a dead worker\'s counts stay', async () => {
    for (let i = 0; i < 6; i++) await get('/pooled')
    let m = await scrape()
    expect(sum(m, 'api_gateway_upstream_target_health', { upstream: 'pool', target: `127.0.0.1:${up.port}` })).toBe(1)
    expect(sum(m, 'api_gateway_upstream_target_health', { upstream: 'pool', target: `127.0.0.1:${deadPort}` })).toBe(0)
    expect(m.some(([n, l]) => n === 'api_gateway_connections' && l.state === 'upstream_idle')).toBe(true)
    const before = sum(m, 'api_gateway_requests_total')
    expect((await request(gw.adminUrl + '/workers/0', { method: 'DELETE' })).status).toBe(202)
    const mark = gw.logs().length
    gw.proc.kill('SIGHUP')
    await gw.waitForLog('config reloaded', mark)
    for (let deadline = Date.now() + 5000; ; ) {
      m = await scrape()
      if (sum(m, 'api_gateway_worker_restarts_total') === 1 || Date.now() > deadline) break
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(sum(m, 'api_gateway_worker_restarts_total')).toBe(1)
    expect(sum(m, 'api_gateway_config_reloads_total', { result: 'success' })).toBe(1)
    expect(sum(m, 'api_gateway_redis_fallback_total')).toBe(0)
    expect(sum(m, 'api_gateway_requests_total')).toBeGreaterThanOrEqual(before)
  })
})
