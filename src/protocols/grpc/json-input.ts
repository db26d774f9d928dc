// Proto3 JSON → a plain object protobufjs can encode: lowerCamel and proto names, int64 from
// numbers or strings, enums by name or number, base64 bytes, and the well-known types' JSON forms.
import type protobuf from 'protobufjs'
import { Buffer } from 'node:buffer'
import { enumName, enumType, fieldIndex, fullName, hasSpecialJson, messageType, nameOf, setKey, snakeCase, typeNameOfUrl } from './json-names.js'
import { TranscodeError } from './transcode-error.js'

type Obj = Record<string, unknown>

const INT32: readonly [bigint, bigint] = [-(2n ** 31n), 2n ** 31n - 1n]
const UINT32: readonly [bigint, bigint] = [0n, 2n ** 32n - 1n]
const INT64: readonly [bigint, bigint] = [-(2n ** 63n), 2n ** 63n - 1n]
const UINT64: readonly [bigint, bigint] = [0n, 2n ** 64n - 1n]
const INT_RANGE: Readonly<Record<string, readonly [bigint, bigint]>> = {
  int32: INT32, sint32: INT32, sfixed32: INT32, uint32: UINT32, fixed32: UINT32,
  int64: INT64, sint64: INT64, sfixed64: INT64, uint64: UINT64, fixed64: UINT64,
}
const FLOAT_MAX = 3.4028234663852886e38
const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/
const INTEGER = /^-?\d+$/
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/
const DURATION = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/
/** Timestamp range of the JSON mapping: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z. */
const MIN_SECONDS = -62135596800
const MAX_SECONDS = 253402300799
const MAX_DURATION_SECONDS = 315576000000
const WRAPPERS = new Set([
  'google.protobuf.DoubleValue', 'google.protobuf.FloatValue', 'google.protobuf.Int64Value', 'google.protobuf.UInt64Value',
  'google.protobuf.Int32Value', 'google.protobuf.UInt32Value', 'google.protobuf.BoolValue', 'google.protobuf.StringValue',
  'google.protobuf.BytesValue',
])
const NULL_VALUE = 'google.protobuf.NullValue'
const VALUE = 'google.protobuf.Value'

function describe(v: unknown): string {
  return typeof v === 'string' ? `"${v}"` : JSON.stringify(v) ?? String(v)
}

function invalid(path: string, v: unknown, what: string): TranscodeError {
  return new TranscodeError(path, `invalid value ${describe(v)} for ${what}`)
}

/** The JSON path of `key` inside `path` ('' is the body itself). */
function child(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`
}

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Integers: JSON numbers (integral) or decimal strings; 64-bit ones stay strings for the encoder. */
function integer(v: unknown, kind: string, path: string): number | string {
  let n: bigint
  if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v)
  else if (typeof v === 'string' && INTEGER.test(v)) n = BigInt(v)
  else throw invalid(path, v, kind)
  const [min, max] = INT_RANGE[kind]
  if (n < min || n > max) throw new TranscodeError(path, `value ${describe(v)} is out of range for ${kind}`)
  return kind.endsWith('64') ? n.toString() : Number(n)
}

function floating(v: unknown, kind: string, path: string): number {
  let n: number
  if (typeof v === 'number') n = v
  else if (v === 'NaN') return NaN
  else if (v === 'Infinity') return Infinity
  else if (v === '-Infinity') return -Infinity
  else if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) n = Number(v)
  else throw invalid(path, v, kind)
  if (kind === 'float' && Math.abs(n) > FLOAT_MAX) throw new TranscodeError(path, `value ${describe(v)} is out of range for float`)
  return n
}

/** Standard or URL-safe base64, padding optional. */
function bytes(v: unknown, path: string): Buffer {
  if (typeof v !== 'string' || !BASE64.test(v) || v.replace(/=+$/, '').length % 4 === 1) throw invalid(path, v, 'bytes (base64)')
  return Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
}

function enumValue(e: protobuf.Enum, v: unknown, path: string, text: boolean): number {
  if (typeof v === 'number' && Number.isInteger(v)) return integer(v, 'int32', path) as number
  if (typeof v === 'string') {
    if (Object.hasOwn(e.values, v)) return e.values[v]
    if (text && INTEGER.test(v)) return integer(v, 'int32', path) as number
  }
  throw invalid(path, v, `enum ${enumName(e)}`)
}

/**
 * One value of a field's element type. `text` is true for path variables and query parameters,
 * whose values are always strings (so "true" is a bool there, but not in a JSON body).
 */
export function elementFromJson(field: protobuf.Field, type: string, v: unknown, path: string, text: boolean): unknown {
  const message = messageType(field)
  if (message !== null) return messageFromJson(message, v, path)
  const e = enumType(field)
  if (e !== null) return enumValue(e, v, path, text)
  switch (type) {
    case 'string':
      if (typeof v !== 'string') throw invalid(path, v, 'string')
      return v
    case 'bool':
      if (typeof v === 'boolean') return v
      if (text && (v === 'true' || v === 'false')) return v === 'true'
      throw invalid(path, v, 'bool')
    case 'bytes':
      return bytes(v, path)
    case 'double':
    case 'float':
      return floating(v, type, path)
    default:
      return integer(v, type, path)
  }
}

/** A JSON value for one field (repeated → array, map → object); undefined when it leaves the field unset. */
export function fieldFromJson(field: protobuf.Field, v: unknown, path: string, text = false): unknown {
  if (v === null) {
    // null means "unset", except where null is the value itself (Value and NullValue).
    const message = messageType(field)
    const e = enumType(field)
    if (!field.repeated && !field.map && ((message !== null && fullName(message) === VALUE) || (e !== null && enumName(e) === NULL_VALUE))) {
      return elementFromJson(field, field.type, v, path, text)
    }
    return undefined
  }
  if (field.map) {
    if (!isObject(v)) throw invalid(path, v, 'map (a JSON object)')
    const out: Obj = {}
    const keyType = (field as unknown as protobuf.MapField).keyType
    for (const k of Object.keys(v)) {
      const at = `${path}[${k}]`
      setKey(out, mapKey(keyType, k, at), elementFromJson(field, field.type, v[k], at, text))
    }
    return out
  }
  if (field.repeated) {
    if (!Array.isArray(v)) throw invalid(path, v, 'repeated field (a JSON array)')
    return v.map((x: unknown, i: number) => {
      if (x === null && messageType(field) === null) throw invalid(`${path}[${i}]`, x, field.type)
      return elementFromJson(field, field.type, x, `${path}[${i}]`, text)
    })
  }
  return elementFromJson(field, field.type, v, path, text)
}

/** Map keys are JSON strings; checked against the key type and written back in canonical form. */
function mapKey(keyType: string, k: string, path: string): string {
  if (keyType === 'string') return k
  if (keyType === 'bool') {
    if (k !== 'true' && k !== 'false') throw new TranscodeError(path, `invalid map key "${k}" for bool`)
    return k
  }
  return String(integer(k, keyType, path))
}

/** A message from its JSON form (an object, or a well-known type's special form). */
export function messageFromJson(type: protobuf.Type, v: unknown, path: string): Obj {
  const index = fieldIndex(type)
  if (index.special) return wellKnownFromJson(type, index.name, v, path)
  if (!isObject(v)) throw invalid(path, v, `message ${index.name} (a JSON object)`)
  return fieldsFromJson(type, v, path, null)
}

/** The fields of a message from a JSON object; `skip` is a key not to read (Any's "@type"). */
function fieldsFromJson(type: protobuf.Type, v: Obj, path: string, skip: string | null): Obj {
  const index = fieldIndex(type)
  const out: Obj = {}
  let oneofs: Map<string, string> | null = null
  for (const key of Object.keys(v)) {
    if (key === skip) continue
    const at = child(path, key)
    const field = index.byName.get(key)
    if (field === undefined) throw new TranscodeError(at, `unknown field in ${fullName(type)}`)
    if (Object.hasOwn(out, field.name)) throw new TranscodeError(at, 'field given twice (by its proto and its JSON name)')
    const value = fieldFromJson(field, v[key], at)
    if (value === undefined) continue
    if (field.partOf !== null) {
      oneofs ??= new Map()
      const other = oneofs.get(field.partOf.name)
      if (other !== undefined) throw new TranscodeError(at, `oneof "${field.partOf.name}" is already set by "${other}"`)
      oneofs.set(field.partOf.name, key)
    }
    out[field.name] = value
  }
  return out
}

function wellKnownFromJson(type: protobuf.Type, name: string, v: unknown, path: string): Obj {
  if (WRAPPERS.has(name)) return { [nameOf(type, 1)]: fieldFromJson(type.fieldsById[1], v, path, true) }
  switch (name) {
    case 'google.protobuf.Timestamp':
      return timestampFromJson(type, v, path)
    case 'google.protobuf.Duration':
      return durationFromJson(type, v, path)
    case 'google.protobuf.FieldMask':
      if (typeof v !== 'string') throw invalid(path, v, 'google.protobuf.FieldMask (a string)')
      return { [nameOf(type, 1)]: v.split(',').filter((p) => p !== '').map((p) => p.split('.').map(snakeCase).join('.')) }
    case 'google.protobuf.Struct': {
      if (!isObject(v)) throw invalid(path, v, 'google.protobuf.Struct (a JSON object)')
      const valueField = type.fieldsById[1]
      const fields: Obj = {}
      for (const k of Object.keys(v)) setKey(fields, k, messageFromJson(messageType(valueField)!, v[k], child(path, k)))
      return { [valueField.name]: fields }
    }
    case 'google.protobuf.ListValue': {
      if (!Array.isArray(v)) throw invalid(path, v, 'google.protobuf.ListValue (a JSON array)')
      const values = type.fieldsById[1]
      return { [values.name]: v.map((x: unknown, i: number) => messageFromJson(messageType(values)!, x, `${path}[${i}]`)) }
    }
    case 'google.protobuf.Value':
      return valueFromJson(type, v, path)
    default:
      return anyFromJson(type, v, path)
  }
}

/** google.protobuf.Value: whichever of its oneof members fits the JSON value (fields 1-6). */
function valueFromJson(type: protobuf.Type, v: unknown, path: string): Obj {
  if (v === null) return { [nameOf(type, 1)]: 0 }
  if (typeof v === 'number') return { [nameOf(type, 2)]: v }
  if (typeof v === 'string') return { [nameOf(type, 3)]: v }
  if (typeof v === 'boolean') return { [nameOf(type, 4)]: v }
  if (Array.isArray(v)) return { [nameOf(type, 6)]: messageFromJson(messageType(type.fieldsById[6])!, v, path) }
  return { [nameOf(type, 5)]: messageFromJson(messageType(type.fieldsById[5])!, v, path) }
}

function timestampFromJson(type: protobuf.Type, v: unknown, path: string): Obj {
  const m = typeof v === 'string' ? TIMESTAMP.exec(v) : null
  if (m === null) throw invalid(path, v, 'google.protobuf.Timestamp (RFC 3339)')
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]))
  const d = new Date(0)
  d.setUTCFullYear(year, month - 1, day)
  d.setUTCHours(hour, minute, second, 0)
  // Date rolls 2017-02-30 over to March; a rolled-over date was not a real one.
  if (d.getUTCDate() !== day || d.getUTCMonth() !== month - 1 || d.getUTCHours() !== hour || d.getUTCMinutes() !== minute || d.getUTCSeconds() !== second) {
    throw invalid(path, v, 'google.protobuf.Timestamp (RFC 3339)')
  }
  const offset = m[8] === undefined ? 0 : (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 3600 + Number(m[10]) * 60)
  const seconds = d.getTime() / 1000 - offset
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS) throw new TranscodeError(path, `timestamp ${describe(v)} is out of range`)
  return { [nameOf(type, 1)]: seconds, [nameOf(type, 2)]: m[7] === undefined ? 0 : Number(m[7].padEnd(9, '0')) }
}

function durationFromJson(type: protobuf.Type, v: unknown, path: string): Obj {
  const m = typeof v === 'string' ? DURATION.exec(v) : null
  if (m === null) throw invalid(path, v, 'google.protobuf.Duration (e.g. "1.5s")')
  const sign = m[1] === '-' ? -1 : 1
  const seconds = Number(m[2])
  if (seconds > MAX_DURATION_SECONDS) throw new TranscodeError(path, `duration ${describe(v)} is out of range`)
  const nanos = m[3] === undefined ? 0 : Number(m[3].padEnd(9, '0'))
  return { [nameOf(type, 1)]: sign * seconds, [nameOf(type, 2)]: sign * nanos }
}

/** Any: "@type" names the message; its fields sit beside it, or under "value" for a special-form type. */
function anyFromJson(type: protobuf.Type, v: unknown, path: string): Obj {
  if (!isObject(v)) throw invalid(path, v, 'google.protobuf.Any (a JSON object)')
  const url = v['@type']
  if (typeof url !== 'string' || url === '') throw new TranscodeError(child(path, '@type'), 'google.protobuf.Any needs "@type"')
  let inner: protobuf.Type
  try {
    inner = type.root.lookupType(typeNameOfUrl(url))
  } catch {
    throw new TranscodeError(child(path, '@type'), `unknown type "${url}"`)
  }
  const message = hasSpecialJson(inner) ? messageFromJson(inner, v.value, child(path, 'value')) : fieldsFromJson(inner, v, path, '@type')
  return { [nameOf(type, 1)]: url, [nameOf(type, 2)]: inner.encode(message).finish() }
}
