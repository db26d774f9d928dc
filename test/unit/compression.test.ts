// compression's pure parts: Accept-Encoding negotiation, media type patterns, which responses are eligible,
// and the filter itself streaming through real node:zlib into a collecting sink.
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { validateConfig } from '../../src/config/validate.js'
import { negotiate } from '../../src/plugins/accept-encoding.js'
import plugin, { TypeMatcher, eligible, type CompressionConfig } from '../../src/plugins/compression.js'
import type { FilterSink, ResponseFilter, ResponseHead } from '../../src/plugins/types.js'
import { compilePlugin, fakeRequest } from '../helpers/plugins.js'

const conf = (config: Record<string, unknown> = {}): CompressionConfig => compilePlugin(plugin, config)
const head = (headers: string[], over: Partial<ResponseHead> = {}): ResponseHead => ({ status: 200, bodyless: false, contentLength: 5000, headers, ...over })

function filterFor(acceptEncoding: string | null, c = conf({ min_length: 0 })): ResponseFilter {
  const ctx = fakeRequest({ headers: new Map(acceptEncoding === null ? [] : [['accept-encoding', acceptEncoding]]) })
  plugin.phases.access!(ctx, c)
  return ctx.filters[0]!
}

describe('Accept-Encoding negotiation', () => {
  const both = ['br', 'gzip'] as const
  it.each([
    ['gzip, br', 'br'],
    ['gzip', 'gzip'],
    ['br;q=0.4, gzip;q=0.5', 'gzip'],
    ['BR;Q=1, gzip;q=1', 'br'],
    ['*', 'br'],
    ['*;q=0.1, br;q=0', 'gzip'],
    ['x-gzip;q=0.9', 'gzip'],
    ['identity', null],
    ['*;q=0', null],
    ['gzip;q=0, br;q=0.000', null],
    ['', null],
  ])('%j → %j', (header, expected) => {
    expect(negotiate(header, both)).toBe(expected)
  })

  it('no header means identity; the configured order breaks ties', () => {
    expect(negotiate(undefined, both)).toBeNull()
    expect(negotiate('br, gzip', ['gzip', 'br'])).toBe('gzip')
    expect(negotiate('br', ['gzip'])).toBeNull()
  })
})

describe('compression config and eligibility', () => {
  it('defaults: br then gzip, 1 KiB minimum, text/JSON/JS/XML/SVG types', () => {
    const c = conf()
    expect([c.codings, c.minLength, c.gzipLevel, c.brotliLevel]).toEqual([['br', 'gzip'], 1024, 6, 4])
    for (const t of ['text/html', 'application/json; charset=utf-8', 'application/problem+json', 'application/javascript', 'image/svg+xml', 'application/atom+xml']) expect([t, c.types.matches(t)]).toEqual([t, true])
    for (const t of ['image/png', 'application/octet-stream', 'video/mp4', undefined]) expect([t, c.types.matches(t)]).toEqual([t, false])
  })

  it('refuses malformed media types and levels out of range', () => {
    const r = validateConfig({ _format_version: '3.0', plugins: [{ name: 'compression', config: { content_type: ['text'], gzip_level: 10, algorithms: ['deflate'] } }] }, { env: {} })
    expect(r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)).toEqual([
      'plugins[0].config.algorithms[0]: expected one of: br, gzip',
      "plugins[0].config.content_type[0]: 'text' is not a media type (type/subtype, '*' as a wildcard)",
      'plugins[0].config.gzip_level: must be between 1 and 9',
    ])
  })

  it('TypeMatcher: exact names and * wildcards, parameters ignored', () => {
    const m = new TypeMatcher(['text/*', 'application/*+json', 'Application/XML'])
    expect([m.matches('text/plain;charset=x'), m.matches('application/ld+json'), m.matches('application/xml'), m.matches('application/json')]).toEqual([true, true, true, false])
  })

  it('skips bodyless, partial, encoded, no-transform, unlisted and short responses', () => {
    const c = conf()
    const text = ['Content-Type', 'text/plain']
    expect(eligible(c, head(text))).toBe(true)
    expect(eligible(c, head(text, { contentLength: -1 }))).toBe(true)
    expect(eligible(c, head(text, { contentLength: 1023 }))).toBe(false)
    expect(eligible(c, head(text, { bodyless: true }))).toBe(false)
    expect(eligible(c, head(text, { status: 206 }))).toBe(false)
    expect(eligible(c, head([...text, 'Content-Encoding', 'gzip']))).toBe(false)
    expect(eligible(c, head([...text, 'Content-Encoding', 'identity']))).toBe(true)
    expect(eligible(c, head([...text, 'Cache-Control', 'max-age=1, no-transform']))).toBe(false)
    expect(eligible(c, head([...text, 'Content-Range', 'bytes 0-1/2']))).toBe(false)
    expect(eligible(c, head(['Content-Type', 'image/png']))).toBe(false)
  })
})

/** Feeds `parts` through a filter and resolves with what reached the sink once it ended. */
function run(f: ResponseFilter, parts: Buffer[]): Promise<Buffer> {
  return new Promise((resolve) => {
    const out: Buffer[] = []
    const sink: FilterSink = {
      write: (c) => void out.push(Buffer.from(c)),
      end: () => resolve(Buffer.concat(out)),
      pause: () => {},
      resume: () => {},
    }
    for (const p of parts) f.onChunk(p, sink)
    f.onEnd(sink)
  })
}

describe('compression filter', () => {
  const body = Buffer.from('compressible text '.repeat(5000))
  const parts = [body.subarray(0, 1000), body.subarray(1000, 40_000), body.subarray(40_000)]

  it('gzip and br streams decode to the input, with the head rewritten', async () => {
    for (const coding of ['gzip', 'br'] as const) {
      const f = filterFor(coding)
      const h = ['Content-Type', 'text/plain', 'ETag', '"x"', 'Accept-Ranges', 'bytes', 'Vary', 'Origin']
      expect(f.onHead(head(h, { contentLength: body.length }))).toBe(true)
      expect(h).toEqual(['Content-Type', 'text/plain', 'ETag', 'W/"x"', 'Vary', 'Origin, Accept-Encoding', 'Content-Encoding', coding])
      const out = await run(f, parts)
      expect((coding === 'gzip' ? gunzipSync(out) : brotliDecompressSync(out)).equals(body)).toBe(true)
      expect(out.length).toBeLessThan(body.length / 10)
    }
  })

  it('only adds Vary when the client accepts no coding', () => {
    const f = filterFor('identity')
    const h = ['Content-Type', 'text/plain']
    expect(f.onHead(head(h))).toBe(false)
    expect(h).toEqual(['Content-Type', 'text/plain', 'Vary', 'Accept-Encoding'])
    const none = filterFor(null)
    const h2 = ['Content-Type', 'text/plain', 'Vary', '*']
    expect(none.onHead(head(h2))).toBe(false)
    expect(h2).toEqual(['Content-Type', 'text/plain', 'Vary', '*'])
  })

  it('an abort releases the stream and nothing more reaches the sink', async () => {
    const f = filterFor('gzip')
    f.onHead(head(['Content-Type', 'text/plain']))
    let writes = 0
    const sink: FilterSink = { write: () => void writes++, end: () => void writes++, pause: () => {}, resume: () => {} }
    f.onChunk(body, sink)
    f.onAbort()
    await new Promise((r) => setTimeout(r, 50))
    expect(writes).toBe(0)
  })
})
