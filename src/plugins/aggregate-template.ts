// Backend URL templates of the aggregate plugin: `{name}` (a named capture of the route's regex path),
// `{query.x}` and `{header.x}`, only in the path and query; parsed and checked at load, expanded per request.

/** Where a variable's value comes from. */
export const FROM_CAPTURE = 0
export const FROM_QUERY = 1
export const FROM_HEADER = 2

export interface TemplateVar {
  from: typeof FROM_CAPTURE | typeof FROM_QUERY | typeof FROM_HEADER
  /** Capture name, query parameter name as written, or lower-case header name. */
  name: string
}

export interface UrlTemplate {
  https: boolean
  /** Host name or IP (IPv6 without brackets) and port: fixed, since variables may only follow them. */
  hostname: string
  port: number
  /** Path and query as literal text and variables, alternating: literals[0] vars[0] literals[1] … literals[n]. */
  literals: readonly string[]
  vars: readonly TemplateVar[]
}

/** Gives each variable its value for one request (the caller's object: no closure per request). */
export interface VarSource {
  value(v: TemplateVar): string
}

const ORIGIN = /^(https?):\/\/([^/?#]*)/i
const CAPTURE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const HEADER_NAME = /^[A-Za-z0-9_-]+$/
/** Literal path and query text: visible ASCII (RFC 3986 characters and %-escapes; no spaces or controls). */
const LITERAL = /^[\x21-\x7e]*$/

function parseVar(text: string): TemplateVar | string {
  if (text.startsWith('query.')) {
    const name = text.slice(6)
    return name === '' ? `empty query parameter name in '{${text}}'` : { from: FROM_QUERY, name }
  }
  if (text.startsWith('header.')) {
    const name = text.slice(7)
    return HEADER_NAME.test(name) ? { from: FROM_HEADER, name: name.toLowerCase() } : `bad header name in '{${text}}'`
  }
  return CAPTURE_NAME.test(text) ? { from: FROM_CAPTURE, name: text }
    : `invalid variable '{${text}}' (a capture name, query.<name> or header.<name>)`
}

/** The template, or an error message. */
export function parseUrlTemplate(url: string): UrlTemplate | string {
  const origin = ORIGIN.exec(url)
  if (origin === null) return 'must be an absolute http or https URL'
  const authority = origin[2]!
  if (authority.includes('{') || authority.includes('}')) return 'variables are only allowed in the path and query'
  if (authority.includes('@')) return 'must not have user info'
  let parsed: URL
  try {
    parsed = new URL(`${origin[1]!.toLowerCase()}://${authority}`)
  } catch {
    return `invalid host in '${url}'`
  }
  if (parsed.hostname === '') return `invalid host in '${url}'`
  const rest = url.slice(origin[0].length)
  if (rest.includes('#')) return 'must not have a fragment'
  const literals: string[] = []
  const vars: TemplateVar[] = []
  let literal = rest.startsWith('/') ? '' : '/'
  let i = 0
  while (i < rest.length) {
    const open = rest.indexOf('{', i)
    const close = rest.indexOf('}', i)
    if (close !== -1 && (open === -1 || close < open)) return `unmatched '}' in '${url}'`
    if (open === -1) {
      literal += rest.slice(i)
      break
    }
    const end = rest.indexOf('}', open + 1)
    if (end === -1) return `unclosed '{' in '${url}'`
    const inner = rest.slice(open + 1, end)
    if (inner.includes('{')) return `unclosed '{' in '${url}'`
    const v = parseVar(inner)
    if (typeof v === 'string') return v
    literals.push(literal + rest.slice(i, open))
    vars.push(v)
    literal = ''
    i = end + 1
  }
  literals.push(literal)
  for (const text of literals) if (!LITERAL.test(text)) return `invalid characters in the path or query of '${url}'`
  const https = parsed.protocol === 'https:'
  const hostname = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname
  return { https, hostname, port: parsed.port === '' ? (https ? 443 : 80) : Number(parsed.port), literals, vars }
}

/** Schema validator: null when `url` is a valid template. */
export function urlTemplateError(url: string): string | null {
  const t = parseUrlTemplate(url)
  return typeof t === 'string' ? t : null
}

/** The path and query for one request, each value percent-encoded (a `/` or `?` in a value cannot change the URL's shape). */
export function expandPath(t: UrlTemplate, source: VarSource): string {
  const { literals, vars } = t
  let out = literals[0]!
  for (let i = 0; i < vars.length; i++) out += encodeURIComponent(source.value(vars[i]!)) + literals[i + 1]!
  return out
}
