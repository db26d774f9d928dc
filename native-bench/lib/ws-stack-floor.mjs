// The reference row of ws-bench (WS_BENCH_FLOOR=1): the least a WebSocket relay on this gateway's stack
// does per message. The client side is uWS; the upstream is a raw `net` socket read into one buffer
// with a minimal RFC 6455 client codec (masked frames out, unfragmented data frames in), so neither the
// `ws` library nor any gateway feature (routing, plugins, limits, backpressure, close-code relay) is in
// the path. It serves only ws-bench's echo server. Run as a child (needs npm run build); prints
// `ws stack floor listening on PORT`:
//   node native-bench/lib/ws-stack-floor.mjs UPSTREAM_PORT
import net from 'node:net'
import { randomFillSync } from 'node:crypto'
import { uws } from '../../dist/uws.js'

const upstreamPort = Number(process.argv[2])
if (!Number.isInteger(upstreamPort) || upstreamPort <= 0) {
  console.error('usage: ws-stack-floor.mjs UPSTREAM_PORT')
  process.exit(2)
}

const READ_BUFFER = Buffer.allocUnsafe(64 * 1024)
/** Masking keys are drawn from a CSPRNG in batches (RFC 6455 §5.3), as the gateway's tunnel does. */
const MASKS = Buffer.allocUnsafe(4096)
let maskAt = MASKS.length

/** A masked client frame (FIN set) carrying `message` as text or binary. */
function clientFrame(message, isBinary) {
  const payload = new Uint8Array(message)
  const n = payload.length
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10
  const frame = Buffer.allocUnsafe(head + 4 + n)
  frame[0] = 0x80 | (isBinary ? 2 : 1)
  if (n < 126) frame[1] = 0x80 | n
  else if (n < 65536) {
    frame[1] = 0x80 | 126
    frame.writeUInt16BE(n, 2)
  } else {
    frame[1] = 0x80 | 127
    frame.writeBigUInt64BE(BigInt(n), 2)
  }
  if (maskAt === MASKS.length) {
    randomFillSync(MASKS)
    maskAt = 0
  }
  const mask = MASKS.subarray(maskAt, maskAt + 4)
  maskAt += 4
  frame.set(mask, head)
  const at = head + 4
  for (let i = 0; i < n; i++) frame[at + i] = payload[i] ^ mask[i & 3]
  return frame
}

/** One tunnel: the upstream socket, its unparsed bytes, and the uWS socket once upgraded. */
class FloorTunnel {
  client = null
  upgraded = false
  aborted = false
  pending = null

  constructor(res, key, protocol, extensions, context) {
    this.res = res
    this.upgrade = () => res.upgrade({ tunnel: this }, key, protocol, extensions, context)
    res.onAborted(() => {
      this.aborted = true
      this.socket.destroy()
    })
    this.socket = net.connect({ host: '127.0.0.1', port: upstreamPort, onread: { buffer: READ_BUFFER, callback: this.onRead } })
    this.socket.setNoDelay(true)
    this.socket.on('error', () => {})
    this.socket.on('close', this.onClose)
    this.socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${upstreamPort}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomKey()}\r\nSec-WebSocket-Version: 13\r\n\r\n`)
  }

  onClose = () => {
    if (this.client !== null) this.client.end(1011)
    else if (!this.upgraded && !this.aborted) this.res.cork(() => this.res.writeStatus('502 Bad Gateway').end())
    this.upgraded = true
  }

  onRead = (n, buf) => {
    let data = buf.subarray(0, n)
    if (this.pending !== null) {
      data = Buffer.concat([this.pending, data])
      this.pending = null
    }
    if (!this.upgraded) {
      const end = data.indexOf('\r\n\r\n')
      if (end < 0) return this.keep(data)
      this.upgraded = true
      if (this.aborted || !data.subarray(0, 12).toString('latin1').endsWith('101')) {
        this.upgraded = false
        return this.socket.destroy()
      }
      this.res.cork(this.upgrade)
      data = data.subarray(end + 4)
    }
    let at = 0
    while (data.length - at >= 2) {
      const opcode = data[at] & 0x0f
      let length = data[at + 1] & 0x7f
      let head = 2
      if (length === 126) {
        if (data.length - at < 4) break
        length = data.readUInt16BE(at + 2)
        head = 4
      } else if (length === 127) {
        if (data.length - at < 10) break
        length = Number(data.readBigUInt64BE(at + 2))
        head = 10
      }
      if (data.length - at < head + length) break
      if (this.client !== null && (opcode === 1 || opcode === 2)) this.client.send(data.subarray(at + head, at + head + length), opcode === 2)
      if (opcode === 8 && this.client !== null) this.client.end(1000)
      at += head + length
    }
    if (at < data.length) this.keep(data.subarray(at))
  }

  keep(bytes) {
    this.pending = Buffer.from(bytes)
  }
}

function randomKey() {
  return randomFillSync(Buffer.allocUnsafe(16)).toString('base64')
}

uws
  .App()
  .ws('/*', {
    maxPayloadLength: 16 * 1024 * 1024,
    idleTimeout: 0,
    upgrade(res, req, context) {
      new FloorTunnel(res, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context)
    },
    open(ws) {
      ws.getUserData().tunnel.client = ws
    },
    message(ws, message, isBinary) {
      ws.getUserData().tunnel.socket.write(clientFrame(message, isBinary))
    },
    close(ws) {
      const tunnel = ws.getUserData().tunnel
      tunnel.client = null
      tunnel.socket.destroy()
    },
  })
  .listen('127.0.0.1', 0, (token) => {
    if (!token) {
      console.error('ws stack floor: cannot listen')
      process.exit(1)
    }
    console.log(`ws stack floor listening on ${uws.us_socket_local_port(token)}`)
  })

process.on('SIGTERM', () => process.exit(0))

