// Lookup of entities by name or id while flattening a config: reports duplicates where they are
// written and resolves references (`service: my-service`) to indexes, or reports them unknown.
import type { Report } from './schema.js'
import { refKey } from './typedefs.js'

export interface EntityIndex {
  /** Registers `key` for `field` (e.g. 'name', 'id') of the entity at `at`; a second use is an error. */
  add(field: string, key: string | null, index: number, at: string): void
  /** Index of the entity a reference names (first by name-like fields, then by id), or -1. */
  find(key: string): number
  /** Resolves the reference written at `at` (null = no reference → -1); an unknown one is an error. */
  resolve(ref: unknown, at: string): number
}

export function entityIndex(kind: string, report: Report, lookupOrder: readonly string[]): EntityIndex {
  const maps = new Map<string, Map<string, { index: number; at: string }>>()
  for (const f of lookupOrder) maps.set(f, new Map())
  const index: EntityIndex = {
    add(field, key, i, at) {
      if (key === null) return
      const map = maps.get(field) as Map<string, { index: number; at: string }>
      const prev = map.get(key)
      if (prev !== undefined && prev.index !== i) {
        report.errors.push({ path: `${at}.${field}`, message: `duplicate ${kind} ${field} '${key}' (also at ${prev.at})` })
        return
      }
      map.set(key, { index: i, at })
    },
    find(key) {
      for (const f of lookupOrder) {
        const hit = maps.get(f)?.get(key)
        if (hit !== undefined) return hit.index
      }
      return -1
    },
    resolve(ref, at) {
      if (ref === null || ref === undefined) return -1
      const key = refKey(ref)
      if (key === null) return -1 // shape already reported by the schema
      const i = index.find(key)
      if (i === -1) report.errors.push({ path: at, message: `unknown ${kind} '${key}'` })
      return i
    },
  }
  return index
}
