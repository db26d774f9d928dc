// Request ids in UUID form (SPEC §4) without a CSPRNG call per request: 80 random bits drawn
// once per worker, then a 48-bit counter in the last group (Kong's correlation-id offers uuid#counter
// for the same reason). Unique per worker start; the random part separates workers and restarts.
import { randomUUID } from 'node:crypto'

const prefix = randomUUID().slice(0, 24)
let counter = 0

export function nextRequestId(): string {
  counter = (counter + 1) % 0x1000000000000
  return prefix + counter.toString(16).padStart(12, '0')
}
