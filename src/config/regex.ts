// Kong (PCRE) regexes in config → JavaScript RegExps, shared by validation and the router.
// Only the PCRE spellings people actually use are translated; everything else must be valid JS syntax.

/**
 * Translates the common PCRE-only spellings: a leading `(?i)` becomes the `i` flag and
 * `(?P<name>` becomes `(?<name>`. Returns the source and flags for `new RegExp`.
 */
export function translatePcre(pattern: string): { source: string; flags: string } {
  let source = pattern
  let flags = ''
  if (source.startsWith('(?i)')) {
    source = source.slice(4)
    flags = 'i'
  }
  source = source.replace(/\(\?P</g, '(?<')
  return { source, flags }
}

/**
 * A route path regex (without its `~`), anchored at the start of the path as Kong's router does
 * (PCRE "a" flag): it must match from the first character, not necessarily to the last.
 */
export function compilePathRegex(pattern: string): RegExp {
  const { source, flags } = translatePcre(pattern)
  return new RegExp(`^(?:${source})`, flags)
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
    return `invalid regex: '${pattern}' (${(e as Error).message})`
  }
}
