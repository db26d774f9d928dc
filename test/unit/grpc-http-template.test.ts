// google.api.http path templates: parsing and its errors, matching by segment, verbs, `*` and `**`,
// percent-decoding of single- and multi-segment variables, match order, and a match/expand round trip.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  compareSpecificity, decodeVariable, expandTemplate, isMultiSegment, matchTemplate, parseTemplate, PathSegments, TemplateError,
  type PathTemplate,
} from '../../src/protocols/grpc/http-template.js'

const segments = new PathSegments()
const spans = new Int32Array(16)

/** The decoded variable values when `path` matches, else null. */
function match(template: string | PathTemplate, path: string): string[] | null {
  const t = typeof template === 'string' ? parseTemplate(template) : template
  if (!segments.reset(path) || !matchTemplate(t, segments, spans)) return null
  return t.variables.map((v, i) => decodeVariable(path.slice(spans[2 * i], spans[2 * i + 1]), isMultiSegment(t, v)))
}

describe('parsing', () => {
  it('reads literals, wildcards, variables and the verb', () => {
    const t = parseTemplate('/v1/{name=shelves/*/books/*}:publish')
    expect(t.verb).toBe('publish')
    expect(t.segments.map((s) => (s.kind === 0 ? s.text : s.kind === 1 ? '*' : '**'))).toEqual(['v1', 'shelves', '*', 'books', '*'])
    expect(t.variables).toEqual([{ fieldPath: ['name'], first: 1, count: 4 }])
  })

  it('reads {var} as {var=*} and dotted field paths', () => {
    const t = parseTemplate('/v1/{book.name}/x')
    expect(t.variables).toEqual([{ fieldPath: ['book', 'name'], first: 1, count: 1 }])
    expect(t.segments[1].kind).toBe(1)
  })

  it.each([
    ['v1/a', 'must start with "/"'],
    ['/v1/**/a', '"**" must be the last segment'],
    ['/v1/{a=**}/b', '"**" must be the last segment'],
    ['/v1/{a', 'unclosed'],
    ['/v1/{a={b}}', 'nested'],
    ['/v1/{1a}', 'invalid field path'],
    ['/v1/{a}/{a}', 'binds "a" twice'],
    ['/v1/a b', 'invalid segment'],
    ['/v1//a', 'invalid segment'],
    ['/v1/a:', 'invalid verb'],
  ])('rejects %s', (source, message) => {
    expect(() => parseTemplate(source)).toThrow(TemplateError)
    expect(() => parseTemplate(source)).toThrow(message)
  })
})

describe('matching', () => {
  it('matches literals exactly and captures a single-segment variable', () => {
    expect(match('/v1/shelves/{shelf}', '/v1/shelves/12')).toEqual(['12'])
    expect(match('/v1/shelves/{shelf}', '/v1/shelves/12/books')).toBeNull()
    expect(match('/v1/shelves/{shelf}', '/v1/shelve/12')).toBeNull()
    expect(match('/v1/shelves/{shelf}', '/v1/shelves/')).toBeNull()
    expect(match('/v1/shelves/{shelf}', 'v1/shelves/1')).toBeNull()
  })

  it('captures a multi-segment variable with its literals', () => {
    expect(match('/v1/{name=shelves/*/books/*}', '/v1/shelves/1/books/2')).toEqual(['shelves/1/books/2'])
    expect(match('/v1/{name=shelves/*/books/*}', '/v1/shelves/1/magazines/2')).toBeNull()
    expect(match('/v1/{name=shelves/*/books/*}', '/v1/shelves/1/books')).toBeNull()
  })

  it('lets ** take any number of segments, including none', () => {
    const t = parseTemplate('/v1/files/{path=**}')
    expect(match(t, '/v1/files/a/b/c.txt')).toEqual(['a/b/c.txt'])
    expect(match(t, '/v1/files/a')).toEqual(['a'])
    expect(match(t, '/v1/files')).toEqual([''])
    expect(match(t, '/v1/file/a')).toBeNull()
    expect(match('/**', '/')).toEqual([])
    expect(match('/v1/*/x/**', '/v1/a/x/b/c')).toEqual([])
  })

  it('requires the verb when the template has one and keeps it out of the variable', () => {
    const t = parseTemplate('/v1/{name=shelves/*}:publish')
    expect(match(t, '/v1/shelves/1:publish')).toEqual(['shelves/1'])
    expect(match(t, '/v1/shelves/1')).toBeNull()
    expect(match(t, '/v1/shelves/1:unpublish')).toBeNull()
    expect(match('/v1/files/{path=**}:get', '/v1/files/a/b:get')).toEqual(['a/b'])
    // Without a verb in the template, ':x' is part of the last segment.
    expect(match('/v1/shelves/{shelf}', '/v1/shelves/1:x')).toEqual(['1:x'])
    expect(match('/v1/shelves/books', '/v1/shelves/books:stream')).toBeNull()
  })

  it('captures several variables in template order', () => {
    expect(match('/v1/{a}/x/{b.c=y/*}', '/v1/1/x/y/2')).toEqual(['1', 'y/2'])
  })
})

describe('percent-decoding (google/api/http.proto rules)', () => {
  it('decodes everything in a single-segment variable, %2F included', () => {
    expect(match('/v1/{name}', '/v1/a%2Fb%20c%3A%25')).toEqual(['a/b c:%'])
    expect(match('/v1/{name}', '/v1/caf%C3%A9')).toEqual(['café'])
  })

  it('keeps %2F encoded in a multi-segment variable and decodes the rest', () => {
    expect(match('/v1/{name=**}', '/v1/a%2Fb/c%20d%2f')).toEqual(['a%2Fb/c d%2f'])
    expect(match('/v1/{name=shelves/*}', '/v1/shelves/x%2Fy')).toEqual(['shelves/x%2Fy'])
  })

  it('keeps a malformed escape as written', () => {
    expect(decodeVariable('a%zz%41', false)).toBe('a%zzA')
    expect(decodeVariable('%E0%A4%A', false)).toBe('%E0%A4%A')
  })

  it('does not turn + into a space in a path', () => {
    expect(match('/v1/{name}', '/v1/a+b')).toEqual(['a+b'])
  })
})

describe('match order', () => {
  const order = (...sources: string[]): string[] => sources.map(parseTemplate).sort(compareSpecificity).map((t) => t.source)

  it('puts literals before * before **, and a verb before none', () => {
    expect(order('/v1/{x=**}', '/v1/{x}', '/v1/a', '/v1/{x}:do')).toEqual(['/v1/a', '/v1/{x}:do', '/v1/{x}', '/v1/{x=**}'])
    expect(order('/v1/*/b', '/v1/a/*')).toEqual(['/v1/a/*', '/v1/*/b'])
  })
})

describe('round trip (property)', () => {
  const value = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 })
  const segmentValue = value.filter((v) => !v.includes('/'))

  it('a single-segment variable gets back any value, slashes included', () => {
    const t = parseTemplate('/v1/shelves/{shelf}/books/{book}')
    fc.assert(fc.property(value, value, (a, b) => {
      expect(match(t, expandTemplate(t, [a, b]))).toEqual([a, b])
    }))
  })

  it('a ** variable gets back any path of segments that contain no literal "%2F"', () => {
    const t = parseTemplate('/v1/files/{path=**}:get')
    const path = fc.array(segmentValue.filter((v) => !/%2f/i.test(v)), { minLength: 1, maxLength: 4 }).map((p) => p.join('/'))
    fc.assert(fc.property(path, (p) => {
      expect(match(t, expandTemplate(t, [p]))).toEqual([p])
    }))
  })

  it('a pattern variable gets back values of its shape', () => {
    const t = parseTemplate('/v1/{name=shelves/*/books/*}')
    fc.assert(fc.property(segmentValue, segmentValue, (a, b) => {
      const name = `shelves/${a}/books/${b}`
      expect(match(t, expandTemplate(t, [name]))).toEqual([name])
    }))
  })
})
