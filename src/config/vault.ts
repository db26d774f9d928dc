// Kong's env vault: a string value written `{vault://env/NAME}` becomes the environment variable
// NAME upper-cased with '-' → '_'; `{vault://env/NAME/key}` reads `key` of a JSON-valued variable.
import { isPlainObject, joinPath, type Issue } from './schema.js'

/** The whole value must be the reference, as in Kong; an optional `?ttl=…` style suffix is ignored. */
const REFERENCE = /^\{vault:\/\/([^/}]+)\/([^}?]+?)(?:\?[^}]*)?\}$/

export interface VaultResult {
  /** The document with every reference replaced (unresolvable ones are left as written). */
  value: unknown
  errors: Issue[]
  /** Where secrets were substituted, so they can be redacted when the config is shown. */
  secretPaths: string[]
}

type Env = Readonly<Record<string, string | undefined>>

/** Kong's env vault naming: `my-secret` → `MY_SECRET`. */
export function envVarName(name: string): string {
  return name.toUpperCase().replace(/-/g, '_')
}

function resolve(ref: string, env: Env): { value: string } | { error: string } {
  const m = REFERENCE.exec(ref) as RegExpExecArray
  const [, vault, resource] = m
  if (vault !== 'env') return { error: `unsupported vault '${vault}' in ${ref}: only {vault://env/NAME} is supported` }
  const slash = resource.indexOf('/')
  const name = envVarName(slash === -1 ? resource : resource.slice(0, slash))
  const raw = env[name]
  if (raw === undefined) return { error: `environment variable ${name} is not set (referenced as ${ref})` }
  if (slash === -1) return { value: raw }
  const key = resource.slice(slash + 1)
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch {
    return { error: `environment variable ${name} is not JSON, so ${ref} cannot read '${key}' from it` }
  }
  const v = isPlainObject(json) && Object.hasOwn(json, key) ? json[key] : undefined
  if (typeof v !== 'string') return { error: `environment variable ${name} has no string field '${key}' (referenced as ${ref})` }
  return { value: v }
}

/** Replaces every vault reference in `doc` (a fresh copy is returned; `doc` is not modified). */
export function resolveVaultRefs(doc: unknown, env: Env = process.env): VaultResult {
  const errors: Issue[] = []
  const secretPaths: string[] = []
  const walk = (v: unknown, path: string): unknown => {
    if (typeof v === 'string') {
      if (!REFERENCE.test(v)) return v
      const r = resolve(v, env)
      if ('error' in r) {
        errors.push({ path, message: r.error })
        return v
      }
      secretPaths.push(path)
      return r.value
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, joinPath(path, i)))
    if (isPlainObject(v)) {
      const out: Record<string, unknown> = {}
      for (const k of Object.keys(v)) out[k] = walk(v[k], joinPath(path, k))
      return out
    }
    return v
  }
  return { value: walk(doc, ''), errors, secretPaths }
}
