// A decoded protobufjs message → its proto3 JSON value: JSON names, fields at their default left
// out, int64 as strings, enums by name, base64 bytes, and the well-known types' JSON forms.
import protobuf from 'protobufjs'
import { Buffer } from 'node:buffer'
import { enumName, enumType, fieldIndex, hasSpecialJson, lowerCamel, messageType, nameOf, setKey, typeNameOfUrl } from './json-names.js'

type Obj = Record<string, unknown>

/** A 64-bit value as protobufjs decodes it (a Long, or a number without the long package). */
interface LongLike { toString(): string }

export interface OutputOptions {
  /** Use proto field names instead of JSON names (Envoy's preserve_proto_field_names). */
  readonly protoNames: boolean
}

function isLong(kind: string): boolean {
  return kind === 'int64' || kind === 'uint64' || kind === 'sint64' || kind === 'fixed64' || kind === 'sfixed64'
}

/** float fields decode to the nearest double; print the shortest decimal that reads back as the same float. */
function shortestFloat(v: number): number {
  for (let p = 1; p < 10; p++) {
    const n = Number(v.toPrecision(p))
    if (Math.fround(n) === v) return n
  }
  return v
}

function number(v: number, kind: string): number | string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return 'Infinity'
  if (v === -Infinity) return '-Infinity'
  return kind === 'float' ? shortestFloat(v) : v
}

function elementToJson(field: protobuf.Field, v: unknown, o: OutputOptions): unknown {
  const message = messageType(field)
  if (message !== null) return messageToJson(message, v as protobuf.Message, o)
  const e = enumType(field)
  if (e !== null) {
    // NullValue's only value is JSON null.
    if (e.name === 'NullValue' && enumName(e) === 'google.protobuf.NullValue') return null
    return e.valuesById[v as number] ?? v
  }
  const kind = field.type
  if (isLong(kind)) return (v as LongLike).toString()
  if (kind === 'bytes') return Buffer.from(v as Uint8Array).toString('base64')
  if (kind === 'double' || kind === 'float') return number(v as number, kind)
  return v
}

function isDefault(field: protobuf.Field, v: unknown): boolean {
  if (v === null || v === undefined) return true
  if (field.map) return Object.keys(v as Obj).length === 0
  if (field.repeated) return (v as unknown[]).length === 0
  if (messageType(field) !== null) return false
  if (typeof v === 'object' && 'length' in (v as Uint8Array)) return (v as Uint8Array).length === 0
  if (typeof v === 'object') return (v as LongLike).toString() === '0'
  return v === 0 || v === '' || v === false
}

export function fieldToJson(field: protobuf.Field, v: unknown, o: OutputOptions): unknown {
  if (field.map) {
    const out: Obj = {}
    const m = v as Obj
    const keyType = (field as unknown as protobuf.MapField).keyType
    // protobufjs keys 64-bit map entries by an 8-character hash of the value: turn it back into digits.
    const longKeys = isLong(keyType)
    const unsigned = keyType === 'uint64' || keyType === 'fixed64'
    for (const k of Object.keys(m)) {
      setKey(out, longKeys ? protobuf.util.longFromKey(k, unsigned).toString() : k, elementToJson(field, m[k], o))
    }
    return out
  }
  if (field.repeated) return (v as unknown[]).map((x) => elementToJson(field, x, o))
  return elementToJson(field, v, o)
}

/** The JSON value of a decoded message. */
export function messageToJson(type: protobuf.Type, m: protobuf.Message, o: OutputOptions): unknown {
  const index = fieldIndex(type)
  if (index.special) return wellKnownToJson(type, index.name, m as unknown as Obj, o)
  return fieldsToJson(type, m as unknown as Obj, o, {})
}

function fieldsToJson(type: protobuf.Type, m: Obj, o: OutputOptions, out: Obj): Obj {
  const index = fieldIndex(type)
  for (let i = 0; i < index.fields.length; i++) {
    const field = index.fields[i]
    const v = m[field.name]
    // Fields with presence (optional, oneof members) print whenever set, even at their default.
    const present = field.partOf !== null ? Object.hasOwn(m, field.name) && v !== null && v !== undefined : !isDefault(field, v)
    if (present) out[o.protoNames ? field.name : index.jsonNames[i]] = fieldToJson(field, v, o)
  }
  return out
}

function pad9(nanos: number): string {
  // protobuf prints 0, 3, 6 or 9 fractional digits.
  if (nanos === 0) return ''
  const s = String(nanos).padStart(9, '0')
  return `.${s.endsWith('000000') ? s.slice(0, 3) : s.endsWith('000') ? s.slice(0, 6) : s}`
}

function seconds(v: unknown): number {
  return typeof v === 'number' ? v : Number((v as LongLike).toString())
}

function wellKnownToJson(type: protobuf.Type, name: string, m: Obj, o: OutputOptions): unknown {
  switch (name) {
    case 'google.protobuf.Timestamp': {
      const s = seconds(m[nameOf(type, 1)])
      const nanos = (m[nameOf(type, 2)] as number) ?? 0
      const iso = new Date(s * 1000).toISOString()
      return `${iso.slice(0, 19)}${pad9(nanos)}Z`
    }
    case 'google.protobuf.Duration': {
      const s = seconds(m[nameOf(type, 1)])
      const nanos = (m[nameOf(type, 2)] as number) ?? 0
      const negative = s < 0 || nanos < 0
      return `${negative ? '-' : ''}${Math.abs(s)}${pad9(Math.abs(nanos))}s`
    }
    case 'google.protobuf.FieldMask':
      return ((m[nameOf(type, 1)] as string[] | undefined) ?? []).map((p) => p.split('.').map(lowerCamel).join('.')).join(',')
    case 'google.protobuf.Struct': {
      const fields = (m[nameOf(type, 1)] as Obj | undefined) ?? {}
      const valueType = messageType(type.fieldsById[1])!
      const out: Obj = {}
      for (const k of Object.keys(fields)) setKey(out, k, messageToJson(valueType, fields[k] as protobuf.Message, o))
      return out
    }
    case 'google.protobuf.ListValue': {
      const valueType = messageType(type.fieldsById[1])!
      return ((m[nameOf(type, 1)] as protobuf.Message[] | undefined) ?? []).map((x) => messageToJson(valueType, x, o))
    }
    case 'google.protobuf.Value':
      for (let id = 1; id <= 6; id++) {
        const field = type.fieldsById[id]
        if (Object.hasOwn(m, field.name) && m[field.name] !== null && m[field.name] !== undefined) return fieldToJson(field, m[field.name], o)
      }
      return null
    case 'google.protobuf.Any':
      return anyToJson(type, m, o)
    default:
      // The wrappers: the bare value.
      return fieldToJson(type.fieldsById[1], m[nameOf(type, 1)] ?? type.fieldsById[1].defaultValue, o)
  }
}

/** Any: "@type" plus the message's fields, or plus "value" for a special-form type; an unknown type keeps its bytes in base64. */
function anyToJson(type: protobuf.Type, m: Obj, o: OutputOptions): unknown {
  const url = (m[nameOf(type, 1)] as string | undefined) ?? ''
  const bytes = (m[nameOf(type, 2)] as Uint8Array | undefined) ?? new Uint8Array(0)
  if (url === '') return {}
  let inner: protobuf.Type
  try {
    inner = type.root.lookupType(typeNameOfUrl(url))
  } catch {
    return { '@type': url, value: Buffer.from(bytes).toString('base64') }
  }
  const decoded = inner.decode(bytes)
  if (hasSpecialJson(inner)) return { '@type': url, value: messageToJson(inner, decoded, o) }
  return fieldsToJson(inner, decoded as unknown as Obj, o, { '@type': url })
}
