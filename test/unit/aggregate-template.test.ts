// aggregate plugin: backend URL templates (parsed and checked at load, expanded with %-encoded values),
// where variables come from (route regex captures, query, headers), what is forwarded, and config errors.
import { describe, expect, it } from 'vitest'
import { newReport, validateRecord } from '../../src/config/schema.js'
import type { RouteRecord, ServiceRecord } from '../../src/config/types.js'
import plugin from '../../src/plugins/aggregate.js'
import { expandPath, FROM_CAPTURE, FROM_HEADER, FROM_QUERY, parseUrlTemplate, type TemplateVar, type UrlTemplate } from '../../src/plugins/aggregate-template.js'
import { captureNames, forwardedHeaders, forwardedQuery, RequestVars, RouteCaptures } from '../../src/plugins/aggregate-vars.js'
import { fakeRequest, snapshotWith } from '../helpers/plugins.js'

function template(url: string): UrlTemplate {
  const t = parseUrlTemplate(url)
  if (typeof t === 'string') throw new Error(t)
  return t
}

const route = (name: string, paths: string[], service = 0): RouteRecord => ({ name, id: `${name}-id`, service, paths } as unknown as RouteRecord)
const service = (name: string): ServiceRecord => ({ name, id: `${name}-id` } as unknown as ServiceRecord)

describe('aggregate URL templates', () => {
  it('splits a URL into a fixed origin and path/query text around its variables', () => {
    const t = template('http://users.local:8080/users/{id}/posts?expand={query.expand}&lang={header.Accept-Language}')
    expect([t.https, t.hostname, t.port]).toEqual([false, 'users.local', 8080])
    expect(t.literals).toEqual(['/users/', '/posts?expand=', '&lang=', ''])
    expect(t.vars).toEqual([
      { from: FROM_CAPTURE, name: 'id' }, { from: FROM_QUERY, name: 'expand' }, { from: FROM_HEADER, name: 'accept-language' },
    ])
  })

  it('fills default ports, an empty path and IPv6 hosts', () => {
    expect(template('https://a.example').port).toBe(443)
    expect(template('https://a.example').literals).toEqual(['/'])
    expect(template('http://[::1]?q=1')).toMatchObject({ hostname: '::1', port: 80, literals: ['/?q=1'] })
  })

  it('refuses URLs that are not absolute http(s), variables before the path, fragments and bad braces', () => {
    const errors = [
      'users/{id}', 'ftp://h/x', 'http://{host}/x', 'http://h:{port}/x', 'http://u:p@h/x', 'http://h/x#frag',
      'http://h/{id', 'http://h/id}', 'http://h/{a{b}}', 'http://h/{}', 'http://h/{1abc}', 'http://h/{query.}',
      'http://h/{header.bad name}', 'http://h/a b', 'http://h:99999/x',
    ].map((u) => [u, parseUrlTemplate(u)])
    for (const [u, e] of errors) expect(typeof e, String(u)).toBe('string')
    expect(parseUrlTemplate('http://{host}/x')).toBe('variables are only allowed in the path and query')
    expect(parseUrlTemplate('http://h/{1abc}')).toBe("invalid variable '{1abc}' (a capture name, query.<name> or header.<name>)")
  })

  it('percent-encodes every value, so a value cannot add segments or parameters', () => {
    const t = template('http://h/users/{id}?q={query.q}')
    const values: Record<string, string> = { id: '../admin/1 2', q: 'a&b=c?d#e/é' }
    const out = expandPath(t, { value: (v: TemplateVar) => values[v.name]! })
    expect(out).toBe('/users/..%2Fadmin%2F1%202?q=a%26b%3Dc%3Fd%23e%2F%C3%A9')
  })
})

describe('aggregate variables', () => {
  it('finds the named groups of a path regex, PCRE spelling included', () => {
    expect(captureNames('/users/(?<id>\\d+)/(?P<part>[a-z]+)/(\\d+)$')).toEqual(['id', 'part'])
  })

  it('reads captures of the matched route, query parameters (first value, decoded) and headers', () => {
    const snapshot = snapshotWith({
      services: [service('s')],
      routes: [route('plain', ['/plain']), route('users', ['/users/list', '~/users/(?<id>\\d+)$', '~/people/(?<id>[^/]+)/(?<part>\\w+)$'])],
    })
    const missing: string[] = []
    const captures = new RouteCaptures(snapshot, { id: 'p', route: null, service: 's', snapshot }, ['id'], (r, names) => missing.push(`${r}:${names.join()}`))
    expect(missing).toEqual(['plain:id'])
    const ctx = fakeRequest({ routeId: 'users-id', path: '/people/J%C3%BCrgen%2F2/posts', query: 'a=1&a=2&b=x+y%21&flag', headers: new Map([['x-tenant', 't1']]) })
    const vars = new RequestVars(ctx, captures)
    const v = (from: TemplateVar['from'], name: string): string => vars.value({ from, name })
    expect([v(FROM_CAPTURE, 'id'), v(FROM_CAPTURE, 'part'), v(FROM_CAPTURE, 'nope')]).toEqual(['Jürgen/2', 'posts', ''])
    expect([v(FROM_QUERY, 'a'), v(FROM_QUERY, 'b'), v(FROM_QUERY, 'flag'), v(FROM_QUERY, 'none')]).toEqual(['1', 'x y!', '', ''])
    expect([v(FROM_HEADER, 'x-tenant'), v(FROM_HEADER, 'x-none')]).toEqual(['t1', ''])
    expect(new RequestVars(fakeRequest({ routeId: 'users-id', path: '/users/42' }), captures).value({ from: FROM_CAPTURE, name: 'id' })).toBe('42')
    expect(new RequestVars(fakeRequest({ routeId: 'plain-id', path: '/users/42' }), captures).value({ from: FROM_CAPTURE, name: 'id' })).toBe('')
  })

  it('only looks at the routes in the plugin’s scope', () => {
    const snapshot = snapshotWith({ services: [service('s'), service('t')], routes: [route('a', ['~/a/(?<id>\\d+)']), route('b', ['~/b/(?<x>\\d+)'], 1)] })
    const missing: string[] = []
    new RouteCaptures(snapshot, { id: 'p', route: 'a', service: null, snapshot }, ['id'], (r) => missing.push(r))
    new RouteCaptures(snapshot, { id: 'p', route: null, service: 't-id', snapshot }, ['id'], (r) => missing.push(r))
    new RouteCaptures(snapshot, { id: 'p', route: null, service: null, snapshot }, ['id'], (r) => missing.push(r))
    expect(missing).toEqual(['b', 'b'])
  })

  it('forwards only the listed query parameters, as written, or all of them for *', () => {
    expect(forwardedQuery('page=2&secret=x&items=a%20b&page=3&Page=9', new Set(['page', 'items']))).toBe('page=2&items=a%20b&page=3')
    expect(forwardedQuery('a=1&b=2', null)).toBe('a=1&b=2')
    expect(forwardedQuery('a=1', new Set())).toBe('')
    expect(forwardedQuery('sp%61ce=1&x', new Set(['space', 'x']))).toBe('sp%61ce=1&x')
  })

  it('forwards only the listed headers, never hop-by-hop or gateway-set ones nor Accept-Encoding', () => {
    const headers = new Map([
      ['authorization', 'Bearer t'], ['accept', 'application/json'], ['connection', 'keep-alive'], ['host', 'gw'],
      ['accept-encoding', 'gzip'], ['x-forwarded-for', '1.2.3.4'], ['content-length', '3'], ['x-custom', 'c'],
    ])
    expect(forwardedHeaders(headers, new Set(['authorization', 'host', 'accept-encoding', 'x-missing']))).toEqual({ authorization: 'Bearer t' })
    expect(forwardedHeaders(headers, null)).toEqual({ authorization: 'Bearer t', accept: 'application/json', 'x-custom': 'c' })
    expect(forwardedHeaders(headers, new Set())).toEqual({})
  })
})

describe('aggregate config', () => {
  const check = (config: Record<string, unknown>): string[] => {
    const report = newReport()
    validateRecord(plugin.schema, config, 'config', report)
    return report.errors.map((e) => `${e.path}: ${e.message}`)
  }
  const b = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ url: 'http://h/x', ...over })

  it('fills defaults', () => {
    const report = newReport()
    const out = validateRecord(plugin.schema, { backends: [b()] }, 'config', report)!
    expect(report.errors).toEqual([])
    expect(out).toMatchObject({ strategy: 'merge', timeout: 2000, max_response_size: 1048576, input_headers: [], input_query_strings: [] })
    expect((out.backends as Record<string, unknown>[])[0]).toMatchObject({ method: 'GET', headers: {}, group: null, allow: null, timeout: null })
  })

  it('needs at least one backend with a valid URL template', () => {
    expect(check({})).toEqual(['config.backends: required field missing'])
    expect(check({ backends: [] })).toEqual(['config.backends: must not be empty'])
    expect(check({ backends: [b({ url: 'http://h/{id' })] })).toEqual(["config.backends[0].url: unclosed '{' in 'http://h/{id'"])
  })

  it('refuses allow together with deny, as KrakenD’s filters are one or the other', () => {
    expect(check({ backends: [b({ allow: ['a'], deny: ['b'] })] })).toEqual([
      "config.backends[0]: only one or none of these fields must be set: 'allow', 'deny'",
    ])
  })

  it('needs a group on every backend for strategy group', () => {
    expect(check({ strategy: 'group', backends: [b({ group: 'a' }), b(), b()] })).toEqual([
      "config: strategy 'group' needs a 'group' on every backend (missing on backends[1], backends[2])",
    ])
    expect(check({ strategy: 'group', backends: [b({ group: 'a' })] })).toEqual([])
  })

  it('checks methods, header names and values, field paths and timeouts', () => {
    expect(check({
      timeout: 0,
      input_headers: ['bad header', '*'],
      backends: [b({ method: 'HEAD', headers: { 'x y': 'v', ok: 'a\r\nb' }, allow: ['a..b'], mapping: { a: '' }, timeout: -1 })],
    })).toEqual([
      'config.backends[0].method: expected one of: GET, POST, PUT, PATCH, DELETE',
      'config.backends[0].headers["x y"]: bad header name \'x y\', allowed characters are A-Z, a-z, 0-9, \'_\', and \'-\'',
      'config.backends[0].headers.ok: must not contain CR or LF',
      'config.backends[0].allow[0]: must be a field name or a dotted path (a.b.c)',
      'config.backends[0].mapping.a: must not be empty',
      'config.backends[0].timeout: must be between 1 and 2147483646',
      'config.timeout: must be between 1 and 2147483646',
      'config.input_headers[0]: bad header name \'bad header\', allowed characters are A-Z, a-z, 0-9, \'_\', and \'-\'',
    ])
  })
})
