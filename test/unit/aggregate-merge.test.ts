// aggregate plugin, pure part: shaping one backend body (collection, target, allow/deny, mapping, group)
// and combining the parts (merge, group, collect) in backend order.
import { describe, expect, it } from 'vitest'
import {
  allowFields, combine, deepMerge, denyFields, fieldTree, renameFields, shape, type JsonObject, type Shape,
} from '../../src/plugins/aggregate-merge.js'

const NO_SHAPE: Shape = { target: null, allow: null, deny: null, mapping: null, group: null }

describe('aggregate field lists', () => {
  it('builds one tree from dotted paths, a whole field winning over deeper paths into it', () => {
    const tree = fieldTree(['a.b', 'a.c.d', 'x', 'x.y', 'z.w', 'z'])
    expect(tree.get('x')).toBeNull()
    expect(tree.get('z')).toBeNull()
    const a = tree.get('a')!
    expect([...a.keys()]).toEqual(['b', 'c'])
    expect(a.get('b')).toBeNull()
    expect(a.get('c')!.get('d')).toBeNull()
  })

  it('allow keeps only the listed fields, nested ones with their parents, and skips what is missing', () => {
    const body = { id: 1, name: 'n', secret: 's', address: { city: 'c', zip: 'z', geo: { lat: 1, lng: 2 } } }
    expect(allowFields(body, fieldTree(['id', 'address.city', 'address.geo.lat', 'missing', 'name.deeper']))).toEqual({
      id: 1, address: { city: 'c', geo: { lat: 1 } },
    })
  })

  it('allow and deny apply a path through an array to each of its object elements', () => {
    const body = () => ({ items: [{ id: 1, price: 5 }, { id: 2, price: 6 }, 7] })
    expect(allowFields(body(), fieldTree(['items.id']))).toEqual({ items: [{ id: 1 }, { id: 2 }] })
    const denied = body()
    denyFields(denied, fieldTree(['items.price']))
    expect(denied).toEqual({ items: [{ id: 1 }, { id: 2 }, 7] })
  })

  it('deny removes the listed fields in place, nested ones only inside their parent', () => {
    const body: JsonObject = { id: 1, token: 't', card: { number: 'n', cvv: 'c' }, cvv: 'top' }
    denyFields(body, fieldTree(['token', 'card.cvv', 'nothing.here']))
    expect(body).toEqual({ id: 1, card: { number: 'n' }, cvv: 'top' })
  })

  it('mapping renames top-level fields; a renamed field replaces one that had the new name', () => {
    expect(renameFields({ blog: 'b', website: 'old', id: 1 }, new Map([['blog', 'website']]))).toEqual({ website: 'b', id: 1 })
    expect(renameFields({ a: 1, b: 2 }, new Map([['a', 'b'], ['b', 'a']]))).toEqual({ b: 1, a: 2 })
  })
})

describe('aggregate shape', () => {
  it('leaves a body alone without options', () => {
    expect(shape({ a: 1 }, NO_SHAPE)).toEqual({ a: 1 })
  })

  it('wraps an array body as {collection: [...]}, which mapping can rename', () => {
    expect(shape([1, 2], NO_SHAPE)).toEqual({ collection: [1, 2] })
    expect(shape([1, 2], { ...NO_SHAPE, mapping: new Map([['collection', 'repos']]) })).toEqual({ repos: [1, 2] })
  })

  it('runs target, then allow, then mapping, then group (KrakenD’s order)', () => {
    const body = { data: { user: { id: 7, name: 'ann', password: 'x' } }, meta: 1 }
    const s: Shape = {
      target: ['data', 'user'], allow: fieldTree(['id', 'name']), deny: null, mapping: new Map([['name', 'login']]), group: 'profile',
    }
    expect(shape(body, s)).toEqual({ profile: { id: 7, login: 'ann' } })
  })

  it('gives an empty object when the target is missing or not an object', () => {
    expect(shape({ a: { b: 1 } }, { ...NO_SHAPE, target: ['a', 'c'] })).toEqual({})
    expect(shape({ a: [1] }, { ...NO_SHAPE, target: ['a'] })).toEqual({})
    expect(shape({ a: { b: 1 } }, { ...NO_SHAPE, target: ['a', 'b', 'c'], group: 'g' })).toEqual({ g: {} })
  })

  it('keeps a __proto__ key from JSON as a plain field, never as the prototype', () => {
    const body = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as JsonObject
    const out = shape(body, { ...NO_SHAPE, allow: fieldTree(['__proto__', 'a']), group: '__proto__' })
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype)
    expect(JSON.stringify(out)).toBe('{"__proto__":{"__proto__":{"polluted":true},"a":1}}')
    const merged = combine([out], 'merge') as JsonObject
    expect(({} as JsonObject).polluted).toBeUndefined()
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype)
    expect(JSON.stringify(merged)).toBe(JSON.stringify(out))
  })
})

describe('aggregate combine', () => {
  it('deep-merges objects in backend order: later wins, arrays and type clashes are replaced', () => {
    const merged = deepMerge(
      { user: { id: 1, name: 'a', tags: ['x', 'y'] }, count: 1, shape: { k: 1 }, keep: true },
      { user: { name: 'b', email: 'e', tags: ['z'] }, count: { nested: 2 }, shape: 'flat' },
    )
    expect(merged).toEqual({ user: { id: 1, name: 'b', tags: ['z'], email: 'e' }, count: { nested: 2 }, shape: 'flat', keep: true })
  })

  it('merge and group skip failed parts; the result does not depend on which backend answered first', () => {
    const parts = [{ a: 1, both: 'first' }, null, { b: 2, both: 'third' }]
    expect(combine(parts, 'merge')).toEqual({ a: 1, b: 2, both: 'third' })
    expect(combine([{ users: { id: 1 } }, { posts: { n: 2 } }, { users: { name: 'u' } }], 'group')).toEqual({
      users: { id: 1, name: 'u' }, posts: { n: 2 },
    })
  })

  it('collect lists the parts that arrived, in backend order', () => {
    expect(combine([{ a: 1 }, null, { collection: [3] }], 'collect')).toEqual([{ a: 1 }, { collection: [3] }])
    expect(combine([null, null], 'collect')).toEqual([])
  })
})
