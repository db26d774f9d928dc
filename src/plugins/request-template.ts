// request-transformer's `$(…)` value templates, parsed once at load: lookups in the request's headers,
// query_params and uri_captures, joined by `or` with string literals. No code runs; anything else is refused.

export type TemplateSource = 'headers' | 'query_params' | 'uri_captures'

/** One alternative of an expression: a lookup, or a string literal. */
type Term = { readonly source: TemplateSource; readonly key: string } | { readonly literal: string }

/** Literal text, or an expression: its alternatives, the first that is set wins (Lua's `a or b`). */
type Part = string | readonly Term[]

export interface Template {
  readonly parts: readonly Part[]
  /** The sources the template reads (lets the plugin skip building what nobody reads). */
  readonly sources: ReadonlySet<TemplateSource>
}

/** What a template reads from, per request. Values missing render as '' (penlight's `(expr or '')`). */
export interface TemplateEnv {
  header(lower: string): string | undefined
  queryParam(name: string): string | undefined
  capture(key: string): string | undefined
}

const SOURCES: ReadonlySet<string> = new Set(['headers', 'query_params', 'uri_captures'])
const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y
const NUMBER = /[0-9]+/y
const SPACE = /\s*/y

/** Parses `text`, or returns the error message for the config path. A value without `$(` is a plain literal. */
export function parseTemplate(text: string): Template | string {
  const parts: Part[] = []
  const sources = new Set<TemplateSource>()
  let literal = ''
  let i = 0
  while (i < text.length) {
    const start = text.indexOf('$(', i)
    if (start === -1) {
      literal += text.slice(i)
      break
    }
    literal += text.slice(i, start)
    const end = closingParen(text, start + 1)
    if (end === -1) return `value '${text}' has an unclosed '$(' template`
    const expr = parseExpression(text.slice(start + 2, end))
    if (typeof expr === 'string') return `value '${text}' has an unsupported template '${text.slice(start, end + 1)}': ${expr}`
    if (literal !== '') parts.push(literal)
    literal = ''
    parts.push(expr)
    for (const t of expr) if ('source' in t) sources.add(t.source)
    i = end + 1
  }
  if (literal !== '') parts.push(literal)
  return { parts, sources }
}

/** Renders a parsed template against one request. */
export function render(t: Template, env: TemplateEnv): string {
  let out = ''
  for (let i = 0; i < t.parts.length; i++) {
    const part = t.parts[i]!
    if (typeof part === 'string') {
      out += part
      continue
    }
    for (let j = 0; j < part.length; j++) {
      const term = part[j]!
      const value = 'literal' in term ? term.literal : lookup(env, term.source, term.key)
      if (value !== undefined) {
        out += value
        break
      }
    }
  }
  return out
}

function lookup(env: TemplateEnv, source: TemplateSource, key: string): string | undefined {
  if (source === 'headers') return env.header(key)
  if (source === 'query_params') return env.queryParam(key)
  return env.capture(key)
}

/** Index of the `)` closing the `(` at `open` (Lua's %b(), skipping quoted strings), or -1. */
function closingParen(text: string, open: number): number {
  let depth = 0
  for (let i = open; i < text.length; i++) {
    const c = text[i]
    if (c === '"' || c === "'") {
      const close = text.indexOf(c, i + 1)
      if (close === -1) return -1
      i = close
    } else if (c === '(') depth++
    else if (c === ')' && --depth === 0) return i
  }
  return -1
}

/** `term (or term)*`, each term a lookup (`headers.x`, `headers["x-y"]`, `uri_captures[1]`) or a string literal. */
function parseExpression(src: string): Term[] | string {
  const terms: Term[] = []
  let i = skipSpace(src, 0)
  for (;;) {
    const term = parseTerm(src, i)
    if (typeof term === 'string') return term
    terms.push(term.term)
    i = skipSpace(src, term.next)
    if (i === src.length) return terms
    if (!src.startsWith('or', i) || !/\s/.test(src[i + 2] ?? '')) return `expected 'or' at '${src.slice(i)}'`
    i = skipSpace(src, i + 2)
  }
}

function skipSpace(src: string, i: number): number {
  SPACE.lastIndex = i
  SPACE.test(src)
  return SPACE.lastIndex
}

function parseTerm(src: string, i: number): { term: Term; next: number } | string {
  const quote = src[i]
  if (quote === '"' || quote === "'") {
    const close = src.indexOf(quote, i + 1)
    if (close === -1) return 'unclosed string'
    const text = src.slice(i + 1, close)
    if (text.includes('\\')) return 'escapes in strings are not supported'
    return { term: { literal: text }, next: close + 1 }
  }
  IDENT.lastIndex = i
  const name = IDENT.exec(src)?.[0]
  if (name === undefined || !SOURCES.has(name)) {
    return "only lookups in headers, query_params and uri_captures (with 'or' and string literals) are supported"
  }
  const source = name as TemplateSource
  let j = i + name.length
  let key: string
  if (src[j] === '.') {
    IDENT.lastIndex = j + 1
    const field = IDENT.exec(src)?.[0]
    if (field === undefined) return `expected a name after '${name}.'`
    key = field
    j += 1 + field.length
  } else if (src[j] === '[') {
    j = skipSpace(src, j + 1)
    const q = src[j]
    if (q === '"' || q === "'") {
      const close = src.indexOf(q, j + 1)
      if (close === -1) return 'unclosed string'
      key = src.slice(j + 1, close)
      j = close + 1
    } else {
      NUMBER.lastIndex = j
      const digits = NUMBER.exec(src)?.[0]
      if (digits === undefined) return `expected a string or a number in '${name}[…]'`
      key = digits
      j += digits.length
    }
    j = skipSpace(src, j)
    if (src[j] !== ']') return `expected ']' after '${name}[…'`
    j++
  } else {
    return `expected '.' or '[' after '${name}'`
  }
  // ngx.req.get_headers() answers any spelling: lower case, with '_' standing for '-'.
  if (source === 'headers') key = key.toLowerCase().replace(/_/g, '-')
  return { term: { source, key }, next: j }
}
