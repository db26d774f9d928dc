// The `floor` row of native-bench: the least a proxy built on this gateway's stack can do per request,
// measured beside NGINX and the gateway. One uWS listener relays to keep-alive `net` sockets (one read
// buffer, like src/upstream/connection.ts), forwards every request header plus X-Forwarded-For/-Host and
// a request id, parses responses with the gateway's llparse parser and relays their headers as one block.
// No routing, plugins, balancer, timeouts, metrics, logs, retries or backpressure: it shows what the
// stack itself costs (uWS, Node's sockets, the parser) before any gateway feature. It serves only the
// bench's upstream and bodies that a slow client never backs up. Run as a child (needs npm run build):
//   node native-bench/lib/stack-floor.mjs PORT UPSTREAM_PORT
import net from 'node:net'
import { uws } from '../../dist/uws.js'
import { ResponseParser } from '../../dist/http1/response-parser.js'
import { writeHeaderLines } from '../../dist/worker/response-headers.js'

const port = Number(process.argv[2])
const upstreamPort = Number(process.argv[3])
if (!Number.isInteger(port) || port <= 0 || !Number.isInteger(upstreamPort) || upstreamPort <= 0) {
  console.error('usage: stack-floor.mjs PORT UPSTREAM_PORT')
  process.exit(2)
}

const READ_BUFFER = Buffer.allocUnsafe(64 * 1024)
const HOST_LINE = `Host: 127.0.0.1:${upstreamPort}\r\n`
const idle = []
let requests = 0

/** One kept-alive upstream socket and its parser; `client` is the request it serves ({ res, id, aborted }), aborted once answered. */
class FloorConnection {
  client = null
  chunk = null
  contentLength = -1

  constructor() {
    this.parser = new ResponseParser(this)
    this.socket = net.connect({ host: '127.0.0.1', port: upstreamPort, onread: { buffer: READ_BUFFER, callback: this.onRead } })
    this.socket.setNoDelay(true)
  }

  onRead = (n, buf) => {
    this.chunk = buf.subarray(0, n)
    if (this.client.aborted) this.parse()
    else this.client.res.cork(this.parse)
    return true
  }

  parse = () => {
    this.parser.execute(this.chunk)
  }

  onHead(status, reason, headers, contentLength) {
    this.contentLength = contentLength
    const client = this.client
    if (client.aborted) return
    let lines = ''
    for (let i = 0; i < headers.length; i += 2) {
      // uWS writes its own Date; the request id is ours (as the gateway does).
      const name = headers[i].toLowerCase()
      if (name !== 'date' && name !== 'x-request-id') lines += `${headers[i]}: ${headers[i + 1]}\r\n`
    }
    client.res.writeStatus(`${status} ${reason}`)
    writeHeaderLines(client.res, client.id, `${lines}Via: 1.1 floor\r\n`)
  }

  onBody(chunk) {
    const client = this.client
    if (client.aborted) return
    if (this.contentLength < 0) client.res.write(chunk)
    else if (client.res.tryEnd(chunk, this.contentLength)[1]) client.aborted = true
  }

  onComplete() {
    const client = this.client
    this.client = null
    if (!client.aborted) {
      client.aborted = true
      // Nothing was sent (HEAD, 204, 304, an empty body) or a chunked body ended.
      if (this.contentLength > 0) client.res.endWithoutBody(this.contentLength)
      else client.res.end()
    }
    idle.push(this)
  }
}

uws
  .App()
  .any('/*', (res, req) => {
    const client = { res, id: `floor-${++requests}`, aborted: false }
    res.onAborted(() => {
      client.aborted = true
    })
    const method = req.getCaseSensitiveMethod()
    const query = req.getQuery()
    let host = ''
    let lines = ''
    req.forEach((name, value) => {
      if (name === 'host') host = value
      else if (name !== 'connection' && name !== 'keep-alive') lines += `${name}: ${value}\r\n`
    })
    const from = Buffer.from(res.getRemoteAddressAsText()).toString('latin1')
    const conn = idle.pop() ?? new FloorConnection()
    conn.client = client
    conn.parser.reset(method === 'HEAD')
    conn.socket.write(`${method} ${req.getUrl()}${query ? `?${query}` : ''} HTTP/1.1\r\n${HOST_LINE}${lines}X-Forwarded-For: ${from}\r\nX-Forwarded-Host: ${host}\r\nX-Request-Id: ${client.id}\r\n\r\n`)
  })
  .listen('127.0.0.1', port, (token) => {
    if (!token) {
      console.error(`stack floor: cannot listen on 127.0.0.1:${port}`)
      process.exit(1)
    }
    console.log(`stack floor listening on 127.0.0.1:${port}`)
  })

process.on('SIGTERM', () => process.exit(0))
process.on('SIGINT', () => process.exit(0))
