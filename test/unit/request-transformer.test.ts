// request-transformer's pure parts: the `$(…)` templates, Kong's schema messages, the five steps on headers,
// query arguments and JSON / url-encoded bodies, and the access phase against a recording request.
import { describe, expect, it } from 'vitest'
import { validateConfig } from '../../src/config/validate.js'
import plugin, { splitEntry, transformForm, transformJson, type RequestTransformerConfig } from '../../src/plugins/request-transformer.js'
import { parseTemplate, render, type Template, type TemplateEnv } from '../../src/plugins/request-template.js'
import { encodeArgs } from '../../src/plugins/form-args.js'
import { CONTINUE } from '../../src/plugins/types.js'
import { compilePlugin, fakeRequest, snapshotWith } from '../helpers/plugins.js'
import type { RouteRecord } from '../../src/config/types.js'

type Doc = Record<string, unknown>

function problems(config: Doc): string[] {
  const r = validateConfig({ _format_version: '3.0', plugins: [{ name: 'request-transformer', config }] }, { env: {} })
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)
}

const conf = (config: Doc): RequestTransformerConfig => compilePlugin(plugin, config)
const env = (headers: Record<string, string> = {}, query: Record<string, string> = {}, captures: Record<string, string> = {}): TemplateEnv => ({
  header: (k) => headers[k],
  queryParam: (k) => query[k],
  capture: (k) => captures[k],
})
const tpl = (s: string): Template => {
  const t = parseTemplate(s)
  if (typeof t === 'string') throw new Error(t)
  return t
}

describe('request-transformer templates', () => {
  it('renders lookups, bracket keys, numbered captures and literal text around them', () => {
    const e = env({ 'x-user-id': 'u1' }, { page: '2' }, { '1': 'abc', name: 'n' })
    expect(render(tpl('id=$(headers.x_user_id)'), e)).toBe('id=u1')
    expect(render(tpl('$(headers["X-User-Id"])/$(query_params.page)'), e)).toBe('u1/2')
    expect(render(tpl("/a/$(uri_captures[1])/$(uri_captures['name'])"), e)).toBe('/a/abc/n')
    expect(render(tpl('no template $ here'), e)).toBe('no template $ here')
  })

  it("takes the first set alternative of 'or', and renders a missing value as ''", () => {
    expect(render(tpl('$(headers.a or query_params.b or "dflt")'), env({}, { b: 'B' }))).toBe('B')
    expect(render(tpl('$(headers.a or "dflt")'), env())).toBe('dflt')
    expect(render(tpl('[$(headers.a)]'), env())).toBe('[]')
    expect(render(tpl("$('$(escaped)')"), env())).toBe('$(escaped)')
  })

  it('refuses anything that is not a lookup or a string (no code runs)', () => {
    expect(parseTemplate('$(os.execute("rm"))')).toMatch(/only lookups in headers, query_params and uri_captures/)
    expect(parseTemplate('$(headers.a .. "x")')).toMatch(/expected 'or'/)
    expect(parseTemplate('$(headers)')).toMatch(/expected '\.' or '\['/)
    expect(parseTemplate('$(headers.a')).toMatch(/unclosed/)
  })
})

describe('request-transformer schema', () => {
  it("accepts Kong's fields with empty lists as defaults", () => {
    expect(problems({})).toEqual([])
    const c = conf({})
    expect(c.headers.any || c.query.any || c.body.any).toBe(false)
    expect(c.method).toBeNull()
  })

  it("reports Kong's messages for bad entries", () => {
    expect(problems({
      remove: { headers: ['bad header'] },
      rename: { headers: ['x-a:bad name'], body: ['novalue'] },
      add: { headers: ['x-a'], querystring: ['q:'] },
      replace: { uri: '$(ngx.var.uri)' },
      http_method: 'get',
    })).toEqual([
      "plugins[0].config.http_method: must be an upper-case HTTP method",
      "plugins[0].config.remove.headers[0]: 'bad header' is not a valid header",
      "plugins[0].config.rename.body[0]: key 'novalue' has no value",
      "plugins[0].config.rename.headers[0]: 'bad name' is not a valid header",
      "plugins[0].config.replace.uri: value '$(ngx.var.uri)' has an unsupported template '$(ngx.var.uri)': only lookups in headers, query_params and uri_captures (with 'or' and string literals) are supported",
      'plugins[0].config.add.headers[0]: invalid value: x-a',
      "plugins[0].config.add.querystring[0]: key 'q' has no value",
    ])
  })

  it('refuses __proto__ as a body or query name, and never renames to it', () => {
    expect(problems({ add: { body: ['__proto__:x'] }, remove: { body: ['__proto__'] } })).toEqual([
      "plugins[0].config.remove.body[0]: '__proto__' is not a usable name",
      "plugins[0].config.add.body[0]: '__proto__' is not a usable name",
    ])
    const c = conf({ rename: { body: ['a:$(headers.to)'] } })
    const out = transformJson(Buffer.from('{"a":{"polluted":true}}'), c.body, env({ to: '__proto__' }))
    expect(out).toBeNull()
  })

  it("splits entries as Kong's ^([^:]+):*(.-)$ does", () => {
    expect(splitEntry('a:b:c')).toEqual({ name: 'a', value: 'b:c' })
    expect(splitEntry('a::b')).toEqual({ name: 'a', value: 'b' })
    expect(splitEntry('a:')).toEqual({ name: 'a', value: '' })
  })
})

describe('request-transformer bodies', () => {
  const c = conf({
    remove: { body: ['gone'] },
    rename: { body: ['old:new', 'same:same'] },
    replace: { body: ['swap:after', 'off:on'] },
    add: { body: ['added:yes', 'keep:no', 'off:on'] },
    append: { body: ['list:two', 'num:x'] },
  })
  const e = env()

  it('edits a JSON object in order, values as strings, false counting as absent', () => {
    const out = transformJson(Buffer.from(JSON.stringify({ gone: 1, old: { a: 1 }, same: 's', swap: 0, keep: 'k', list: 'one', num: 5, off: false })), c.body, e)
    expect(JSON.parse(out!.toString())).toEqual({ same: 's', swap: 'after', keep: 'k', list: ['one', 'two'], num: ['x'], off: 'on', new: { a: 1 }, added: 'yes' })
  })

  it('leaves unparsable JSON and non-object documents alone', () => {
    expect(transformJson(Buffer.from('{"broken"'), c.body, e)).toBeNull()
    expect(transformJson(Buffer.from('[1,2]'), c.body, e)).toBeNull()
  })

  it('builds an object from an empty body with add and append only', () => {
    expect(JSON.parse(transformJson(Buffer.alloc(0), c.body, e)!.toString())).toEqual({ added: 'yes', keep: 'no', off: 'on', list: ['two'], num: ['x'] })
  })

  it('edits a url-encoded form, keeping its order and encoding with %20', () => {
    expect(transformForm(Buffer.from('gone=1&old=a+b&swap=x&off&list=one'), c.body, e)!.toString()).toBe('swap=after&off=on&list=one&list=two&new=a%20b&added=yes&keep=no&num=x')
  })

  it('encodes query arguments sorted, repeated names once per value, bare names without =', () => {
    expect(encodeArgs({ b: ['1', '2'], a: true, c: 'x y/z' }, true)).toBe('a&b=1&b=2&c=x%20y%2Fz')
  })
})

describe('request-transformer access', () => {
  it('edits headers, Host, method, path and query without touching the body of a GET', async () => {
    const c = conf({
      http_method: 'PUT',
      replace: { uri: '/v2/$(query_params.id)', headers: ['host:backend.test'] },
      remove: { headers: ['x-secret'], querystring: ['id'] },
      add: { headers: ['x-id:$(query_params.id)'], querystring: ['v:2'] },
    })
    const ctx = fakeRequest({ query: 'id=7&z=1', headers: new Map([['host', 'gw.local'], ['x-secret', 's']]) })
    expect(await plugin.phases.access!(ctx, c)).toBe(CONTINUE)
    expect(ctx.upstreamPath).toBe('/v2/7')
    expect(ctx.upstreamMethod).toBe('PUT')
    expect(ctx.upstreamHeaders).toEqual([['x-secret', null], ['host', 'backend.test'], ['x-id', '7']])
    expect(ctx.query).toBe('v=2&z=1')
    expect(ctx.replacedBody).toBeNull()
  })

  it('escapes a rendered uri and fails the request when it does not start with /', async () => {
    const c = conf({ replace: { uri: '$(headers.to)' } })
    const ok = fakeRequest({ headers: new Map([['to', '/a b/ü']]) })
    await plugin.phases.access!(ok, c)
    expect(ok.upstreamPath).toBe('/a%20b/%C3%BC')
    const bad = fakeRequest({ headers: new Map([['to', 'relative']]) })
    await expect(plugin.phases.access!(bad, c)).rejects.toMatchObject({ status: 500 })
  })

  it('reads uri_captures from the regex path the route matched', async () => {
    const route = { id: 'r-id', paths: ['/plain', '~/items/(?<id>\\d+)$'] } as unknown as RouteRecord
    const c = compilePlugin(plugin, { add: { headers: ['x-item:$(uri_captures.id)'] } }, undefined, 'i', snapshotWith({ routes: [route] }))
    const ctx = fakeRequest({ path: '/items/12' })
    await plugin.phases.access!(ctx, c)
    expect(ctx.upstreamHeaders).toEqual([['x-item', '12']])
  })

  it('replaces the body of a JSON request', async () => {
    const c = conf({ add: { body: ['b:2'] } })
    const ctx = fakeRequest({ method: 'POST', headers: new Map([['content-type', 'application/json; charset=utf-8']]), body: '{"a":1}' })
    await plugin.phases.access!(ctx, c)
    expect(ctx.replacedBody!.toString()).toBe('{"a":1,"b":"2"}')
  })
})
