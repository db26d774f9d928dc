// aggregate plugin: the nesting check that keeps a backend body from overflowing the stack in the merge
// and in JSON.stringify (JSON.parse itself accepts any depth).
import { describe, expect, it } from 'vitest'
import { nestsDeeperThan } from '../../src/plugins/aggregate-backend.js'

const text = (s: string): Buffer => Buffer.from(s)

describe('aggregate body nesting', () => {
  it('counts objects and arrays together, up to and past the limit', () => {
    expect(nestsDeeperThan(text('{"a":[{"b":[1]}]}'), 4)).toBe(false)
    expect(nestsDeeperThan(text('{"a":[{"b":[1]}]}'), 3)).toBe(true)
    expect(nestsDeeperThan(text('[[],[],[]]'), 2)).toBe(false)
    expect(nestsDeeperThan(text('1'), 0)).toBe(false)
  })

  it('ignores brackets inside strings, escaped quotes included', () => {
    expect(nestsDeeperThan(text('{"k":"[[[{{{","q":"\\"[[[","e":"\\\\"}'), 1)).toBe(false)
    expect(nestsDeeperThan(text('{"k":"\\\\",  "n":[[1]]}'), 2)).toBe(true)
  })

  it('catches a body deep enough to overflow JSON.stringify', () => {
    const n = 100_000
    const deep = text('['.repeat(n) + ']'.repeat(n))
    expect(() => JSON.stringify(JSON.parse(deep.toString()))).toThrow(RangeError)
    expect(nestsDeeperThan(deep, 512)).toBe(true)
  })
})
