// Fallback upstream for native-bench when nginx is not installed: a node:http keep-alive server
// answering every request with the same small body as the nginx upstream. Run as a child:
//   node native-bench/lib/node-upstream.mjs PORT
// On a small machine this can become the bottleneck of every row (direct included); the
// results then compare the proxies less sharply. Prefer nginx as the upstream.
import http from 'node:http'

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node-upstream.mjs PORT')
  process.exit(2)
}
const BODY = Buffer.from('hello world\n')
const server = http.createServer((req, res) => {
  req.resume()
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length })
  res.end(BODY)
})
server.keepAliveTimeout = 300_000
server.headersTimeout = 301_000
server.requestTimeout = 0
server.maxRequestsPerSocket = 0
server.listen(port, '127.0.0.1', () => console.log(`node upstream listening on 127.0.0.1:${port}`))
const bye = () => {
  server.close(() => process.exit(0))
  server.closeAllConnections()
  setTimeout(() => process.exit(0), 500).unref()
}
process.on('SIGTERM', bye)
process.on('SIGINT', bye)
