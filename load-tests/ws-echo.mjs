// WebSocket echo load: N `ws` clients each keep one message in flight for a fixed duration; every round
// trip's time goes into an hdr histogram (µs), so the result has the same shape as measureHttp's.
import { createRequire } from 'node:module'
import { latencyHistogram } from './measure.mjs'

const require = createRequire(import.meta.url)
const WebSocket = require('ws')

const MESSAGE = Buffer.alloc(64, 0x61)
/** How long after the measured phase a client waits for the echo of its last message. */
const LAST_ECHO_MS = 5000

function connect(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

/** Resolves { rps (messages/s), requests, errors, hist } after a warm-up of `warmupS` seconds. */
export async function measureWs(url, { connections, durationS, warmupS = 1 }) {
  const sockets = await Promise.all(Array.from({ length: connections }, () => connect(url)))
  const hist = latencyHistogram()
  let counting = false
  let running = true
  let messages = 0
  let errors = 0
  const loops = sockets.map((ws) => new Promise((resolve) => {
    let sentAt = 0
    const send = () => {
      sentAt = performance.now()
      ws.send(MESSAGE)
    }
    ws.on('message', () => {
      if (counting) {
        messages++
        hist.recordValue(Math.max(1, Math.round((performance.now() - sentAt) * 1000)))
      }
      if (running) send()
      else resolve()
    })
    ws.on('error', () => errors++)
    ws.on('close', (code) => {
      if (running) errors++
      resolve(code)
    })
    send()
  }))
  await new Promise((r) => setTimeout(r, warmupS * 1000))
  counting = true
  const started = performance.now()
  await new Promise((r) => setTimeout(r, durationS * 1000))
  counting = false
  const elapsedS = (performance.now() - started) / 1000
  running = false
  // Each client waits for its last echo; one that never comes is an error, never a hang of the gate.
  let settled = 0
  for (const loop of loops) loop.then(() => settled++)
  await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, LAST_ECHO_MS).unref())])
  errors += loops.length - settled
  for (const ws of sockets) ws.terminate()
  return { rps: messages / elapsedS, requests: messages, errors, hist }
}
