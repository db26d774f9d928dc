// Loading the grpc-gateway proto during config validation: paths relative to the config file,
// include paths, and every load or binding problem reported as `plugins[i].config.proto: …`.
import { afterAll, describe, expect, it } from 'vitest'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfigFile, parseConfigText } from '../../src/config/load.js'
import { loadConfigFile as loadForGateway } from '../../src/primary/config-source.js'
import { compileSnapshot } from '../../src/config/compile.js'
import type { DescribedProto } from '../../src/protocols/grpc/described.js'

const FIXTURES = fileURLToPath(new URL('../fixtures/grpc', import.meta.url))
const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** A config directory with `files` written into it and a gateway.yaml whose grpc-gateway plugin has `config`. */
function configDir(files: Record<string, string>, config: Record<string, unknown> | null): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-proto-'))
  dirs.push(dir)
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true })
    writeFileSync(join(dir, name), text)
  }
  const doc = {
    _format_version: '3.0',
    services: [{ name: 'books', url: 'grpc://127.0.0.1:50051', routes: [{ name: 'r', paths: ['/'] }] }],
    plugins: [{ name: 'grpc-gateway', route: 'r', config }],
  }
  writeFileSync(join(dir, 'gateway.json'), JSON.stringify(doc))
  return dir
}

function problems(dir: string): string[] {
  const r = loadConfigFile(join(dir, 'gateway.json'))
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)
}

/** A one-method proto with the given option body and request message fields. */
function proto(option: string, fields = 'string name = 1; repeated string tags = 2; Inner inner = 3;'): string {
  return `syntax = "proto3"; package t.v1; import "google/api/annotations.proto";
message Inner { string a = 1; }
message Req { ${fields} }
message Res { string out = 1; }
service S { rpc M(Req) returns (Res) { option (google.api.http) = { ${option} }; } }`
}

describe('a valid proto', () => {
  it('loads relative to the config file, imports found beside the proto, and reaches the Snapshot as plain data', () => {
    const dir = configDir({}, { proto: 'protos/bookstore.proto' })
    mkdirSync(join(dir, 'protos'))
    cpSync(join(FIXTURES, 'bookstore.proto'), join(dir, 'protos', 'bookstore.proto'))
    cpSync(join(FIXTURES, 'common.proto'), join(dir, 'protos', 'common.proto'))
    const r = loadConfigFile(join(dir, 'gateway.json'))
    if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'))
    expect(r.config.plugins[0].config).toEqual({ proto: 'protos/bookstore.proto', reject_unknown_query: false, preserve_proto_field_names: false, stream_format: 'json-array' })
    const snapshot = compileSnapshot(r.config, r.source, 0)
    const prepared = structuredClone(snapshot.plugins[0].prepared) as DescribedProto
    expect(prepared.methods).toHaveLength(11)
    expect(Object.keys(prepared.descriptor)).toEqual(['nested'])
  })

  it('resolves against the directory of posted config text named by its file path', () => {
    const dir = configDir({ 'x.proto': proto('get: "/a"') }, { proto: 'x.proto' })
    const text = readFileSync(join(dir, 'gateway.json'), 'utf8')
    expect(parseConfigText(text, join(dir, 'gateway.json'), { format: 'json' }).ok).toBe(true)
  })

  it('leaves the descriptor out of the document GET /config shows, but not out of the Snapshot', () => {
    const dir = configDir({ 'x.proto': proto('get: "/a"') }, { proto: 'x.proto' })
    const r = loadForGateway(join(dir, 'gateway.json'))
    if (!r.ok) throw new Error(r.errors.join('\n'))
    expect((r.document as { plugins: object[] }).plugins[0]).not.toHaveProperty('prepared')
    expect((r.snapshot.plugins[0].prepared as DescribedProto).methods.map((m) => m.grpcPath)).toEqual(['/t.v1.S/M'])
  })

  it('finds imports under the config directory too, and takes an absolute path', () => {
    const dir = configDir({
      'shared/types.proto': 'syntax = "proto3"; package shared; message Id { string value = 1; }',
      'api/svc.proto': `syntax = "proto3"; package t.v1; import "google/api/annotations.proto"; import "shared/types.proto";
        service S { rpc M(shared.Id) returns (shared.Id) { option (google.api.http) = { get: "/ids/{value}" }; } }`,
    }, null)
    writeFileSync(join(dir, 'gateway.json'), JSON.stringify({
      _format_version: '3.0',
      services: [{ name: 'books', url: 'grpc://127.0.0.1:50051', plugins: [{ name: 'grpc-gateway', config: { proto: join(dir, 'api/svc.proto') } }] }],
    }))
    expect(problems(dir)).toEqual([])
  })
})

describe('problems on plugins[i].config.proto', () => {
  it('a missing proto field', () => {
    expect(problems(configDir({}, {}))).toEqual(['plugins[0].config.proto: required field missing'])
  })

  it('a proto file that does not exist, resolved against the config directory', () => {
    const dir = configDir({}, { proto: 'nope.proto' })
    const [p] = problems(dir)
    expect(p).toMatch(/^plugins\[0\]\.config\.proto: cannot load nope\.proto: ENOENT: no such file or directory, open '.*nope\.proto'$/)
    expect(p).toContain(dir)
  })

  it('a proto with a syntax error', () => {
    expect(problems(configDir({ 'x.proto': 'syntax = "proto3"; message {' }, { proto: 'x.proto' }))).toEqual([
      expect.stringMatching(/^plugins\[0\]\.config\.proto: cannot load x\.proto: illegal type name '\{' \(.*x\.proto, line 1\)$/),
    ])
  })

  it('an import that no include path has', () => {
    const [p] = problems(configDir({ 'x.proto': 'syntax = "proto3"; import "missing/dep.proto";' }, { proto: 'x.proto' }))
    expect(p).toMatch(/^plugins\[0\]\.config\.proto: cannot load x\.proto: ENOENT.*missing\/dep\.proto'$/)
  })

  it('a type that does not resolve', () => {
    const [p] = problems(configDir({ 'x.proto': proto('get: "/a"', 'Missing m = 1;') }, { proto: 'x.proto' }))
    expect(p).toMatch(/^plugins\[0\]\.config\.proto: cannot load x\.proto: no such Type or Enum 'Missing' in Type \.t\.v1\.Req$/)
  })

  it('a proto without any google.api.http rule', () => {
    expect(problems(configDir({ 'x.proto': 'syntax = "proto3"; message M {} service S { rpc A(M) returns (M); }' }, { proto: 'x.proto' }))).toEqual([
      'plugins[0].config.proto: x.proto has no method with a google.api.http option',
    ])
  })

  it.each([
    ['gett: "/a"', 't.v1.S.M: unknown HttpRule field "gett"'],
    ['get: "/a" additional_bindings { get: "/b" additional_bindings { get: "/c" } }', 't.v1.S.M (additional_bindings): additional_bindings cannot nest'],
    ['get: "/a" post: "/b"', 't.v1.S.M: an HttpRule needs exactly one of get, put, post, delete, patch or custom'],
    ['body: "*"', 't.v1.S.M: an HttpRule needs exactly one of get, put, post, delete, patch or custom'],
    ['custom { path: "/a" }', 't.v1.S.M: custom needs a kind and a path'],
    ['get: "/v1/{nam}"', 't.v1.S.M: GET /v1/{nam}: path template "/v1/{nam}" names field "nam", which t.v1.Req does not have'],
    ['get: "/v1/{inner.b}"', 't.v1.S.M: GET /v1/{inner.b}: path template "/v1/{inner.b}" names field "inner.b", which t.v1.Req does not have'],
    ['get: "/v1/{name.x}"', 't.v1.S.M: GET /v1/{name.x}: path template "/v1/{name.x}" names field "name.x", but "name" is not a singular message field'],
    ['get: "/v1/{tags}"', 't.v1.S.M: GET /v1/{tags}: path template "/v1/{tags}" binds "tags", a repeated or map field'],
    ['get: "/v1/{inner}"', 't.v1.S.M: GET /v1/{inner}: path template "/v1/{inner}" binds "inner", a message field'],
    ['get: "/v1/{name=**}/x"', 't.v1.S.M: GET /v1/{name=**}/x: path template "/v1/{name=**}/x": "**" must be the last segment'],
    ['get: "v1"', 't.v1.S.M: GET v1: path template "v1" must start with "/"'],
    ['post: "/v1" body: "nope"', 't.v1.S.M: POST /v1: body names field "nope", which t.v1.Req does not have'],
    ['get: "/v1" response_body: "nope"', 't.v1.S.M: GET /v1: response_body names field "nope", which t.v1.Res does not have'],
    ['get: "/v1" additional_bindings { get: "/v1" }', 't.v1.S.M: GET /v1: the same binding is already used by /t.v1.S/M'],
  ])('an http rule { %s }', (option, message) => {
    expect(problems(configDir({ 'x.proto': proto(option) }, { proto: 'x.proto' }))).toEqual([`plugins[0].config.proto: ${message}`])
  })

  it('a stream_format it does not know', () => {
    const dir = configDir({ 'x.proto': proto('get: "/a"') }, { proto: 'x.proto', stream_format: 'xml' })
    expect(problems(dir)).toEqual(['plugins[0].config.stream_format: expected one of: json-array, ndjson, sse'])
  })
})
