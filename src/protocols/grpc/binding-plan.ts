// One HttpRule resolved against its method's message types: the parsed template, the field chain
// each variable sets, the body and response_body fields. Run in the primary (to validate) and per worker.
import type protobuf from 'protobufjs'
import type { DescribedMethod, DescribedRule } from './described.js'
import { fieldIndex, fullName, hasSpecialJson, messageType } from './json-names.js'
import { isMultiSegment, parseTemplate, type PathTemplate } from './http-template.js'
import type { GrpcBinding } from './transcoder.js'

export interface BindingPlan extends GrpcBinding {
  readonly httpMethod: string
  readonly template: PathTemplate
  readonly requestType: protobuf.Type
  readonly responseType: protobuf.Type
  /** Per template variable: the fields from the request message down to the one it sets. */
  readonly variableFields: readonly (readonly protobuf.Field[])[]
  /** Per template variable: spans several segments (then '%2F' stays encoded). */
  readonly variableMulti: readonly boolean[]
  /** body: "*" */
  readonly bodyAll: boolean
  /** body: "<field>" (null for "*" or none). */
  readonly bodyField: protobuf.Field | null
  /** response_body: "<field>" (null for the whole response). */
  readonly responseField: protobuf.Field | null
  /** Proto-name paths set by the path or the body ('book', 'book.name'): query parameters do not touch them. */
  readonly bound: ReadonlySet<string>
}

export class PlanError extends Error {}

/** Resolves a dotted field path (proto or JSON names) to its field chain, or throws PlanError. */
export function resolveFieldPath(type: protobuf.Type, names: readonly string[], what: string): protobuf.Field[] {
  const chain: protobuf.Field[] = []
  let current: protobuf.Type | null = type
  for (let i = 0; i < names.length; i++) {
    const field: protobuf.Field | undefined = current === null ? undefined : fieldIndex(current).byName.get(names[i])
    if (field === undefined || current === null) {
      throw new PlanError(`${what} names field "${names.join('.')}", which ${fullName(type)} does not have`)
    }
    if (i < names.length - 1 && (field.repeated || messageType(field) === null)) {
      throw new PlanError(`${what} names field "${names.join('.')}", but "${names[i]}" is not a singular message field`)
    }
    chain.push(field)
    current = messageType(field)
  }
  return chain
}

function leafCheck(chain: readonly protobuf.Field[], names: readonly string[], what: string): void {
  const leaf = chain[chain.length - 1]
  const message = messageType(leaf)
  if (leaf.repeated || leaf.map) throw new PlanError(`${what} binds "${names.join('.')}", a repeated or map field`)
  if (message !== null && !hasSpecialJson(message)) throw new PlanError(`${what} binds "${names.join('.')}", a message field`)
}

export function planBinding(root: protobuf.Root, method: DescribedMethod, rule: DescribedRule): BindingPlan {
  const requestType = root.lookupType(method.requestType)
  const responseType = root.lookupType(method.responseType)
  let template: PathTemplate
  try {
    template = parseTemplate(rule.path)
  } catch (e) {
    throw new PlanError((e as Error).message)
  }
  const bound = new Set<string>()
  const variableFields = template.variables.map((v) => {
    const chain = resolveFieldPath(requestType, v.fieldPath, `path template "${rule.path}"`)
    leafCheck(chain, v.fieldPath, `path template "${rule.path}"`)
    bound.add(chain.map((f) => f.name).join('.'))
    return chain
  })
  let bodyField: protobuf.Field | null = null
  if (rule.body !== '' && rule.body !== '*') {
    // http.proto: body names a top-level field of the request.
    bodyField = resolveFieldPath(requestType, [rule.body], 'body')[0]
    bound.add(bodyField.name)
  }
  let responseField: protobuf.Field | null = null
  if (rule.responseBody !== '') responseField = resolveFieldPath(responseType, [rule.responseBody], 'response_body')[0]
  return {
    grpcPath: method.grpcPath,
    serverStreaming: method.serverStreaming,
    clientStreaming: method.clientStreaming,
    httpMethod: rule.method,
    template,
    requestType,
    responseType,
    variableFields,
    variableMulti: template.variables.map((v) => isMultiSegment(template, v)),
    bodyAll: rule.body === '*',
    bodyField,
    responseField,
    bound,
  }
}
