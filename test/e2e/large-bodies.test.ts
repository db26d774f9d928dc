// Streaming with backpressure end to end (SPEC §4): a 50 MiB response to a slow client and a
// 50 MiB upload to a slow upstream, with the gateway's resident memory staying bounded.
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type RunningGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const SIZE = 50 * 1024 * 1024
const BLOCK = Buffer.alloc(64 * 1024, 'x')
/**
 * Buffering a whole 50 MiB body would grow RSS by at least that much. Streaming still leaves
 * short-lived copies for the GC (about 35 MiB measured, flat whether 50 or 150 MiB pass).
 */
const RSS_GROWTH_LIMIT = 42 * 1024 * 1024
/** While the upstream reads nothing, only socket buffers and one held chunk may fill up. */
const STALL_MS = 1000
const STALLED_BYTES_LIMIT = 24 * 1024 * 1024

let big: Upstream
let sink: Upstream
let gw: RunningGateway
let received = 0

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m![1]) * 1024
}

beforeAll(async () => {
  big = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-length': SIZE, 'content-type': 'application/octet-stream' })
    let sent = 0
    const pump = (): void => {
      while (sent < SIZE) {
        sent += BLOCK.length
        if (!res.write(BLOCK)) return void res.once('drain', pump)
      }
      res.end()
    }
    pump()
  })
  // Reads nothing for STALL_MS, then reads slowly: pauses for 2 ms after every chunk.
  sink = await startUpstream((req, res) => {
    received = 0
    req.pause()
    setTimeout(() => req.resume(), STALL_MS)
    req.on('data', (c: Buffer) => {
      received += c.length
      req.pause()
      setTimeout(() => req.resume(), 2)
    })
    req.on('end', () => res.end(String(received)))
  })
  gw = await startGateway({
    services: [
      { name: 'big', url: `http://127.0.0.1:${big.port}`, routes: [{ name: 'big', paths: ['/big'] }] },
      { name: 'sink', url: `http://127.0.0.1:${sink.port}`, routes: [{ name: 'sink', paths: ['/sink'] }] },
    ],
  }, { env: { GATEWAY_MAX_BODY_SIZE: '100m' } })
})

afterAll(async () => {
  await gw?.stop()
  await big?.close()
  await sink?.close()
})

describe('streaming', () => {
  it('streams a 50 MiB response to a slow client without buffering it', async () => {
    const pid = gw.proc.pid!
    const base = rss(pid)
    let peak = base
    const got = await new Promise<number>((resolve, reject) => {
      const socket = net.connect(gw.port, '127.0.0.1', () => socket.write('GET /big HTTP/1.1\r\nHost: t\r\n\r\n'))
      let bytes = 0
      socket.on('data', (d: Buffer) => {
        bytes += d.length
        peak = Math.max(peak, rss(pid))
        socket.pause()
        setTimeout(() => socket.resume(), 1)
        if (bytes >= SIZE) {
          socket.destroy()
          resolve(bytes)
        }
      })
      socket.on('error', reject)
    })
    expect(got).toBeGreaterThanOrEqual(SIZE)
    expect(peak - base).toBeLessThan(RSS_GROWTH_LIMIT)
  })

  it('streams a 50 MiB upload to a slow upstream without buffering it', async () => {
    const pid = gw.proc.pid!
    const base = rss(pid)
    let peak = base
    const sampler = setInterval(() => (peak = Math.max(peak, rss(pid))), 20)
    let flushedDuringStall = -1
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(gw.port, '127.0.0.1', () => {
        // Bytes the client got into the kernel while the upstream read nothing: bounded only if the
        // gateway pushed back instead of absorbing the body.
        setTimeout(() => (flushedDuringStall = socket.bytesWritten - socket.writableLength), STALL_MS - 100)
        socket.write(`POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: ${SIZE}\r\n\r\n`)
        let sent = 0
        const pump = (): void => {
          while (sent < SIZE) {
            sent += BLOCK.length
            if (!socket.write(BLOCK)) return void socket.once('drain', pump)
          }
        }
        pump()
      })
      let data = ''
      socket.on('data', (d) => {
        data += d.toString()
        if (/\r\n\r\n\d+$/.test(data) && data.endsWith(String(SIZE))) {
          socket.destroy()
          resolve(data)
        }
      })
      socket.on('error', reject)
    })
    clearInterval(sampler)
    expect(answer).toMatch(/^HTTP\/1\.1 200/)
    expect(received).toBe(SIZE)
    expect(flushedDuringStall).toBeGreaterThan(0)
    expect(flushedDuringStall).toBeLessThan(STALLED_BYTES_LIMIT)
    expect(peak - base).toBeLessThan(RSS_GROWTH_LIMIT)
  })
})
