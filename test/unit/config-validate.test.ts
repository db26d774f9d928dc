// Declarative config validation: `path: message` for every problem, Kong's defaults, warnings for
// Kong fields without effect, nested and top-level entities, references and duplicates.
import { describe, expect, it } from 'vitest'
import { validateConfig } from '../../src/config/validate.js'
import type { ValidConfig } from '../../src/config/model.js'

type Doc = Record<string, unknown>

const doc = (rest: Doc): Doc => ({ _format_version: '3.0', ...rest })

function problems(input: unknown): string[] {
  const r = validateConfig(input)
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)
}

function warnings(input: unknown): string[] {
  return validateConfig(input).warnings.map((w) => `${w.path}: ${w.message}`)
}

function valid(input: unknown): ValidConfig {
  const r = validateConfig(input)
  if (!r.ok) throw new Error(`expected a valid config:\n${r.errors.map((e) => `${e.path}: ${e.message}`).join('\n')}`)
  return r.config
}

const echo = { name: 'echo', url: 'http://127.0.0.1:9000', routes: [{ name: 'r', paths: ['/echo'] }] }

describe('error paths and messages', () => {
  it('names the exact element of a nested array', () => {
    const d = doc({ services: [echo, { name: 'b', url: 'http://b', routes: [{ paths: ['/ok'] }, { paths: ['no-slash'] }] }] })
    expect(problems(d)).toEqual(['services[1].routes[1].paths[0]: must start with "/"'])
  })

  it('names a plugin config field by its index in the top-level plugins list', () => {
    const d = doc({
      services: [echo],
      plugins: [
        { name: 'request-termination', service: 'echo' },
        { name: 'request-termination', route: 'r' },
        { name: 'request-termination', config: { status_code: 700 } },
      ],
    })
    expect(problems(d)).toEqual(['plugins[2].config.status_code: must be between 100 and 599'])
  })

  it("refuses plugins that identify consumers scoped to one (Kong's no_consumer)", () => {
    const d = doc({
      services: [echo],
      consumers: [{ username: 'alice', plugins: [{ name: 'key-auth' }, { name: 'rate-limiting', config: { minute: 5 } }] }],
      plugins: [{ name: 'jwt', consumer: 'alice' }],
    })
    expect(problems(d)).toEqual([
      "consumers[0].plugins[0].consumer: the 'key-auth' plugin cannot be scoped to a consumer (value must be null)",
      "plugins[0].consumer: the 'jwt' plugin cannot be scoped to a consumer (value must be null)",
    ])
  })

  it('collects every problem in one pass', () => {
    const d = doc({
      services: [{ name: 'a', url: 'ftp://x', retries: -1, routes: [{ paths: ['/a//b'], methods: ['get'] }] }],
      routes: [{ service: 'nope', paths: ['/x'], colour: 'red' }],
    })
    expect(problems(d)).toEqual([
      "services[0].url: unsupported scheme 'ftp' in url (expected one of: http, https, grpc, grpcs, ws, wss, tcp, tls)",
      'services[0].retries: must be between 0 and 32767',
      'services[0].routes[0].methods[0]: must be an upper-case HTTP method',
      'services[0].routes[0].paths[0]: must not have empty segments',
      'routes[0].colour: unknown field',
      "routes[0].service: unknown service 'nope'",
    ])
  })

  it('reports wrong types with the expected type', () => {
    const d = doc({ services: [{ name: 'a', host: 'a', port: '80', tls_verify: 'yes', routes: 'r' }] })
    expect(problems(d)).toEqual([
      'services[0].port: expected an integer',
      'services[0].tls_verify: expected a boolean',
      'services[0].routes: expected an array',
    ])
  })

  it('rejects a document that is not a record', () => {
    expect(problems([1, 2])).toEqual([': expected a record (a declarative config document)'])
  })

  it('rejects unknown top-level keys and unsupported vault entities', () => {
    expect(problems(doc({ servics: [], vaults: [{ name: 'aws' }] }))).toEqual([
      'servics: unknown field',
      'vaults: vault entities are not supported; use {vault://env/NAME} references',
    ])
  })

  it('quotes odd map keys in paths', () => {
    const d = doc({ services: [{ name: 'a', host: 'a', routes: [{ headers: { 'x y': ['1'] } }] }] })
    expect(problems(d)).toEqual([
      `services[0].routes[0].headers["x y"]: bad header name 'x y', allowed characters are A-Z, a-z, 0-9, '_', and '-'`,
    ])
  })
})

describe('_format_version', () => {
  it('is required', () => {
    expect(problems({ services: [] })).toEqual(['_format_version: required field missing (use "3.0")'])
  })

  it('accepts 3.0, 2.1 and 1.1 and rejects others', () => {
    for (const v of ['3.0', '2.1', '1.1']) expect(problems({ _format_version: v })).toEqual([])
    expect(problems({ _format_version: '2.0' })).toEqual(['_format_version: expected one of: 3.0, 2.1, 1.1'])
  })

  it('accepts an unquoted YAML number with a warning', () => {
    expect(problems({ _format_version: 3 })).toEqual([])
    expect(warnings({ _format_version: 3 })).toEqual(['_format_version: should be a string: write "3.0" in quotes'])
  })

  it('reads pre-3.0 regex paths as regexes, as Kong migrates them', () => {
    const d = { _format_version: '2.1', services: [{ name: 's', host: 'h', routes: [{ paths: ['/users/\\d+', '/plain'] }] }] }
    expect(valid(d).routes[0].paths).toEqual(['~/users/\\d+', '/plain'])
    expect(warnings(d)).toEqual([
      'services[0].routes[0].paths[0]: read as a regex, as Kong does for _format_version 1.1/2.1; with "3.0" write it with a "~" prefix',
    ])
  })
})

describe('Kong fields without effect are warnings, not errors', () => {
  it('accepts ids, tags, timestamps, enabled: true, buffering flags, comments and decK nulls', () => {
    const d = {
      _format_version: '3.0',
      _transform: true,
      _comment: 'generated',
      _info: { select_tags: ['x'] },
      _workspace: 'default',
      services: [{
        id: '6f1c6c4a-7d1e-4c1a-9b1c-5d2f0a1b2c3d', name: 'a', host: 'a', tags: ['t'], created_at: 1, updated_at: 2,
        enabled: true, path: null,
        routes: [{ paths: ['/'], request_buffering: true, response_buffering: false, _comment: 'hi' }],
      }],
      plugins: [{ name: 'request-termination', enabled: true, protocols: ['http'], instance_name: 'x' }],
    }
    expect(problems(d)).toEqual([])
    expect(warnings(d)).toEqual([
      '_comment: comment ignored',
      '_transform: accepted for Kong and decK compatibility; has no effect here',
      '_info: accepted for Kong and decK compatibility; has no effect here',
      '_workspace: accepted for Kong and decK compatibility; has no effect here',
      'services[0].id: accepted for Kong compatibility; used only to resolve references and as a fallback name',
      'services[0].path: null is treated as unset',
      'services[0].enabled: accepted for Kong compatibility; has no effect here',
      'services[0].routes[0]._comment: comment ignored',
      'services[0].routes[0].request_buffering: accepted for Kong compatibility; request bodies are always streamed',
      'services[0].routes[0].response_buffering: accepted for Kong compatibility; response bodies are always streamed',
      'services[0].tags: accepted for Kong compatibility; has no effect here',
      'services[0].created_at: accepted for Kong compatibility; has no effect here',
      'services[0].updated_at: accepted for Kong compatibility; has no effect here',
      'plugins[0].instance_name: accepted for Kong compatibility; has no effect here',
      'plugins[0].enabled: accepted for Kong compatibility; has no effect here',
      'plugins[0].protocols: accepted for Kong compatibility; a plugin runs for every protocol of its routes',
    ])
  })

  it('honours enabled: false without a warning', () => {
    const d = doc({ services: [{ ...echo, enabled: false }], plugins: [{ name: 'request-termination', enabled: false }] })
    expect(warnings(d)).toEqual([])
    const c = valid(d)
    expect(c.services[0].enabled).toBe(false)
    expect(c.plugins[0].enabled).toBe(false)
  })
})

describe('services', () => {
  it('fills Kong defaults', () => {
    const s = valid(doc({ services: [{ host: 'example.com' }] })).services[0]
    expect(s).toMatchObject({
      protocol: 'http', host: 'example.com', port: 80, path: null, retries: 5,
      connect_timeout: 60000, write_timeout: 60000, read_timeout: 60000, tls_verify: null, enabled: true,
    })
  })

  it('expands url into protocol, host, port and path', () => {
    const c = valid(doc({
      services: [
        { url: 'https://api.example.com/v1/' }, { url: 'http://10.0.0.1:8080' }, { url: 'grpc://[::1]:50051' },
      ],
    }))
    expect(c.services.map((s) => [s.protocol, s.host, s.port, s.path])).toEqual([
      ['https', 'api.example.com', 443, '/v1/'], ['http', '10.0.0.1', 8080, null], ['grpc', '::1', 50051, null],
    ])
  })

  it('rejects bad urls and url mixed with its parts', () => {
    expect(problems(doc({ services: [{ url: 'not a url' }, { url: 'http://a/x?y=1' }, { url: 'http://a', port: 81 }] }))).toEqual([
      "services[0].url: invalid url: 'not a url'",
      'services[1].url: url must not contain a query string or a fragment',
      "services[2].url: cannot be combined with 'port'",
    ])
  })

  it('needs a host or a url', () => {
    expect(problems(doc({ services: [{ name: 'x' }] }))).toEqual(["services[0].host: required field missing (set 'host' or 'url')"])
  })

  it('validates host, path and protocol rules', () => {
    expect(problems(doc({
      services: [
        { host: 'a:80' }, { host: 'a', path: 'x' }, { host: 'a', protocol: 'grpc', path: '/x' }, { host: 'a', connect_timeout: 0 },
      ],
    }))).toEqual([
      'services[0].host: must not have a port',
      'services[1].path: must start with "/"',
      'services[3].connect_timeout: must be between 1 and 2147483646',
      "services[2].path: a path cannot be set when 'protocol' is 'grpc'",
    ])
  })

  it('warns that an https service without a port gets Kong’s 80', () => {
    expect(warnings(doc({ services: [{ host: 'a', protocol: 'https' }] }))).toEqual([
      "services[0].port: defaults to 80 as in Kong although 'protocol' is 'https'; set it explicitly",
    ])
  })

  it('reports duplicate names and ids', () => {
    expect(problems(doc({ services: [{ name: 'a', host: 'a', id: 'x' }, { name: 'a', host: 'b', id: 'x' }] }))).toEqual([
      "services[1].name: duplicate service name 'a' (also at services[0])",
      "services[1].id: duplicate service id 'x' (also at services[0])",
    ])
  })
})

describe('routes', () => {
  it('fills Kong defaults', () => {
    const r = valid(doc({ services: [echo] })).routes[0]
    expect(r).toMatchObject({
      service: 0, protocols: ['http', 'https'], methods: [], hosts: [], headers: {}, query: {}, snis: [],
      strip_path: true, preserve_host: false, regex_priority: 0, path_handling: 'v0', https_redirect_status_code: 426,
      request_buffering: true, response_buffering: true, at: 'services[0].routes[0]',
    })
  })

  it('takes nested routes first, then top-level ones resolved by name, id or {id}', () => {
    const c = valid(doc({
      services: [{ ...echo, id: 'svc-id' }, { name: 'other', host: 'o' }],
      routes: [{ service: 'other', paths: ['/a'] }, { service: 'svc-id', paths: ['/b'] }, { service: { id: 'svc-id' }, paths: ['/c'] }],
    }))
    expect(c.routes.map((r) => [r.at, r.service])).toEqual([
      ['services[0].routes[0]', 0], ['routes[0]', 1], ['routes[1]', 0], ['routes[2]', 0],
    ])
  })

  it('allows a top-level route without a service', () => {
    expect(valid(doc({ routes: [{ paths: ['/x'] }] })).routes[0].service).toBe(-1)
  })

  it('forbids a service reference on a nested route', () => {
    expect(problems(doc({ services: [{ ...echo, routes: [{ paths: ['/'], service: 'echo' }] }] }))).toEqual([
      'services[0].routes[0].service: must not be set on an entity nested in a service',
    ])
  })

  it('needs at least one matcher, as Kong', () => {
    expect(problems(doc({ routes: [{ name: 'a' }, { protocols: ['http'] }, { protocols: ['grpc'] }] }))).toEqual([
      "routes[0]: must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'",
      "routes[1]: must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'",
      "routes[2]: must set one of 'hosts', 'headers', 'paths' when 'protocols' is 'grpc'",
    ])
  })

  it('validates paths: regex syntax, normalization, percent-encoding', () => {
    expect(problems(doc({ routes: [{ paths: ['~/(unclosed', '~x', '/a/../b', '/%zz', '~/(?i)ok', '~/(?P<id>\\d+)'] }] }))).toEqual([
      "routes[0].paths[0]: invalid regex: '/(unclosed' (Unterminated group)",
      'routes[0].paths[1]: a regex path must start with "~/"',
      "routes[0].paths[2]: non-normalized path, consider use '/b' instead",
      "routes[0].paths[3]: invalid url-encoded value: '%zz'",
    ])
  })

  it('validates hosts with a single leading or trailing wildcard', () => {
    expect(problems(doc({ routes: [{ hosts: ['*.a.com', 'a.*', 'a.com:8080', '*.*.com', 'a.*.com', 'bad host'] }] }))).toEqual([
      'routes[0].hosts[3]: invalid wildcard: must have at most one wildcard',
      'routes[0].hosts[4]: invalid wildcard: must be placed at leftmost or rightmost label',
      'routes[0].hosts[5]: invalid value: bad host',
    ])
  })

  it('validates headers, including ~* regex values, and refuses a host header', () => {
    expect(problems(doc({ routes: [{ headers: { 'x-v': ['~*^v1$', 'two'], Host: ['a'], 'x-r': ['~*(bad'], 'x-e': [] } }] }))).toEqual([
      "routes[0].headers.Host: cannot contain 'host' header, which must be specified in the 'hosts' attribute",
      "routes[0].headers.x-r[0]: invalid regex: '(bad' (Unterminated group)",
      'routes[0].headers.x-e: must not be empty',
    ])
  })

  it('accepts the query matcher extension', () => {
    expect(valid(doc({ routes: [{ paths: ['/'], query: { version: ['1', '2'] } }] })).routes[0].query).toEqual({ version: ['1', '2'] })
    expect(problems(doc({ routes: [{ paths: ['/'], query: { version: [] } }] }))).toEqual(['routes[0].query.version: must not be empty'])
  })

  it('applies Kong protocol rules', () => {
    expect(problems(doc({
      routes: [
        { paths: ['/'], protocols: ['http', 'grpc'] },
        { paths: ['/'], snis: ['a.com'], protocols: ['http'] },
        { paths: ['/'], protocols: ['grpc'], methods: ['GET'], strip_path: true },
        { paths: ['/'], protocols: ['tcp'] },
        { paths: ['/'], https_redirect_status_code: 303 },
      ],
    }))).toEqual([
      "routes[0].protocols: these sets are mutually exclusive: ('http', 'https'), ('grpc', 'grpcs'), ('ws', 'wss')",
      "routes[1].snis: 'snis' can only be set when 'protocols' is 'grpcs', 'https' or 'wss'",
      "routes[2].methods: cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'",
      "routes[2].strip_path: cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'",
      'routes[3].protocols[0]: expected one of: http, https, grpc, grpcs, ws, wss',
      'routes[4].https_redirect_status_code: expected one of: 426, 301, 302, 307, 308',
    ])
  })

  it('defaults strip_path to false for grpc routes', () => {
    expect(valid(doc({ routes: [{ paths: ['/'], protocols: ['grpc'] }] })).routes[0].strip_path).toBe(false)
  })
})

describe('upstreams and targets', () => {
  it('fills Kong health check defaults', () => {
    const u = valid(doc({ upstreams: [{ name: 'up' }] })).upstreams[0]
    expect(u).toMatchObject({ algorithm: 'round-robin', hash_on: 'none', hash_fallback: 'none', slots: 10000, hash_on_cookie_path: '/' })
    expect(u.healthchecks).toEqual({
      threshold: 0,
      active: {
        type: 'http', timeout: 1, concurrency: 10, http_path: '/', https_sni: null, https_verify_certificate: true, headers: null,
        healthy: { interval: 0, http_statuses: [200, 302], successes: 0 },
        unhealthy: { interval: 0, http_statuses: [429, 404, 500, 501, 502, 503, 504, 505], tcp_failures: 0, timeouts: 0, http_failures: 0 },
      },
      passive: {
        type: 'http',
        healthy: {
          http_statuses: [200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308], successes: 0,
        },
        unhealthy: { http_statuses: [429, 500, 503], tcp_failures: 0, timeouts: 0, http_failures: 0 },
      },
    })
  })

  it('merges nested and top-level targets, with weight 100 and Kong’s port 8000 by default', () => {
    const u = valid(doc({
      upstreams: [{ name: 'up', id: 'up-id', targets: [{ target: '10.0.0.1:81' }] }],
      targets: [{ target: 'b.internal', upstream: 'up' }, { target: '[::1]:82', upstream: { id: 'up-id' }, weight: 0 }],
    })).upstreams[0]
    expect(u.targets.map((t) => [t.target, t.host, t.port, t.weight, t.at])).toEqual([
      ['10.0.0.1:81', '10.0.0.1', 81, 100, 'upstreams[0].targets[0]'],
      ['b.internal', 'b.internal', 8000, 100, 'targets[0]'],
      ['[::1]:82', '::1', 82, 0, 'targets[1]'],
    ])
  })

  it('reports unknown upstreams, duplicate targets and bad names', () => {
    expect(problems(doc({
      upstreams: [{ name: 'up', targets: [{ target: 'a:1' }] }, { name: '10.0.0.1' }, { name: 'up' }],
      targets: [{ target: 'A:1', upstream: 'up' }, { target: 'x:1', upstream: 'nope' }, { target: 'x y' , upstream: 'up' }],
    }))).toEqual([
      "upstreams[1].name: Invalid name ('10.0.0.1'); no ip addresses allowed",
      "targets[2].target: Invalid target ('x y'); not a valid hostname or ip address",
      "upstreams[2].name: duplicate upstream name 'up' (also at upstreams[0])",
      "targets[1].upstream: unknown upstream 'nope'",
      "targets[0].target: duplicate target 'a:1' in upstream 'up' (also at upstreams[0].targets[0])",
    ])
  })

  it('applies the hash_on entity checks', () => {
    expect(problems(doc({
      upstreams: [
        { name: 'a', hash_on: 'header' },
        { name: 'b', hash_on: 'none', hash_fallback: 'ip' },
        { name: 'c', hash_on: 'ip', hash_fallback: 'ip' },
        { name: 'd', hash_on: 'query_arg', hash_on_query_arg: 'k', hash_fallback: 'query_arg', hash_fallback_query_arg: 'k' },
        { name: 'e', algorithm: 'random' },
      ],
    }))).toEqual([
      "upstreams[0].hash_on_header: required field missing (because 'hash_on' is 'header')",
      "upstreams[1].hash_fallback: must be 'none' when 'hash_on' is 'none'",
      "upstreams[2].hash_fallback: must differ from 'hash_on'",
      "upstreams[3].hash_fallback_query_arg: must differ from 'hash_on_query_arg'",
      'upstreams[4].algorithm: expected one of: round-robin, least-connections, consistent-hashing, latency',
    ])
  })

  it('validates health check values', () => {
    expect(problems(doc({ upstreams: [{ name: 'a', healthchecks: { active: { http_path: 'x', healthy: { http_statuses: [99] } } } }] }))).toEqual([
      'upstreams[0].healthchecks.active.http_path: must start with "/"',
      'upstreams[0].healthchecks.active.healthy.http_statuses[0]: must be between 100 and 999',
    ])
  })
})

describe('consumers and credentials', () => {
  it('keeps credentials by kind, with defaults', () => {
    const c = valid(doc({
      consumers: [{
        username: 'alice',
        keyauth_credentials: [{ key: 'k1' }],
        jwt_secrets: [{ key: 'iss', secret: 's' }],
        basicauth_credentials: [{ username: 'alice', password: 'p' }],
        acls: [{ group: 'admins' }],
        oauth2_credentials: [{ name: 'app', client_id: 'cid', redirect_uris: ['https://a/cb'] }],
      }],
    })).consumers[0]
    expect(c.keyauth_credentials).toMatchObject([{ key: 'k1', ttl: null }])
    expect(c.jwt_secrets).toMatchObject([{ key: 'iss', secret: 's', algorithm: 'HS256' }])
    expect(c.acls).toMatchObject([{ group: 'admins' }])
    expect(c.oauth2_credentials).toMatchObject([{ client_id: 'cid', client_type: 'confidential', hash_secret: false }])
  })

  it('needs a username or custom_id and well-formed credentials', () => {
    expect(problems(doc({
      consumers: [
        { tags: ['x'] },
        { username: 'b', keyauth_credentials: [{}], jwt_secrets: [{ key: 'k', algorithm: 'RS256' }], acls: 'admins' },
      ],
    }))).toEqual([
      "consumers[0]: at least one of these fields must be non-empty: 'username', 'custom_id'",
      'consumers[1].keyauth_credentials[0].key: required field missing',
      "consumers[1].jwt_secrets[0].rsa_public_key: required field missing (because 'algorithm' is 'RS256')",
      'consumers[1].acls: expected an array',
    ])
  })

  it('reports a duplicate key without printing it', () => {
    const errors = problems(doc({
      consumers: [{ username: 'a', keyauth_credentials: [{ key: 'secret-1' }] }, { username: 'b', keyauth_credentials: [{ key: 'secret-1' }] }],
    }))
    expect(errors).toEqual(['consumers[1].keyauth_credentials[0].key: duplicate key (also at consumers[0].keyauth_credentials[0])'])
  })

  it('reports duplicate usernames', () => {
    expect(problems(doc({ consumers: [{ username: 'a' }, { username: 'a' }] }))).toEqual([
      "consumers[1].username: duplicate consumer username 'a' (also at consumers[0])",
    ])
  })
})

describe('plugins', () => {
  it('resolves nested and top-level scopes', () => {
    const c = valid(doc({
      services: [{ ...echo, plugins: [{ name: 'request-termination' }] }],
      consumers: [{ username: 'alice', plugins: [{ name: 'request-termination' }] }],
      routes: [{ name: 'top', paths: ['/t'], plugins: [{ name: 'request-termination', service: 'echo' }] }],
      plugins: [
        { name: 'request-termination' },
        { name: 'request-termination', route: 'r', consumer: 'alice' },
      ],
    }))
    expect(c.plugins.map((p) => [p.at, p.service, p.route, p.consumer])).toEqual([
      ['services[0].plugins[0]', 0, -1, -1],
      ['routes[0].plugins[0]', 0, 1, -1],
      ['consumers[0].plugins[0]', -1, -1, 0],
      ['plugins[0]', -1, -1, -1],
      ['plugins[1]', -1, 0, 0],
    ])
  })

  it('validates config against the plugin schema and fills its defaults', () => {
    const p = valid(doc({ plugins: [{ name: 'request-termination' }] })).plugins[0]
    expect(p.config).toEqual({ status_code: 503, message: null, content_type: null, body: null, echo: false, trigger: null })
  })

  it('rejects unknown plugins, unknown references and a second instance in one scope', () => {
    expect(problems(doc({
      services: [echo],
      plugins: [
        { name: 'nope' },
        { name: 'request-termination', service: 'missing', route: 'gone', consumer: 'nobody' },
        { name: 'request-termination', service: 'echo' },
        { name: 'request-termination', service: 'echo' },
      ],
    }))).toEqual([
      "plugins[0].name: unknown plugin 'nope'",
      "plugins[1].service: unknown service 'missing'",
      "plugins[1].route: unknown route 'gone'",
      "plugins[1].consumer: unknown consumer 'nobody'",
      "plugins[3]: plugin 'request-termination' is already configured for this scope (at plugins[2])",
    ])
  })

  it('applies request-termination’s entity checks with Kong’s messages', () => {
    const rt = (config: Doc) => ({ name: 'request-termination', config })
    expect(problems(doc({
      services: [{ name: 'a', host: 'a' }, { name: 'b', host: 'b' }, { name: 'c', host: 'c' }, { name: 'd', host: 'd' }],
      plugins: [
        { ...rt({ message: 'm', body: 'b' }), service: 'a' },
        { ...rt({ content_type: 'text/plain' }), service: 'b' },
        { ...rt({ echo: true, body: 'x', content_type: 'text/plain' }), service: 'c' },
        { ...rt({ trigger: 'bad header', status_code: 99 }), service: 'd' },
        rt({ colour: 'red' }),
      ],
    }))).toEqual([
      'plugins[0].config: message cannot be used with content_type or body',
      'plugins[1].config: content_type requires a body',
      'plugins[2].config: echo cannot be used with content_type and body',
      'plugins[3].config.status_code: must be between 100 and 599',
      "plugins[3].config.trigger: bad header name 'bad header', allowed characters are A-Z, a-z, 0-9, '_', and '-'",
      'plugins[4].config.colour: unknown field',
    ])
  })

  it('reports nested plugins by their nested path', () => {
    expect(problems(doc({ services: [{ ...echo, routes: [{ paths: ['/'], plugins: [{ name: 'request-termination', config: { echo: 'y' } }] }] }] })))
      .toEqual(['services[0].routes[0].plugins[0].config.echo: expected a boolean'])
  })
})

describe('certificates', () => {
  const CERT = `-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIUBUJgAnjrDh3VOnIms1amVfsbQdgwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMZXhhbXBsZS50ZXN0MCAXDTI2MTEyMzE5NTQyNVoYDzIxMjYx
MDMwMTk1NDI1WjAXMRUwEwYDVQQDDAxleGFtcGxlLnRlc3QwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAQayT00m/Lvip6hnyyza+G32OkJ9emMp2W/0tVliIZgka9g
hOVWsQDPiLLwQRuIMpDbOY+JAJtzg85jrtLP+vU4o1MwUTAdBgNVHQ4EFgQUDYPY
Ms5WHWyM4EAo569Qge9xPpMwHwYDVR0jBBgwFoAUDYPYMs5WHWyM4EAo569Qge9x
PpMwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAimAf8LeLe3qE
V399AgMNoc3NeC60al3ozS8pCmtIBCsCICYEAL0peimJHQ60U1hbTQvWtBhPUZ2G
EQSzT2HtM3yS
-----END CERTIFICATE-----
`
  const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgnFWOGec5pg20OvmT
MtRGyb7Eqx342DxFcH0mgBB6MC2hRANCAAQayT00m/Lvip6hnyyza+G32OkJ9emM
p2W/0tVliIZgka9ghOVWsQDPiLLwQRuIMpDbOY+JAJtzg85jrtLP+vU4
-----END PRIVATE KEY-----
`
  const OTHER_KEY = `-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIJRsPKsrsSMMp6tNyDOnBykGrvMfAFGmabAjbtIpSmItoAoGCCqGSM49
AwEHoUQDQgAELQicC+nCvLROkFb9QH17Es1OEBUEuDhOAV/3wYjlGlWu7reSpPrc
1Crz6+uFaVOFtQuX2cR4iCoH+JyLVJcqAQ==
-----END EC PRIVATE KEY-----
`

  it('collects snis nested (strings or records) and top-level', () => {
    const c = valid(doc({
      certificates: [{ id: 'c1', cert: CERT, key: KEY, snis: ['a.test', { name: '*.b.test' }] }],
      snis: [{ name: 'c.test', certificate: { id: 'c1' } }],
      ca_certificates: [{ cert: CERT }],
    }))
    expect(c.certificates[0].snis).toEqual(['a.test', '*.b.test', 'c.test'])
    expect(c.ca_certificates).toHaveLength(1)
  })

  it('rejects bad PEM, mismatched keys, unknown certificates and duplicate snis', () => {
    const errors = problems(doc({
      certificates: [
        { id: 'c1', cert: 'nope', key: KEY },
        { id: 'c2', cert: CERT, key: OTHER_KEY, snis: ['a.test', '10.0.0.1'] },
        { id: 'c3', cert: CERT, key: KEY, snis: ['a.test'] },
      ],
      snis: [{ name: 'x.test', certificate: 'c9' }],
      services: [{ host: 'a', protocol: 'https', port: 443, client_certificate: { id: 'c9' } }],
    }))
    expect(errors[0]).toMatch(/^certificates\[0\]\.cert: invalid certificate: /)
    expect(errors.slice(1)).toEqual([
      'certificates[1].key: certificate does not match key',
      'certificates[1].snis[1]: must not be an IP',
      "snis[0].certificate: unknown certificate 'c9'",
      "certificates[2].snis: duplicate sni 'a.test' (also on certificates[1])",
      "services[0].client_certificate: unknown certificate 'c9'",
    ])
  })
})
