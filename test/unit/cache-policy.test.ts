// proxy-cache's pure rules (src/plugins/cache-policy.ts): Cache-Control parsing, what a request asks of the
// cache, the freshness lifetime of a response, Vary names, content-type matching, query normalisation and keys.
import { describe, expect, it } from 'vitest'
import {
  ContentTypes, cacheKey, freshnessMs, headerValue, httpDate, normalisedQuery, parseCacheControl, requestDirectives, variantKey, varyNames, type KeyParts,
} from '../../src/plugins/cache-policy.js'

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0)
const HTTP_NOW = new Date(NOW).toUTCString()

describe('parseCacheControl', () => {
  it('returns an empty map for a missing or empty header', () => {
    expect(parseCacheControl(undefined).size).toBe(0)
    expect(parseCacheControl('').size).toBe(0)
  })

  it('lower-cases names, trims, keeps arguments and gives valueless directives ""', () => {
    const cc = parseCacheControl(' Public , MAX-AGE=60,no-cache ,s-maxage = 30')
    expect([...cc]).toEqual([['public', ''], ['max-age', '60'], ['no-cache', ''], ['s-maxage', '30']])
  })

  it('unquotes quoted arguments', () => {
    expect(parseCacheControl('max-age="120"').get('max-age')).toBe('120')
  })

  it('keeps the first occurrence of a repeated directive and skips empty parts', () => {
    const cc = parseCacheControl('max-age=10,, max-age=20,')
    expect([...cc]).toEqual([['max-age', '10']])
  })
})

describe('requestDirectives', () => {
  it('asks nothing special without headers', () => {
    expect(requestDirectives(undefined, undefined)).toEqual({ noStore: false, refresh: false, maxAgeS: null })
  })

  it('no-store bypasses the cache', () => {
    expect(requestDirectives('no-store', undefined).noStore).toBe(true)
  })

  it('no-cache and max-age=0 refresh', () => {
    expect(requestDirectives('no-cache', undefined)).toEqual({ noStore: false, refresh: true, maxAgeS: null })
    expect(requestDirectives('max-age=0', undefined)).toEqual({ noStore: false, refresh: true, maxAgeS: 0 })
  })

  it('max-age=N limits the age of an acceptable entry without refreshing', () => {
    expect(requestDirectives('max-age=30', undefined)).toEqual({ noStore: false, refresh: false, maxAgeS: 30 })
  })

  it('ignores an invalid max-age', () => {
    expect(requestDirectives('max-age=soon', undefined).maxAgeS).toBeNull()
    expect(requestDirectives('max-age=-1', undefined).maxAgeS).toBeNull()
  })

  it('honours Pragma: no-cache only without Cache-Control (RFC 9111 §5.4)', () => {
    expect(requestDirectives(undefined, 'no-cache').refresh).toBe(true)
    expect(requestDirectives(undefined, 'x-foo, No-Cache').refresh).toBe(true)
    expect(requestDirectives('max-age=60', 'no-cache').refresh).toBe(false)
    expect(requestDirectives(undefined, 'no-cache-please').refresh).toBe(false)
  })
})

describe('freshnessMs', () => {
  const ttl = 300

  it('uses cache_ttl whatever the headers say when cache_control is off', () => {
    expect(freshnessMs(['Cache-Control', 'no-store, max-age=5'], false, ttl, NOW)).toBe(300_000)
    expect(freshnessMs([], false, 7, NOW)).toBe(7000)
  })

  it('prefers s-maxage over max-age over Expires', () => {
    const expires = ['Date', HTTP_NOW, 'Expires', new Date(NOW + 900_000).toUTCString()]
    expect(freshnessMs(['Cache-Control', 'max-age=60, s-maxage=20', ...expires], true, ttl, NOW)).toBe(20_000)
    expect(freshnessMs(['Cache-Control', 'public, max-age=60', ...expires], true, ttl, NOW)).toBe(60_000)
    expect(freshnessMs(['Cache-Control', 'public', ...expires], true, ttl, NOW)).toBe(900_000)
  })

  it('measures Expires from the response Date, or from now without one', () => {
    expect(freshnessMs(['Date', new Date(NOW - 50_000).toUTCString(), 'Expires', new Date(NOW + 10_000).toUTCString()], true, ttl, NOW)).toBe(60_000)
    expect(freshnessMs(['Expires', new Date(NOW + 10_000).toUTCString()], true, ttl, NOW)).toBe(10_000)
  })

  it('refuses private, no-store and no-cache responses', () => {
    expect(freshnessMs(['Cache-Control', 'private, max-age=60'], true, ttl, NOW)).toBe(-1)
    expect(freshnessMs(['Cache-Control', 'no-store'], true, ttl, NOW)).toBe(-1)
    expect(freshnessMs(['cache-control', 'No-Cache'], true, ttl, NOW)).toBe(-1)
  })

  it('treats an invalid Expires as already expired, and a past one as zero', () => {
    expect(freshnessMs(['Expires', '0'], true, ttl, NOW)).toBe(-1)
    expect(freshnessMs(['Expires', 'not a date'], true, ttl, NOW)).toBe(-1)
    expect(freshnessMs(['Expires', '3600'], true, ttl, NOW)).toBe(-1) // Date.parse would say the year 3600
    expect(freshnessMs(['Expires', '-1'], true, ttl, NOW)).toBe(-1)
    expect(freshnessMs(['Date', HTTP_NOW, 'Expires', new Date(NOW - 1000).toUTCString()], true, ttl, NOW)).toBe(0)
  })

  it('falls back to cache_ttl without any freshness information', () => {
    expect(freshnessMs(['Content-Type', 'text/plain'], true, ttl, NOW)).toBe(300_000)
    expect(freshnessMs(['Cache-Control', 'public'], true, 12, NOW)).toBe(12_000)
  })

  it('reads max-age=0 as not storable and ignores an invalid max-age', () => {
    expect(freshnessMs(['Cache-Control', 'max-age=0'], true, ttl, NOW)).toBe(0)
    expect(freshnessMs(['Cache-Control', 'max-age=abc'], true, ttl, NOW)).toBe(300_000)
  })
})

describe('httpDate', () => {
  const t = Date.UTC(1994, 10, 6, 8, 49, 37)

  it('reads the three HTTP-date forms as UTC (RFC 9110 §5.6.7)', () => {
    expect(httpDate('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(t)
    expect(httpDate('Sunday, 06-Nov-94 08:49:37 GMT')).toBe(t)
    expect(httpDate('Sun Nov  6 08:49:37 1994')).toBe(t)
    expect(httpDate(HTTP_NOW)).toBe(NOW)
  })

  it('refuses anything else', () => {
    for (const v of ['', '0', '3600', '2026-01-15T12:00:00Z', 'Sun, 06 Nov 1994 08:49:37 PST', 'Sun, 06 Foo 1994 08:49:37 GMT', 'Sun, 6 Nov 1994 08:49:37 GMT']) {
      expect(httpDate(v), v).toBeNull()
    }
  })
})

describe('headerValue', () => {
  it('finds names case-insensitively and joins duplicates', () => {
    const h = ['Vary', 'Accept', 'X-A', '1', 'vary', 'Accept-Language']
    expect(headerValue(h, 'vary')).toBe('Accept, Accept-Language')
    expect(headerValue(h, 'x-a')).toBe('1')
    expect(headerValue(h, 'x-b')).toBeUndefined()
  })
})

describe('varyNames', () => {
  it('is empty without Vary', () => {
    expect(varyNames(['Content-Type', 'text/plain'])).toEqual([])
  })

  it('lower-cases, de-duplicates and sorts the names over repeated headers', () => {
    expect(varyNames(['Vary', 'Accept-Language, Accept', 'vary', 'accept-language, ,X-Tenant'])).toEqual(['accept', 'accept-language', 'x-tenant'])
  })

  it('is null for Vary: * (never cacheable)', () => {
    expect(varyNames(['Vary', '*'])).toBeNull()
    expect(varyNames(['Vary', 'Accept, *'])).toBeNull()
  })
})

describe('ContentTypes', () => {
  it('matches a bare media type whatever its parameters and case', () => {
    const ct = new ContentTypes(['application/json', 'text/plain'])
    expect(ct.matches('application/json')).toBe(true)
    expect(ct.matches('Application/JSON; charset=utf-8')).toBe(true)
    expect(ct.matches('text/plain;charset=us-ascii')).toBe(true)
    expect(ct.matches('text/html')).toBe(false)
    expect(ct.matches('application/jsonx')).toBe(false)
  })

  it('needs the exact parameters when the configured value has some', () => {
    const ct = new ContentTypes(['text/html; charset=utf-8'])
    expect(ct.matches('text/html;charset=UTF-8')).toBe(true)
    expect(ct.matches('text/html ; charset=utf-8')).toBe(true)
    expect(ct.matches('text/html')).toBe(false)
    expect(ct.matches('text/html; charset=latin1')).toBe(false)
  })

  it('matches type/* and */* wildcards', () => {
    const images = new ContentTypes(['image/*'])
    expect(images.matches('image/png')).toBe(true)
    expect(images.matches('image/svg+xml; charset=utf-8')).toBe(true)
    expect(images.matches('text/png')).toBe(false)
    const any = new ContentTypes(['*/*'])
    expect(any.matches('anything/at-all')).toBe(true)
    expect(any.matches(undefined)).toBe(true)
  })

  it('does not match a response without Content-Type unless */* is listed', () => {
    expect(new ContentTypes(['text/plain']).matches(undefined)).toBe(false)
    expect(new ContentTypes(['image/*']).matches(undefined)).toBe(false)
  })
})

describe('normalisedQuery', () => {
  it('sorts parameters so their order does not matter', () => {
    expect(normalisedQuery('b=2&a=1&c=3', null)).toBe('a=1&b=2&c=3')
    expect(normalisedQuery('a=1&c=3&b=2', null)).toBe(normalisedQuery('c=3&b=2&a=1', null))
  })

  it('drops empty parts and keeps valueless parameters', () => {
    expect(normalisedQuery('&b&&a=1&', null)).toBe('a=1&b')
    expect(normalisedQuery('', null)).toBe('')
  })

  it('keeps only vary_query_params when configured (names compared decoded)', () => {
    const keep = new Set(['page', 'sort by'])
    expect(normalisedQuery('utm=x&page=2&sort+by=name&ref=y', keep)).toBe('page=2&sort+by=name')
    expect(normalisedQuery('sort%20by=a&page=1', keep)).toBe('page=1&sort%20by=a')
    expect(normalisedQuery('utm=x&ref=y', keep)).toBe('')
  })

  it('keeps a parameter whose name is not valid percent-encoding as written', () => {
    expect(normalisedQuery('%zz=1&a=2', null)).toBe('%zz=1&a=2')
    expect(normalisedQuery('%zz=1&a=2', new Set(['%zz']))).toBe('%zz=1')
  })
})

describe('cacheKey', () => {
  const parts: KeyParts = {
    instance: 'p1', route: 'r1', consumer: '', method: 'GET', host: 'api.example', path: '/users', query: 'a=1&b=2', headers: '',
  }

  it('is a stable sha256 hex string', () => {
    const k = cacheKey(parts)
    expect(k).toMatch(/^[0-9a-f]{64}$/)
    expect(cacheKey({ ...parts })).toBe(k)
  })

  it('differs when any part differs', () => {
    const k = cacheKey(parts)
    const changes: Array<Partial<KeyParts>> = [
      { instance: 'p2' }, { route: 'r2' }, { consumer: 'c1' }, { method: 'POST' }, { host: 'other.example' },
      { path: '/users/' }, { query: 'a=1' }, { headers: 'accept=json;' },
    ]
    const keys = new Set(changes.map((c) => cacheKey({ ...parts, ...c })))
    expect(keys.size).toBe(changes.length)
    expect(keys.has(k)).toBe(false)
  })

  it('does not confuse a query moved into the path', () => {
    expect(cacheKey({ ...parts, path: '/users?a=1', query: '' })).not.toBe(cacheKey({ ...parts, path: '/users', query: 'a=1' }))
  })
})

describe('variantKey', () => {
  const base = 'b'.repeat(64)

  it('depends on the request values of the Vary names', () => {
    const en = variantKey(base, ['accept-language'], () => 'en')
    const fr = variantKey(base, ['accept-language'], () => 'fr')
    expect(en).toMatch(/^[0-9a-f]{64}$/)
    expect(en).not.toBe(fr)
    expect(variantKey(base, ['accept-language'], () => 'en')).toBe(en)
    expect(en).not.toBe(base)
  })

  it('tells a missing header from an empty one only through the name list, never crashes', () => {
    expect(variantKey(base, ['x-a'], () => undefined)).toBe(variantKey(base, ['x-a'], () => ''))
    expect(variantKey(base, [], () => 'x')).not.toBe(base)
  })
})
