// Bounds every Redis call the data plane makes: wait for a first connection (never for a reconnect) and
// give up after the configured timeout, so an outage or a hung Redis is an answer, never a hang.
import { firstConnection, type RedisClient } from './connection.js'

/** Rejection reasons used inside the callers; never seen by their callers. */
const DEADLINE = new Error('redis: deadline passed')
const NOT_CONNECTED = new Error('redis: not connected')

/** Used in place of an empty hash tag: `{}` does not tag, and the keys would spread over cluster slots. */
export const EMPTY_ID = '\u0000'

/** `work`, or a rejection with DEADLINE after `ms`; a late outcome of `work` is consumed, never unhandled. */
export function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(reject, ms, DEADLINE)
    work.then(
      (v) => {
        clearTimeout(timer)
        resolve(v)
      },
      (err: unknown) => {
        clearTimeout(timer)
        reject(err)
      },
    )
  })
}

/** Resolves once `client` can take commands: at once when ready, after its first connection when new; throws when down. */
export async function whenReady(client: RedisClient): Promise<void> {
  if (client.status === 'ready') return
  const first = firstConnection(client)
  if (first === null || !(await first)) throw NOT_CONNECTED
}

/** True for our deadline and for ioredis's commandTimeout, which may fire just before it. */
export function timedOut(err: unknown): boolean {
  return err === DEADLINE || (err instanceof Error && err.message === 'Command timed out')
}
