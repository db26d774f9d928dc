// Reading a declarative config: a file or posted text, YAML or JSON, vault references resolved,
// then validated. The only I/O in config/ is the synchronous read of the file itself.
import { readFileSync } from 'node:fs'
import { dirname, extname, resolve } from 'node:path'
import YAML from 'yaml'
import type { ValidationResult } from './model.js'
import type { Issue } from './schema.js'
import { resolveVaultRefs } from './vault.js'
import { validateConfig, type ValidateOptions } from './validate.js'

export type LoadResult = ValidationResult & {
  /** Absolute path of the file, or the name given to parseConfigText. */
  source: string
  /** Paths whose values came from a vault reference (to redact when showing the config). */
  secretPaths: string[]
}

export interface LoadOptions extends ValidateOptions {
  /** Force a syntax; by default `.json` files are JSON and everything else YAML (a JSON superset). */
  format?: 'yaml' | 'json'
}

function failed(source: string, errors: Issue[], warnings: Issue[] = []): LoadResult {
  return { ok: false, errors, warnings, source, secretPaths: [] }
}

function parse(text: string, source: string, format: 'yaml' | 'json'): { doc: unknown; errors: Issue[]; warnings: Issue[] } {
  if (format === 'json') {
    try {
      return { doc: JSON.parse(text), errors: [], warnings: [] }
    } catch (e) {
      return { doc: undefined, errors: [{ path: source, message: `invalid JSON: ${(e as Error).message}` }], warnings: [] }
    }
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true, merge: true, uniqueKeys: true })
  const issue = (e: YAML.YAMLError): Issue => ({ path: source, message: `invalid YAML: ${e.message.split('\n')[0]}` })
  if (doc.errors.length > 0) return { doc: undefined, errors: doc.errors.map(issue), warnings: [] }
  return { doc: doc.toJS({ maxAliasCount: 100 }), errors: [], warnings: doc.warnings.map(issue) }
}

/**
 * Parses and validates config text, e.g. a body posted to the admin API. Never throws. Relative paths in
 * plugin configs (a .proto) resolve from the directory of `sourceName` taken as a file path (a bare name
 * such as 'posted' is then the working directory), unless options.baseDir says otherwise.
 */
export function parseConfigText(text: string, sourceName: string, options: LoadOptions = {}): LoadResult {
  if (options.baseDir === undefined) options = { ...options, baseDir: dirname(resolve(sourceName)) }
  const parsed = parse(text, sourceName, options.format ?? 'yaml')
  if (parsed.errors.length > 0) return failed(sourceName, parsed.errors)
  if (parsed.doc === null || parsed.doc === undefined) return failed(sourceName, [{ path: sourceName, message: 'the config is empty' }])
  const vault = resolveVaultRefs(parsed.doc, options.env)
  const result = validateConfig(vault.value, options)
  const warnings = [...parsed.warnings, ...result.warnings]
  if (vault.errors.length > 0) {
    // A reference that did not resolve was left as written: drop the errors that follow from that.
    const unresolved = new Set(vault.errors.map((e) => e.path))
    const rest = result.ok ? [] : result.errors.filter((e) => !unresolved.has(e.path))
    return failed(sourceName, [...vault.errors, ...rest], warnings)
  }
  return { ...result, warnings, source: sourceName, secretPaths: vault.secretPaths }
}

/** Reads and validates a config file (YAML, or JSON when it ends in `.json`). Never throws. */
export function loadConfigFile(file: string, options: LoadOptions = {}): LoadResult {
  const source = resolve(file)
  let text: string
  try {
    text = readFileSync(source, 'utf8')
  } catch (e) {
    return failed(source, [{ path: source, message: `cannot read the config file: ${(e as Error).message}` }])
  }
  const format = options.format ?? (extname(source).toLowerCase() === '.json' ? 'json' : 'yaml')
  return parseConfigText(text, source, { ...options, format })
}
