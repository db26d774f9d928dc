// The HTTP/2 client connection against a real node:http2 server: SETTINGS, requests with trailers and
// trailers-only answers, flow control with tiny windows both ways, pause/resume, GOAWAY, RST_STREAM both
// ways, PING, big header blocks over CONTINUATION, MAX_CONCURRENT_STREAMS, protocol errors and idle close.
import http2, { type Http2Server, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2'
import net from 'node:net'
import tls from 'node:tls'
import { afterEach, describe, expect, it } from 'vitest'
import { H2Connection, STREAM_WINDOW, type ConnectionOwner, type StreamListener } from '../../src/protocols/grpc/h2/connection.js'
import { CANCEL, REFUSED_STREAM } from '../../src/protocols/grpc/h2/frames.js'
import { encodeHeaders } from '../../src/protocols/grpc/h2/hpack.js'

/** Records everything a stream reports; `done` settles on its last event. */
class Recorder implements StreamListener {
  status = 0
  headers: string[] = []
  trailers: string[] | null = null
  body: Buffer[] = []
  received = 0
  end: 'end' | 'reset' | 'error' | null = null
  code = -1
  error: Error | null = null
  onChunk: (() => void) | null = null
  readonly done: Promise<void>
  private settle!: () => void

  constructor() {
    this.done = new Promise((resolve) => (this.settle = resolve))
  }

  onHeaders(status: number, fields: string[]): void {
    this.status = status
    this.headers = fields
  }

  onData(chunk: Buffer): void {
    this.body.push(Buffer.from(chunk))
    this.received += chunk.length
    this.onChunk?.()
  }

  onTrailers(fields: string[]): void {
    this.trailers = fields
  }

  onEnd(): void {
    this.finish('end')
  }

  onReset(code: number): void {
    this.code = code
    this.finish('reset')
  }

  onError(err: Error): void {
    this.error = err
    this.finish('error')
  }

  text(): string {
    return Buffer.concat(this.body).toString()
  }

  private finish(how: 'end' | 'reset' | 'error'): void {
    if (this.end !== null) throw new Error(`second terminal event ${how} after ${this.end}`)
    this.end = how
    this.settle()
  }
}

class Owner implements ConnectionOwner {
  goneCount = 0
  readonly gone: Promise<void>
  private resolve!: () => void
  constructor() {
    this.gone = new Promise((r) => (this.resolve = r))
  }

  onConnectionGone(): void {
    this.goneCount++
    this.resolve()
  }
}

const servers: (Http2Server | net.Server)[] = []
const conns: H2Connection[] = []

const sessions: ServerHttp2Session[] = []

afterEach(async () => {
  for (const c of conns.splice(0)) c.close()
  // node:http2 keeps a server session that sent GOAWAY open after its socket closed: destroyed here so close() returns.
  for (const s of sessions.splice(0)) s.destroy()
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})

async function listen<T extends Http2Server | net.Server>(server: T): Promise<number> {
  servers.push(server)
  server.on('session', (s: ServerHttp2Session) => sessions.push(s))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return (server.address() as net.AddressInfo).port
}

function connect(port: number, owner = new Owner(), idleTimeoutMs = 0): H2Connection {
  const conn = new H2Connection(net.connect({ port, host: '127.0.0.1' }), false, owner, { connectTimeoutMs: 5000, idleTimeoutMs })
  conns.push(conn)
  return conn
}

function block(path: string, extra: string[] = []): Buffer {
  return encodeHeaders([':method', 'POST', ':scheme', 'http', ':path', path, ':authority', 'test', 'content-type', 'application/grpc', ...extra])
}

function send(conn: H2Connection, path: string, body = Buffer.alloc(0), extra: string[] = []): Recorder {
  const rec = new Recorder()
  expect(conn.request(block(path, extra), body, rec)).not.toBeNull()
  return rec
}

function value(fields: string[] | null, name: string): string | undefined {
  const i = fields?.findIndex((f, j) => j % 2 === 0 && f === name) ?? -1
  return i < 0 ? undefined : fields![i + 1]
}

/** Reads the whole request body of a server stream. */
function readBody(stream: ServerHttp2Stream): Promise<Buffer> {
  const parts: Buffer[] = []
  stream.on('data', (c: Buffer) => parts.push(c))
  return new Promise((r) => stream.on('end', () => r(Buffer.concat(parts))))
}

describe('H2Connection', () => {
  it('sends a request with its body and reads headers, data and trailers', async () => {
    const server = http2.createServer()
    let seen: http2.IncomingHttpHeaders = {}
    server.on('stream', (stream, headers) => {
      seen = headers
      void readBody(stream).then((body) => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-meta': 'm' }, { waitForTrailers: true })
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-trailer': 'done' }))
        stream.end(Buffer.concat([Buffer.from('echo:'), body]))
      })
    })
    const conn = connect(await listen(server))
    const rec = send(conn, '/svc/Method', Buffer.from('hello'), ['x-custom', 'v'])
    await rec.done
    expect(seen[':path']).toBe('/svc/Method')
    expect(seen['x-custom']).toBe('v')
    expect([rec.end, rec.status, value(rec.headers, 'x-meta'), rec.text()]).toEqual(['end', 200, 'm', 'echo:hello'])
    expect(value(rec.trailers, 'grpc-status')).toBe('0')
    expect(value(rec.trailers, 'x-trailer')).toBe('done')
    expect(conn.connected).toBe(true)
  })

  it('reads a trailers-only answer (HEADERS with END_STREAM) and many streams on one connection', async () => {
    const server = http2.createServer()
    server.on('stream', (stream, headers) => {
      stream.resume()
      stream.respond({ ':status': 200, 'grpc-status': '5', 'x-path': headers[':path'] as string }, { endStream: true })
    })
    const conn = connect(await listen(server))
    const recs = Array.from({ length: 50 }, (_, i) => send(conn, `/p/${i}`))
    await Promise.all(recs.map((r) => r.done))
    recs.forEach((rec, i) => {
      expect([rec.end, rec.status, value(rec.headers, 'grpc-status'), value(rec.headers, 'x-path'), rec.trailers]).toEqual(['end', 200, '5', `/p/${i}`, null])
    })
  })

  it('respects a tiny peer window for a big body, and gives window back for a big answer', async () => {
    // The server lets us send 16 bytes at a time per stream; its answer is 5 MiB, over our 1 MiB stream window.
    const server = http2.createServer({ settings: { initialWindowSize: 16 } })
    const big = Buffer.alloc(5 * 1024 * 1024, 'z')
    let got = 0
    server.on('stream', (stream) => {
      void readBody(stream).then((body) => {
        got = body.length
        stream.respond({ ':status': 200 })
        stream.end(big)
      })
    })
    const conn = connect(await listen(server))
    const body = Buffer.alloc(200_000, 'a')
    const rec = send(conn, '/big', body)
    await rec.done
    expect(got).toBe(body.length)
    expect(rec.end).toBe('end')
    expect(rec.received).toBe(big.length)
  })

  it('stops giving window while paused: the server stalls at our stream window, then finishes on resume', async () => {
    const server = http2.createServer()
    const total = 3 * STREAM_WINDOW
    server.on('stream', (stream) => {
      stream.resume()
      stream.respond({ ':status': 200 })
      stream.end(Buffer.alloc(total, 'q'))
    })
    const conn = connect(await listen(server))
    const rec = new Recorder()
    const stream = conn.request(block('/slow'), Buffer.alloc(0), rec)!
    conn.pause(stream)
    let overrun = false
    const filled = new Promise<void>((resolve) => {
      rec.onChunk = () => {
        if (rec.received > STREAM_WINDOW) overrun = true
        if (rec.received === STREAM_WINDOW) resolve()
      }
    })
    await filled
    await new Promise((r) => setTimeout(r, 100))
    expect(rec.received).toBe(STREAM_WINDOW)
    expect(overrun).toBe(false)
    rec.onChunk = null
    conn.resume(stream)
    await rec.done
    expect([rec.end, rec.received]).toEqual(['end', total])
  })

  it('on GOAWAY finishes the streams the server kept and refuses the others; no new streams', async () => {
    const server = http2.createServer()
    const held: ServerHttp2Stream[] = []
    let session: http2.Http2Session | null = null
    const arrived = new Promise<void>((resolve) => {
      server.on('stream', (stream) => {
        stream.resume()
        // The stream the GOAWAY does not cover is closed by the server with REFUSED_STREAM.
        stream.on('error', () => {})
        session = stream.session!
        held.push(stream)
        if (held.length === 2) resolve()
      })
    })
    const owner = new Owner()
    const conn = connect(await listen(server), owner)
    const first = send(conn, '/one')
    const second = send(conn, '/two')
    await arrived
    session!.goaway(http2.constants.NGHTTP2_NO_ERROR, 1)
    await second.done
    expect([second.end, second.code]).toEqual(['reset', REFUSED_STREAM])
    await owner.gone
    expect(conn.open).toBe(false)
    expect(conn.request(block('/three'), Buffer.alloc(0), new Recorder())).toBeNull()
    held[0]!.respond({ ':status': 200 }, { endStream: true })
    await first.done
    expect([first.end, first.status]).toEqual(['end', 200])
    expect(owner.goneCount).toBe(1)
  })

  it('reports a server RST_STREAM and sends ours on cancel', async () => {
    const server = http2.createServer()
    const codes: number[] = []
    let arrived!: () => void
    const hanging = new Promise<void>((resolve) => (arrived = resolve))
    const closed = new Promise<void>((resolve) => {
      server.on('stream', (stream, headers) => {
        stream.resume()
        stream.on('error', () => {})
        if (headers[':path'] === '/reset') return stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM)
        arrived()
        stream.on('close', () => {
          codes.push(stream.rstCode)
          resolve()
        })
      })
    })
    const conn = connect(await listen(server))
    const reset = send(conn, '/reset')
    await reset.done
    expect([reset.end, reset.code]).toEqual(['reset', http2.constants.NGHTTP2_ENHANCE_YOUR_CALM])
    const rec = new Recorder()
    const stream = conn.request(block('/hang'), Buffer.alloc(0), rec)!
    await hanging
    conn.cancel(stream, CANCEL)
    await rec.done
    expect([rec.end, rec.code]).toEqual(['reset', CANCEL])
    await closed
    expect(codes).toEqual([CANCEL])
  })

  it('answers PING', async () => {
    const server = http2.createServer()
    const pinged = new Promise<Error | null>((resolve) => {
      server.on('session', (session) => session.on('remoteSettings', () => session.ping(Buffer.from('12345678'), (err) => resolve(err))))
    })
    connect(await listen(server))
    expect(await pinged).toBeNull()
  })

  it('sends and reads header blocks larger than a frame (CONTINUATION)', async () => {
    const server = http2.createServer({ settings: { maxHeaderListSize: 1 << 20 } })
    const big = 'v'.repeat(40_000)
    let seen = ''
    server.on('stream', (stream, headers) => {
      seen = headers['x-big'] as string
      stream.resume()
      stream.respond({ ':status': 200, 'x-big-answer': big + '!' }, { endStream: true })
    })
    const conn = connect(await listen(server))
    const rec = send(conn, '/headers', Buffer.alloc(0), ['x-big', big])
    await rec.done
    expect(seen).toBe(big)
    expect([rec.end, value(rec.headers, 'x-big-answer')]).toEqual(['end', big + '!'])
  })

  it('queues streams above the server MAX_CONCURRENT_STREAMS', async () => {
    const server = http2.createServer({ settings: { maxConcurrentStreams: 1 } })
    let open = 0
    let most = 0
    server.on('stream', (stream) => {
      open++
      most = Math.max(most, open)
      stream.resume()
      stream.on('close', () => open--)
      setTimeout(() => stream.respond({ ':status': 200 }, { endStream: true }), 5)
    })
    const conn = connect(await listen(server))
    // The first request goes before the server's SETTINGS arrive; wait for one answer so the limit is known.
    await send(conn, '/warm').done
    const recs = Array.from({ length: 5 }, (_, i) => send(conn, `/q/${i}`))
    await Promise.all(recs.map((r) => r.done))
    expect(recs.map((r) => r.end)).toEqual(['end', 'end', 'end', 'end', 'end'])
    expect(most).toBe(1)
  })

  it('fails every stream on a protocol error, and on a refused connection before connecting', async () => {
    // A server that answers the preface with a DATA frame on stream 0.
    const raw = net.createServer((socket) => {
      socket.on('data', () => {})
      socket.write(Buffer.from([0, 0, 1, 0, 0, 0, 0, 0, 0, 7]))
    })
    const owner = new Owner()
    const conn = connect(await listen(raw), owner)
    const rec = send(conn, '/x')
    await rec.done
    expect(rec.end).toBe('error')
    expect(rec.error!.message).toMatch(/protocol error/)
    expect(owner.goneCount).toBe(1)

    const closedPort = await listen(net.createServer())
    await new Promise((r) => servers.pop()!.close(r))
    const refused = connect(closedPort)
    const lost = send(refused, '/y')
    await lost.done
    expect([lost.end, refused.connected]).toEqual(['error', false])
  })

  it('fails its streams with a connect timeout when the TLS handshake never completes', async () => {
    // A server that accepts and never answers: the socket connects, TLS does not.
    const held: net.Socket[] = []
    const silent = net.createServer((socket) => held.push(socket))
    const port = await listen(silent)
    const owner = new Owner()
    const conn = new H2Connection(tls.connect({ port, host: '127.0.0.1', ALPNProtocols: ['h2'] }), true, owner, { connectTimeoutMs: 100, idleTimeoutMs: 0 })
    conns.push(conn)
    const rec = send(conn, '/never')
    await rec.done
    expect([rec.end, rec.error!.message, conn.connected, conn.connectTimedOut, owner.goneCount]).toEqual(['error', 'connect timeout', false, true, 1])
    for (const socket of held) socket.destroy()
  })

  it('closes an idle connection with GOAWAY once its streams are done', async () => {
    const server = http2.createServer()
    server.on('stream', (stream) => {
      stream.resume()
      stream.respond({ ':status': 204 }, { endStream: true })
    })
    const goaway = new Promise<number>((resolve) => server.on('session', (s) => s.on('goaway', (code) => resolve(code))))
    const owner = new Owner()
    const conn = connect(await listen(server), owner, 50)
    await send(conn, '/idle').done
    await owner.gone
    expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR)
    expect(conn.open).toBe(false)
  })
})
