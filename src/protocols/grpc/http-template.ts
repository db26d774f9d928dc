// google.api.http path templates: parsed and checked once, then matched against request paths by
// offsets into the path string (no split, no regex); strings are made only for captured variables.
//
//   Template = "/" Segments [ ":" Verb ] ;  Segment = "*" | "**" | LITERAL | Variable ;
//   Variable = "{" FieldPath [ "=" Segments ] "}" ;  FieldPath = IDENT { "." IDENT } ;
// `**` (alone or inside a variable) may only be the last segment. `{x}` is `{x=*}`.

/** One path segment of a template: a literal, or a wildcard matching one (`*`) or any number (`**`) of segments. */
export const enum SegmentKind { Literal, Single, Multi }

export interface TemplateSegment {
  readonly kind: SegmentKind
  /** The literal text (as written, compared with the raw request path); '' for wildcards. */
  readonly text: string
}

export interface TemplateVariable {
  /** The field path it binds, split at dots (['book', 'name']). */
  readonly fieldPath: readonly string[]
  /** Index of its first segment in `segments` and how many it spans (`**` counts as one). */
  readonly first: number
  readonly count: number
}

export interface PathTemplate {
  /** As written. */
  readonly source: string
  readonly segments: readonly TemplateSegment[]
  readonly variables: readonly TemplateVariable[]
  /** The custom verb without ':' ('' when none). */
  readonly verb: string
  /** The last segment is `**`. */
  readonly endsWithMulti: boolean
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/
/** RFC 3986 pchar minus ':' (kept for the verb) and the template syntax characters. */
const LITERAL = /^(?:[A-Za-z0-9\-._~!$&'()+,;=@]|%[0-9A-Fa-f]{2})+$/

export class TemplateError extends Error {}

/** Parses a template; throws TemplateError naming what is wrong. */
export function parseTemplate(source: string): PathTemplate {
  if (!source.startsWith('/')) throw new TemplateError(`path template "${source}" must start with "/"`)
  // The verb is the text after the last ':' outside braces, in the last segment.
  let depth = 0
  let lastSlash = 0
  let colon = -1
  for (let i = 0; i < source.length; i++) {
    const c = source[i]
    if (c === '{') depth++
    else if (c === '}') depth--
    else if (depth === 0 && c === '/') lastSlash = i
    else if (depth === 0 && c === ':') colon = i
    if (depth < 0 || depth > 1) throw new TemplateError(`path template "${source}" has unbalanced or nested braces`)
  }
  if (depth !== 0) throw new TemplateError(`path template "${source}" has an unclosed "{"`)
  let verb = ''
  let body = source.slice(1)
  if (colon > lastSlash) {
    verb = source.slice(colon + 1)
    body = source.slice(1, colon)
    if (!LITERAL.test(verb)) throw new TemplateError(`path template "${source}" has an invalid verb ":${verb}"`)
  }
  const segments: TemplateSegment[] = []
  const variables: TemplateVariable[] = []
  for (const part of splitTopLevel(body)) {
    if (part.startsWith('{')) {
      const inner = part.slice(1, -1)
      const eq = inner.indexOf('=')
      const path = eq === -1 ? inner : inner.slice(0, eq)
      const fieldPath = path.split('.')
      if (!fieldPath.every((p) => IDENT.test(p))) throw new TemplateError(`path template "${source}" has an invalid field path "${path}"`)
      if (variables.some((v) => v.fieldPath.join('.') === path)) throw new TemplateError(`path template "${source}" binds "${path}" twice`)
      const first = segments.length
      const sub = eq === -1 ? ['*'] : inner.slice(eq + 1).split('/')
      for (const s of sub) segments.push(plainSegment(s, source))
      variables.push({ fieldPath, first, count: sub.length })
    } else {
      segments.push(plainSegment(part, source))
    }
  }
  const multi = segments.findIndex((s) => s.kind === SegmentKind.Multi)
  if (multi !== -1 && multi !== segments.length - 1) throw new TemplateError(`path template "${source}": "**" must be the last segment`)
  return { source, segments, variables, verb, endsWithMulti: multi !== -1 }
}

/** Splits at '/' outside braces. */
function splitTopLevel(body: string): string[] {
  const parts: string[] = []
  let start = 0
  let depth = 0
  for (let i = 0; i <= body.length; i++) {
    const c = body[i]
    if (c === '{') depth++
    else if (c === '}') depth--
    else if ((c === '/' && depth === 0) || i === body.length) {
      parts.push(body.slice(start, i))
      start = i + 1
    }
  }
  return parts
}

function plainSegment(s: string, source: string): TemplateSegment {
  if (s === '*') return { kind: SegmentKind.Single, text: '' }
  if (s === '**') return { kind: SegmentKind.Multi, text: '' }
  if (!LITERAL.test(s)) throw new TemplateError(`path template "${source}" has an invalid segment "${s}"`)
  return { kind: SegmentKind.Literal, text: s }
}

/**
 * Compares two templates for match order: the more specific first. Segment by segment a literal
 * beats `*`, which beats `**`; then a template with a verb beats one without; then the longer one.
 */
export function compareSpecificity(a: PathTemplate, b: PathTemplate): number {
  const n = Math.min(a.segments.length, b.segments.length)
  for (let i = 0; i < n; i++) {
    const d = a.segments[i].kind - b.segments[i].kind
    if (d !== 0) return d
  }
  if ((a.verb === '') !== (b.verb === '')) return a.verb === '' ? 1 : -1
  return b.segments.length - a.segments.length
}

/**
 * Segment boundaries of one request path, computed once and shared by every template tried against
 * it. `starts[i]`/`ends[i]` are offsets of segment i; the verb (text after the last ':' of the last
 * segment) is only split off by templates that have one.
 */
export class PathSegments {
  path = ''
  count = 0
  starts: Int32Array = new Int32Array(16)
  ends: Int32Array = new Int32Array(16)

  /** Returns false when the path does not start with '/'. */
  reset(path: string): boolean {
    this.path = path
    this.count = 0
    if (path.charCodeAt(0) !== 47) return false
    let start = 1
    for (;;) {
      let end = path.indexOf('/', start)
      if (end === -1) end = path.length
      if (this.count === this.starts.length) this.grow()
      this.starts[this.count] = start
      this.ends[this.count] = end
      this.count++
      if (end === path.length) return true
      start = end + 1
    }
  }

  private grow(): void {
    const starts = new Int32Array(this.starts.length * 2)
    const ends = new Int32Array(this.ends.length * 2)
    starts.set(this.starts)
    ends.set(this.ends)
    this.starts = starts
    this.ends = ends
  }
}

/**
 * Matches a template against prepared segments. On success writes each variable's [start, end)
 * offsets into `spans` (2 per variable) and returns true.
 */
export function matchTemplate(t: PathTemplate, p: PathSegments, spans: Int32Array): boolean {
  const path = p.path
  let count = p.count
  // The end of the last segment, after taking the verb off.
  let lastEnd = p.ends[count - 1]
  if (t.verb !== '') {
    const verbStart = lastEnd - t.verb.length
    if (verbStart <= p.starts[count - 1] || path.charCodeAt(verbStart - 1) !== 58 || !path.startsWith(t.verb, verbStart)) return false
    lastEnd = verbStart - 1
  }
  const segs = t.segments
  if (t.endsWithMulti ? count < segs.length - 1 : count !== segs.length) return false
  // A path of one empty segment ('/') has no segments for a `**` template.
  if (count === 1 && lastEnd === p.starts[0] && t.endsWithMulti && segs.length === 1) count = 0
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]
    if (s.kind === SegmentKind.Multi) break
    const start = p.starts[i]
    const end = i === count - 1 ? lastEnd : p.ends[i]
    if (s.kind === SegmentKind.Literal) {
      if (end - start !== s.text.length || !path.startsWith(s.text, start)) return false
    } else if (end === start) {
      return false
    }
  }
  const vars = t.variables
  for (let v = 0; v < vars.length; v++) {
    const first = vars[v].first
    const last = first + vars[v].count - 1
    const multi = segs[last].kind === SegmentKind.Multi
    spans[2 * v] = first < count ? p.starts[first] : lastEnd
    if (multi) spans[2 * v + 1] = count === 0 ? spans[2 * v] : lastEnd
    else spans[2 * v + 1] = last === count - 1 ? lastEnd : p.ends[last]
    if (multi && first >= count) spans[2 * v] = spans[2 * v + 1]
  }
  return true
}

/**
 * Percent-decodes a captured value. Per google/api/http.proto: a single-segment variable decodes
 * everything (so '%2F' becomes '/'); a multi-segment one decodes everything but '%2F'/'%2f', which
 * would otherwise be indistinguishable from the separators it spans.
 */
export function decodeVariable(raw: string, multiSegment: boolean): string {
  if (raw.indexOf('%') === -1) return raw
  if (!multiSegment) return percentDecode(raw)
  return raw.split(/(%2[fF])/).map((piece, i) => (i % 2 === 1 ? piece : percentDecode(piece))).join('')
}

/** decodeURIComponent, but a malformed escape or invalid UTF-8 is kept as written instead of throwing. */
export function percentDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run)
      } catch {
        return run
      }
    })
  }
}

/** True when the variable spans more than one segment (`{x=a/*}`, `{x=**}`), which changes decoding. */
export function isMultiSegment(t: PathTemplate, v: TemplateVariable): boolean {
  return v.count > 1 || t.segments[v.first].kind === SegmentKind.Multi
}

/**
 * Builds a request path from a template and one value per variable (template order), encoding
 * values as a client must (http.proto): all but unreserved characters, and '/' too in a
 * single-segment variable. Wildcards outside variables take `fill`.
 */
export function expandTemplate(t: PathTemplate, values: readonly string[], fill = 'x'): string {
  const out: string[] = []
  let v = 0
  for (let i = 0; i < t.segments.length; i++) {
    const variable = t.variables[v]
    if (variable !== undefined && variable.first === i) {
      const multi = isMultiSegment(t, variable)
      const encoded = encodeURIComponent(values[v]).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
      out.push(multi ? encoded.replace(/%2F/g, '/') : encoded)
      i += variable.count - 1
      v++
    } else {
      const s = t.segments[i]
      out.push(s.kind === SegmentKind.Literal ? s.text : fill)
    }
  }
  return `/${out.join('/')}${t.verb === '' ? '' : `:${t.verb}`}`
}
