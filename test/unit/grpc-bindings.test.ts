// The method table over the bookstore fixture: every rule (additional_bindings, custom verbs and
// methods, ** paths) reaches its gRPC method, the most specific template wins, and a miss is null.
import { describe, expect, it } from 'vitest'
import { fileURLToPath } from 'node:url'
import { loadProto } from '../../src/protocols/grpc/proto-loader.js'
import { createTranscoder, type DescribedProto, type Transcoder } from '../../src/protocols/grpc/transcoder.js'
import { BindingTable } from '../../src/protocols/grpc/bindings.js'
import { parseTemplate, isMultiSegment } from '../../src/protocols/grpc/http-template.js'

const FIXTURES = fileURLToPath(new URL('../fixtures/grpc', import.meta.url))

function described(): DescribedProto {
  const loaded = loadProto('bookstore.proto', FIXTURES)
  if (!loaded.ok) throw new Error(loaded.message)
  // What a worker gets: the primary's data after a structured clone.
  return structuredClone(loaded.described)
}

const transcoder: Transcoder = createTranscoder(described(), { rejectUnknownQuery: false, protoNames: false })

function target(method: string, path: string): [string, readonly string[]] | null {
  const m = transcoder.match(method, path)
  return m === null ? null : [m.binding.grpcPath.replace('/bookstore.v1.Bookstore/', ''), m.values]
}

describe('the bookstore method table', () => {
  it('describes every method with an http option, with its rules and streaming flags', () => {
    const d = described()
    expect(d.methods.map((m) => m.grpcPath.split('/')[2])).toEqual([
      'GetShelf', 'GetBook', 'ListBooks', 'CreateBook', 'UpdateShelf', 'PatchBook', 'DeleteBook', 'PublishBook', 'GetFile', 'StreamBooks', 'Echo',
    ])
    const publish = d.methods.find((m) => m.grpcPath.endsWith('/PublishBook'))!
    expect(publish.rules).toEqual([
      { method: 'POST', path: '/v1/{name=shelves/*/books/*}:publish', body: '*', responseBody: '' },
      // An additional binding has its own body (none here), not its parent's.
      { method: 'LOCK', path: '/v1/{name=shelves/*/books/*}', body: '', responseBody: '' },
    ])
    expect(d.methods.find((m) => m.grpcPath.endsWith('/ListBooks'))!.rules[0].responseBody).toBe('books')
    expect(d.methods.find((m) => m.grpcPath.endsWith('/StreamBooks'))!.serverStreaming).toBe(true)
    expect(d.methods.find((m) => m.grpcPath.endsWith('/GetBook'))!.requestType).toBe('.bookstore.v1.GetBookRequest')
  })

  it('binds get, put, post, delete and patch', () => {
    expect(target('GET', '/v1/shelves/7')).toEqual(['GetShelf', ['7']])
    expect(target('PUT', '/v1/shelves/7')).toEqual(['UpdateShelf', ['7']])
    expect(target('POST', '/v1/shelves/7/books')).toEqual(['CreateBook', ['7']])
    expect(target('DELETE', '/v1/shelves/7/books/9')).toEqual(['DeleteBook', ['shelves/7/books/9']])
    expect(target('PATCH', '/v1/shelves/7/books/9')).toEqual(['PatchBook', ['shelves/7/books/9']])
  })

  it('binds additional_bindings to the same method', () => {
    expect(target('GET', '/v1/shelf/7/info')).toEqual(['GetShelf', ['7']])
    expect(target('GET', '/v1/echo/12/hello')).toEqual(['Echo', ['12', 'hello']])
    expect(target('POST', '/v1/echo')).toEqual(['Echo', []])
  })

  it('binds a custom verb and a custom HTTP method', () => {
    expect(target('POST', '/v1/shelves/7/books/9:publish')).toEqual(['PublishBook', ['shelves/7/books/9']])
    expect(target('LOCK', '/v1/shelves/7/books/9')).toEqual(['PublishBook', ['shelves/7/books/9']])
    expect(target('POST', '/v1/shelves/7/books/9:unpublish')).toBeNull()
  })

  it('tells the verb template from the plain one on the same path', () => {
    expect(target('GET', '/v1/shelves/7/books:stream')).toEqual(['StreamBooks', ['7']])
    expect(target('GET', '/v1/shelves/7/books')).toEqual(['ListBooks', ['7']])
  })

  it('binds a ** variable across segments', () => {
    expect(target('GET', '/v1/files/docs/2024/report.pdf')).toEqual(['GetFile', ['docs/2024/report.pdf']])
  })

  it('reports the binding streaming flags', () => {
    expect(transcoder.match('GET', '/v1/shelves/7/books:stream')!.binding).toMatchObject({ serverStreaming: true, clientStreaming: false })
    expect(transcoder.match('GET', '/v1/shelves/7')!.binding).toMatchObject({ serverStreaming: false, clientStreaming: false })
  })

  it('accepts the HTTP method in any case', () => {
    expect(target('get', '/v1/shelves/7')).toEqual(['GetShelf', ['7']])
  })

  it('returns null when no binding has this method and path', () => {
    expect(target('GET', '/v1/unknown')).toBeNull()
    expect(target('POST', '/v1/shelves/7')).toBeNull()
    expect(target('HEAD', '/v1/shelves/7')).toBeNull()
    expect(target('GET', '/v1/shelves/7/')).toBeNull()
    expect(target('GET', '')).toBeNull()
    expect(target('GET', '/bookstore.v1.Bookstore/GetShelf')).toBeNull()
  })
})

describe('match order', () => {
  const entry = (httpMethod: string, source: string, name: string): { httpMethod: string; template: ReturnType<typeof parseTemplate>; variableMulti: boolean[]; name: string } => {
    const template = parseTemplate(source)
    return { httpMethod, template, variableMulti: template.variables.map((v) => isMultiSegment(template, v)), name }
  }

  it('tries the most specific template first, whatever the file order', () => {
    const table = new BindingTable([
      entry('GET', '/v1/{path=**}', 'any'),
      entry('GET', '/v1/{id}', 'one'),
      entry('GET', '/v1/special', 'literal'),
    ])
    expect(table.match('GET', '/v1/special')!.binding.name).toBe('literal')
    expect(table.match('GET', '/v1/other')!.binding.name).toBe('one')
    expect(table.match('GET', '/v1/a/b')!.binding.name).toBe('any')
  })

  it('keeps file order between equally specific templates', () => {
    const table = new BindingTable([entry('GET', '/v1/{a}', 'first'), entry('GET', '/v1/{b}', 'second')])
    expect(table.match('GET', '/v1/x')!.binding.name).toBe('first')
  })

  it('decodes the values it returns', () => {
    const table = new BindingTable([entry('GET', '/v1/{a}/{b=**}', 'x')])
    expect(table.match('GET', '/v1/a%2Fb/c%2Fd/e%20f')!.values).toEqual(['a/b', 'c%2Fd/e f'])
  })
})
