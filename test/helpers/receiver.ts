// A loopback HTTP receiver for what the gateway sends out of band (http-log batches, OTLP spans): every
// request's body is handed to `onBody`, whose return value is the status answered.
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Receiver {
  /** `http://127.0.0.1:<port><path>` */
  url: string
  close(): Promise<void>
}

export async function startReceiver(path: string, onBody: (body: string, req: http.IncomingMessage) => number): Promise<Receiver> {
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => res.writeHead(onBody(body, req), { 'content-type': 'application/json' }).end('{}'))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    close: () => new Promise((r) => {
      server.closeAllConnections()
      server.close(() => r())
    }),
  }
}

/** Polls `cond` every 10 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
