// A real @grpc/grpc-js server for test/fixtures/grpc/bookstore.proto (loaded with @grpc/proto-loader),
// recording each call's request and metadata. Request metadata steers failures: x-grpc-status, x-delay-ms.
// Also a node:http2 echo server for HTTP/2 edge cases grpc-js cannot be made to show (tiny windows, GOAWAY).
import http2, { type ServerHttp2Session } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import protobuf from 'protobufjs'

export const BOOKSTORE_PROTO = fileURLToPath(new URL('../fixtures/grpc/bookstore.proto', import.meta.url))
const INCLUDES = [fileURLToPath(new URL('../fixtures/grpc', import.meta.url)), fileURLToPath(new URL('../../config/protos', import.meta.url))]

/** One call as the server saw it: method name, the decoded request (proto field names) and the metadata. */
export interface ReceivedCall {
  method: string
  request: Record<string, unknown>
  metadata: Record<string, string | string[]>
  /** Milliseconds left until the call's deadline when it arrived (from grpc-timeout), Infinity without one. */
  deadlineMs: number
  /** The client's address and port: one per HTTP/2 connection. */
  peer: string
}

export interface Bookstore {
  port: number
  /** Every call so far, in arrival order. */
  calls: ReceivedCall[]
  /** StreamBooks messages written so far (all calls). */
  streamed(): number
  /** The last call of `method`. */
  last(method: string): ReceivedCall
  close(): Promise<void>
}

export interface BookstoreOptions {
  /** Serve TLS (grpcs://) with this certificate. */
  tls?: { cert: string; key: string }
  /** Added to every reply's initial metadata as x-served-by (tells targets apart). */
  name?: string
  /** Listen on this port (a restarted server); a free one by default. */
  port?: number
  /** grpc-js server options (connection age, keepalive pings, concurrent streams). */
  serverOptions?: grpc.ServerOptions
}

/** The 1 MiB File content GetFile returns for path `big`. */
export function bigContent(): Buffer {
  const b = Buffer.alloc(1024 * 1024)
  for (let i = 0; i < b.length; i++) b[i] = (i * 7) & 0xff
  return b
}

/**
 * google.rpc.Status, to build grpc-status-details-bin, and the two Shelf fields the server packs in its
 * `details` (same field numbers as bookstore.proto).
 */
const rpcRoot = protobuf.Root.fromJSON({
  nested: {
    bookstore: { nested: { v1: { nested: { Shelf: { fields: { id: { type: 'int64', id: 1 }, theme: { type: 'string', id: 2 } } } } } } },
    google: { nested: {
      rpc: { nested: { Status: { fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 }, details: { rule: 'repeated', type: 'google.protobuf.Any', id: 3 } } } } },
      protobuf: { nested: { Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } } } },
    } },
  },
})
const StatusType = rpcRoot.lookupType('google.rpc.Status')
const ShelfType = rpcRoot.lookupType('bookstore.v1.Shelf')

type Handler = (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>) => Record<string, unknown>

export async function startBookstore(opts: BookstoreOptions = {}): Promise<Bookstore> {
  const definition = protoLoader.loadSync(BOOKSTORE_PROTO, { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true, includeDirs: INCLUDES })
  const loaded = grpc.loadPackageDefinition(definition) as unknown as { bookstore: { v1: { Bookstore: grpc.ServiceClientConstructor } } }
  const service = loaded.bookstore.v1.Bookstore.service
  const calls: ReceivedCall[] = []
  let streamed = 0
  const servedBy = opts.name ?? 'bookstore'

  const record = (method: string, call: { request: Record<string, unknown>; metadata: grpc.Metadata; getDeadline(): grpc.Deadline; getPeer(): string }): void => {
    const metadata: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(call.metadata.getMap())) metadata[k] = Buffer.isBuffer(v) ? v.toString('base64') : v
    const deadline = call.getDeadline()
    // grpc-js gives a Date or epoch milliseconds (Infinity without a deadline).
    calls.push({ method, request: call.request, metadata, deadlineMs: (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now(), peer: call.getPeer() })
  }

  /** A failure asked for by x-grpc-status (with x-grpc-message, URI-encoded, and details when x-grpc-details is set), or null. */
  const requestedError = (md: grpc.Metadata): grpc.ServiceError | null => {
    const status = md.get('x-grpc-status')[0]
    if (status === undefined) return null
    const code = Number(status)
    const message = decodeURIComponent(String(md.get('x-grpc-message')[0] ?? ''))
    const trailer = new grpc.Metadata()
    trailer.set('x-error-trailer', 'yes')
    if (md.get('x-grpc-details').length > 0) {
      const shelf = ShelfType.encode(ShelfType.fromObject({ id: '7', theme: 'detail' })).finish()
      const bin = StatusType.encode(StatusType.create({ code, message, details: [{ type_url: 'type.googleapis.com/bookstore.v1.Shelf', value: shelf }] })).finish()
      trailer.set('grpc-status-details-bin', Buffer.from(bin))
    }
    return Object.assign(new Error(message), { code, details: message, metadata: trailer }) as grpc.ServiceError
  }

  const unary = (method: string, handler: Handler) => (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
    record(method, call)
    const md = call.metadata
    const delay = Number(md.get('x-delay-ms')[0] ?? 0)
    const reply = (): void => {
      const err = requestedError(md)
      // Headers first unless asked for a trailers-only error (grpc-js sends those when no metadata was sent).
      if (err === null || md.get('x-send-headers').length > 0) call.sendMetadata(responseMetadata(servedBy, md))
      if (err !== null) return callback(err)
      const trailer = new grpc.Metadata()
      trailer.set('x-trailer', 'done')
      callback(null, handler(call), trailer)
    }
    if (delay > 0) setTimeout(reply, delay)
    else reply()
  }

  const server = new grpc.Server(opts.serverOptions)
  server.addService(service, {
    GetShelf: unary('GetShelf', (c) => ({ id: c.request.shelf, theme: `theme-${String(c.request.shelf)}`, location: { aisle: 'A', shelf_number: 3 } })),
    GetBook: unary('GetBook', (c) => book(String(c.request.name))),
    ListBooks: unary('ListBooks', (c) => ({ books: [book(`shelves/${String(c.request.shelf)}/books/1`), book(`shelves/${String(c.request.shelf)}/books/2`)], next_page_token: 'next' })),
    CreateBook: unary('CreateBook', (c) => ({ ...(c.request.book as object), name: `shelves/${String(c.request.shelf)}/books/new` })),
    UpdateShelf: unary('UpdateShelf', (c) => c.request),
    PatchBook: unary('PatchBook', (c) => c.request.book as Record<string, unknown>),
    DeleteBook: unary('DeleteBook', () => ({})),
    PublishBook: unary('PublishBook', (c) => ({ ...book(String(c.request.name)), published: c.request.at })),
    GetFile: unary('GetFile', (c) => ({ path: c.request.path, content: c.request.path === 'big' ? bigContent() : Buffer.from(String(c.request.path)) })),
    Echo: unary('Echo', (c) => c.request),
    Internal: unary('Internal', () => ({})),
    StreamBooks: (call: grpc.ServerWritableStream<Record<string, unknown>, unknown>) => {
      record('StreamBooks', call)
      call.sendMetadata(responseMetadata(servedBy, call.metadata))
      const count = Number(call.request.count ?? 0)
      const failAfter = call.metadata.get('x-fail-after')[0]
      // x-title-bytes: each Book's title is that many bytes (large streams for backpressure tests).
      const titleBytes = Number(call.metadata.get('x-title-bytes')[0] ?? 0)
      let i = 0
      // Honours backpressure: a slow gateway or client makes the server wait for 'drain'.
      const pump = (): void => {
        while (i < count) {
          if (failAfter !== undefined && i === Number(failAfter)) {
            call.emit('error', { code: grpc.status.ABORTED, details: 'stream aborted on purpose' })
            return
          }
          const message = book(`shelves/${String(call.request.shelf)}/books/${i}`)
          if (titleBytes > 0) message.title = 'x'.repeat(titleBytes)
          const ok = call.write(message)
          i++
          streamed++
          if (!ok) return void call.once('drain', pump)
        }
        call.end()
      }
      pump()
    },
  })
  const credentials = opts.tls !== undefined
    ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(opts.tls.cert), private_key: Buffer.from(opts.tls.key) }], false)
    : grpc.ServerCredentials.createInsecure()
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${opts.port ?? 0}`, credentials, (err, p) => (err !== null ? reject(err) : resolve(p)))
  })
  return {
    port,
    calls,
    streamed: () => streamed,
    last(method) {
      for (let i = calls.length - 1; i >= 0; i--) if (calls[i]!.method === method) return calls[i]!
      throw new Error(`no ${method} call received`)
    },
    close: () => new Promise<void>((resolve) => {
      server.forceShutdown()
      resolve()
    }),
  }
}

/** A Book with every field set (what GetBook and the streams return). */
function book(name: string): Record<string, unknown> {
  return {
    name, author: 'Ann Author', title: 'A Title', genre: 'HISTORY', published: { seconds: '1700000000', nanos: 500000000 },
    page_count: '9007199254740993', tags: ['a', 'b'], edition: { value: 2 },
  }
}

/** Initial metadata: who answered, a binary value, and x-echo copied from the request when it has one. */
function responseMetadata(servedBy: string, request: grpc.Metadata): grpc.Metadata {
  const md = new grpc.Metadata()
  md.set('x-served-by', servedBy)
  md.set('x-binary-bin', Buffer.from([0, 1, 2, 250]))
  const echo = request.get('x-echo')[0]
  if (echo !== undefined) md.set('x-echo', echo)
  return md
}

export interface H2EchoOptions {
  /** The server's SETTINGS (e.g. a tiny initialWindowSize: the gateway's request waits on WINDOW_UPDATEs). */
  settings?: http2.Settings
  /** The first connection refuses its first call (RST_STREAM REFUSED_STREAM) and sends GOAWAY: the call was never processed. */
  refuseFirstConnection?: boolean
}

export interface H2Echo {
  port: number
  /** HTTP/2 connections accepted so far. */
  connections(): number
  /** Calls answered (not refused) so far. */
  answered(): number
  close(): Promise<void>
}

/**
 * A node:http2 gRPC server that answers every unary call with the request message itself (for Echo:
 * Everything in, the same Everything out), headers, the message, then grpc-status 0 in trailers.
 */
export async function startH2Echo(opts: H2EchoOptions = {}): Promise<H2Echo> {
  const server = http2.createServer({ settings: opts.settings })
  const sessions: ServerHttp2Session[] = []
  let answered = 0
  server.on('session', (session) => sessions.push(session))
  server.on('stream', (stream) => {
    stream.on('error', () => {})
    if (opts.refuseFirstConnection === true && stream.session === sessions[0]) {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM)
      stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR)
      return
    }
    const parts: Buffer[] = []
    stream.on('data', (c: Buffer) => parts.push(c))
    stream.on('end', () => {
      answered++
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
      stream.end(Buffer.concat(parts))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => sessions.length,
    answered: () => answered,
    close: () => new Promise<void>((resolve) => {
      // A session that sent GOAWAY stays open in node:http2 until destroyed.
      for (const session of sessions) session.destroy()
      server.close(() => resolve())
    }),
  }
}
