// The schema DSL: typed fields with defaults, constraints, custom validators and entity checks,
// shaped like Kong's schema.lua so entity and plugin schemas read alike. Every problem is collected.

/** One problem or warning, reported as `path: message`. */
export interface Issue {
  path: string
  message: string
}

/** Where a validation run writes what it finds. Errors fail the config; warnings do not. */
export interface Report {
  errors: Issue[]
  warnings: Issue[]
}

export function newReport(): Report {
  return { errors: [], warnings: [] }
}

/** A field-level validator: returns an error message, or null/undefined when the value is fine. */
export type Custom = (value: never) => string | null | undefined

/** A record-level check (Kong's entity_checks). An error is a message for the record, or one for a field. */
export type CheckError = string | { field: string; message: string }
export type EntityCheck = (record: Readonly<Record<string, unknown>>) => CheckError | readonly CheckError[] | null | undefined

/** What a warning-producing field says when it is set (null = nothing to say for this value). */
export type WarnFn = (value: never) => string | null

const FIELD: unique symbol = Symbol('schema field')

interface Common {
  readonly [FIELD]: true
  readonly required: boolean
  /** undefined: no default. For records, `null` means "null when absent" instead of "filled from sub-defaults". */
  readonly default: unknown
  /** An explicit null is a value of its own (otherwise null means unset, with a warning, as decK writes it). */
  readonly nullable: boolean
  readonly custom: readonly Custom[]
  /** Accepted but without effect here: reported as a warning when set. */
  readonly warn: WarnFn | null
}

export interface StringField extends Common {
  readonly type: 'string'
  readonly oneOf: readonly string[] | null
  readonly match: RegExp | null
  readonly matchError: string
  readonly minLength: number
  readonly maxLength: number
}

export interface NumberField extends Common {
  readonly type: 'integer' | 'number'
  readonly min: number
  readonly max: number
  readonly oneOf: readonly number[] | null
}

export interface BooleanField extends Common {
  readonly type: 'boolean'
}

export interface ArrayField extends Common {
  readonly type: 'array'
  readonly elements: Field
  readonly minLength: number
  readonly maxLength: number
  /** Kong's `set`: duplicates are dropped, first occurrence kept. */
  readonly set: boolean
}

export interface RecordField extends Common {
  readonly type: 'record'
  readonly fields: FieldMap
  readonly checks: readonly EntityCheck[]
}

export interface MapField extends Common {
  readonly type: 'map'
  readonly keys: StringField
  readonly values: Field
}

export interface AnyField extends Common {
  readonly type: 'any'
}

export type Field = StringField | NumberField | BooleanField | ArrayField | RecordField | MapField | AnyField
export type FieldMap = { readonly [name: string]: Field }

/** A plugin's `schema`: a map of fields (the common case) or a record() with entity checks. */
export type Schema = FieldMap | RecordField

export interface CommonOptions<T> {
  required?: boolean
  default?: T | null
  nullable?: boolean
  custom?: Custom | readonly Custom[]
  /** A string: always warn when set. A function: warn when it returns a message. */
  warn?: string | WarnFn
}

function common<T>(o: CommonOptions<T> | undefined): Common {
  const custom = o?.custom === undefined ? [] : typeof o.custom === 'function' ? [o.custom] : o.custom
  const w = o?.warn
  return {
    [FIELD]: true,
    required: o?.required ?? false,
    default: o?.default,
    nullable: o?.nullable ?? false,
    custom,
    warn: w === undefined ? null : typeof w === 'string' ? () => w : w,
  }
}

// ---------------------------------------------------------------------------------------------
// Builders

export interface StringOptions extends CommonOptions<string> {
  oneOf?: readonly string[]
  match?: RegExp
  matchError?: string
  minLength?: number
  maxLength?: number
}

export function str(o?: StringOptions): StringField {
  return {
    ...common(o), type: 'string', oneOf: o?.oneOf ?? null, match: o?.match ?? null,
    matchError: o?.matchError ?? 'invalid value', minLength: o?.minLength ?? 0, maxLength: o?.maxLength ?? Infinity,
  }
}

/** A string that must be one of `values` (Kong's one_of). */
export function oneOf(values: readonly string[], def?: string, o?: StringOptions): StringField {
  return str({ ...o, oneOf: values, default: def ?? o?.default })
}

export interface NumberOptions extends CommonOptions<number> {
  min?: number
  max?: number
  /** Kong's `between = { min, max }`. */
  between?: readonly [number, number]
  oneOf?: readonly number[]
}

function numberField(type: 'integer' | 'number', o?: NumberOptions): NumberField {
  return {
    ...common(o), type, min: o?.between?.[0] ?? o?.min ?? -Infinity, max: o?.between?.[1] ?? o?.max ?? Infinity,
    oneOf: o?.oneOf ?? null,
  }
}

export function int(o?: NumberOptions): NumberField {
  return numberField('integer', o)
}

export function num(o?: NumberOptions): NumberField {
  return numberField('number', o)
}

export function bool(o?: CommonOptions<boolean>): BooleanField {
  return { ...common(o), type: 'boolean' }
}

export interface ArrayOptions extends CommonOptions<readonly unknown[]> {
  minLength?: number
  maxLength?: number
}

export function arrayOf(elements: Field, o?: ArrayOptions): ArrayField {
  return { ...common(o), type: 'array', elements, minLength: o?.minLength ?? 0, maxLength: o?.maxLength ?? Infinity, set: false }
}

/** Kong's `set`: an array whose duplicates are dropped. */
export function setOf(elements: Field, o?: ArrayOptions): ArrayField {
  return { ...arrayOf(elements, o), set: true }
}

export interface RecordOptions extends CommonOptions<Record<string, unknown>> {
  checks?: readonly EntityCheck[]
}

export function record(fields: FieldMap, o?: RecordOptions): RecordField {
  return { ...common(o), type: 'record', fields, checks: o?.checks ?? [] }
}

export function mapOf(keys: StringField, values: Field, o?: CommonOptions<Record<string, unknown>>): MapField {
  return { ...common(o), type: 'map', keys, values }
}

/** Anything (validated elsewhere, or deliberately loose). */
export function any(o?: CommonOptions<unknown>): AnyField {
  return { ...common(o), type: 'any' }
}

/** A Kong field with no meaning here: validated as `field`, kept, and reported as a warning when set. */
export function noop<F extends Field>(field: F, message = 'accepted for Kong compatibility; has no effect here'): F {
  return { ...field, warn: () => message }
}

export function isField(x: unknown): x is Field {
  return typeof x === 'object' && x !== null && (x as { [FIELD]?: true })[FIELD] === true
}

/** The record a plugin's `schema` stands for. */
export function asRecord(schema: Schema): RecordField {
  return isField(schema) ? schema : record(schema)
}

// ---------------------------------------------------------------------------------------------
// Entity checks (Kong's entity_checks)

export function isPresent(v: unknown): boolean {
  if (v === undefined || v === null) return false
  if (typeof v === 'string' || Array.isArray(v)) return v.length > 0
  if (typeof v === 'object') return Object.keys(v).length > 0
  return true
}

const quoteList = (names: readonly string[]): string => names.map((n) => `'${n}'`).join(', ')

export function atLeastOneOf(...names: string[]): EntityCheck {
  return (r) => names.some((n) => isPresent(r[n])) ? null : `at least one of these fields must be non-empty: ${quoteList(names)}`
}

export function mutuallyExclusive(...names: string[]): EntityCheck {
  return (r) => names.filter((n) => isPresent(r[n])).length > 1
    ? `only one or none of these fields must be set: ${quoteList(names)}` : null
}

export function onlyOneOf(...names: string[]): EntityCheck {
  return (r) => names.filter((n) => isPresent(r[n])).length === 1
    ? null : `exactly one of these fields must be non-empty: ${quoteList(names)}`
}

/** When `ifField` satisfies `when`, `thenField` must be present (Kong's conditional … required = true). */
export function requiredWhen(ifField: string, when: (v: unknown) => boolean, thenField: string): EntityCheck {
  return (r) => when(r[ifField]) && !isPresent(r[thenField])
    ? { field: thenField, message: `required field missing (because '${ifField}' is '${String(r[ifField])}')` } : null
}

// ---------------------------------------------------------------------------------------------
// Validation

const IDENT = /^[A-Za-z_][\w-]*$/

/** `a.b`, `a[0]`, `a["odd key"]`; the root is ''. */
export function joinPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`
  if (!IDENT.test(key)) return `${path}[${JSON.stringify(key)}]`
  return path === '' ? key : `${path}.${key}`
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

const TYPE_NAMES: Record<Field['type'], string> = {
  string: 'a string', integer: 'an integer', number: 'a number', boolean: 'a boolean',
  array: 'an array', record: 'a record', map: 'a map', any: 'a value',
}

/**
 * Validates `value` against `field` at `path`, writing problems to `report`. Returns the value with
 * defaults filled (records get `null` for absent optional fields), or undefined when absent.
 */
export function validateField(field: Field, value: unknown, path: string, report: Report): unknown {
  if (value === null) {
    if (field.nullable) return null
    if (field.required && field.default === undefined) {
      report.errors.push({ path, message: 'required field missing' })
      return undefined
    }
    report.warnings.push({ path, message: 'null is treated as unset' })
    value = undefined
  }
  if (value === undefined) return absent(field, path, report)

  const before = report.errors.length
  const out = checkType(field, value, path, report)
  if (report.errors.length !== before) return out
  for (const fn of field.custom) {
    const message = (fn as (v: unknown) => string | null | undefined)(out)
    if (message) report.errors.push({ path, message })
  }
  if (field.warn !== null) {
    const message = (field.warn as (v: unknown) => string | null)(out)
    if (message !== null) report.warnings.push({ path, message })
  }
  return out
}

function absent(field: Field, path: string, report: Report): unknown {
  if (field.default !== undefined) return field.default === null ? null : structuredClone(field.default)
  if (field.required) {
    report.errors.push({ path, message: 'required field missing' })
    return undefined
  }
  // A record without its own default is built from its fields' defaults, as Kong does for nested records.
  if (field.type === 'record') return checkRecord(field, {}, path, report)
  return undefined
}

function checkType(field: Field, value: unknown, path: string, report: Report): unknown {
  const fail = (message: string): undefined => {
    report.errors.push({ path, message })
    return undefined
  }
  switch (field.type) {
    case 'any':
      return value
    case 'string': {
      if (typeof value !== 'string') return fail(`expected ${TYPE_NAMES.string}`)
      if (value.length < field.minLength) return fail(field.minLength === 1 ? 'must not be empty' : `length must be at least ${field.minLength}`)
      if (value.length > field.maxLength) return fail(`length must be at most ${field.maxLength}`)
      if (field.oneOf !== null && !field.oneOf.includes(value)) return fail(`expected one of: ${field.oneOf.join(', ')}`)
      if (field.match !== null && !field.match.test(value)) return fail(field.matchError)
      return value
    }
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return fail(`expected ${TYPE_NAMES[field.type]}`)
      if (field.type === 'integer' && !Number.isInteger(value)) return fail('expected an integer')
      if (field.oneOf !== null && !field.oneOf.includes(value)) return fail(`expected one of: ${field.oneOf.join(', ')}`)
      if (value < field.min || value > field.max) return fail(rangeMessage(field.min, field.max))
      return value
    }
    case 'boolean':
      return typeof value === 'boolean' ? value : fail(`expected ${TYPE_NAMES.boolean}`)
    case 'array':
      return checkArray(field, value, path, report)
    case 'record':
      return checkRecord(field, value, path, report)
    case 'map':
      return checkMap(field, value, path, report)
  }
}

function rangeMessage(min: number, max: number): string {
  if (min === -Infinity) return `must be at most ${max}`
  if (max === Infinity) return `must be at least ${min}`
  return `must be between ${min} and ${max}`
}

function checkArray(field: ArrayField, value: unknown, path: string, report: Report): unknown {
  if (!Array.isArray(value)) {
    report.errors.push({ path, message: `expected ${TYPE_NAMES.array}` })
    return undefined
  }
  if (value.length < field.minLength) {
    report.errors.push({ path, message: field.minLength === 1 ? 'must not be empty' : `must have at least ${field.minLength} elements` })
  }
  if (value.length > field.maxLength) report.errors.push({ path, message: `must have at most ${field.maxLength} elements` })
  const out: unknown[] = []
  for (let i = 0; i < value.length; i++) {
    const p = joinPath(path, i)
    if (value[i] === null || value[i] === undefined) {
      report.errors.push({ path: p, message: 'must not be null' })
      continue
    }
    const v = validateField(field.elements, value[i], p, report)
    if (field.set && (typeof v === 'string' || typeof v === 'number') && out.includes(v)) continue
    out.push(v)
  }
  return out
}

function checkRecord(field: RecordField, value: unknown, path: string, report: Report): unknown {
  if (!isPlainObject(value)) {
    report.errors.push({ path, message: `expected ${TYPE_NAMES.record}` })
    return undefined
  }
  const before = report.errors.length
  for (const key of Object.keys(value)) {
    if (Object.hasOwn(field.fields, key)) continue
    if (key === '_comment') report.warnings.push({ path: joinPath(path, key), message: 'comment ignored' })
    else report.errors.push({ path: joinPath(path, key), message: 'unknown field' })
  }
  const out: Record<string, unknown> = {}
  for (const name of Object.keys(field.fields)) {
    const v = validateField(field.fields[name], value[name], joinPath(path, name), report)
    out[name] = v === undefined ? null : v
  }
  // Like Kong, entity checks only run on a record whose fields are valid (no cascades of errors).
  if (report.errors.length === before) runChecks(field.checks, out, path, report)
  return out
}

function runChecks(checks: readonly EntityCheck[], rec: Record<string, unknown>, path: string, report: Report): void {
  for (const check of checks) {
    const result = check(rec)
    if (result === null || result === undefined) continue
    const list = Array.isArray(result) ? result : [result as CheckError]
    for (const e of list) {
      if (typeof e === 'string') report.errors.push({ path, message: e })
      else report.errors.push({ path: joinPath(path, e.field), message: e.message })
    }
  }
}

function checkMap(field: MapField, value: unknown, path: string, report: Report): unknown {
  if (!isPlainObject(value)) {
    report.errors.push({ path, message: `expected ${TYPE_NAMES.map}` })
    return undefined
  }
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) {
    const p = joinPath(path, key)
    if (key === '__proto__') {
      report.errors.push({ path: p, message: 'invalid key' })
      continue
    }
    const before = report.errors.length
    validateField(field.keys, key, p, report)
    if (report.errors.length !== before) continue
    if (value[key] === null || value[key] === undefined) {
      report.errors.push({ path: p, message: 'must not be null' })
      continue
    }
    out[key] = validateField(field.values, value[key], p, report)
  }
  return out
}

/** Validates a whole record (or a plugin's schema) and returns it with defaults filled. */
export function validateRecord(schema: Schema, value: unknown, path: string, report: Report): Record<string, unknown> | undefined {
  return validateField(asRecord(schema), value, path, report) as Record<string, unknown> | undefined
}
