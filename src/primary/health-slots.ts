// Health slots across reloads (primary only): a target that stays keeps its slot, and so its health.
// Never-used slots go out before freed ones, so a request still finishing on an old Snapshot rarely hits a reused slot.
import { healthIdentities, type AssignSlots } from '../config/compile.js'
import type { Snapshot } from '../config/types.js'
import type { HealthTable } from '../shared/health-table.js'

export class HealthSlots {
  private readonly table: HealthTable
  /** Identity → slot of the running Snapshot. */
  private slotByIdentity = new Map<string, number>()
  /** Freed slots, oldest first (a Set keeps insertion order). */
  private readonly free = new Set<number>()
  /** Slots below this have been used at some point. */
  private nextFresh = 0

  constructor(table: HealthTable) {
    this.table = table
  }

  /**
   * Slots for a candidate config, changing nothing (compile may still reject it): known identities keep
   * theirs; new ones take a never-used slot, then a freed one, then one freed by this very config (a
   * target it drops). Past the table's capacity it returns slots ≥ capacity, and the caller rejects the
   * config (Snapshot.healthSlots > capacity).
   */
  readonly assign: AssignSlots = (identities) => {
    const keep = new Set(identities)
    const reusable = [...this.free]
    for (const [identity, slot] of this.slotByIdentity) if (!keep.has(identity)) reusable.push(slot)
    let fresh = this.nextFresh
    let reused = 0
    return identities.map((identity) => {
      const known = this.slotByIdentity.get(identity)
      if (known !== undefined) return known
      if (fresh < this.table.capacity || reused === reusable.length) return fresh++
      return reusable[reused++]
    })
  }

  /**
   * Makes `snapshot` the running one, before it reaches the workers: slots it gave to new targets are
   * cleared (healthy, zero counters), and slots of targets it dropped are freed.
   */
  commit(snapshot: Snapshot): void {
    const next = healthIdentities(snapshot)
    const used = new Set(next.values())
    for (const [identity, slot] of next) {
      if (this.slotByIdentity.get(identity) === slot) continue
      this.table.clear(slot)
      this.free.delete(slot)
      if (slot >= this.nextFresh) this.nextFresh = slot + 1
    }
    for (const [identity, slot] of this.slotByIdentity) if (next.get(identity) !== slot && !used.has(slot)) this.free.add(slot)
    this.slotByIdentity = next
  }
}
