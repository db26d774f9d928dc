// Unit tests for redis/circuit-breaker: consecutive-failure opening, one probe when half-open, doubling cooldown.
// The clock is a plain variable the tests move; nothing here waits.
import { describe, expect, it } from 'vitest'
import { CircuitBreaker } from '../../src/redis/circuit-breaker.js'

function breaker(opts: { failureThreshold?: number; cooldownMs?: number; maxCooldownMs?: number } = {}): { b: CircuitBreaker; clock: { t: number } } {
  const clock = { t: 1_000_000 }
  return { b: new CircuitBreaker({ ...opts, now: () => clock.t }), clock }
}

function failTimes(b: CircuitBreaker, n: number): boolean[] {
  return Array.from({ length: n }, () => b.onFailure())
}

describe('CircuitBreaker', () => {
  it('stays closed below the threshold and a success resets the count', () => {
    const { b } = breaker()
    failTimes(b, 2)
    b.onSuccess()
    failTimes(b, 2)
    expect(b.state).toBe('closed')
    expect(b.tryAcquire()).toBe(true)
  })

  it('opens on the 3rd consecutive failure and reports that transition once', () => {
    const { b } = breaker()
    expect(failTimes(b, 4)).toEqual([false, false, true, false])
    expect(b.state).toBe('open')
  })

  it('fails calls at once while open, until the 1000 ms cooldown has passed', () => {
    const { b, clock } = breaker()
    failTimes(b, 3)
    expect(b.tryAcquire()).toBe(false)
    clock.t += 999
    expect(b.tryAcquire()).toBe(false)
    clock.t += 1
    expect(b.state).toBe('half-open')
    expect(b.tryAcquire()).toBe(true)
  })

  it('lets exactly one probe through when half-open', () => {
    const { b, clock } = breaker()
    failTimes(b, 3)
    clock.t += 1000
    expect([b.tryAcquire(), b.tryAcquire(), b.tryAcquire()]).toEqual([true, false, false])
  })

  it('closes when the probe succeeds and starts again from the base cooldown', () => {
    const { b, clock } = breaker()
    failTimes(b, 3)
    clock.t += 1000
    b.tryAcquire()
    b.onFailure() // probe failed: 2000 ms
    clock.t += 2000
    b.tryAcquire()
    expect(b.onSuccess()).toBe(true)
    expect(b.state).toBe('closed')
    expect(b.cooldownMs).toBe(1000)
    failTimes(b, 3)
    clock.t += 1000
    expect(b.tryAcquire()).toBe(true)
  })

  it('re-opens with the cooldown doubled on each failed probe, capped at 30 s', () => {
    const { b, clock } = breaker()
    failTimes(b, 3)
    const seen: number[] = []
    for (let i = 0; i < 7; i++) {
      clock.t += b.cooldownMs
      expect(b.tryAcquire()).toBe(true)
      expect(b.onFailure()).toBe(true)
      seen.push(b.cooldownMs)
      clock.t += b.cooldownMs - 1
      expect(b.tryAcquire()).toBe(false)
      clock.t += 1
    }
    expect(seen).toEqual([2000, 4000, 8000, 16000, 30000, 30000, 30000])
  })

  it('ignores late successes while open', () => {
    const { b } = breaker()
    failTimes(b, 3)
    expect(b.onSuccess()).toBe(false)
    expect(b.state).toBe('open')
  })

  it('lets another probe through when the first never reported back within a cooldown', () => {
    const { b, clock } = breaker()
    failTimes(b, 3)
    clock.t += 1000
    expect(b.tryAcquire()).toBe(true)
    clock.t += 999
    expect(b.tryAcquire()).toBe(false)
    clock.t += 1
    expect(b.tryAcquire()).toBe(true)
  })

  it('honours custom threshold and cooldowns', () => {
    const { b, clock } = breaker({ failureThreshold: 1, cooldownMs: 50, maxCooldownMs: 80 })
    expect(b.onFailure()).toBe(true)
    clock.t += 50
    b.tryAcquire()
    b.onFailure()
    expect(b.cooldownMs).toBe(80)
  })
})
