// Reads an admin request's body (JSON or YAML posted to the admin API) up to a limit, with uWS's rules:
// chunks are copied before the callback returns, and an aborted request settles the promise.
import type { HttpResponse } from '../../uws.js'

/** Resolves the whole body, 'too-large' past `limit` bytes (answer 413), or null when the client went away. */
export function readBody(res: HttpResponse, limit: number): Promise<Buffer | 'too-large' | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    let settled = false
    res.onAborted(() => {
      if (!settled) resolve(null)
      settled = true
    })
    res.onData((chunk, isLast) => {
      if (settled) return
      size += chunk.byteLength
      if (size > limit) {
        settled = true
        return resolve('too-large')
      }
      chunks.push(Buffer.from(chunk.slice(0)))
      if (isLast) {
        settled = true
        resolve(Buffer.concat(chunks, size))
      }
    })
  })
}
