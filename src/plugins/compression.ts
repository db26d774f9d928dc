// Extension plugin `compression`: gzip or brotli chosen by Accept-Encoding, streamed through node:zlib
// (its async streams run on libuv's threadpool), flushed per upstream read so streaming responses stay streaming.
import { constants, createBrotliCompress, createGzip, type BrotliCompress, type Gzip } from 'node:zlib'
import { arrayOf, int, oneOf, record, setOf, str } from '../config/schema.js'
import { negotiate, type Coding } from './accept-encoding.js'
import { findHeader, getHeader, joinedHeader, removeHeader, setHeader } from './response-head.js'
import { CONTINUE, definePlugin, type FilterSink, type PhaseResult, type PluginRequest, type ResponseFilter, type ResponseHead } from './types.js'

export const DEFAULT_TYPES = [
  'text/*', 'application/json', 'application/*+json', 'application/javascript', 'application/x-javascript',
  'application/xml', 'application/*+xml', 'image/svg+xml', 'application/wasm', 'application/x-ndjson',
]

export interface CompressionConfig {
  /** Codings offered, best first (br before gzip unless configured otherwise). */
  readonly codings: readonly Coding[]
  readonly minLength: number
  readonly types: TypeMatcher
  readonly gzipLevel: number
  readonly brotliLevel: number
}

/** Media type patterns: exact (`application/json`) or with `*` standing for any run of characters (`text/*`). */
export class TypeMatcher {
  private readonly exact: ReadonlySet<string>
  private readonly globs: readonly RegExp[]

  constructor(patterns: readonly string[]) {
    const lower = patterns.map((p) => p.trim().toLowerCase())
    this.exact = new Set(lower.filter((p) => !p.includes('*')))
    this.globs = lower.filter((p) => p.includes('*')).map((p) => new RegExp('^' + p.split('*').map(escapeRegex).join('.*') + '$'))
  }

  /** Whether a Content-Type value (parameters ignored) is one of the patterns. */
  matches(contentType: string | undefined): boolean {
    if (contentType === undefined) return false
    const semi = contentType.indexOf(';')
    const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase()
    if (this.exact.has(type)) return true
    for (const g of this.globs) if (g.test(type)) return true
    return false
  }
}

function escapeRegex(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')
}

function typeError(pattern: string): string | null {
  return /^[A-Za-z0-9!#$&^_.+*-]+\/[A-Za-z0-9!#$&^_.+*-]+$/.test(pattern.trim()) ? null : `'${pattern}' is not a media type (type/subtype, '*' as a wildcard)`
}

const schema = record({
  algorithms: setOf(oneOf(['br', 'gzip']), { default: ['br', 'gzip'], minLength: 1 }),
  min_length: int({ min: 0, default: 1024 }),
  content_type: arrayOf(str({ custom: typeError }), { default: DEFAULT_TYPES, minLength: 1 }),
  gzip_level: int({ between: [1, 9], default: 6 }),
  brotli_level: int({ between: [0, 11], default: 4 }),
})

function compile(c: Record<string, unknown>): CompressionConfig {
  return {
    codings: c.algorithms as Coding[],
    minLength: c.min_length as number,
    types: new TypeMatcher(c.content_type as string[]),
    gzipLevel: c.gzip_level as number,
    brotliLevel: c.brotli_level as number,
  }
}

/** Vary gains Accept-Encoding unless it already names it (or is `*`). */
function addVary(headers: string[]): void {
  const vary = joinedHeader(headers, 'vary')
  if (vary === undefined) return void headers.push('Vary', 'Accept-Encoding')
  const names = vary.toLowerCase().split(',').map((n) => n.trim())
  if (names.includes('*') || names.includes('accept-encoding')) return
  setHeader(headers, 'Vary', vary + ', Accept-Encoding')
}

/**
 * Whether a response is one to compress at all (whatever this client accepts): not bodyless, not partial,
 * not already encoded, not marked no-transform, a listed type and not known to be shorter than min_length.
 */
export function eligible(c: CompressionConfig, head: ResponseHead): boolean {
  if (head.bodyless || head.status === 206 || head.status < 200) return false
  const h = head.headers
  const encoding = getHeader(h, 'content-encoding')
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') return false
  if (findHeader(h, 'content-range') !== -1) return false
  // RFC 9111 §5.2.2.6: a proxy must not transform a no-transform response.
  if (/(?:^|,)\s*no-transform\s*(?:,|$)/i.test(joinedHeader(h, 'cache-control') ?? '')) return false
  if (head.contentLength >= 0 && head.contentLength < c.minLength) return false
  return c.types.matches(getHeader(h, 'content-type'))
}

type Encoder = Gzip | BrotliCompress

/** One response's compressor: a zlib stream fed per upstream read and flushed after each. */
class Compress implements ResponseFilter {
  private readonly c: CompressionConfig
  private readonly coding: Coding | null
  private z: Encoder | null = null
  private sink: FilterSink | null = null
  private waitingDrain = false

  constructor(c: CompressionConfig, coding: Coding | null) {
    this.c = c
    this.coding = coding
  }

  onHead(head: ResponseHead): boolean {
    if (!eligible(this.c, head)) return false
    const h = head.headers
    addVary(h)
    if (this.coding === null) return false
    setHeader(h, 'Content-Encoding', this.coding)
    removeHeader(h, 'content-length')
    // The bytes change, so a strong validator would lie (RFC 9110 §8.8.1); ranges no longer apply.
    const etag = getHeader(h, 'etag')
    if (etag !== undefined && etag.startsWith('"')) setHeader(h, 'ETag', 'W/' + etag)
    removeHeader(h, 'accept-ranges')
    this.z = this.coding === 'br'
      ? createBrotliCompress({ params: brotliParams(this.c.brotliLevel, head.contentLength) })
      : createGzip({ level: this.c.gzipLevel })
    return true
  }

  onChunk(chunk: Buffer, sink: FilterSink): void {
    const z = this.bind(sink)
    // zlib works on the threadpool after this returns, and the chunk is a view of a reused buffer: copy it.
    const more = z.write(Buffer.from(chunk))
    if (this.coding === 'br') z.flush()
    else (z as Gzip).flush(constants.Z_SYNC_FLUSH)
    if (!more && !this.waitingDrain) {
      this.waitingDrain = true
      sink.pause()
      z.once('drain', this.drained)
    }
  }

  onEnd(sink: FilterSink): void {
    this.bind(sink).end()
  }

  onAbort(): void {
    const z = this.z
    this.z = null
    this.sink = null
    if (z !== null) z.destroy()
  }

  /** The first call wires the stream's output to the sink (one sink per response). */
  private bind(sink: FilterSink): Encoder {
    const z = this.z!
    if (this.sink === null) {
      this.sink = sink
      z.on('data', this.output)
      z.on('end', this.finished)
      z.on('error', this.finished)
    }
    return z
  }

  private readonly output = (data: Buffer): void => {
    this.sink?.write(data)
  }

  private readonly finished = (): void => {
    const sink = this.sink
    this.sink = null
    this.z = null
    if (sink !== null) sink.end()
  }

  private readonly drained = (): void => {
    this.waitingDrain = false
    this.sink?.resume()
  }
}

function brotliParams(level: number, length: number): Record<number, number> {
  const params: Record<number, number> = { [constants.BROTLI_PARAM_QUALITY]: level }
  if (length > 0) params[constants.BROTLI_PARAM_SIZE_HINT] = length
  return params
}

function access(ctx: PluginRequest, c: CompressionConfig): PhaseResult {
  ctx.filterResponse(new Compress(c, negotiate(ctx.headers.get('accept-encoding'), c.codings)))
  return CONTINUE
}

export default definePlugin<CompressionConfig>({
  name: 'compression',
  // Below every plugin that registers a filter (correlation-id, response-transformer), so it compresses what
  // they produced; above proxy-cache (100) and request-termination (2), so their answers are compressed too.
  priority: 150,
  schema,
  compile,
  phases: { access },
})
