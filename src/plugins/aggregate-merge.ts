// What the aggregate plugin does to each backend's JSON and how the parts become one answer (pure):
// array wrapped as `collection`, `target`, allow/deny field trees, `mapping`, `group`, then merge or collect.

export type JsonObject = Record<string, unknown>

/** merge and group deep-merge the parts in backend order (group only insists on a `group` per backend); collect lists them. */
export type Strategy = 'merge' | 'group' | 'collect'

/** An allow or deny list as a tree: field name → null for the whole field, or the subtree of the fields below it. */
export type FieldTree = Map<string, FieldTree | null>

/** Per backend, compiled once: how its body is shaped before the merge (KrakenD's order: target, filter, mapping, group). */
export interface Shape {
  /** Dotted path of the object to keep instead of the whole body, split; null = the body. */
  target: readonly string[] | null
  allow: FieldTree | null
  deny: FieldTree | null
  /** Top-level renames, from → to; null = none. */
  mapping: ReadonlyMap<string, string> | null
  /** The key the shaped body is put under; null = at the top. */
  group: string | null
}

/** KrakenD's `is_collection` key: an array body is handled as `{ "collection": [...] }`. */
export const COLLECTION = 'collection'

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Sets an own property even for `__proto__` (a key JSON.parse may return), which plain assignment would treat as the prototype. */
function setOwn(obj: JsonObject, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true })
  else obj[key] = value
}

/** Dotted field paths (`a`, `a.b.c`) as one tree; a path that names a whole field wins over deeper paths into it. */
export function fieldTree(paths: readonly string[]): FieldTree {
  const root: FieldTree = new Map()
  for (const path of paths) {
    const names = path.split('.')
    let node = root
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!
      if (i === names.length - 1) {
        node.set(name, null)
        break
      }
      const next = node.get(name)
      if (next === null) break // the whole field is already listed
      if (next === undefined) {
        const child: FieldTree = new Map()
        node.set(name, child)
        node = child
      } else {
        node = next
      }
    }
  }
  return root
}

/** A new object with only the listed fields; a path through an array applies to each of its object elements. */
export function allowFields(value: JsonObject, tree: FieldTree): JsonObject {
  const out: JsonObject = {}
  for (const [name, sub] of tree) {
    if (!Object.hasOwn(value, name)) continue
    const field = value[name]
    if (sub === null) {
      setOwn(out, name, field)
    } else if (isObject(field)) {
      setOwn(out, name, allowFields(field, sub))
    } else if (Array.isArray(field)) {
      const kept: JsonObject[] = []
      for (const element of field) if (isObject(element)) kept.push(allowFields(element, sub))
      setOwn(out, name, kept)
    }
  }
  return out
}

/** Removes the listed fields in place; a path through an array applies to each of its object elements. */
export function denyFields(value: JsonObject, tree: FieldTree): void {
  for (const [name, sub] of tree) {
    if (!Object.hasOwn(value, name)) continue
    if (sub === null) {
      delete value[name]
      continue
    }
    const field = value[name]
    if (isObject(field)) denyFields(field, sub)
    else if (Array.isArray(field)) for (const element of field) if (isObject(element)) denyFields(element, sub)
  }
}

/** Renames top-level fields; a renamed field replaces one that already had the new name. */
export function renameFields(value: JsonObject, mapping: ReadonlyMap<string, string>): JsonObject {
  const out: JsonObject = {}
  for (const key of Object.keys(value)) if (!mapping.has(key)) setOwn(out, key, value[key])
  for (const key of Object.keys(value)) {
    const to = mapping.get(key)
    if (to !== undefined) setOwn(out, to, value[key])
  }
  return out
}

/** The object at a dotted path, or an empty object when the path is missing or ends at something else. */
function extract(value: JsonObject, path: readonly string[]): JsonObject {
  let node: unknown = value
  for (const name of path) {
    if (!isObject(node) || !Object.hasOwn(node, name)) return {}
    node = node[name]
  }
  return isObject(node) ? node : {}
}

/** One backend's body (a parsed JSON object or array, owned by the caller: it may be changed) shaped for the merge. */
export function shape(body: JsonObject | unknown[], s: Shape): JsonObject {
  let value: JsonObject = Array.isArray(body) ? { [COLLECTION]: body } : body
  if (s.target !== null) value = extract(value, s.target)
  if (s.allow !== null) value = allowFields(value, s.allow)
  else if (s.deny !== null) denyFields(value, s.deny)
  if (s.mapping !== null) value = renameFields(value, s.mapping)
  if (s.group === null) return value
  const grouped: JsonObject = {}
  setOwn(grouped, s.group, value)
  return grouped
}

/**
 * Deep merge of `from` into `into`: objects merge key by key, recursively; anything else (arrays,
 * scalars, null, an object meeting a non-object) is replaced by `from`'s value.
 */
export function deepMerge(into: JsonObject, from: JsonObject): JsonObject {
  for (const key of Object.keys(from)) {
    const next = from[key]
    const prev = Object.hasOwn(into, key) ? into[key] : undefined
    if (isObject(prev) && isObject(next)) deepMerge(prev, next)
    else setOwn(into, key, next)
  }
  return into
}

/** The answer from the shaped parts in backend order (null = that backend failed): merged object or collected array. */
export function combine(parts: readonly (JsonObject | null)[], strategy: Strategy): JsonObject | JsonObject[] {
  if (strategy === 'collect') {
    const list: JsonObject[] = []
    for (const part of parts) if (part !== null) list.push(part)
    return list
  }
  const merged: JsonObject = {}
  for (const part of parts) if (part !== null) deepMerge(merged, part)
  return merged
}
