// Real upstream servers for e2e tests: a node:http server with a handler, counting the TCP
// connections it accepted, and a raw net server that answers with exact bytes.
import http from 'node:http'
import net from 'node:net'

export interface Upstream {
  port: number
  /** TCP connections accepted so far. */
  connections(): number
  /** Requests handled so far. */
  requests(): number
  close(): Promise<void>
}

/** Counts what a server accepted and serves; listens on a free loopback port. */
function listen(server: net.Server, counts: { requests: number }): Promise<Upstream> {
  let connections = 0
  const sockets = new Set<net.Socket>()
  server.on('connection', (s: net.Socket) => {
    connections++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        connections: () => connections,
        requests: () => counts.requests,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy()
            server.close(() => r())
          }),
      })
    })
  })
}

export function startUpstream(handler: http.RequestListener): Promise<Upstream> {
  const counts = { requests: 0 }
  const server = http.createServer((req, res) => {
    counts.requests++
    handler(req, res)
  })
  server.keepAliveTimeout = 30_000
  return listen(server, counts)
}

/** Echoes method, url, headers and body size as JSON. */
export const echoHandler: http.RequestListener = (req, res) => {
  let size = 0
  req.on('data', (c: Buffer) => (size += c.length))
  req.on('end', () => {
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyBytes: size, port: req.socket.localPort })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
}

/** A raw server: `respond` gets each connection's first data and returns the bytes to write (null = say nothing). */
export function startRawUpstream(respond: (request: string, socket: net.Socket) => string | Buffer | null): Promise<Upstream> {
  const counts = { requests: 0 }
  const server = net.createServer((socket) => {
    socket.on('error', () => {})
    let buf = ''
    socket.on('data', (d) => {
      buf += d.toString('latin1')
      if (!buf.includes('\r\n\r\n')) return
      counts.requests++
      const out = respond(buf, socket)
      buf = ''
      if (out !== null) socket.write(out)
    })
  })
  return listen(server, counts)
}

/** A port nothing listens on (bound then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const port = (server.address() as net.AddressInfo).port
  await new Promise<void>((r) => server.close(() => r()))
  return port
}
