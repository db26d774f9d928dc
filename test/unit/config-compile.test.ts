// Compiling a validated config into a Snapshot: names, health slots, upstream links, route records
// in router form, disabled entities left out, and a stable content hash.
import { describe, expect, it } from 'vitest'
import { canonicalJson, compileSnapshot } from '../../src/config/compile.js'
import { validateConfig } from '../../src/config/validate.js'
import type { Snapshot } from '../../src/config/types.js'

function snapshot(doc: Record<string, unknown>, source = '/etc/gw.yaml', loadedAt = 0): Snapshot {
  const r = validateConfig({ _format_version: '3.0', ...doc })
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'))
  return compileSnapshot(r.config, source, loadedAt)
}

const base = {
  services: [
    { name: 'api', host: 'backend', routes: [{ name: 'api-r', paths: ['/api'] }, { paths: ['/two'] }] },
    { url: 'http://10.0.0.9:81/', routes: [{ paths: ['/plain'] }] },
  ],
  upstreams: [{ name: 'backend', targets: [{ target: '10.0.0.1:80' }, { target: '10.0.0.2:80' }] }],
  targets: [{ target: '10.0.0.3:80', upstream: 'backend' }],
  routes: [{ paths: ['/top'], service: 'api' }],
}

describe('compileSnapshot', () => {
  it('links a service whose host names an upstream, and numbers health slots uniquely', () => {
    const s = snapshot(base)
    expect(s.upstreams[0].targets.map((t) => [t.target, t.healthSlot])).toEqual([
      ['10.0.0.1:80', 0], ['10.0.0.2:80', 1], ['10.0.0.3:80', 2],
    ])
    expect(s.services[0].upstream).toBe(0)
    expect(s.services[0].target.healthSlot).toBe(-1)
    expect(s.services[1]).toMatchObject({ upstream: -1, host: '10.0.0.9', port: 81, path: '' })
    expect(s.services[1].target).toEqual({ target: '10.0.0.9:81', host: '10.0.0.9', port: 81, weight: 100, healthSlot: 3 })
    expect(s.healthSlots).toBe(4)
  })

  it('names entities by name, else id, else kind-index, never reusing a written name', () => {
    const s = snapshot({
      services: [{ host: 'a', id: 'svc-uuid' }, { host: 'b' }, { name: 'service-2', host: 'c' }, { host: 'd' }],
      routes: [{ paths: ['/'] }, { name: 'route-0', paths: ['/x'] }],
    })
    expect(s.services.map((x) => [x.name, x.id])).toEqual([
      ['svc-uuid', 'svc-uuid'], ['service-1', 'service-1'], ['service-2', 'service-2'], ['service-3', 'service-3'],
    ])
    expect(s.routes.map((r) => r.name)).toEqual(['route-0-1', 'route-0'])
  })

  it('orders routes by position (nested first) and keeps their service index', () => {
    const s = snapshot(base)
    expect(s.routes.map((r) => [r.name, r.order, r.service])).toEqual([
      ['api-r', 0, 0], ['route-1', 1, 0], ['route-2', 2, 1], ['route-3', 3, 0],
    ])
  })

  it('puts route matchers in router form', () => {
    const s = snapshot({
      routes: [{
        hosts: ['API.Example.com', '*.Example.org'], methods: ['GET'], paths: ['/a', '~/b/\\d+'],
        headers: { 'X-Version': ['V1', '~*^beta'] }, query: { v: ['1'] }, protocols: ['https'], snis: ['API.example.com'],
        strip_path: false, preserve_host: true, regex_priority: 5, path_handling: 'v1', https_redirect_status_code: 301,
      }],
    })
    expect(s.routes[0]).toEqual({
      name: 'route-0', id: 'route-0', service: -1, protocols: ['https'], methods: ['GET'],
      hosts: ['api.example.com', '*.example.org'], paths: ['/a', '~/b/\\d+'],
      headers: [{ name: 'x-version', values: ['v1'], regexes: ['^beta'] }], query: [{ name: 'v', values: ['1'] }],
      snis: ['api.example.com'], stripPath: false, preserveHost: true, regexPriority: 5, pathHandling: 'v1',
      httpsRedirectStatusCode: 301, requestBuffering: true, responseBuffering: true, order: 0,
    })
  })

  it('leaves out routes of disabled services and disabled plugins', () => {
    const s = snapshot({
      services: [{ name: 'off', host: 'a', enabled: false, routes: [{ paths: ['/off'] }] }, { name: 'on', host: 'b', routes: [{ paths: ['/on'] }] }],
      plugins: [{ name: 'request-termination', enabled: false }, { name: 'request-termination', service: 'on' }],
    })
    expect(s.routes.map((r) => [r.paths[0], r.order])).toEqual([['/on', 1]])
    expect(s.services).toHaveLength(2)
    expect(s.plugins).toHaveLength(1)
  })

  it('scopes plugins by the names of what they are attached to, with config defaults filled', () => {
    const s = snapshot({
      ...base,
      consumers: [{ username: 'alice' }, { custom_id: 'c-2' }],
      plugins: [
        { name: 'request-termination', id: 'p-uuid', route: 'api-r', consumer: 'alice', config: { status_code: 403 } },
        { name: 'request-termination', consumer: 'c-2' },
        { name: 'request-termination', service: 'api' },
      ],
    })
    expect(s.plugins).toEqual([
      {
        name: 'request-termination', id: 'p-uuid', service: null, route: 'api-r', consumer: 'alice',
        config: { status_code: 403, message: null, content_type: null, body: null, echo: false, trigger: null },
      },
      expect.objectContaining({ id: 'request-termination:*:*:c-2', service: null, route: null, consumer: 'c-2' }),
      expect.objectContaining({ id: 'request-termination:api:*:*', service: 'api', route: null, consumer: null }),
    ])
  })

  it('carries upstream hashing and health check settings', () => {
    const s = snapshot({
      upstreams: [{
        name: 'u', algorithm: 'consistent-hashing', hash_on: 'header', hash_on_header: 'x-user', hash_fallback: 'query_arg',
        hash_fallback_query_arg: 'uid', host_header: 'internal.example', healthchecks: { active: { healthy: { interval: 5 } } },
      }],
    })
    expect(s.upstreams[0]).toMatchObject({
      algorithm: 'consistent-hashing', hashOn: 'header', hashOnHeader: 'x-user', hashFallback: 'query_arg',
      hashFallbackQueryArg: 'uid', hostHeader: 'internal.example', slots: 10000,
    })
    expect((s.upstreams[0].healthchecks.active as { healthy: { interval: number } }).healthy.interval).toBe(5)
  })

  it('hashes the content: stable across sources and load times, different when the config differs', () => {
    const a = snapshot(base, '/a.yaml', 1)
    const b = snapshot(base, '/b.yaml', 2)
    const c = snapshot({ ...base, routes: [{ paths: ['/top2'], service: 'api' }] })
    expect(a.hash).toMatch(/^[0-9a-f]{16}$/)
    expect(a.hash).toBe(b.hash)
    expect(a.hash).not.toBe(c.hash)
    expect([a.source, a.loadedAt]).toEqual(['/a.yaml', 1])
  })

  it('is plain data that survives structured cloning', () => {
    const s = snapshot(base)
    expect(structuredClone(s)).toEqual(s)
  })
})

describe('canonicalJson', () => {
  it('sorts keys at every level and drops undefined values', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } })).toBe('{"a":{"d":[1,{"x":1,"y":2}]},"b":1}')
  })
})
