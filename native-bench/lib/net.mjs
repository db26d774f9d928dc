// Loopback helpers: free ports, a tiny HTTP GET, polling.
import net from 'node:net'
import http from 'node:http'

/** A port that was free a moment ago on 127.0.0.1 (the kernel picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** Several distinct free ports. */
export async function freePorts(n) {
  const ports = new Set()
  while (ports.size < n) ports.add(await freePort())
  return [...ports]
}

/** GET a loopback URL with a fresh connection; resolves { status, headers, body } or rejects. */
export function get(url, timeoutMs = 2000, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs, headers }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)))
    req.on('error', reject)
  })
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Poll `check()` (async, truthy = ready) every `intervalMs` until it is ready, `abort()`
 * returns a reason string, or `timeoutMs` passes. Resolves { ok, reason }.
 */
export async function waitUntil(check, { timeoutMs = 15000, intervalMs = 100, abort = () => null } = {}) {
  const deadline = Date.now() + timeoutMs
  let lastError = null
  for (;;) {
    const reason = abort()
    if (reason) return { ok: false, reason }
    try {
      if (await check()) return { ok: true }
    } catch (err) {
      lastError = err
    }
    if (Date.now() > deadline) {
      return { ok: false, reason: `not ready after ${timeoutMs} ms${lastError ? ` (last error: ${lastError.message})` : ''}` }
    }
    await sleep(intervalMs)
  }
}
