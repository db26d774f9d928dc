// `_format_version`: which declarative formats load, and Kong's migration of pre-3.0 files, whose
// regex paths were written without the `~` prefix (kong/db/migrations/migrate_regex_280_300.lua).
import { isPlainObject, joinPath, type Report } from './schema.js'

/**
 * Kong 3.x loads "3.0" natively and still reads "1.1" and "2.1" files, migrating their regex
 * paths; so do we. A bare YAML number (`_format_version: 3.0`) is accepted with a warning.
 */
export const FORMAT_VERSIONS = ['3.0', '2.1', '1.1'] as const
export type FormatVersion = (typeof FORMAT_VERSIONS)[number]

/** Reads `_format_version`; null (with an error reported) when missing or unsupported. */
export function readFormatVersion(doc: Record<string, unknown>, report: Report): FormatVersion | null {
  const v = doc._format_version
  if (v === undefined || v === null) {
    report.errors.push({ path: '_format_version', message: 'required field missing (use "3.0")' })
    return null
  }
  let text: string
  if (typeof v === 'number') {
    text = Number.isInteger(v) ? v.toFixed(1) : String(v)
    report.warnings.push({ path: '_format_version', message: `should be a string: write "${text}" in quotes` })
  } else if (typeof v === 'string') {
    text = v
  } else {
    report.errors.push({ path: '_format_version', message: 'expected a string' })
    return null
  }
  if (!(FORMAT_VERSIONS as readonly string[]).includes(text)) {
    report.errors.push({ path: '_format_version', message: `expected one of: ${FORMAT_VERSIONS.join(', ')}` })
    return null
  }
  return text as FormatVersion
}

const PLAIN_PATH = /^[a-zA-Z0-9.\-_~/%]*$/
const RESERVED = new Set('!#$%&\'()*+,/:;=?@[]'.split('').map((c) => c.charCodeAt(0)))
const REGEX_META = new Set('.^-{}\\|'.split('').map((c) => c.charCodeAt(0)))

/** Kong's normalize_regex: decode %XX of unreserved bytes (escaping regex metacharacters), upper-case the rest. */
function normalizeLegacyRegex(re: string): string {
  return re.replace(/%([0-9A-Fa-f]{2})/g, (m: string, hex: string) => {
    const code = parseInt(hex, 16)
    if (RESERVED.has(code)) return m.toUpperCase()
    const ch = String.fromCharCode(code)
    return REGEX_META.has(code) ? `\\${ch}` : ch
  })
}

function migratePaths(route: unknown, at: string, report: Report): void {
  if (!isPlainObject(route) || !Array.isArray(route.paths)) return
  route.paths = route.paths.map((p: unknown, i: number) => {
    if (typeof p !== 'string' || PLAIN_PATH.test(p)) return p
    report.warnings.push({
      path: joinPath(joinPath(at, 'paths'), i),
      message: 'read as a regex, as Kong does for _format_version 1.1/2.1; with "3.0" write it with a "~" prefix',
    })
    return `~${normalizeLegacyRegex(p)}`
  })
}

/** Prefixes regex-looking paths with `~` in every route of a pre-3.0 document (mutates `doc`). */
export function migrateLegacyRoutes(doc: Record<string, unknown>, report: Report): void {
  const services = Array.isArray(doc.services) ? doc.services : []
  services.forEach((s: unknown, i: number) => {
    if (isPlainObject(s) && Array.isArray(s.routes)) {
      s.routes.forEach((r: unknown, j: number) => migratePaths(r, `services[${i}].routes[${j}]`, report))
    }
  })
  const routes = Array.isArray(doc.routes) ? doc.routes : []
  routes.forEach((r: unknown, k: number) => migratePaths(r, `routes[${k}]`, report))
}
