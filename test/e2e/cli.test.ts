// The `gateway` command (SPEC §1): validate's output and exit codes, --help, --version, and
// settings errors naming the variable.
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { CLI, writeTempConfig } from '../helpers/gateway.js'

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 })
  return { code: r.status, out: r.stdout + r.stderr }
}

describe('gateway CLI', () => {
  it('prints help and version', () => {
    expect(run(['--help']).out).toContain('gateway start')
    expect(run(['--version']).out.trim()).toMatch(/^\d+\.\d+\.\d+/)
  })

  it('validate exits 0 with a summary for a valid file', () => {
    const path = writeTempConfig({ services: [{ name: 's', url: 'http://127.0.0.1:1', routes: [{ name: 'r', paths: ['/x'] }] }] })
    const r = run(['validate', '-c', path])
    expect(r.code).toBe(0)
    expect(r.out).toContain('OK')
  })

  it('validate lists every problem as path: message and exits 1', () => {
    const path = writeTempConfig({
      services: [{ name: 's', url: 'http://127.0.0.1:1', routes: [{ name: 'r', paths: ['/x', 'nope'] }, { name: 'r2', paths: ['/y'], bogus: 1 }] }],
      plugins: [{ name: 'no-such-plugin' }],
    })
    const r = run(['validate', '-c', path])
    expect(r.code).toBe(1)
    expect(r.out).toContain('services[0].routes[0].paths[1]:')
    expect(r.out).toContain('services[0].routes[1].bogus:')
    expect(r.out).toContain('plugins[0]')
  })

  it('refuses to start with an invalid setting, naming the variable', () => {
    const r = run(['start'], { GATEWAY_WORKERS: 'many' })
    expect(r.code).not.toBe(0)
    expect(r.out).toContain('GATEWAY_WORKERS')
  })

  it('shipped config/gateway.yaml is valid', () => {
    const r = run(['validate', '-c', new URL('../../config/gateway.yaml', import.meta.url).pathname])
    expect(r.code).toBe(0)
  })
})
