// Kong's traditional router: what matches (hosts, methods, headers, paths, query, snis), which route
// wins (Kong's precedence), and the upstream path built by strip_path and path_handling v0/v1.
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { compileSnapshot } from '../../src/config/compile.js'
import { validateConfig } from '../../src/config/validate.js'
import { Router, type RouteMatch } from '../../src/worker/router.js'

type Doc = Record<string, unknown>

function router(doc: Doc): Router {
  const r = validateConfig({ _format_version: '3.0', ...doc })
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'))
  return new Router(compileSnapshot(r.config, '', 0))
}

/** Routes on one service without a path; `routes` are Kong route records (name required). */
const routesOf = (...routes: Doc[]): Doc => ({ services: [{ name: 's', host: 'backend', routes }] })

interface Req {
  method?: string
  host?: string
  path?: string
  headers?: Record<string, string>
  query?: string
  sni?: string
}

function match(r: Router, req: Req = {}): RouteMatch | null {
  const headers = new Map(Object.entries(req.headers ?? {}))
  return r.match(req.method ?? 'GET', req.host ?? 'gateway.local', req.path ?? '/', headers, req.query ?? '', req.sni ?? '')
}

const hit = (r: Router, req: Req = {}): string | null => match(r, req)?.route.name ?? null

describe('hosts', () => {
  const r = router(routesOf(
    { name: 'exact', hosts: ['api.example.com'] },
    { name: 'suffix', hosts: ['*.example.com'] },
    { name: 'prefix', hosts: ['example.*'] },
    { name: 'port', hosts: ['ports.example.net:8080'] },
  ))

  it('matches an exact host, ignoring case and the port', () => {
    expect(hit(r, { host: 'api.example.com' })).toBe('exact')
    expect(hit(r, { host: 'API.Example.COM:8000' })).toBe('exact')
  })

  it('matches a leading wildcard on any number of labels, but not the bare domain', () => {
    expect(hit(r, { host: 'www.example.com' })).toBe('suffix')
    expect(hit(r, { host: 'a.b.example.com:81' })).toBe('suffix')
    expect(hit(router(routesOf({ name: 'suffix', hosts: ['*.example.com'] })), { host: 'example.com' })).toBeNull()
    expect(hit(r, { host: 'notexample.com' })).toBeNull()
  })

  it('matches a trailing wildcard', () => {
    expect(hit(r, { host: 'example.org' })).toBe('prefix')
    expect(hit(r, { host: 'example.co.uk' })).toBe('prefix')
  })

  it('matches a host written with a port only on that port', () => {
    expect(hit(r, { host: 'ports.example.net:8080' })).toBe('port')
    expect(hit(r, { host: 'ports.example.net' })).toBeNull()
  })

  it('prefers a plain host over a wildcard that also matches', () => {
    const both = router(routesOf({ name: 'wild', hosts: ['*.example.com'] }, { name: 'plain', hosts: ['api.example.com'] }))
    expect(hit(both, { host: 'api.example.com' })).toBe('plain')
    expect(hit(both, { host: 'web.example.com' })).toBe('wild')
  })
})

describe('methods, headers, query and snis', () => {
  it('matches methods in either case', () => {
    const r = router(routesOf({ name: 'get', methods: ['GET', 'HEAD'] }))
    expect(hit(r, { method: 'GET' })).toBe('get')
    expect(hit(r, { method: 'head' })).toBe('get')
    expect(hit(r, { method: 'POST' })).toBeNull()
  })

  it('matches header values case-insensitively, one of a list, or within a repeated header', () => {
    const r = router(routesOf({ name: 'h', headers: { 'x-version': ['v1', 'v2'] } }))
    expect(hit(r, { headers: { 'x-version': 'V2' } })).toBe('h')
    expect(hit(r, { headers: { 'x-version': 'v3, v1' } })).toBe('h')
    expect(hit(r, { headers: { 'x-version': 'v3' } })).toBeNull()
    expect(hit(r)).toBeNull()
  })

  it('matches ~* header regexes, case-insensitively', () => {
    const r = router(routesOf({ name: 're', headers: { 'user-agent': ['~*curl/\\d+'] } }))
    expect(hit(r, { headers: { 'user-agent': 'CURL/8.1' } })).toBe('re')
    expect(hit(r, { headers: { 'user-agent': 'wget' } })).toBeNull()
  })

  it('needs every header of a route', () => {
    const r = router(routesOf({ name: 'two', headers: { a: ['1'], b: ['2'] } }))
    expect(hit(r, { headers: { a: '1' } })).toBeNull()
    expect(hit(r, { headers: { a: '1', b: '2' } })).toBe('two')
  })

  it('matches the query extension: every named parameter with one of its values', () => {
    const r = router(routesOf(
      { name: 'v1', paths: ['/items'], query: { version: ['1'], fmt: ['json', 'x y'] } },
      { name: 'any', paths: ['/items'] },
    ))
    expect(hit(r, { path: '/items', query: 'version=1&fmt=json' })).toBe('v1')
    expect(hit(r, { path: '/items', query: 'a=b&fmt=x+y&version=1' })).toBe('v1')
    expect(hit(r, { path: '/items', query: 'fmt=x%20y&version=2&version=1' })).toBe('v1')
    expect(hit(r, { path: '/items', query: 'version=1' })).toBe('any')
    expect(hit(r, { path: '/items', query: 'version=10&fmt=json' })).toBe('any')
  })

  it('matches snis on TLS and lets plain HTTP through, as Kong', () => {
    const r = router(routesOf({ name: 'tls', protocols: ['https'], snis: ['secure.example.com'] }))
    expect(hit(r, { sni: 'secure.example.com' })).toBe('tls')
    expect(hit(r, { sni: 'other.example.com' })).toBeNull()
    expect(hit(r, { sni: '' })).toBe('tls')
  })
})

describe('paths', () => {
  it('matches plain paths as prefixes and picks the longest', () => {
    const r = router(routesOf({ name: 'root', paths: ['/'] }, { name: 'api', paths: ['/api'] }, { name: 'v1', paths: ['/api/v1'] }))
    expect(hit(r, { path: '/api/v1/users' })).toBe('v1')
    expect(hit(r, { path: '/api/v2' })).toBe('api')
    expect(hit(r, { path: '/apis' })).toBe('api')
    expect(hit(r, { path: '/other' })).toBe('root')
  })

  it('prefers a regex path over any plain prefix, and orders regexes by regex_priority', () => {
    const r = router(routesOf(
      { name: 'long-prefix', paths: ['/users/123/orders'] },
      { name: 'regex-low', paths: ['~/users/\\d+'] },
      { name: 'regex-high', paths: ['~/users/1\\d*'], regex_priority: 10 },
    ))
    expect(hit(r, { path: '/users/123/orders' })).toBe('regex-high')
    expect(hit(r, { path: '/users/42' })).toBe('regex-low')
    expect(hit(r, { path: '/users/x' })).toBeNull()
  })

  it('anchors regexes at the start of the path only', () => {
    const r = router(routesOf({ name: 're', paths: ['~/v\\d+'] }))
    expect(hit(r, { path: '/v2/anything' })).toBe('re')
    expect(hit(r, { path: '/x/v2' })).toBeNull()
  })

  it('breaks ties by config order, and splits a route per path as Kong does', () => {
    const r = router(routesOf({ name: 'first', paths: ['/a', '/b/c'] }, { name: 'second', paths: ['/b'] }, { name: 'third', paths: ['/a'] }))
    expect(hit(r, { path: '/a' })).toBe('first')
    expect(hit(r, { path: '/b/c/d' })).toBe('first')
    expect(hit(r, { path: '/b/x' })).toBe('second')
  })

  it('matches the normalized path (dot segments, double slashes, encoded unreserved characters)', () => {
    const r = router(routesOf({ name: 'public', paths: ['/public'] }, { name: 'admin', paths: ['/admin'] }))
    expect(hit(r, { path: '/public/../admin' })).toBe('admin')
    expect(hit(r, { path: '//public//x' })).toBe('public')
    expect(hit(r, { path: '/%70ublic' })).toBe('public')
    expect(match(r, { path: '/public/./a/../b' })?.upstreamPath).toBe('/b')
  })

  it('returns null when nothing matches', () => {
    const r = router(routesOf({ name: 'a', paths: ['/a'], methods: ['GET'] }))
    expect(match(r, { path: '/b' })).toBeNull()
    expect(match(r, { path: '/a', method: 'PUT' })).toBeNull()
    expect(router({}).match('GET', 'h', '/', new Map(), '')).toBeNull()
  })
})

describe('precedence across categories (more matched attributes win)', () => {
  const r = router(routesOf(
    { name: 'path-only', paths: ['/api/very/long/prefix'] },
    { name: 'host-path', hosts: ['api.example.com'], paths: ['/api'] },
    { name: 'host-only', hosts: ['api.example.com'] },
    { name: 'path-method', paths: ['/'], methods: ['POST'] },
    { name: 'host-header-path', hosts: ['api.example.com'], paths: ['/'], headers: { 'x-beta': ['1'] } },
  ))

  it('prefers host + path over a longer path alone', () => {
    expect(hit(r, { host: 'api.example.com', path: '/api/very/long/prefix' })).toBe('host-path')
  })

  it('prefers three matched attributes over two', () => {
    expect(hit(r, { host: 'api.example.com', path: '/api', headers: { 'x-beta': '1' } })).toBe('host-header-path')
  })

  it('prefers two attributes over one, whatever they are', () => {
    expect(hit(r, { host: 'api.example.com', path: '/x', method: 'POST' })).toBe('path-method')
    expect(hit(r, { host: 'api.example.com', path: '/x' })).toBe('host-only')
  })

  it('falls back to the fewer-attribute routes when the specific ones do not match', () => {
    expect(hit(r, { host: 'other', path: '/api/very/long/prefix/x' })).toBe('path-only')
  })

  it('within one category, prefers more headers, then a query matcher', () => {
    const q = router(routesOf(
      { name: 'one-header', paths: ['/'], headers: { a: ['1'] }, query: { q: ['1'] } },
      { name: 'two-headers', paths: ['/'], headers: { a: ['1'], b: ['1'] } },
    ))
    expect(hit(q, { headers: { a: '1', b: '1' }, query: 'q=1' })).toBe('one-header') // 3 attributes beat 2
    const h = router(routesOf(
      { name: 'one-header', headers: { a: ['1'] }, paths: ['/long/prefix'] },
      { name: 'two-headers', headers: { a: ['1'], b: ['1'] }, paths: ['/'] },
    ))
    expect(hit(h, { path: '/long/prefix', headers: { a: '1', b: '1' } })).toBe('two-headers')
  })
})

describe('upstream path: strip_path and path_handling', () => {
  // Kong's documented combinations (service.path, route.path, request, strip_path → v0, v1).
  const cases: [string, string, string, boolean, string, string][] = [
    ['/s', '/fv0', '/fv0req', false, '/s/fv0req', '/sfv0req'],
    ['/s', '/tv0', '/tv0req', true, '/s/req', '/sreq'],
    ['/s', '/fv0/', '/fv0/req', false, '/s/fv0/req', '/sfv0/req'],
    ['/s', '/tv0/', '/tv0/req', true, '/s/req', '/sreq'],
    ['/s/', '/fv0', '/fv0req', false, '/s/fv0req', '/s/fv0req'],
    ['/s/', '/tv0', '/tv0req', true, '/s/req', '/s/req'],
    ['/s/', '/tv0/', '/tv0/req', true, '/s/req', '/s/req'],
    ['/s', '/tv0', '/tv0', true, '/s', '/s'],
    ['/s/', '/tv0', '/tv0', true, '/s', '/s/'],
    ['/s', '/tv0', '/tv0/', true, '/s/', '/s/'],
    ['/s/', '/tv0/', '/tv0/', true, '/s/', '/s/'],
  ]

  for (const [servicePath, routePath, request, strip, v0, v1] of cases) {
    it(`service ${servicePath}, route ${routePath}, request ${request}, strip_path ${strip} → v0 ${v0}, v1 ${v1}`, () => {
      for (const [handling, want] of [['v0', v0], ['v1', v1]] as const) {
        const r = router({
          services: [{ name: 's', host: 'b', path: servicePath, routes: [{ paths: [routePath], strip_path: strip, path_handling: handling }] }],
        })
        expect(match(r, { path: request })?.upstreamPath).toBe(want)
      }
    })
  }

  it('strips the prefix for a service without a path, and reports what it stripped', () => {
    const r = router(routesOf({ name: 'echo', paths: ['/echo'] }, { name: 'keep', paths: ['/keep'], strip_path: false }))
    expect(match(r, { path: '/echo/a/b' })).toMatchObject({ upstreamPath: '/a/b', strippedPrefix: '/echo', routeIndex: 0 })
    expect(match(r, { path: '/echo' })).toMatchObject({ upstreamPath: '/', strippedPrefix: '/echo' })
    expect(match(r, { path: '/keep/x' })).toMatchObject({ upstreamPath: '/keep/x', strippedPrefix: '', routeIndex: 1 })
  })

  it('strips what a regex matched', () => {
    const r = router({ services: [{ name: 's', host: 'b', path: '/api', routes: [{ paths: ['~/v\\d+'] }] }] })
    expect(match(r, { path: '/v12/items' })).toMatchObject({ upstreamPath: '/api/items', strippedPrefix: '/v12' })
  })

  it('keeps the whole path for a route without paths', () => {
    const r = router({ services: [{ name: 's', host: 'b', path: '/base', routes: [{ hosts: ['h'] }] }] })
    expect(match(r, { host: 'h', path: '/x/y' })).toMatchObject({ upstreamPath: '/base/x/y', strippedPrefix: '' })
  })
})

describe('cost of matching', () => {
  afterEach(() => vi.restoreAllMocks())

  it('does not run regexes of routes excluded by cheaper checks or outranked by a match', () => {
    const r = router(routesOf(
      { name: 'post-regex', methods: ['POST'], paths: ['~/(a+)+$'] },
      { name: 'host-path', hosts: ['api.example.com'], paths: ['/a'] },
      { name: 'path-regex', paths: ['~/a\\w*'] },
    ))
    const test = vi.spyOn(RegExp.prototype, 'test')
    expect(hit(r, { method: 'GET', host: 'api.example.com', path: '/aaaa' })).toBe('host-path')
    expect(test).not.toHaveBeenCalled()
    expect(hit(r, { method: 'GET', host: 'other', path: '/aaaa' })).toBe('path-regex')
    expect(test).toHaveBeenCalledTimes(1)
  })
})

describe('properties', () => {
  it('with plain prefixes only, picks the longest matching prefix, earliest on ties', () => {
    const segment = fc.constantFrom('a', 'b', 'ab', 'c')
    const prefix = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => `/${s.join('/')}`)
    fc.assert(fc.property(fc.array(prefix, { minLength: 1, maxLength: 12 }), prefix, (prefixes, path) => {
      const r = router(routesOf(...prefixes.map((p, i) => ({ name: `r${i}`, paths: [p] }))))
      let want: string | null = null
      let best = -1
      prefixes.forEach((p, i) => {
        if (path.startsWith(p) && p.length > best) {
          best = p.length
          want = `r${i}`
        }
      })
      expect(hit(r, { path })).toBe(want)
    }), { numRuns: 200 })
  })

  it('with prefixes and regexes, a matching regex wins by regex_priority then order, else the longest prefix', () => {
    const segment = fc.constantFrom('a', 'b', 'ab', 'ba')
    const text = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => `/${s.join('/')}`)
    const route = fc.record({ path: text, regex: fc.boolean(), priority: fc.integer({ min: 0, max: 2 }) })
    fc.assert(fc.property(fc.array(route, { minLength: 1, maxLength: 10 }), text, (routes, path) => {
      const r = router(routesOf(...routes.map((x, i) => ({
        name: `r${i}`, paths: [x.regex ? `~${x.path}b*$` : x.path], regex_priority: x.priority,
      }))))
      const regexHits = routes.map((x, i) => ({ ...x, i })).filter((x) => x.regex && new RegExp(`^${x.path}b*$`).test(path))
      regexHits.sort((a, b) => b.priority - a.priority || a.i - b.i)
      let want: string | null = regexHits.length > 0 ? `r${regexHits[0].i}` : null
      if (want === null) {
        let best = -1
        routes.forEach((x, i) => {
          if (!x.regex && path.startsWith(x.path) && x.path.length > best) {
            best = x.path.length
            want = `r${i}`
          }
        })
      }
      expect(hit(r, { path })).toBe(want)
    }), { numRuns: 300 })
  })
})
