// The built-in demo upstream for `gateway start --demo-upstream`: an echo server on loopback
// so the default config proxies something with no other service running (SPEC §1).
import http from 'node:http'

/** Answers every request with JSON describing it (method, path, query, headers, body). */
export function startDemoUpstream(port: number, host = '127.0.0.1'): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size <= 1024 * 1024) chunks.push(c)
    })
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://demo')
      const body = JSON.stringify({
        service: 'demo-echo',
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        body_bytes: size,
      }, null, 2)
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
  })
  server.keepAliveTimeout = 65_000
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve(server))
  })
}
