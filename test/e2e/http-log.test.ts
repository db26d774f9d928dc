// http-log end to end: the real gateway (2 workers) delivers batches of serialized requests to a real HTTP
// receiver; with the receiver failing or gone, requests still succeed and entries are retried or dropped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { request } from '../helpers/http.js'
import { startReceiver, until } from '../helpers/receiver.js'
import { closedPort, echoHandler, startUpstream, type Upstream } from '../helpers/upstream.js'

interface Entry {
  request: { uri: string; headers: Record<string, string> }
  response: { status: number }
  route: { name: string } | null
}

interface LogReceiver {
  url: string
  /** Bodies of the requests that were answered 200, parsed. */
  batches: Entry[][]
  /** Requests received, whatever they were answered. */
  hits(): number
  close(): Promise<void>
}

/** Answers the first `failFirst` requests 500, then 200. */
async function startLogReceiver(failFirst = 0): Promise<LogReceiver> {
  const batches: Entry[][] = []
  let hits = 0
  const receiver = await startReceiver('/logs', (body) => {
    hits++
    if (hits <= failFirst) return 500
    batches.push(JSON.parse(body) as Entry[])
    return 200
  })
  return { ...receiver, batches, hits: () => hits }
}

let upstream: Upstream
const gateways: RunningGateway[] = []
const receivers: LogReceiver[] = []

async function start(logConfig: object): Promise<RunningGateway> {
  const gw = await startGateway({
    services: [{ name: 'echo', url: `http://127.0.0.1:${upstream.port}`, routes: [{ name: 'logged', paths: ['/logged'] }, { name: 'quiet', paths: ['/quiet'] }] }],
    plugins: [{ name: 'http-log', route: 'logged', config: logConfig }],
  }, { env: { GATEWAY_ACCESS_LOG: 'off' } })
  gateways.push(gw)
  return gw
}

beforeAll(async () => {
  upstream = await startUpstream(echoHandler)
})

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()))
  await Promise.all(receivers.map((r) => r.close()))
  await upstream.close()
})

describe('http-log', () => {
  it('delivers every request of its route in JSON-array batches', async () => {
    const receiver = await startLogReceiver()
    receivers.push(receiver)
    const gw = await start({ http_endpoint: receiver.url, queue: { max_batch_size: 4, max_coalescing_delay: 0.05 } })
    for (let i = 0; i < 10; i++) expect((await request(`${gw.url}/logged/${i}`, { headers: { 'x-n': String(i) } })).status).toBe(200)
    expect((await request(`${gw.url}/quiet/1`)).status).toBe(200)
    await until(() => receiver.batches.flat().length >= 10, 'ten entries')
    const entries = receiver.batches.flat()
    expect(entries).toHaveLength(10)
    expect(receiver.batches.every((b) => Array.isArray(b) && b.length >= 1 && b.length <= 4)).toBe(true)
    expect(entries.map((e) => e.request.uri).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `/logged/${i}`).sort())
    expect(entries.every((e) => e.response.status === 200 && e.route!.name === 'logged')).toBe(true)
    expect(entries.find((e) => e.request.uri === '/logged/3')!.request.headers['x-n']).toBe('3')
  })

  it('retries batches the receiver refuses until they are delivered', async () => {
    const receiver = await startLogReceiver(3)
    receivers.push(receiver)
    const gw = await start({ http_endpoint: receiver.url, queue: { max_batch_size: 1, initial_retry_delay: 0.01, max_retry_delay: 0.05 } })
    for (let i = 0; i < 4; i++) expect((await request(`${gw.url}/logged/${i}`)).status).toBe(200)
    await until(() => receiver.batches.length >= 4, 'four delivered entries')
    // max_batch_size 1: each body is one entry object, not an array.
    expect(receiver.batches.map((b) => (b as unknown as Entry).request.uri).sort()).toEqual(['/logged/0', '/logged/1', '/logged/2', '/logged/3'])
    expect(receiver.hits()).toBe(7)
  })

  it('keeps serving when the receiver is gone: entries are given up after retry_count, and a full queue drops', async () => {
    const gw = await start({
      http_endpoint: `http://127.0.0.1:${await closedPort()}/logs`, retry_count: 1,
      queue: { max_batch_size: 1, max_entries: 2, initial_retry_delay: 0.2, max_retry_delay: 0.2 },
    })
    const from = gw.logs().length
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => request(`${gw.url}/logged/${i}`)))
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200))
    await gw.waitForLog('http-log queue full: oldest entries dropped', from)
    await gw.waitForLog('http-log batches given up after their retries', from)
    expect((await request(`${gw.url}/quiet/after`)).status).toBe(200)
  })
})
