// Health slots across reloads (primary/health-slots + config compile): a target that stays keeps its slot
// and its health, removed targets free theirs, and a slot is cleared before a new target gets it.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compileSnapshot } from '../../src/config/compile.js'
import type { Snapshot } from '../../src/config/types.js'
import { validateConfig } from '../../src/config/validate.js'
import { loadConfigFile } from '../../src/primary/config-source.js'
import { HealthSlots } from '../../src/primary/health-slots.js'
import { HealthTable } from '../../src/shared/health-table.js'

function compile(doc: Record<string, unknown>, slots?: HealthSlots): Snapshot {
  const r = validateConfig({ _format_version: '3.0', ...doc })
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'))
  return compileSnapshot(r.config, '/gw.yaml', 0, slots?.assign)
}

const upstream = (targets: string[], extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ upstreams: [{ name: 'up', ...extra, targets: targets.map((target) => ({ target })) }] })

function slotsOf(s: Snapshot): Record<string, number> {
  return Object.fromEntries(s.upstreams.flatMap((u) => u.targets.map((t) => [t.target, t.healthSlot])))
}

/** A running allocator over a fresh table, started with `doc` as the gateway starts. */
function running(doc: Record<string, unknown>, capacity = 16): { table: HealthTable; slots: HealthSlots; first: Snapshot } {
  const table = HealthTable.create(capacity)
  const slots = new HealthSlots(table)
  const first = compile(doc)
  slots.commit(first)
  return { table, slots, first }
}

describe('HealthSlots', () => {
  it('keeps the slot and the health of a target that stays across a reload', () => {
    const { table, slots, first } = running(upstream(['10.0.0.1:80', '10.0.0.2:80']))
    expect(slotsOf(first)).toEqual({ '10.0.0.1:80': 0, '10.0.0.2:80': 1 })
    table.markDown(1)
    table.recordFailure(1, 'tcp')

    const next = compile(upstream(['10.0.0.2:80', '10.0.0.3:80']), slots)
    slots.commit(next)
    expect(slotsOf(next)).toEqual({ '10.0.0.2:80': 1, '10.0.0.3:80': 2 })
    expect(table.inspect(1)).toMatchObject({ state: 'unhealthy', tcpFailures: 1 })
    expect(table.inspect(2).state).toBe('healthy')
  })

  it('matches a target by upstream id (else name) and host:port, whatever the host case or the order', () => {
    const { slots } = running({ upstreams: [{ name: 'a', id: 'u-1', targets: [{ target: 'Backend.internal:80' }, { target: '10.0.0.9:80' }] }] })
    const next = compile({ upstreams: [{ name: 'renamed', id: 'u-1', targets: [{ target: '10.0.0.9:80' }, { target: 'backend.INTERNAL:80' }] }] }, slots)
    expect(slotsOf(next)).toEqual({ '10.0.0.9:80': 1, 'backend.INTERNAL:80': 0 })
  })

  it('keeps the slot of a service without an upstream while its host:port stays', () => {
    const { slots, first } = running({ services: [{ name: 's', url: 'http://10.0.0.5:81' }, { name: 't', url: 'http://10.0.0.6:81' }] })
    expect(first.services.map((s) => s.target.healthSlot)).toEqual([0, 1])
    const next = compile({ services: [{ name: 't', url: 'http://10.0.0.6:81/v2' }, { name: 's', url: 'http://10.0.0.5:82' }] }, slots)
    expect(next.services.map((s) => s.target.healthSlot)).toEqual([1, 2])
  })

  it('gives a new target a never-used slot before a freed one', () => {
    const { slots } = running(upstream(['10.0.0.1:80', '10.0.0.2:80']), 8)
    const dropped = compile(upstream(['10.0.0.2:80']), slots)
    slots.commit(dropped)
    const next = compile(upstream(['10.0.0.2:80', '10.0.0.3:80']), slots)
    expect(slotsOf(next)['10.0.0.3:80']).toBe(2)
  })

  it('reuses freed slots once the never-used ones run out, clearing them first', () => {
    const { table, slots } = running(upstream(['10.0.0.1:80', '10.0.0.2:80']), 3)
    table.markDown(0)
    table.recordFailure(0, 'http')
    slots.commit(compile(upstream(['10.0.0.2:80', '10.0.0.3:80']), slots)) // takes the last fresh slot, frees 0
    const next = compile(upstream(['10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80']), slots)
    expect(slotsOf(next)['10.0.0.4:80']).toBe(0)
    expect(table.inspect(0).state).toBe('unhealthy') // planning changes nothing
    slots.commit(next)
    expect(table.inspect(0)).toMatchObject({ state: 'healthy', httpFailures: 0, ejections: 0 })
  })

  it('swaps a target for another in a full table by reusing the slot the config drops', () => {
    const { slots } = running(upstream(['10.0.0.1:80', '10.0.0.2:80']), 2)
    const next = compile(upstream(['10.0.0.2:80', '10.0.0.3:80']), slots)
    expect(slotsOf(next)).toEqual({ '10.0.0.2:80': 1, '10.0.0.3:80': 0 })
    expect(next.healthSlots).toBe(2)
  })

  it('starts a target that was removed and added back as healthy', () => {
    const { table, slots } = running(upstream(['10.0.0.1:80']), 4)
    table.markDown(0)
    slots.commit(compile(upstream([]), slots))
    const back = compile(upstream(['10.0.0.1:80']), slots)
    slots.commit(back)
    expect(table.inspect(slotsOf(back)['10.0.0.1:80']).state).toBe('healthy')
  })
})

describe('loadConfigFile with a slot allocator', () => {
  it('rejects a config with more targets than the health table holds, naming both numbers', () => {
    const table = HealthTable.create(2)
    const slots = new HealthSlots(table)
    const dir = mkdtempSync(join(tmpdir(), 'gw-slots-'))
    const path = join(dir, 'gateway.json')
    writeFileSync(path, JSON.stringify({ _format_version: '3.0', ...upstream(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']) }))
    const result = loadConfigFile(path, table.capacity, slots.assign)
    expect(result.ok).toBe(false)
    expect(result.ok ? [] : result.errors).toEqual([`${path}: 3 targets exceed the health table's 2 slots`])
  })
})
