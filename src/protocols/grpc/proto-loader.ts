// Loads a .proto file in the primary at validation (file I/O, slow) and describes it as plain data:
// the protobufjs JSON descriptor plus every google.api.http binding, each checked against its types.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import protobuf from 'protobufjs'
import type { DescribedMethod, DescribedProto, DescribedRule } from './described.js'
import { planBinding } from './binding-plan.js'

/**
 * Include paths after the proto's own directory and the config file's: our google/api protos
 * (config/protos, two levels above both src/ and dist/), then protobufjs's google/protobuf ones.
 */
const BUNDLED_DIRS = [
  fileURLToPath(new URL('../../../config/protos', import.meta.url)),
  dirname(createRequire(import.meta.url).resolve('protobufjs/package.json')),
]

const HTTP_OPTION = ['(google.api.http)', '(.google.api.http)']
const PATTERNS = ['get', 'put', 'post', 'delete', 'patch'] as const
const RULE_FIELDS = new Set(['selector', ...PATTERNS, 'custom', 'body', 'response_body', 'additional_bindings'])

export type LoadedProto = { ok: true; described: DescribedProto } | { ok: false; message: string }

/** Import search order for `import "x.proto"`: like protoc's -I list. */
function includeDirs(protoFile: string, configDir: string): string[] {
  return [dirname(protoFile), configDir, ...BUNDLED_DIRS]
}

function newRoot(dirs: readonly string[]): protobuf.Root {
  const root = new protobuf.Root()
  root.resolvePath = (_origin: string, target: string): string => {
    if (isAbsolute(target)) return target
    for (const dir of dirs) {
      const candidate = join(dir, target)
      if (existsSync(candidate)) return candidate
    }
    // Not found anywhere: the read fails with a message naming the import.
    return join(dirs[0], target)
  }
  return root
}

/** One HttpRule option value (parsed by protobufjs as a plain object) → rules; throws on a field HttpRule does not have. */
function rulesOf(option: Record<string, unknown>, where: string, nested: boolean): DescribedRule[] {
  for (const key of Object.keys(option)) {
    if (!RULE_FIELDS.has(key)) throw new Error(`${where}: unknown HttpRule field "${key}"`)
    if (nested && key === 'additional_bindings') throw new Error(`${where}: additional_bindings cannot nest`)
  }
  const patterns: DescribedRule[] = []
  const text = (k: string): string => {
    const v = option[k]
    if (v === undefined) return ''
    if (typeof v !== 'string') throw new Error(`${where}: HttpRule field "${k}" must be a string`)
    return v
  }
  const base = { body: text('body'), responseBody: text('response_body') }
  for (const p of PATTERNS) if (option[p] !== undefined) patterns.push({ method: p.toUpperCase(), path: text(p), ...base })
  const custom = option.custom
  if (custom !== undefined) {
    const c = custom as Record<string, unknown>
    if (typeof c.kind !== 'string' || typeof c.path !== 'string' || c.kind === '') throw new Error(`${where}: custom needs a kind and a path`)
    patterns.push({ method: c.kind, path: c.path, ...base })
  }
  if (patterns.length !== 1) throw new Error(`${where}: an HttpRule needs exactly one of get, put, post, delete, patch or custom`)
  const rules = [...patterns]
  const more = option.additional_bindings
  if (more !== undefined) {
    for (const extra of Array.isArray(more) ? more : [more]) rules.push(...rulesOf(extra as Record<string, unknown>, `${where} (additional_bindings)`, true))
  }
  return rules
}

function httpOption(method: protobuf.Method): Record<string, unknown> | null {
  for (const parsed of method.parsedOptions ?? []) {
    for (const key of HTTP_OPTION) if (Object.hasOwn(parsed, key)) return parsed[key] as Record<string, unknown>
  }
  return null
}

function collectMethods(ns: protobuf.NamespaceBase, out: DescribedMethod[]): void {
  for (const child of ns.nestedArray) {
    if (child instanceof protobuf.Service) {
      for (const method of child.methodsArray) {
        const option = httpOption(method)
        if (option === null) continue
        const service = child.fullName.slice(1)
        out.push({
          grpcPath: `/${service}/${method.name}`,
          requestType: method.resolvedRequestType!.fullName,
          responseType: method.resolvedResponseType!.fullName,
          serverStreaming: method.responseStream === true,
          clientStreaming: method.requestStream === true,
          rules: rulesOf(option, `${service}.${method.name}`, false),
        })
      }
    } else if (child instanceof protobuf.Namespace) {
      collectMethods(child, out)
    }
  }
}

/** Loads `file` (relative to `configDir` unless absolute) and describes it; never throws. */
export function loadProto(file: string, configDir: string): LoadedProto {
  const path = resolve(configDir, file)
  const root = newRoot(includeDirs(path, configDir))
  try {
    root.loadSync(path, { keepCase: true })
    root.resolveAll()
  } catch (e) {
    return { ok: false, message: `cannot load ${file}: ${(e as Error).message}` }
  }
  const methods: DescribedMethod[] = []
  try {
    collectMethods(root, methods)
  } catch (e) {
    return { ok: false, message: (e as Error).message }
  }
  if (methods.length === 0) return { ok: false, message: `${file} has no method with a google.api.http option` }
  const seen = new Map<string, string>()
  for (const method of methods) {
    for (const rule of method.rules) {
      const where = `${method.grpcPath.slice(1).replace('/', '.')}: ${rule.method} ${rule.path}`
      try {
        planBinding(root, method, rule)
      } catch (e) {
        return { ok: false, message: `${where}: ${(e as Error).message}` }
      }
      const key = `${rule.method} ${rule.path}`
      const prev = seen.get(key)
      if (prev !== undefined) return { ok: false, message: `${where}: the same binding is already used by ${prev}` }
      seen.set(key, method.grpcPath)
    }
  }
  return { ok: true, described: { descriptor: root.toJSON() as unknown as Record<string, unknown>, methods } }
}
