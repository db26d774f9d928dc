// Overload protection end to end (issue 6): past GATEWAY_MAX_CONCURRENCY requests in flight in a worker,
// new requests get 503 with Retry-After at once, and the worker serves again when the load drains.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request } from '../helpers/http.js'
import { echoHandler, startUpstream, type Upstream } from '../helpers/upstream.js'

let up: Upstream
let gw: RunningGateway
let release: () => void = () => {}
let held = new Promise<void>((r) => (release = r))

beforeAll(async () => {
  up = await startUpstream((req, res) => (req.url!.includes('hold') ? void held.then(() => echoHandler(req, res)) : echoHandler(req, res)))
  gw = await startGateway({ services: [{ name: 's', url: `http://127.0.0.1:${up.port}`, routes: [{ name: 'r', paths: ['/'] }] }] }, { workers: 1, env: { GATEWAY_MAX_CONCURRENCY: '3' } })
})

afterAll(async () => {
  release()
  await gw.stop()
  await up.close()
})

it('answers 503 + Retry-After past the limit without reaching the upstream, then serves again', async () => {
  const holding = Array.from({ length: 3 }, () => request(gw.url + '/hold'))
  while (up.requests() < 3) await new Promise((r) => setTimeout(r, 5))
  const refused = await Promise.all(Array.from({ length: 4 }, () => request(gw.url + '/other')))
  for (const r of refused) {
    expect(r.status).toBe(503)
    expect(r.headers['retry-after']).toBe('1')
    expect(r.json<{ message: string }>().message).toBe('The gateway is overloaded, retry later')
  }
  expect(up.requests()).toBe(3)
  release()
  for (const r of await Promise.all(holding)) expect(r.status).toBe(200)
  held = Promise.resolve()
  expect((await request(gw.url + '/other')).status).toBe(200)
})
