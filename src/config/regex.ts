// Kong (PCRE) regexes in config → JavaScript RegExps, shared by validation and the router.
// Only the PCRE spellings people actually use are translated; everything else must be valid JS syntax.

/**
 * Translates the common PCRE-only spellings: `(?i)` becomes the `i` flag (for the whole regex:
 * `~/(?i)users` is the usual spelling, and a path's leading `/` has no case) and `(?P<name>`
 * becomes `(?<name>`. Returns the source and flags for `new RegExp`.
 */
export function translatePcre(pattern: string): { source: string; flags: string } {
  let source = pattern
  let flags = ''
  if (source.includes('(?i)')) {
    source = source.split('(?i)').join('')
    flags = 'i'
  }
  source = source.replace(/\(\?P</g, '(?<')
  return { source, flags }
}

/**
 * A route path regex (without its `~`), anchored at the start of the path as Kong's router does
 * (PCRE "a" flag): it must match from the first character, not necessarily to the last. It is
 * sticky: set `lastIndex = 0`, call `test(path)`, and `lastIndex` is the matched length.
 */
export function compilePathRegex(pattern: string): RegExp {
  const { source, flags } = translatePcre(pattern)
  return new RegExp(`(?:${source})`, flags + 'y')
}

/** A `~*` header value regex (without the prefix): unanchored and case-insensitive, as Kong's `~*`. */
export function compileHeaderRegex(pattern: string): RegExp {
  const { source, flags } = translatePcre(pattern)
  return new RegExp(source, flags.includes('i') ? flags : flags + 'i')
}

/** The error message for a regex that does not compile, or null when it does. */
export function regexError(pattern: string, compile: (p: string) => RegExp): string | null {
  try {
    compile(pattern)
    return null
  } catch (e) {
    // V8 says "Invalid regular expression: /<our wrapped source>/<flags>: <reason>"; keep the reason.
    const message = (e as Error).message
    const reason = message.slice(message.lastIndexOf(': ') + 2) || message
    return `invalid regex: '${pattern}' (${reason})`
  }
}

const META = '\\^$.|?*+()[]{}'
const QUANTIFIERS = '?*+{'

/**
 * The literal text every match of a path regex must start with ('' when there is none), so the
 * router can skip the regex with a `startsWith`. Conservative: a top-level alternation or the
 * `i` flag gives ''; a quantified last character is not counted.
 */
export function literalPrefix(pattern: string): string {
  const { source, flags } = translatePcre(pattern)
  if (flags.includes('i') || hasTopLevelAlternation(source)) return ''
  let end = 0
  while (end < source.length && !META.includes(source[end])) end++
  if (end < source.length && QUANTIFIERS.includes(source[end])) end--
  return source.slice(0, Math.max(0, end))
}

function hasTopLevelAlternation(source: string): boolean {
  let depth = 0
  let inClass = false
  for (let i = 0; i < source.length; i++) {
    const c = source[i]
    if (c === '\\') i++
    else if (inClass) inClass = c !== ']'
    else if (c === '[') inClass = true
    else if (c === '(') depth++
    else if (c === ')') depth--
    else if (c === '|' && depth === 0) return true
  }
  return false
}
