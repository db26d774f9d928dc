// response-transformer's pure parts: Kong's schema, header edits on a head, JSON edits with json_types, and the
// filter buffering a JSON body up to the limit (then passing it through) while other bodies are left alone.
import { describe, expect, it } from 'vitest'
import { validateConfig } from '../../src/config/validate.js'
import plugin, { JSON_LIMIT, castJson, transformHeaders, transformJson, type ResponseTransformerConfig } from '../../src/plugins/response-transformer.js'
import type { FilterSink, ResponseFilter } from '../../src/plugins/types.js'
import { compilePlugin, fakeRequest } from '../helpers/plugins.js'

type Doc = Record<string, unknown>

function problems(config: Doc): string[] {
  const r = validateConfig({ _format_version: '3.0', plugins: [{ name: 'response-transformer', config }] }, { env: {} })
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)
}

const conf = (config: Doc): ResponseTransformerConfig => compilePlugin(plugin, config)

/** The filter the access phase registers. */
function filterOf(c: ResponseTransformerConfig): ResponseFilter | undefined {
  const ctx = fakeRequest()
  plugin.phases.access!(ctx, c)
  return ctx.filters[0]
}

class Collect implements FilterSink {
  out: Buffer[] = []
  ended = false
  write(chunk: Buffer): void {
    this.out.push(Buffer.from(chunk))
  }
  end(): void {
    this.ended = true
  }
  pause(): void {}
  resume(): void {}
  text(): string {
    return Buffer.concat(this.out).toString()
  }
}

describe('response-transformer schema', () => {
  it("accepts Kong's fields and refuses entries without a colon or with a bad header", () => {
    expect(problems({ add: { json: ['a:1'], json_types: ['number'] } })).toEqual([])
    expect(problems({ add: { json: ['a'], headers: ['x-a:bad\nvalue'], json_types: ['int'] }, rename: { headers: ['x-a:b c'] } })).toEqual([
      "plugins[0].config.rename.headers[0]: 'b c' is not a valid header",
      'plugins[0].config.add.json[0]: invalid value: a',
      "plugins[0].config.add.json_types[0]: expected one of: boolean, number, string",
      "plugins[0].config.add.headers[0]: 'bad\nvalue' is not a valid header",
    ])
  })

  it('registers no filter when nothing is configured', () => {
    expect(filterOf(conf({}))).toBeUndefined()
  })
})

describe('response-transformer headers', () => {
  it('removes, renames, replaces, adds and appends in that order, case-insensitively', () => {
    const c = conf({
      remove: { headers: ['X-Drop'] },
      rename: { headers: ['x-old:X-New'] },
      replace: { headers: ['x-new:replaced', 'x-absent:no'] },
      add: { headers: ['x-keep:no', 'x-added:yes'] },
      append: { headers: ['x-keep:two'] },
    })
    const h = ['x-drop', '1', 'X-Old', 'a', 'x-old', 'b', 'X-Keep', 'k', 'x-drop', '2']
    transformHeaders(c, h)
    // replace writes the name as configured (kong.response.set_header).
    expect(h).toEqual(['X-Keep', 'k', 'x-new', 'replaced', 'x-added', 'yes', 'x-keep', 'two'])
  })
})

describe('response-transformer JSON', () => {
  it('casts values as Kong does: numbers or skipped, booleans by "true", a missing value is "null"', () => {
    expect(castJson('12.5', 'number')).toBe(12.5)
    expect(castJson('x', 'number')).toBeUndefined()
    expect(castJson('yes', 'boolean')).toBe(false)
    expect(castJson('true', 'boolean')).toBe(true)
    expect(castJson(undefined, undefined)).toBe('null')
  })

  it('edits top-level keys in order and leaves non-objects alone', () => {
    const c = conf({
      remove: { json: ['gone'] },
      rename: { json: ['old:new'] },
      replace: { json: ['n:5', 'absent:1'], json_types: ['number', 'number'] },
      add: { json: ['flag:true', 'n:0'], json_types: ['boolean'] },
      append: { json: ['list:b', 'scalar:c'] },
    })
    const out = transformJson(c, Buffer.from('{"gone":1,"old":[1],"n":1,"list":"a","scalar":3}'))
    expect(JSON.parse(out!.toString())).toEqual({ n: 5, list: ['a', 'b'], scalar: ['c'], new: [1], flag: true })
    expect(transformJson(c, Buffer.from('[1]'))).toBeNull()
    expect(transformJson(c, Buffer.from('not json'))).toBeNull()
  })

  it('transforms a JSON body whole and drops the length; other types and known-large bodies pass', () => {
    const f = filterOf(conf({ add: { json: ['b:2'] } }))!
    const json = ['Content-Type', 'application/json']
    expect(f.onHead({ status: 200, bodyless: false, contentLength: 7, headers: [...json] })).toBe(true)
    const sink = new Collect()
    f.onChunk(Buffer.from('{"a":'), sink)
    f.onChunk(Buffer.from('1}'), sink)
    expect(sink.out).toEqual([])
    f.onEnd(sink)
    expect([sink.text(), sink.ended]).toEqual(['{"a":1,"b":"2"}', true])
    expect(f.onHead({ status: 200, bodyless: false, contentLength: 7, headers: ['content-type', 'text/plain'] })).toBe(false)
    expect(f.onHead({ status: 200, bodyless: false, contentLength: JSON_LIMIT + 1, headers: [...json] })).toBe(false)
    expect(f.onHead({ status: 200, bodyless: true, contentLength: 7, headers: [...json] })).toBe(false)
  })

  it('passes a chunked JSON body through unchanged once it outgrows the limit', () => {
    const f = filterOf(conf({ add: { json: ['b:2'] } }))!
    expect(f.onHead({ status: 200, bodyless: false, contentLength: -1, headers: ['content-type', 'application/json'] })).toBe(true)
    const sink = new Collect()
    const part = Buffer.alloc(JSON_LIMIT / 2 + 1, 'a')
    f.onChunk(part, sink)
    expect(sink.out.length).toBe(0)
    f.onChunk(part, sink)
    f.onChunk(Buffer.from('tail'), sink)
    f.onEnd(sink)
    expect(Buffer.concat(sink.out).length).toBe(part.length * 2 + 4)
    expect(sink.ended).toBe(true)
  })
})
