// `gateway validate` from dist/ on grpc-gateway configs: the bundled google/api protos are found by
// the built CLI, the proto path is relative to the config file, and a broken proto fails validation.
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { CLI } from '../helpers/gateway.js'

const FIXTURES = fileURLToPath(new URL('../fixtures/grpc', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'gw-grpc-validate-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function validate(config: object): { code: number | null; out: string } {
  const path = join(dir, 'gateway.json')
  writeFileSync(path, JSON.stringify({ _format_version: '3.0', ...config }))
  // Run from another directory, so only the config file's location can find the proto.
  const r = spawnSync(process.execPath, [CLI, 'validate', '-c', path], { cwd: tmpdir(), encoding: 'utf8', timeout: 20_000 })
  return { code: r.status, out: r.stdout + r.stderr }
}

const service = (plugin: object): object => ({
  services: [{ name: 'books', url: 'grpc://127.0.0.1:50051', routes: [{ name: 'r', paths: ['/v1'], plugins: [plugin] }] }],
})

describe('gateway validate with grpc-gateway', () => {
  it('accepts the bookstore proto next to the config file', () => {
    cpSync(join(FIXTURES, 'bookstore.proto'), join(dir, 'bookstore.proto'))
    cpSync(join(FIXTURES, 'common.proto'), join(dir, 'common.proto'))
    const r = validate(service({ name: 'grpc-gateway', config: { proto: 'bookstore.proto' } }))
    expect(r.out).toContain('OK (1 services, 1 routes, 0 upstreams (0 targets), 1 plugins;')
    expect(r.code).toBe(0)
  })

  it('reports a binding to a field the request lacks on plugins[i].config.proto and exits 1', () => {
    writeFileSync(join(dir, 'bad.proto'), `syntax = "proto3"; package t; import "google/api/annotations.proto";
      message M { string name = 1; }
      service S { rpc Get(M) returns (M) { option (google.api.http) = { get: "/v1/{id}" }; } }`)
    const r = validate(service({ name: 'grpc-gateway', config: { proto: 'bad.proto' } }))
    expect(r.out).toContain('services[0].routes[0].plugins[0].config.proto: t.S.Get: GET /v1/{id}: path template "/v1/{id}" names field "id", which t.M does not have')
    expect(r.code).toBe(1)
  })
})
