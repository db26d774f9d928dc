// Assembles one request message from its three sources, in this order: the JSON body (whole or one
// field), then query parameters, then path variables (so the path wins a conflict); then encodes it.
import type protobuf from 'protobufjs'
import type { Buffer } from 'node:buffer'
import type { BindingPlan } from './binding-plan.js'
import { fieldIndex, hasSpecialJson, messageType } from './json-names.js'
import { elementFromJson, fieldFromJson, messageFromJson } from './json-input.js'
import { percentDecode } from './http-template.js'
import { TranscodeError } from './transcode-error.js'

type Obj = Record<string, unknown>

export interface RequestOptions {
  /** Reject a query parameter that names no field (or a message field) instead of ignoring it. */
  readonly rejectUnknownQuery: boolean
}

function parseBody(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'))
  } catch (e) {
    throw new TranscodeError('', `invalid JSON body: ${(e as Error).message}`)
  }
}

/** The object for `chain` minus its last field, created along the way. */
function parentOf(root: Obj, chain: readonly protobuf.Field[]): Obj {
  let node = root
  for (let i = 0; i < chain.length - 1; i++) {
    const name = chain[i].name
    let next = node[name] as Obj | undefined
    if (next === undefined) node[name] = next = {}
    node = next
  }
  return node
}

/** Query form decoding (application/x-www-form-urlencoded): '+' is a space, then percent-decoding. */
function formDecode(s: string): string {
  return percentDecode(s.indexOf('+') === -1 ? s : s.replace(/\+/g, ' '))
}

/**
 * Resolves a query key ('filter.location.aisle', proto or JSON names) to its field chain; null when
 * it names no settable field (unknown, through a repeated or map field, or ending at a plain message).
 */
function queryFields(type: protobuf.Type, key: string): protobuf.Field[] | null {
  const chain: protobuf.Field[] = []
  let current: protobuf.Type | null = type
  let start = 0
  for (;;) {
    let end = key.indexOf('.', start)
    if (end === -1) end = key.length
    const field: protobuf.Field | undefined = current === null ? undefined : fieldIndex(current).byName.get(key.slice(start, end))
    if (field === undefined || field.map) return null
    chain.push(field)
    const message = messageType(field)
    if (end === key.length) return message !== null && !hasSpecialJson(message) ? null : chain
    if (field.repeated || message === null) return null
    current = message
    start = end + 1
  }
}

function isBound(plan: BindingPlan, chain: readonly protobuf.Field[]): boolean {
  if (plan.bodyAll) return true
  let path = ''
  for (const f of chain) {
    path = path === '' ? f.name : `${path}.${f.name}`
    if (plan.bound.has(path)) return true
  }
  return false
}

function applyQuery(plan: BindingPlan, out: Obj, query: string, o: RequestOptions): void {
  let start = 0
  while (start < query.length) {
    let end = query.indexOf('&', start)
    if (end === -1) end = query.length
    const eq = query.indexOf('=', start)
    const keyEnd = eq === -1 || eq > end ? end : eq
    if (keyEnd > start) {
      const key = formDecode(query.slice(start, keyEnd))
      const chain = queryFields(plan.requestType, key)
      if (chain === null) {
        if (o.rejectUnknownQuery) throw new TranscodeError(key, 'unknown query parameter')
      } else if (!isBound(plan, chain)) {
        const value = formDecode(keyEnd === end ? '' : query.slice(keyEnd + 1, end))
        const field = chain[chain.length - 1]
        const parent = parentOf(out, chain)
        if (field.repeated) {
          // Each occurrence of the key adds one element (`tags=a&tags=b`).
          const element = elementFromJson(field, field.type, value, key, true)
          const list = parent[field.name] as unknown[] | undefined
          if (list === undefined) parent[field.name] = [element]
          else list.push(element)
        } else {
          parent[field.name] = fieldFromJson(field, value, key, true)
        }
      }
    }
    start = end + 1
  }
}

/** The request message as an object protobufjs can encode. Throws TranscodeError. */
export function buildRequest(plan: BindingPlan, values: readonly string[], query: string, body: Buffer, o: RequestOptions): Obj {
  let out: Obj = {}
  if (body.length > 0 && (plan.bodyAll || plan.bodyField !== null)) {
    const json = parseBody(body)
    if (plan.bodyAll) {
      out = messageFromJson(plan.requestType, json, '')
    } else {
      const field = plan.bodyField as protobuf.Field
      const value = fieldFromJson(field, json, field.name)
      if (value !== undefined) out[field.name] = value
    }
  }
  if (query !== '') applyQuery(plan, out, query, o)
  for (let v = 0; v < values.length; v++) {
    const chain = plan.variableFields[v]
    const field = chain[chain.length - 1]
    parentOf(out, chain)[field.name] = fieldFromJson(field, values[v], plan.template.variables[v].fieldPath.join('.'), true)
  }
  return out
}

/** Protobuf bytes of the request message. */
export function encodeRequest(plan: BindingPlan, values: readonly string[], query: string, body: Buffer, o: RequestOptions): Uint8Array {
  return plan.requestType.encode(buildRequest(plan, values, query, body, o)).finish()
}
