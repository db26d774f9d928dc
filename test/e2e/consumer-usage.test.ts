// GET /consumers/{username}/usage (SPEC §9) on the real gateway: what local rate-limiting instances that
// count by consumer have counted for one consumer, read from the shared table without counting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request } from '../helpers/http.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

let up: Upstream
let gw: RunningGateway

beforeAll(async () => {
  up = await startUpstream((_req, res) => res.end('ok'))
  gw = await startGateway({
    services: [{
      name: 'api', url: `http://127.0.0.1:${up.port}`, routes: [{ name: 'r', paths: ['/api'] }],
      plugins: [{ name: 'key-auth' }, { name: 'rate-limiting', config: { hour: 5, limit_by: 'consumer', window_type: 'fixed' } }],
    }],
    consumers: [
      { username: 'alice', custom_id: 'a-1', keyauth_credentials: [{ key: 'alice-key' }] },
      { username: 'bob', keyauth_credentials: [{ key: 'bob-key' }] },
    ],
  }, { workers: 2 })
})

afterAll(async () => {
  await gw?.stop()
  await up?.close()
})

interface Usage {
  consumer: { username: string; custom_id: string | null }
  rate_limiting: Array<{ plugin: string; window_type: string; windows: Array<{ period: string; limit: number; remaining: number; used: number }> }>
}

async function usage(ref: string): Promise<{ status: number; body: Usage }> {
  const r = await request(`${gw.adminUrl}/consumers/${ref}/usage`)
  return { status: r.status, body: JSON.parse(r.body) as Usage }
}

describe('GET /consumers/{username}/usage', () => {
  it("shows each consumer's own count, by username or custom_id, without counting", async () => {
    for (let i = 0; i < 3; i++) expect((await request(`${gw.url}/api`, { headers: { apikey: 'alice-key' } })).status).toBe(200)
    const alice = await usage('alice')
    expect(alice.status).toBe(200)
    expect(alice.body.consumer).toMatchObject({ username: 'alice', custom_id: 'a-1' })
    expect(alice.body.rate_limiting).toHaveLength(1)
    expect(alice.body.rate_limiting[0]!.windows).toEqual([expect.objectContaining({ period: 'hour', limit: 5, used: 3, remaining: 2 })])
    // Reading twice counts nothing; the custom_id names the same consumer.
    expect((await usage('a-1')).body.rate_limiting[0]!.windows[0]).toMatchObject({ used: 3, remaining: 2 })
    expect((await usage('bob')).body.rate_limiting[0]!.windows[0]).toMatchObject({ used: 0, remaining: 5 })
  })

  it('shows a used-up window as 0 remaining', async () => {
    for (let i = 0; i < 6; i++) await request(`${gw.url}/api`, { headers: { apikey: 'bob-key' } })
    expect((await usage('bob')).body.rate_limiting[0]!.windows[0]).toMatchObject({ used: 5, remaining: 0 })
  })

  it('answers 404 for an unknown consumer', async () => {
    expect((await usage('nobody')).status).toBe(404)
  })
})
