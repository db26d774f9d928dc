// Runs a response through the plugins' ResponseFilters (heads, then bodies as streams) and writes the
// result to the client chunked, pausing the source while the client or a filter is backed up.
import type { FilterSink, ResponseFilter, ResponseHead } from '../plugins/types.js'
import { OPEN, type RequestContext } from './context.js'

/** Where the body comes from: told to stop and go on (the upstream socket; nothing for a gateway answer). */
export interface PipeSource {
  pauseSource(): void
  resumeSource(): void
}

const NO_SOURCE: PipeSource = { pauseSource() {}, resumeSource() {} }

/** Lower-case name of `[name, value, …]` entries the head filters never see: written by the gateway itself. */
function ownedByGateway(name: string): boolean {
  const lower = name.toLowerCase()
  return lower === 'date' || lower === 'x-request-id'
}

/**
 * The head filters see: `base` (upstream headers, or a gateway answer's pairs) followed by the lines plugins
 * added (`Name: value\r\n` …), minus Date and X-Request-Id, which the gateway writes itself.
 */
export function filterableHeaders(base: readonly string[], lines: string): string[] {
  const out: string[] = []
  for (let i = 0; i < base.length; i += 2) if (!ownedByGateway(base[i]!)) out.push(base[i]!, base[i + 1]!)
  let start = 0
  while (start < lines.length) {
    let end = lines.indexOf('\r\n', start)
    if (end === -1) end = lines.length
    const line = lines.slice(start, end)
    const colon = line.indexOf(':')
    if (colon > 0) out.push(line.slice(0, colon), line.slice(colon + 1).trim())
    start = end + 2
  }
  return out
}

/** `Name: value\r\n` lines of a filtered head (values checked for CR/LF: filters may copy upstream values around). */
export function headerLinesOf(headers: readonly string[]): string {
  let block = ''
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!
    const value = headers[i + 1]!
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) continue
    block += name + ': ' + value + '\r\n'
  }
  return block
}

/**
 * Runs every filter's onHead in order and returns those that transform the body (null when none does). A
 * filter after one that transforms sees contentLength -1, the length it will get being unknown.
 */
export function runHeadFilters(filters: readonly ResponseFilter[], status: number, bodyless: boolean, contentLength: number, headers: string[]): ResponseFilter[] | null {
  let active: ResponseFilter[] | null = null
  const head: { status: number; bodyless: boolean; contentLength: number; headers: string[] } = { status, bodyless, contentLength, headers }
  for (let i = 0; i < filters.length; i++) {
    const f = filters[i]!
    if (f.onHead(head as ResponseHead) && !bodyless) {
      ;(active ??= []).push(f)
      head.contentLength = -1
    }
  }
  return active
}

/** One filter's place in the pipe: its output feeds the next filter, the last one's the client. */
class StageSink implements FilterSink {
  private readonly pipe: ResponsePipe
  private readonly next: number

  constructor(pipe: ResponsePipe, index: number) {
    this.pipe = pipe
    this.next = index + 1
  }

  write(chunk: Buffer): void {
    this.pipe.feed(this.next, chunk)
  }

  end(): void {
    this.pipe.close(this.next)
  }

  pause(): void {
    this.pipe.pause()
  }

  resume(): void {
    this.pipe.resume()
  }
}

/**
 * A response body on its way through the filters that transform it. Created after the head went out; the
 * client gets the output with res.write (chunked) and res.end, never corked: inside res.cork, write() does
 * not report the backpressure the release of the cork adds (see ProxyExchange.onUpstreamData). The source
 * is paused while any filter asked for it or uWS holds unsent bytes.
 */
export class ResponsePipe {
  private readonly ctx: RequestContext
  private readonly filters: readonly ResponseFilter[]
  private readonly sinks: StageSink[]
  private readonly source: PipeSource
  private readonly closeConnection: boolean
  private pauses = 0
  private clientBlocked = false
  private ended = false
  private writableBound: ((offset: number) => boolean) | null = null

  constructor(ctx: RequestContext, filters: readonly ResponseFilter[], source: PipeSource | null, closeConnection = false) {
    this.ctx = ctx
    this.filters = filters
    this.source = source ?? NO_SOURCE
    this.closeConnection = closeConnection
    this.sinks = []
    for (let i = 0; i < filters.length; i++) this.sinks.push(new StageSink(this, i))
  }

  /** A chunk of the source body (a view: filters copy what they keep). */
  write(chunk: Buffer): void {
    this.feed(0, chunk)
  }

  /** The source body is complete. */
  end(): void {
    this.close(0)
  }

  feed(stage: number, chunk: Buffer): void {
    if (this.ctx.state !== OPEN || this.ended) return
    if (stage < this.filters.length) return this.filters[stage]!.onChunk(chunk, this.sinks[stage]!)
    if (chunk.length === 0) return
    this.ctx.bytesOut += chunk.length
    // uWS keeps what write() could not send; false means stop producing until onWritable.
    if (this.ctx.res.write(chunk) || this.clientBlocked) return
    this.clientBlocked = true
    this.pause()
    if (this.writableBound === null) {
      this.writableBound = this.onWritable.bind(this)
      this.ctx.res.onWritable(this.writableBound)
    }
  }

  close(stage: number): void {
    if (this.ctx.state !== OPEN || this.ended) return
    if (stage < this.filters.length) return this.filters[stage]!.onEnd(this.sinks[stage]!)
    this.ended = true
    this.ctx.res.end(undefined, this.closeConnection)
    this.ctx.finished()
  }

  private onWritable(): boolean {
    if (this.clientBlocked) {
      this.clientBlocked = false
      this.resume()
    }
    return true
  }

  pause(): void {
    if (this.pauses++ === 0) this.source.pauseSource()
  }

  resume(): void {
    if (this.pauses === 0) return
    if (--this.pauses === 0) this.source.resumeSource()
  }
}
