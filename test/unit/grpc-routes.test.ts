// gateway validate warns about routes of grpc/grpcs services that no grpc-gateway plugin covers (they answer 502).
import { describe, expect, it } from 'vitest'
import { fileURLToPath } from 'node:url'
import { validateConfig } from '../../src/config/validate.js'

const PROTO = fileURLToPath(new URL('../fixtures/grpc/bookstore.proto', import.meta.url))
const TRANSCODE = { name: 'grpc-gateway', config: { proto: PROTO } }

function warnings(doc: object): string[] {
  const result = validateConfig({ _format_version: '3.0', ...doc })
  expect(result.ok).toBe(true)
  return result.warnings.filter((w) => w.message.includes('grpc-gateway')).map((w) => `${w.path}: ${w.message}`)
}

describe('untranscoded gRPC routes', () => {
  it('warns for a route of a grpc service without grpc-gateway, naming the route', () => {
    expect(warnings({ services: [{ name: 'g', url: 'grpc://127.0.0.1:9000', routes: [{ name: 'r', paths: ['/v1'] }] }] })).toEqual([
      "services[0].routes[0]: reaches grpc service 'g' without the grpc-gateway plugin: its requests get 502 (native gRPC is not relayed)",
    ])
  })

  it('does not warn when the plugin is on the route, the service, or global', () => {
    const route = { name: 'r', paths: ['/v1'] }
    expect(warnings({ services: [{ name: 'g', url: 'grpcs://h:9000', routes: [{ ...route, plugins: [TRANSCODE] }] }] })).toEqual([])
    expect(warnings({ services: [{ name: 'g', url: 'grpcs://h:9000', plugins: [TRANSCODE], routes: [route] }] })).toEqual([])
    expect(warnings({ services: [{ name: 'g', url: 'grpc://h:9000', routes: [route] }], plugins: [TRANSCODE] })).toEqual([])
  })

  it('ignores http services and warns for a disabled plugin', () => {
    expect(warnings({ services: [{ name: 'h', url: 'http://h:80', routes: [{ name: 'r', paths: ['/'] }] }] })).toEqual([])
    const disabled = { ...TRANSCODE, enabled: false }
    expect(warnings({ services: [{ name: 'g', url: 'grpc://h:9000', routes: [{ name: 'r', paths: ['/v1'], plugins: [disabled] }] }] })).toHaveLength(1)
  })
})
