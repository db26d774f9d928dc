// Request ids the gateway makes: UUID-shaped, unique within a worker run.
import { describe, expect, it } from 'vitest'
import { nextRequestId } from '../../src/worker/request-id.js'

describe('nextRequestId', () => {
  it('makes distinct UUID-formatted ids', () => {
    const ids = new Set<string>()
    for (let i = 0; i < 10_000; i++) ids.add(nextRequestId())
    expect(ids.size).toBe(10_000)
    for (const id of [...ids].slice(0, 5)) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })
})
