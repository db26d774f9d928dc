// Loading config text and files: YAML or JSON, syntax errors with their position, and Kong's env
// vault (`{vault://env/NAME}`) resolved before validation, a missing variable reported at its path.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadConfigFile, parseConfigText } from '../../src/config/load.js'
import { envVarName, resolveVaultRefs } from '../../src/config/vault.js'

const dir = mkdtempSync(join(tmpdir(), 'gw-config-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const YAML_CONFIG = `
_format_version: "3.0"
services:
  - name: echo
    url: http://127.0.0.1:9000
    routes:
      - name: r
        paths: [/echo]
`

describe('parseConfigText', () => {
  it('parses YAML and validates it', () => {
    const r = parseConfigText(YAML_CONFIG, 'posted')
    expect(r.ok).toBe(true)
    expect(r.source).toBe('posted')
    if (r.ok) expect(r.config.routes[0].paths).toEqual(['/echo'])
  })

  it('parses JSON (YAML is a superset, and format: json is strict JSON)', () => {
    const json = JSON.stringify({ _format_version: '3.0', services: [{ host: 'a' }] })
    expect(parseConfigText(json, 'a').ok).toBe(true)
    expect(parseConfigText(json, 'a', { format: 'json' }).ok).toBe(true)
    const bad = parseConfigText('{"_format_version": ', 'body.json', { format: 'json' })
    expect(bad.ok).toBe(false)
    if (!bad.ok) expect(bad.errors[0].message).toMatch(/^invalid JSON: /)
  })

  it('reports YAML syntax errors with their line', () => {
    const r = parseConfigText('_format_version: "3.0"\nservices:\n  - name: [unclosed\n', 'gateway.yaml')
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.errors[0].path).toBe('gateway.yaml')
      expect(r.errors[0].message).toMatch(/^invalid YAML: .*line \d+/)
    }
  })

  it('rejects duplicate keys and an empty document', () => {
    expect(parseConfigText('_format_version: "3.0"\n_format_version: "3.0"\n', 'x').ok).toBe(false)
    const empty = parseConfigText('', 'x')
    expect(empty.ok ? [] : empty.errors).toEqual([{ path: 'x', message: 'the config is empty' }])
  })
})

describe('env vault references', () => {
  const text = (ref: string) => `
_format_version: "3.0"
services:
  - name: a
    url: "${ref}"
    routes: [{ paths: [/] }]
`

  it('names the variable as Kong does: upper case, - becomes _', () => {
    expect(envVarName('my-secret.url')).toBe('MY_SECRET.URL')
  })

  it('replaces a reference by the variable and records where a secret was used', () => {
    const r = parseConfigText(text('{vault://env/svc-url}'), 'x', { env: { SVC_URL: 'http://10.1.2.3:8080' } })
    expect(r.ok).toBe(true)
    if (r.ok) expect(r.config.services[0]).toMatchObject({ host: '10.1.2.3', port: 8080 })
    expect(r.secretPaths).toEqual(['services[0].url'])
  })

  it('reads a key of a JSON variable', () => {
    const r = resolveVaultRefs({ a: ['{vault://env/creds/password}'] }, { CREDS: '{"password":"s3cret"}' })
    expect(r).toEqual({ value: { a: ['s3cret'] }, errors: [], secretPaths: ['a[0]'] })
  })

  it('reports a missing variable at its path, without follow-on errors', () => {
    const r = parseConfigText(text('{vault://env/missing-url}'), 'x', { env: {} })
    expect(r.ok ? [] : r.errors).toEqual([
      { path: 'services[0].url', message: 'environment variable MISSING_URL is not set (referenced as {vault://env/missing-url})' },
    ])
  })

  it('rejects other vaults and leaves strings that only contain a reference alone', () => {
    const r = resolveVaultRefs({ a: '{vault://aws/x}', b: 'Bearer {vault://env/T}' }, { T: 't' })
    expect(r.errors).toEqual([{ path: 'a', message: "unsupported vault 'aws' in {vault://aws/x}: only {vault://env/NAME} is supported" }])
    expect((r.value as Record<string, string>).b).toBe('Bearer {vault://env/T}')
  })

  it('does not modify the document it is given', () => {
    const d = { a: '{vault://env/T}' }
    resolveVaultRefs(d, { T: 't' })
    expect(d.a).toBe('{vault://env/T}')
  })
})

describe('loadConfigFile', () => {
  it('loads YAML and JSON files by extension, with the absolute path as source', () => {
    const y = join(dir, 'gateway.yaml')
    writeFileSync(y, YAML_CONFIG)
    const j = join(dir, 'gateway.json')
    writeFileSync(j, JSON.stringify({ _format_version: '3.0', upstreams: [{ name: 'up' }] }))
    const ry = loadConfigFile(y)
    const rj = loadConfigFile(j)
    expect([ry.ok, ry.source, rj.ok, rj.source]).toEqual([true, y, true, j])
  })

  it('reports a file it cannot read', () => {
    const r = loadConfigFile(join(dir, 'nope.yaml'))
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.errors[0].message).toMatch(/^cannot read the config file: ENOENT/)
  })
})
