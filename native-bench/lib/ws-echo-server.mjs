// A `ws` echo server for the WebSocket benchmarks and load tests: every message is sent back as it came.
//   node native-bench/lib/ws-echo-server.mjs   (prints `ws echo listening on PORT`)
import { WebSocketServer } from 'ws'

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })))
wss.on('listening', () => console.log(`ws echo listening on ${wss.address().port}`))
process.on('SIGTERM', () => process.exit(0))
