// The proto3 JSON mapping both ways over the bookstore fixture: request messages from path
// variables, query parameters and bodies; responses as JSON; errors that name the field.
import { describe, expect, it } from 'vitest'
import { Buffer } from 'node:buffer'
import { fileURLToPath } from 'node:url'
import protobuf from 'protobufjs'
import { loadProto } from '../../src/protocols/grpc/proto-loader.js'
import { createTranscoder, TranscodeError, type DescribedProto, type Transcoder } from '../../src/protocols/grpc/transcoder.js'

const FIXTURES = fileURLToPath(new URL('../fixtures/grpc', import.meta.url))
const loaded = loadProto('bookstore.proto', FIXTURES)
if (!loaded.ok) throw new Error(loaded.message)
const described: DescribedProto = structuredClone(loaded.described)
const lenient = createTranscoder(described, { rejectUnknownQuery: false, protoNames: false })
const strict = createTranscoder(described, { rejectUnknownQuery: true, protoNames: false })
const protoNames = createTranscoder(described, { rejectUnknownQuery: false, protoNames: true })

/** An independent protobufjs root (with the google.rpc.Status type) to check bytes against. */
const root = protobuf.Root.fromJSON(described.descriptor as protobuf.INamespace)
root.addJSON({ google: { nested: { rpc: { nested: { Status: { fields: {
  code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 }, details: { rule: 'repeated', type: 'google.protobuf.Any', id: 3 },
} } } } } } })
root.resolveAll()
const T = (name: string): protobuf.Type => root.lookupType(name)

/** The request message the transcoder builds, decoded by protobufjs (int64 and enums as strings, bytes base64). */
function request(method: string, path: string, query = '', body: unknown = undefined, t: Transcoder = lenient): Record<string, unknown> {
  const m = t.match(method, path)
  if (m === null) throw new Error(`no binding for ${method} ${path}`)
  const raw = body === undefined ? Buffer.alloc(0) : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body))
  const bytes = t.encodeRequest(m, query, raw)
  const type = T(`bookstore.v1.${(m.binding.grpcPath.split('/')[2] === 'UpdateShelf' ? 'Shelf' : m.binding.grpcPath.split('/')[2] === 'Echo' ? 'Everything' : `${m.binding.grpcPath.split('/')[2]}Request`)}`)
  return type.toObject(type.decode(bytes), { longs: String, enums: String, bytes: String, oneofs: false })
}

function failure(method: string, path: string, query = '', body: unknown = undefined, t: Transcoder = lenient): TranscodeError {
  try {
    request(method, path, query, body, t)
  } catch (e) {
    if (e instanceof TranscodeError) return e
    throw e
  }
  throw new Error('expected a TranscodeError')
}

const echo = (body: unknown): Record<string, unknown> => request('POST', '/v1/echo', '', body)
const echoError = (body: unknown): string => failure('POST', '/v1/echo', '', body).message

/** The JSON the transcoder renders for a message protobufjs encodes from `value` (protobufjs field names). */
function render(binding: string, typeName: string, value: Record<string, unknown>, t: Transcoder = lenient): unknown {
  const [method, path] = binding.split(' ')
  const m = t.match(method, path)!
  const type = T(typeName)
  return JSON.parse(t.renderResponse(m.binding, type.encode(type.fromObject(value)).finish()))
}

/** Echo: JSON in, the same message rendered out. */
function roundTrip(body: unknown): unknown {
  const m = lenient.match('POST', '/v1/echo')!
  return JSON.parse(lenient.renderResponse(m.binding, lenient.encodeRequest(m, '', Buffer.from(JSON.stringify(body)))))
}

describe('path variables', () => {
  it('set scalar fields, typed by the field', () => {
    expect(request('GET', '/v1/shelves/7')).toEqual({ shelf: '7' })
    expect(request('GET', '/v1/shelves/7/books/9')).toEqual({ name: 'shelves/7/books/9' })
    expect(request('GET', '/v1/echo/-12/h%C3%A9llo%2Fx')).toEqual({ int64_value: '-12', string_value: 'héllo/x' })
  })

  it('set a nested field inside the body field', () => {
    expect(request('PATCH', '/v1/shelves/1/books/2', '', { title: 'T' })).toEqual({ book: { name: 'shelves/1/books/2', title: 'T' } })
  })

  it('win over the body for the same field', () => {
    expect(request('PUT', '/v1/shelves/7', '', { id: '8', theme: 'sea' })).toEqual({ id: '7', theme: 'sea' })
  })

  it('reject a value the field type does not take, naming the field', () => {
    const e = failure('GET', '/v1/shelves/x')
    expect(e.field).toBe('shelf')
    expect(e.message).toBe('"shelf": invalid value "x" for int64')
  })
})

describe('query parameters', () => {
  it('fill nested and repeated fields, by proto or JSON name', () => {
    const q = 'filter.author=Ann&filter.location.aisle=B&filter.location.shelfNumber=3&filter.genre=HISTORY&filter.years=1999&filter.years=2001' +
      '&tags=a&tags=b&limit=20&page_token=t1'
    expect(request('GET', '/v1/shelves/1/books', q)).toEqual({
      shelf: '1', tags: ['a', 'b'], page_size: 20, page_token: 't1',
      filter: { author: 'Ann', genre: 'HISTORY', location: { aisle: 'B', shelf_number: 3 }, years: ['1999', '2001'] },
    })
    expect(request('GET', '/v1/shelves/1/books', 'page_size=5&pageToken=x&filter.location.shelf_number=1')).toEqual({
      shelf: '1', page_size: 5, page_token: 'x', filter: { location: { shelf_number: 1 } },
    })
  })

  it('URL-decode names and values, with + as a space', () => {
    expect(request('GET', '/v1/shelves/1/books', 'filter%2Eauthor=Jane+Doe%21&ta%67s=a%26b&tags=c+d')).toEqual({
      shelf: '1', tags: ['a&b', 'c d'], filter: { author: 'Jane Doe!' },
    })
  })

  it('take enum numbers, well-known types and an empty value', () => {
    expect(request('GET', '/v1/shelves/1/books', 'filter.genre=3&filter.author=&tags=')).toEqual({ shelf: '1', filter: { genre: 'SCIENCE' }, tags: [''] })
    expect(request('PATCH', '/v1/shelves/1/books/2', 'update_mask=title,pageCount,book.publishedAt')).toEqual({
      book: { name: 'shelves/1/books/2' }, update_mask: { paths: ['title', 'page_count', 'book.published_at'] },
    })
  })

  it('are ignored when unknown, by default', () => {
    expect(request('GET', '/v1/shelves/1/books', 'nope=1&filter.nope=2&filter=3&&=x&tags=a')).toEqual({ shelf: '1', tags: ['a'] })
  })

  it('get a 400 error when unknown and reject_unknown_query is on', () => {
    expect(failure('GET', '/v1/shelves/1/books', 'tags=a&nope=1', undefined, strict).message).toBe('"nope": unknown query parameter')
    expect(failure('GET', '/v1/shelves/1/books', 'filter=1', undefined, strict).field).toBe('filter')
    expect(failure('GET', '/v1/shelves/1/books', 'fil%74er.x=1', undefined, strict).field).toBe('filter.x')
    expect(request('GET', '/v1/shelves/1/books', 'tags=a', undefined, strict)).toEqual({ shelf: '1', tags: ['a'] })
  })

  it('do not override fields bound by the path or the body', () => {
    expect(request('GET', '/v1/shelves/1/books', 'shelf=9')).toEqual({ shelf: '1' })
    expect(request('POST', '/v1/shelves/1/books', 'book.title=q', { title: 'body' })).toEqual({ shelf: '1', book: { title: 'body' } })
    // body "*": every field comes from the body.
    expect(request('PUT', '/v1/shelves/1', 'theme=q', { theme: 'body' })).toEqual({ id: '1', theme: 'body' })
  })

  it('reject a value the field type does not take', () => {
    expect(failure('GET', '/v1/shelves/1/books', 'limit=many').message).toBe('"limit": invalid value "many" for int32')
    expect(failure('GET', '/v1/shelves/1/books', 'limit=').message).toBe('"limit": invalid value "" for int32')
    expect(failure('GET', '/v1/shelves/1/books', 'filter.years=1&filter.years=x').message).toBe('"filter.years": invalid value "x" for int64')
    expect(failure('GET', '/v1/shelves/1/books', 'filter.genre=POETRY').message).toBe('"filter.genre": invalid value "POETRY" for enum bookstore.common.v1.Genre')
  })
})

describe('request bodies', () => {
  it('map body "field" to that field and errors inside it name the path', () => {
    expect(request('POST', '/v1/shelves/3/books', '', { title: 'T', page_count: 12, genre: 'FICTION' })).toEqual({
      shelf: '3', book: { title: 'T', page_count: '12', genre: 'FICTION' },
    })
    const e = failure('POST', '/v1/shelves/3/books', '', { title: 'T', pageCount: 'x' })
    expect(e.field).toBe('book.pageCount')
    expect(e.message).toBe('"book.pageCount": invalid value "x" for int64')
  })

  it('treat an empty body as no fields', () => {
    expect(request('POST', '/v1/shelves/3/books')).toEqual({ shelf: '3' })
    expect(request('POST', '/v1/echo')).toEqual({})
  })

  it('reject invalid JSON, a non-object message, and unknown fields', () => {
    expect(failure('POST', '/v1/echo', '', '{"a":').field).toBe('')
    expect(failure('POST', '/v1/echo', '', '{"a":').message).toMatch(/^invalid JSON body: /)
    expect(echoError([1])).toBe('invalid value [1] for message bookstore.v1.Everything (a JSON object)')
    expect(echoError({ nope: 1 })).toBe('"nope": unknown field in bookstore.v1.Everything')
    expect(echoError({ books: [{ nope: 1 }] })).toBe('"books[0].nope": unknown field in bookstore.v1.Book')
  })

  it('accept lowerCamelCase, proto names and json_name, and reject the same field twice', () => {
    expect(echo({ int32Value: 1, string_value: 's', customName: 'c' })).toEqual({ int32_value: 1, string_value: 's', renamed: 'c' })
    expect(echo({ renamed: 'c' })).toEqual({ renamed: 'c' })
    expect(echoError({ int32Value: 1, int32_value: 2 })).toBe('"int32_value": field given twice (by its proto and its JSON name)')
  })

  it('treat null as unset, except for google.protobuf.Value', () => {
    expect(echo({ int32Value: null, books: null, timestamp: null, counts: null })).toEqual({})
    expect(echo({ value: null })).toEqual({ value: { nullValue: 'NULL_VALUE' } })
    expect(echoError({ repeatedInt64: [1, null] })).toBe('"repeatedInt64[1]": invalid value null for int64')
  })

  it('reject two members of one oneof', () => {
    expect(echoError({ choiceText: 'a', choiceNumber: 1 })).toBe('"choiceNumber": oneof "choice" is already set by "choiceText"')
  })
})

describe('scalars in', () => {
  it('take 64-bit integers as strings or numbers, up to their limits', () => {
    expect(echo({ int64Value: '9223372036854775807', uint64Value: '18446744073709551615', sint64Value: '-9223372036854775808', fixed64Value: 42 })).toEqual({
      int64_value: '9223372036854775807', uint64_value: '18446744073709551615', sint64_value: '-9223372036854775808', fixed64_value: '42',
    })
    expect(echo({ int64Value: -1, repeatedInt64: ['0', -5, 6] })).toEqual({ int64_value: '-1', repeated_int64: ['0', '-5', '6'] })
  })

  it('reject integers out of range, fractions and non-numbers', () => {
    expect(echoError({ int64Value: '9223372036854775808' })).toBe('"int64Value": value "9223372036854775808" is out of range for int64')
    expect(echoError({ uint64Value: '-1' })).toBe('"uint64Value": value "-1" is out of range for uint64')
    expect(echoError({ uint64Value: '18446744073709551616' })).toBe('"uint64Value": value "18446744073709551616" is out of range for uint64')
    expect(echoError({ int32Value: 2147483648 })).toBe('"int32Value": value 2147483648 is out of range for int32')
    expect(echoError({ uint32Value: -1 })).toBe('"uint32Value": value -1 is out of range for uint32')
    expect(echoError({ int32Value: 1.5 })).toBe('"int32Value": invalid value 1.5 for int32')
    expect(echoError({ int64Value: '1e3' })).toBe('"int64Value": invalid value "1e3" for int64')
    expect(echoError({ int64Value: true })).toBe('"int64Value": invalid value true for int64')
  })

  it('take doubles and floats as numbers, numeric strings and NaN/Infinity', () => {
    expect(echo({ doubleValue: '2.5', floatValue: -1 })).toEqual({ double_value: 2.5, float_value: -1 })
    expect(echo({ doubleValue: 'Infinity' }).double_value).toBe(Infinity)
    expect(echo({ doubleValue: 'NaN' }).double_value).toBeNaN()
    expect(echoError({ floatValue: 1e39 })).toBe('"floatValue": value 1e+39 is out of range for float')
    expect(echoError({ doubleValue: 'abc' })).toBe('"doubleValue": invalid value "abc" for double')
  })

  it('take bools only as JSON bools in a body', () => {
    expect(echo({ boolValue: true })).toEqual({ bool_value: true })
    expect(echoError({ boolValue: 'true' })).toBe('"boolValue": invalid value "true" for bool')
  })

  it('take enums by name or number', () => {
    expect(echo({ genre: 'HISTORY' })).toEqual({ genre: 'HISTORY' })
    expect(echo({ genre: 3 })).toEqual({ genre: 'SCIENCE' })
    expect(echoError({ genre: 'POETRY' })).toBe('"genre": invalid value "POETRY" for enum bookstore.common.v1.Genre')
  })

  it('take bytes as standard or URL-safe base64, padding optional', () => {
    expect(echo({ bytesValue: '+/8=' })).toEqual({ bytes_value: '+/8=' })
    expect(echo({ bytesValue: '-_8' })).toEqual({ bytes_value: '+/8=' })
    expect(echoError({ bytesValue: 'a' })).toBe('"bytesValue": invalid value "a" for bytes (base64)')
    expect(echoError({ bytesValue: 'a b' })).toBe('"bytesValue": invalid value "a b" for bytes (base64)')
  })

  it('take maps as objects with keys checked against the key type', () => {
    expect(echo({ counts: { a: '1', b: 2 }, booksById: { '-3': { title: 'x' } } })).toEqual({ counts: { a: '1', b: '2' }, books_by_id: { '-3': { title: 'x' } } })
    expect(echoError({ booksById: { x: {} } })).toBe('"booksById[x]": invalid value "x" for int32')
    expect(echoError({ namesById: { '-1': 'a' } })).toBe('"namesById[-1]": value "-1" is out of range for uint64')
    expect(echoError({ flags: { yes: 'a' } })).toBe('"flags[yes]": invalid map key "yes" for bool')
    expect(echoError({ counts: [] })).toBe('"counts": invalid value [] for map (a JSON object)')
  })
})

describe('well-known types in', () => {
  it('Timestamp from RFC 3339, offsets normalized to UTC', () => {
    expect(echo({ timestamp: '1972-01-01T10:00:20.021+01:00' }).timestamp).toEqual({ seconds: '63104420', nanos: 21000000 })
    expect(echo({ timestamp: '0001-01-01T00:00:00Z' }).timestamp).toEqual({ seconds: '-62135596800' })
    expect(echo({ timestamp: '9999-12-31T23:59:59.999999999Z' }).timestamp).toEqual({ seconds: '253402300799', nanos: 999999999 })
    expect(echoError({ timestamp: '2017-02-30T00:00:00Z' })).toBe('"timestamp": invalid value "2017-02-30T00:00:00Z" for google.protobuf.Timestamp (RFC 3339)')
    expect(echoError({ timestamp: 1 })).toBe('"timestamp": invalid value 1 for google.protobuf.Timestamp (RFC 3339)')
  })

  it('Duration from "<seconds>.<fraction>s"', () => {
    expect(echo({ duration: '1.5s' }).duration).toEqual({ seconds: '1', nanos: 500000000 })
    expect(echo({ duration: '-0.000000001s' }).duration).toEqual({ nanos: -1 })
    expect(echoError({ duration: '1.5' })).toBe('"duration": invalid value "1.5" for google.protobuf.Duration (e.g. "1.5s")')
    expect(echoError({ duration: '315576000001s' })).toBe('"duration": duration "315576000001s" is out of range')
  })

  it('wrappers from bare values (int64 as a string too)', () => {
    expect(echo({ int32Wrapper: 0, stringWrapper: '', int64Wrapper: '12', boolWrapper: false, bytesWrapper: 'AAE=', doubleWrapper: 'NaN', uint64Wrapper: 1 })).toEqual({
      int32_wrapper: {}, string_wrapper: {}, int64_wrapper: { value: '12' }, bool_wrapper: {}, bytes_wrapper: { value: 'AAE=' },
      double_wrapper: { value: NaN }, uint64_wrapper: { value: '1' },
    })
    expect(echoError({ int32Wrapper: 'x' })).toBe('"int32Wrapper": invalid value "x" for int32')
  })

  it('Struct, Value and ListValue from any JSON', () => {
    const got = echo({ structValue: { a: 1, b: [true, null, 'x'], c: { d: {} } }, listValue: [1, 'two'], value: { k: 'v' } })
    expect(got.struct_value).toEqual({ fields: {
      a: { numberValue: 1 },
      b: { listValue: { values: [{ boolValue: true }, { nullValue: 'NULL_VALUE' }, { stringValue: 'x' }] } },
      c: { structValue: { fields: { d: { structValue: {} } } } },
    } })
    expect(got.list_value).toEqual({ values: [{ numberValue: 1 }, { stringValue: 'two' }] })
    expect(got.value).toEqual({ structValue: { fields: { k: { stringValue: 'v' } } } })
    expect(echoError({ structValue: [1] })).toBe('"structValue": invalid value [1] for google.protobuf.Struct (a JSON object)')
  })

  it('FieldMask from comma-separated lowerCamelCase paths', () => {
    expect(echo({ fieldMask: 'fooBar.bazQux,a' }).field_mask).toEqual({ paths: ['foo_bar.baz_qux', 'a'] })
    expect(echo({ fieldMask: '' }).field_mask).toEqual({})
  })

  it('Empty from {}', () => {
    expect(echo({ empty: {} })).toEqual({ empty: {} })
    expect(echoError({ empty: { a: 1 } })).toBe('"empty.a": unknown field in google.protobuf.Empty')
  })

  it('Any from "@type" and the fields of a known type', () => {
    const any = echo({ any: { '@type': 'type.googleapis.com/bookstore.v1.Book', title: 'T', pageCount: '3' } }).any as { type_url: string; value: string }
    expect(any.type_url).toBe('type.googleapis.com/bookstore.v1.Book')
    expect(T('bookstore.v1.Book').toObject(T('bookstore.v1.Book').decode(Buffer.from(any.value, 'base64')), { longs: String })).toEqual({ title: 'T', page_count: '3' })
    expect(echoError({ any: { title: 'T' } })).toBe('"any.@type": google.protobuf.Any needs "@type"')
    expect(echoError({ any: { '@type': 'type.googleapis.com/nope.Nope' } })).toBe('"any.@type": unknown type "type.googleapis.com/nope.Nope"')
    expect(echoError({ any: { '@type': 'type.googleapis.com/bookstore.v1.Book', nope: 1 } })).toBe('"any.nope": unknown field in bookstore.v1.Book')
  })
})

describe('responses', () => {
  it('use JSON names, leave defaults out and print 64-bit integers as strings', () => {
    expect(render('POST /v1/echo', 'bookstore.v1.Everything', {
      int32_value: 0, int64_value: '-9223372036854775808', uint64_value: '18446744073709551615', fixed64_value: '0', renamed: 'r',
      string_value: '', bool_value: false, repeated_int64: [], bytes_value: Buffer.from([0, 255]),
    })).toEqual({ int64Value: '-9223372036854775808', uint64Value: '18446744073709551615', customName: 'r', bytesValue: 'AP8=' })
  })

  it('print proto names with preserve_proto_field_names', () => {
    expect(render('POST /v1/echo', 'bookstore.v1.Everything', { int64_value: 5, renamed: 'r' }, protoNames)).toEqual({ int64_value: '5', renamed: 'r' })
  })

  it('print fields with presence when set, even at their default', () => {
    expect(render('POST /v1/echo', 'bookstore.v1.Everything', { optional_value: 0, choice_number: 0 })).toEqual({ optionalValue: 0, choiceNumber: 0 })
  })

  it('print enums by name, an unknown number as a number', () => {
    expect(render('POST /v1/echo', 'bookstore.v1.Everything', { genre: 2 })).toEqual({ genre: 'HISTORY' })
    expect(render('POST /v1/echo', 'bookstore.v1.Everything', { genre: 42 })).toEqual({ genre: 42 })
  })

  it('print floats at float precision and non-finite numbers as strings', () => {
    expect(render('POST /v1/echo', 'bookstore.v1.Everything', { float_value: 0.1, double_value: 0.1 })).toEqual({ floatValue: 0.1, doubleValue: 0.1 })
    expect(render('POST /v1/echo', 'bookstore.v1.Everything', { float_value: -Infinity, double_value: NaN })).toEqual({ floatValue: '-Infinity', doubleValue: 'NaN' })
  })

  it('print 64-bit and bool map keys as JSON strings, and a "__proto__" key as data', () => {
    expect(render('POST /v1/echo', 'bookstore.v1.Everything', { names_by_id: { '18446744073709551615': 'max', 0: 'zero', 7: 'seven' }, flags: { true: 'y', false: 'n' } }))
      .toEqual({ namesById: { '18446744073709551615': 'max', 0: 'zero', 7: 'seven' }, flags: { true: 'y', false: 'n' } })
    const json = roundTrip(JSON.parse('{"counts":{"__proto__":"1"},"structValue":{"__proto__":{"polluted":true}}}')) as Record<string, Record<string, unknown>>
    expect(Object.getPrototypeOf(json.counts)).toBe(Object.prototype)
    expect(Object.keys(json.counts)).toEqual(['__proto__'])
    expect(JSON.stringify(json)).toBe('{"counts":{"__proto__":"1"},"structValue":{"__proto__":{"polluted":true}}}')
  })

  it('print maps, repeated messages and nested messages', () => {
    expect(render('POST /v1/echo', 'bookstore.v1.Everything', {
      counts: { a: 1 }, books_by_id: { 7: { title: 'x' } }, books: [{ name: 'n', tags: ['t'] }, {}],
    })).toEqual({ counts: { a: '1' }, booksById: { 7: { title: 'x' } }, books: [{ name: 'n', tags: ['t'] }, {}] })
  })

  it('print Timestamp and Duration with 0, 3, 6 or 9 fractional digits', () => {
    const ts = (seconds: number, nanos: number): unknown => (render('POST /v1/echo', 'bookstore.v1.Everything', { timestamp: { seconds, nanos } }) as { timestamp: unknown }).timestamp
    expect(ts(0, 0)).toBe('1970-01-01T00:00:00Z')
    expect(ts(1484443815, 10000000)).toBe('2017-01-15T01:30:15.010Z')
    expect(ts(1, 1000)).toBe('1970-01-01T00:00:01.000001Z')
    expect(ts(-62135596800, 1)).toBe('0001-01-01T00:00:00.000000001Z')
    const d = (seconds: number, nanos: number): unknown => (render('POST /v1/echo', 'bookstore.v1.Everything', { duration: { seconds, nanos } }) as { duration: unknown }).duration
    expect(d(1, 500000000)).toBe('1.500s')
    expect(d(0, -1)).toBe('-0.000000001s')
    expect(d(-3, 0)).toBe('-3s')
    expect(d(0, 0)).toBe('0s')
  })

  it('print wrappers, Struct, Value, ListValue, FieldMask and Empty in their JSON forms', () => {
    expect(render('POST /v1/echo', 'bookstore.v1.Everything', {
      int32_wrapper: {}, int64_wrapper: { value: 5 }, string_wrapper: { value: 's' }, bool_wrapper: { value: true },
      // protobufjs's bundled struct.proto names Value's fields in lowerCamelCase.
      struct_value: { fields: { a: { numberValue: 1 }, b: { listValue: { values: [{ nullValue: 0 }, { boolValue: false }] } } } },
      value: { stringValue: 'v' }, list_value: { values: [{ structValue: {} }] },
      field_mask: { paths: ['foo_bar.baz', 'a'] }, empty: {},
    })).toEqual({
      int32Wrapper: 0, int64Wrapper: '5', stringWrapper: 's', boolWrapper: true,
      structValue: { a: 1, b: [null, false] }, value: 'v', listValue: [{}], fieldMask: 'fooBar.baz,a', empty: {},
    })
  })

  it('print Any with "@type": fields of a known type, "value" for a well-known one, base64 for an unknown one', () => {
    const book = T('bookstore.v1.Book').encode({ title: 'T', page_count: 3 }).finish()
    const duration = T('google.protobuf.Duration').encode({ seconds: 2 }).finish()
    const any = (type_url: string, value: Uint8Array): unknown => (render('POST /v1/echo', 'bookstore.v1.Everything', { any: { type_url, value } }) as { any: unknown }).any
    expect(any('type.googleapis.com/bookstore.v1.Book', book)).toEqual({ '@type': 'type.googleapis.com/bookstore.v1.Book', title: 'T', pageCount: '3' })
    expect(any('type.googleapis.com/google.protobuf.Duration', duration)).toEqual({ '@type': 'type.googleapis.com/google.protobuf.Duration', value: '2s' })
    expect(any('example.com/x.Unknown', Uint8Array.of(1, 2))).toEqual({ '@type': 'example.com/x.Unknown', value: 'AQI=' })
  })

  it('send only the response_body field when the rule names one', () => {
    expect(render('GET /v1/shelves/1/books', 'bookstore.v1.ListBooksResponse', { books: [{ title: 'a', page_count: 1 }], next_page_token: 'n' }))
      .toEqual([{ title: 'a', pageCount: '1' }])
    expect(render('GET /v1/shelves/1/books', 'bookstore.v1.ListBooksResponse', { next_page_token: 'n' })).toEqual([])
  })

  it('render Empty as {}', () => {
    expect(render('DELETE /v1/shelves/1/books/2', 'google.protobuf.Empty', {})).toEqual({})
  })

  it('round-trip every field kind through the Echo method', () => {
    const json = {
      int32Value: -5, int64Value: '9007199254740993', uint32Value: 4294967295, uint64Value: '18446744073709551615', sint64Value: '-2',
      fixed64Value: '3', sfixed32Value: -7, boolValue: true, doubleValue: 1.25, floatValue: 3.5, stringValue: 'ü', bytesValue: 'AQID',
      genre: 'FICTION', repeatedInt64: ['1', '-1'], books: [{ name: 'b', published: '2020-02-29T12:00:00Z', edition: 2 }],
      counts: { x: '9' }, booksById: { 1: { author: 'a' } }, timestamp: '2000-01-01T00:00:00.123456Z', duration: '-2.500s',
      int32Wrapper: 3, stringWrapper: 's', int64Wrapper: '-9223372036854775808', boolWrapper: false,
      structValue: { k: [1, 'a', null, { z: true }] }, value: 2.5, listValue: ['x'], fieldMask: 'a.bC,d', empty: {},
      any: { '@type': 'type.googleapis.com/google.protobuf.Timestamp', value: '2001-01-01T00:00:00Z' },
      customName: 'r', choiceText: 't', optionalValue: 0, bytesWrapper: '', doubleWrapper: 0, uint64Wrapper: '0',
      namesById: { '18446744073709551615': 'a', 1: 'b' }, flags: { false: 'f' },
    }
    expect(roundTrip(json)).toEqual(json)
  })
})

describe('status details', () => {
  it('renders the details of a google.rpc.Status as JSON values', () => {
    const status = T('google.rpc.Status')
    const book = T('bookstore.v1.Book').encode({ title: 'missing' }).finish()
    const bin = status.encode({ code: 5, message: 'no', details: [{ type_url: 'type.googleapis.com/bookstore.v1.Book', value: book }] }).finish()
    expect(lenient.renderStatusDetails(bin)).toEqual([{ '@type': 'type.googleapis.com/bookstore.v1.Book', title: 'missing' }])
    expect(lenient.renderStatusDetails(status.encode({ code: 3 }).finish())).toEqual([])
  })
})
