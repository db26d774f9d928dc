// Micro-benchmark: our llparse response parser (N-API, event array) against Node's own HTTP client parser (llhttp).
// Same bytes, same work on each side (header strings, body views); run with `node --import tsx native-bench/parser-bench.ts`.
import { ResponseParser, type BodyKind, type ResponseSink } from '../src/http1/response-parser.js'

const SMALL = Buffer.from(
  'HTTP/1.1 200 OK\r\n' +
    'Date: Mon, 23 Nov 2026 19:00:00 GMT\r\n' +
    'Content-Type: application/json\r\n' +
    'Content-Length: 27\r\n' +
    'Connection: keep-alive\r\n' +
    'Cache-Control: no-cache\r\n' +
    'X-Request-Id: 0f8fad5b-d9cb-469f\r\n' +
    '\r\n' +
    '{"ok":true,"items":[1,2,3]}',
  'latin1',
)

function chunked(chunks: number, size: number): Buffer {
  let s = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nDate: Mon, 23 Nov 2026 19:00:00 GMT\r\n\r\n'
  for (let i = 0; i < chunks; i++) s += `${size.toString(16)}\r\n${'x'.repeat(size)}\r\n`
  return Buffer.from(s + '0\r\n\r\n', 'latin1')
}
const CHUNKED = chunked(16, 64)
const CHUNKED_TINY = chunked(2000, 1)

// --- our parser ---------------------------------------------------------------------------------

class CountingSink implements ResponseSink {
  bytes = 0
  heads = 0
  completes = 0
  onHead(_s: number, _r: string, headers: string[], _cl: number, _k: BodyKind, _ka: boolean): void {
    this.heads += headers.length
  }
  onBody(chunk: Buffer): void {
    this.bytes += chunk.length
  }
  onComplete(): void {
    this.completes++
  }
}

function ours(buf: Buffer): () => void {
  const sink = new CountingSink()
  const parser = new ResponseParser(sink)
  return () => {
    parser.reset(false)
    if (parser.execute(buf) !== 0) throw new Error(parser.errorReason)
  }
}

// --- Node's parser (llhttp through node's C++ binding, as http.request uses it) ----------------

interface NodeHttpParser {
  initialize(type: number, resource: object, maxHeaderSize?: number, lenient?: number): void
  execute(buf: Buffer): number | Error
  [k: number]: unknown
}
interface NodeHttpParserClass {
  new (): NodeHttpParser
  RESPONSE: number
  kOnHeaders: number
  kOnHeadersComplete: number
  kOnBody: number
  kOnMessageComplete: number
  kOnExecute: number
}

function loadNodeParser(): NodeHttpParserClass | null {
  const emit = process.emitWarning
  try {
    process.emitWarning = () => {} // process.binding is deprecated (DEP0111); we know
    const binding = (process as unknown as { binding(name: string): { HTTPParser: NodeHttpParserClass } }).binding('http_parser')
    return binding.HTTPParser
  } catch {
    return null
  } finally {
    process.emitWarning = emit
  }
}

function node(HTTPParser: NodeHttpParserClass, buf: Buffer): () => void {
  const sink = new CountingSink()
  const parser = new HTTPParser()
  parser.initialize(HTTPParser.RESPONSE, {})
  let pending: string[] = []
  parser[HTTPParser.kOnHeaders] = (headers: string[]) => {
    pending = pending.concat(headers)
  }
  parser[HTTPParser.kOnHeadersComplete] = (
    _major: number,
    _minor: number,
    headers: string[] | undefined,
    _method: number,
    _url: string,
    status: number,
    reason: string,
  ) => {
    // Like node's client: headers come as a flat array; drop the framing ones as we do.
    const list = headers ?? pending
    pending = []
    const kept: string[] = []
    for (let i = 0; i < list.length; i += 2) {
      const n = list[i]
      if (n.length === 14 && n.toLowerCase() === 'content-length') continue
      if (n.length === 10 && n.toLowerCase() === 'connection') continue
      if (n.length === 17 && n.toLowerCase() === 'transfer-encoding') continue
      kept.push(n, list[i + 1])
    }
    sink.onHead(status, reason, kept, -1, 0, true)
    return 0
  }
  parser[HTTPParser.kOnBody] = (b: Buffer) => sink.onBody(b)
  parser[HTTPParser.kOnMessageComplete] = () => sink.onComplete()
  return () => {
    const r = parser.execute(buf)
    if (typeof r !== 'number') throw r
  }
}

// --- runner -------------------------------------------------------------------------------------

/** ns per call of fn over about `ms` milliseconds. */
function measure(fn: () => void, ms: number): number {
  const start = process.hrtime.bigint()
  const budget = BigInt(ms) * 1_000_000n
  let ops = 0
  for (;;) {
    for (let i = 0; i < 1000; i++) fn()
    ops += 1000
    const elapsed = process.hrtime.bigint() - start
    if (elapsed >= budget) return Number(elapsed) / ops
  }
}

/** Best of ROUNDS after a warm-up: on a shared machine the minimum is the least noisy figure. */
const ROUNDS = 7
function bench(fn: () => void): number {
  measure(fn, 300)
  let best = Infinity
  for (let i = 0; i < ROUNDS; i++) best = Math.min(best, measure(fn, 200))
  return best
}

/** Both parsers must see the same response before their speed means anything. */
function check(buf: Buffer): void {
  const a = new CountingSink()
  const p = new ResponseParser(a)
  if (p.execute(buf) !== 0 || a.completes !== 1) throw new Error(`gw_resp did not parse the bench response: ${p.errorReason}`)
  if (NodeParser === null) return
  let bytes = 0
  let completes = 0
  const n = new NodeParser()
  n.initialize(NodeParser.RESPONSE, {})
  n[NodeParser.kOnHeadersComplete] = () => 0
  n[NodeParser.kOnBody] = (b: Buffer) => (bytes += b.length)
  n[NodeParser.kOnMessageComplete] = () => completes++
  const r = n.execute(buf)
  if (typeof r !== 'number' || completes !== 1 || bytes !== a.bytes) throw new Error('node parser disagrees on the bench response')
}

const NodeParser = loadNodeParser()
const cases: [string, Buffer][] = [
  [`small response (${SMALL.length} B, 6 headers, content-length)`, SMALL],
  [`chunked response (${CHUNKED.length} B, 16 x 64 B chunks)`, CHUNKED],
  [`chunked response (${CHUNKED_TINY.length} B, 2000 x 1 B chunks)`, CHUNKED_TINY],
]

console.log(`node ${process.version}; best of ${ROUNDS} x 200 ms after a 300 ms warm-up\n`)
console.log('| case | parser | ops/s | ns/op | MB/s |')
console.log('|---|---|---:|---:|---:|')
for (const [name, buf] of cases) {
  check(buf)
  const rows: [string, number][] = [['gw_resp (llparse, N-API)', bench(ours(buf))]]
  if (NodeParser !== null) rows.push(['node http_parser (llhttp)', bench(node(NodeParser, buf))])
  for (const [parser, ns] of rows) {
    const ops = 1e9 / ns
    console.log(`| ${name} | ${parser} | ${Math.round(ops).toLocaleString('en-US')} | ${ns.toFixed(0)} | ${((ops * buf.length) / 1e6).toFixed(0)} |`)
  }
}
if (NodeParser === null) console.log('\n(process.binding("http_parser") is not available in this Node: only our parser was measured)')
