// cors (Kong's plugin): schema checks, origin normalisation, Kong's origin matching (plain, regex, '*'),
// credentials, preflights answered with 200 and the Access-Control-* headers, and preflight_continue.
import { describe, expect, it } from 'vitest'
import { validateConfig } from '../../src/config/validate.js'
import plugin, { normalizeOrigin, originHeaders, type CorsConfig } from '../../src/plugins/cors.js'
import { CONTINUE, DONE, type PluginRequest } from '../../src/plugins/types.js'
import { compilePlugin, fakeRequest, type FakeRequest } from '../helpers/plugins.js'

type Doc = Record<string, unknown>

function validate(config: Doc): { problems: string[]; config: Doc | null } {
  const r = validateConfig({ _format_version: '3.0', plugins: [{ name: 'cors', config }] }, { env: {} })
  return r.ok ? { problems: [], config: r.config.plugins[0]!.config } : { problems: r.errors.map((e) => `${e.path}: ${e.message}`), config: null }
}

const conf = (config: Doc): CorsConfig => compilePlugin(plugin, config)
const run = (c: CorsConfig, ctx: PluginRequest) => plugin.phases.access!(ctx, c)

function req(method: string, headers: Record<string, string>): FakeRequest {
  return fakeRequest({ method, headers: new Map([['host', 'gw.local'], ...Object.entries(headers)]) })
}

const preflight = (origin: string, extra: Record<string, string> = {}): FakeRequest =>
  req('OPTIONS', { origin, 'access-control-request-method': 'PUT', ...extra })

const KONG_METHODS = 'GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT'

describe('cors schema', () => {
  it('fills Kong 3.x defaults', () => {
    expect(validate({}).config).toEqual({
      origins: null, headers: null, exposed_headers: null, methods: KONG_METHODS.split(','), max_age: null,
      credentials: false, private_network: false, preflight_continue: false, allow_origin_absent: true,
    })
  })

  it('refuses origins that are neither * nor a valid regex, and unknown methods', () => {
    expect(validate({ origins: ['*', 'https://a.test', 'https://(.*\\.b\\.test', '(?i)https://c\\.test'], methods: ['GET', 'FETCH'] }).problems).toEqual([
      "plugins[0].config.origins[2]: 'https://(.*\\.b\\.test' is not a valid regex",
      `plugins[0].config.methods[1]: expected one of: ${KONG_METHODS.split(',').join(', ')}`,
    ])
  })

  it('refuses header names and values with control characters (they are written into responses)', () => {
    expect(validate({ headers: ['X-A\r\nX-B: 1'], exposed_headers: ['X-C\n'] }).problems).toEqual([
      'plugins[0].config.headers[0]: must not contain control characters',
      'plugins[0].config.exposed_headers[0]: must not contain control characters',
    ])
  })
})

describe('normalizeOrigin (Kong’s normalize_origin)', () => {
  it('keeps scheme, host and a non-default port', () => {
    expect(normalizeOrigin('https://Example.test:8443/path')).toEqual({ domain: 'https://Example.test:8443', host: 'Example.test' })
    expect(normalizeOrigin('http://a.test:80')).toEqual({ domain: 'http://a.test', host: 'a.test' })
    expect(normalizeOrigin('https://a.test:443')).toEqual({ domain: 'https://a.test', host: 'a.test' })
    expect(normalizeOrigin('http://a.test:443')).toEqual({ domain: 'http://a.test:443', host: 'a.test' })
    expect(normalizeOrigin('http://user@[::1]:81')).toEqual({ domain: 'http://[::1]:81', host: '[::1]' })
  })

  it('leaves values without a host as they are', () => {
    expect(normalizeOrigin('null')).toEqual({ domain: 'null', host: 'null' })
    expect(normalizeOrigin('a.test')).toEqual({ domain: 'a.test', host: 'a.test' })
  })
})

describe('cors origins', () => {
  it('allows everyone with no origins or ["*"], without Vary', () => {
    for (const origins of [undefined, [], ['*']]) {
      expect(originHeaders(conf(origins === undefined ? {} : { origins }), 'https://x.test')).toEqual({ allowOrigin: '*', vary: false, allowCredentials: false })
    }
  })

  it('sends a single plain origin as configured, whatever the request’s (Kong)', () => {
    const c = conf({ origins: ['https://app.test'] })
    expect(originHeaders(c, 'https://evil.test')).toEqual({ allowOrigin: 'https://app.test', vary: true, allowCredentials: false })
    expect(originHeaders(c, undefined)).toEqual({ allowOrigin: 'https://app.test', vary: true, allowCredentials: false })
  })

  it('echoes the normalised request origin when one of several plain origins matches', () => {
    const c = conf({ origins: ['https://a.test', 'http://b.test:8080'] })
    expect(originHeaders(c, 'https://a.test:443').allowOrigin).toBe('https://a.test')
    expect(originHeaders(c, 'http://b.test:8080').allowOrigin).toBe('http://b.test:8080')
    expect(originHeaders(c, 'http://b.test').allowOrigin).toBeNull()
    expect(originHeaders(c, 'https://c.test')).toEqual({ allowOrigin: null, vary: true, allowCredentials: false })
    expect(originHeaders(c, undefined).allowOrigin).toBeNull()
  })

  it('matches regex origins against the host, or the whole origin when the regex has a colon', () => {
    const byHost = conf({ origins: ['.*\\.example\\.test'] })
    expect(originHeaders(byHost, 'https://api.example.test').allowOrigin).toBe('https://api.example.test')
    expect(originHeaders(byHost, 'http://x.example.test:3000').allowOrigin).toBe('http://x.example.test:3000')
    // Anchored at both ends, as Kong does: a suffix attack does not match.
    expect(originHeaders(byHost, 'https://api.example.test.evil.test').allowOrigin).toBeNull()
    const byDomain = conf({ origins: ['^https://[a-z]+\\.example\\.test:\\d+$', 'https://plain.test'] })
    expect(originHeaders(byDomain, 'https://ab.example.test:8443').allowOrigin).toBe('https://ab.example.test:8443')
    expect(originHeaders(byDomain, 'https://ab.example.test').allowOrigin).toBeNull()
    expect(originHeaders(byDomain, 'https://plain.test').allowOrigin).toBe('https://plain.test')
  })

  it('treats * among several origins as allow-all for requests with an Origin', () => {
    const c = conf({ origins: ['https://a.test', '*'] })
    expect(originHeaders(c, 'https://z.test')).toEqual({ allowOrigin: '*', vary: true, allowCredentials: false })
    expect(originHeaders(c, undefined).allowOrigin).toBeNull()
  })

  it('with credentials: Allow-Credentials, and the request origin instead of *', () => {
    expect(originHeaders(conf({ credentials: true }), 'https://x.test')).toEqual({ allowOrigin: 'https://x.test', vary: true, allowCredentials: true })
    expect(originHeaders(conf({ credentials: true }), undefined)).toEqual({ allowOrigin: '*', vary: false, allowCredentials: false })
    expect(originHeaders(conf({ origins: ['https://a.test', 'https://b.test'], credentials: true }), 'https://b.test'))
      .toEqual({ allowOrigin: 'https://b.test', vary: true, allowCredentials: true })
  })
})

describe('cors preflight', () => {
  it('answers 200 with Kong’s default methods and echoes the requested headers', () => {
    const ctx = preflight('https://a.test', { 'access-control-request-headers': 'X-Token, Content-Type' })
    expect(run(conf({ origins: ['https://a.test', 'https://b.test'] }), ctx)).toBe(DONE)
    expect(ctx.replies).toEqual([{
      status: 200,
      body: '',
      headers: [
        ['Access-Control-Allow-Origin', 'https://a.test'],
        ['Vary', 'Origin'],
        ['Access-Control-Allow-Headers', 'X-Token, Content-Type'],
        ['Access-Control-Allow-Methods', KONG_METHODS],
      ],
    }])
  })

  it('sends the configured headers, methods, max age, credentials and private network', () => {
    const ctx = preflight('https://a.test', { 'access-control-request-headers': 'X-Other', 'access-control-request-private-network': 'true' })
    run(conf({ origins: ['https://a.test'], headers: ['X-Token', 'Content-Type'], methods: ['GET', 'POST'], max_age: 3600, credentials: true, private_network: true }), ctx)
    expect(ctx.replies[0]!.headers).toEqual([
      ['Access-Control-Allow-Origin', 'https://a.test'],
      ['Vary', 'Origin'],
      ['Access-Control-Allow-Credentials', 'true'],
      ['Access-Control-Allow-Headers', 'X-Token,Content-Type'],
      ['Access-Control-Allow-Methods', 'GET,POST'],
      ['Access-Control-Max-Age', '3600'],
      ['Access-Control-Allow-Private-Network', 'true'],
    ])
  })

  it('still answers 200 for a disallowed origin, without Allow-Origin (the browser refuses)', () => {
    const ctx = preflight('https://evil.test')
    run(conf({ origins: ['https://a.test', 'https://b.test'] }), ctx)
    expect(ctx.replies[0]!.status).toBe(200)
    expect(ctx.replies[0]!.headers.map(([n]) => n)).toEqual(['Vary', 'Access-Control-Allow-Methods'])
  })

  it('is only a preflight with OPTIONS, Origin and Access-Control-Request-Method', () => {
    const c = conf({})
    for (const ctx of [req('OPTIONS', { origin: 'https://a.test' }), req('GET', { origin: 'https://a.test', 'access-control-request-method': 'PUT' }), req('OPTIONS', { 'access-control-request-method': 'PUT' })]) {
      expect(run(c, ctx)).toBe(CONTINUE)
      expect(ctx.replies).toEqual([])
    }
  })

  it('with preflight_continue, leaves the preflight and its answer to the upstream', () => {
    const ctx = preflight('https://a.test')
    expect(run(conf({ preflight_continue: true }), ctx)).toBe(CONTINUE)
    expect(ctx.replies).toEqual([])
    expect(ctx.responseHeaders).toEqual([])
  })
})

describe('cors on other requests', () => {
  it('adds Allow-Origin, Vary, Allow-Credentials and Expose-Headers to the response', () => {
    const ctx = req('GET', { origin: 'https://b.test' })
    expect(run(conf({ origins: ['https://a.test', 'https://b.test'], credentials: true, exposed_headers: ['X-Total', 'X-Page'] }), ctx)).toBe(CONTINUE)
    expect(ctx.replies).toEqual([])
    expect(ctx.responseHeaders).toEqual([
      ['Access-Control-Allow-Origin', 'https://b.test'],
      ['Vary', 'Origin'],
      ['Access-Control-Expose-Headers', 'X-Total,X-Page'],
      ['Access-Control-Allow-Credentials', 'true'],
    ])
  })

  it('adds * for everyone by default, also without an Origin (allow_origin_absent)', () => {
    const ctx = req('GET', {})
    run(conf({}), ctx)
    expect(ctx.responseHeaders).toEqual([['Access-Control-Allow-Origin', '*']])
    const exposing = req('GET', { origin: 'https://x.test' })
    run(conf({ origins: ['*'], exposed_headers: ['X-Total'] }), exposing)
    expect(exposing.responseHeaders).toEqual([['Access-Control-Allow-Origin', '*'], ['Access-Control-Expose-Headers', 'X-Total']])
  })

  it('adds nothing to a request without Origin when allow_origin_absent is false', () => {
    const ctx = req('GET', {})
    run(conf({ allow_origin_absent: false }), ctx)
    expect(ctx.responseHeaders).toEqual([])
  })

  it('adds only Vary for a disallowed origin', () => {
    const ctx = req('POST', { origin: 'https://evil.test' })
    run(conf({ origins: ['https://a.test', 'https://b.test'] }), ctx)
    expect(ctx.responseHeaders).toEqual([['Vary', 'Origin']])
  })
})
