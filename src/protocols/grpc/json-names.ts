// Field lookup for the proto3 JSON mapping: each message type's fields by JSON name and by proto
// name (both accepted on input), built once per type; plus the lowerCamelCase rule itself.
import type protobuf from 'protobufjs'

/** Sets `obj[key]` as an own property, even for '__proto__' (a map key or Struct field is data, never a prototype). */
export function setKey(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true })
  else obj[key] = value
}

/** protoc's default json_name: underscores dropped, the letter after each one upper-cased. */
export function lowerCamel(name: string): string {
  return name.replace(/_+([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase())
}

/** FieldMask paths go back the other way: 'fooBar.baz' → 'foo_bar.baz'. */
export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
}

/** The JSON name of a field: its json_name option, else lowerCamelCase of the proto name. */
export function jsonName(field: protobuf.Field): string {
  const option = field.options?.json_name as string | undefined
  return option ?? lowerCamel(field.name)
}

/** Well-known types whose JSON form is not an object of their fields (Any nests them under "value"). */
const SPECIAL_JSON = new Set([
  'google.protobuf.DoubleValue', 'google.protobuf.FloatValue', 'google.protobuf.Int64Value', 'google.protobuf.UInt64Value',
  'google.protobuf.Int32Value', 'google.protobuf.UInt32Value', 'google.protobuf.BoolValue', 'google.protobuf.StringValue',
  'google.protobuf.BytesValue', 'google.protobuf.Timestamp', 'google.protobuf.Duration', 'google.protobuf.FieldMask',
  'google.protobuf.Struct', 'google.protobuf.Value', 'google.protobuf.ListValue', 'google.protobuf.Any',
])

/** What the JSON mapping needs of one message type, computed once (protobufjs builds fullName on every read). */
export interface FieldIndex {
  /** Full name without the leading dot. */
  readonly name: string
  /** A well-known type with its own JSON form (SPECIAL_JSON). */
  readonly special: boolean
  readonly byName: ReadonlyMap<string, protobuf.Field>
  /** In declaration order, with their JSON names. */
  readonly fields: readonly protobuf.Field[]
  readonly jsonNames: readonly string[]
}

const indexes = new WeakMap<protobuf.Type, FieldIndex>()

export function fieldIndex(type: protobuf.Type): FieldIndex {
  let index = indexes.get(type)
  if (index === undefined) {
    const byName = new Map<string, protobuf.Field>()
    const fields = type.fieldsArray
    const jsonNames = fields.map(jsonName)
    fields.forEach((f, i) => {
      byName.set(f.name, f)
      byName.set(jsonNames[i], f)
    })
    const name = type.fullName.slice(1)
    index = { name, special: SPECIAL_JSON.has(name), byName, fields, jsonNames }
    indexes.set(type, index)
  }
  return index
}

/** The name protobufjs gives field number `id` of a (well-known) type. */
export function nameOf(type: protobuf.Type, id: number): string {
  return type.fieldsById[id].name
}

/** Full name without the leading dot ('google.protobuf.Timestamp'). */
export function fullName(type: protobuf.Type): string {
  return fieldIndex(type).name
}

/** A well-known type whose JSON form is not an object of its fields. */
export function hasSpecialJson(type: protobuf.Type): boolean {
  return fieldIndex(type).special
}

/** protobufjs enums are not Types: their full name, read only for messages and the NullValue check. */
export function enumName(e: protobuf.Enum): string {
  return e.fullName.slice(1)
}

/** `type.googleapis.com/pkg.Name` → 'pkg.Name'. */
export function typeNameOfUrl(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1)
}

/** A field's type, when it is a message (resolveAll ran, so resolvedType is set). */
export function messageType(field: protobuf.Field): protobuf.Type | null {
  const t = field.resolvedType
  return t !== null && 'fieldsArray' in t ? t : null
}

/** A field's enum, when it is one. */
export function enumType(field: protobuf.Field): protobuf.Enum | null {
  const t = field.resolvedType
  return t !== null && 'valuesById' in t ? t : null
}

/** Proto3 presence: `optional` fields (a synthetic oneof) and real oneof members are set or not. */
export function hasPresence(field: protobuf.Field): boolean {
  return field.partOf !== null
}
