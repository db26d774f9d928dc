// Kong's correlation-id: a request without the header gets a generated id upstream (a client's value is kept),
// and with echo_downstream the id is set on the response the client gets, whoever answers.
import { randomUUID } from 'node:crypto'
import { threadId } from 'node:worker_threads'
import { bool, oneOf, record } from '../config/schema.js'
import { headerName } from '../config/typedefs.js'
import { setHeader } from './response-head.js'
import { CONTINUE, definePlugin, type PhaseResult, type PluginEnv, type PluginRequest, type ResponseFilter, type ResponseHead } from './types.js'

export type Generator = 'uuid' | 'uuid#counter' | 'tracker'

export interface CorrelationIdConfig {
  /** As configured (the response header is written with this spelling) and lower-cased (the lookup). */
  readonly name: string
  readonly lower: string
  readonly next: (ctx: PluginRequest) => string
  readonly echo: boolean
}

/** Kong makes one UUID per worker at init_worker; the counter then counts that worker's requests. */
const workerUuid = randomUUID()
let counter = 0

/**
 * The three generators. `tracker` is Kong's `addr-port-pid-connection-requests-time` with what uWS exposes:
 * listen host, the port the request came in on, process id, worker thread id, this worker's request count
 * and the time in seconds.
 */
export function generator(kind: Generator, host: string): (ctx: PluginRequest) => string {
  if (kind === 'uuid') return () => randomUUID()
  if (kind === 'uuid#counter') return () => workerUuid + '#' + String(++counter)
  const prefix = `${host}-`
  const suffix = `-${process.pid}-${threadId}-`
  return (ctx) => prefix + String(ctx.port) + suffix + String(++counter) + '-' + (Date.now() / 1000).toFixed(3)
}

/** header_filter with echo_downstream: Kong's kong.response.set_header, so an upstream copy is replaced. */
class EchoId implements ResponseFilter {
  private readonly name: string
  private readonly id: string

  constructor(name: string, id: string) {
    this.name = name
    this.id = id
  }

  onHead(head: ResponseHead): boolean {
    setHeader(head.headers, this.name, this.id)
    return false
  }

  onChunk(): void {}
  onEnd(): void {}
  onAbort(): void {}
}

function compile(c: Record<string, unknown>, env: PluginEnv): CorrelationIdConfig {
  const name = c.header_name as string
  return { name, lower: name.toLowerCase(), next: generator(c.generator as Generator, env.settings.host), echo: c.echo_downstream as boolean }
}

function access(ctx: PluginRequest, c: CorrelationIdConfig): PhaseResult {
  let id = ctx.headers.get(c.lower)
  if (id === undefined) {
    id = c.next(ctx)
    ctx.setUpstreamHeader(c.name, id, c.lower)
  }
  if (c.echo) ctx.filterResponse(new EchoId(c.name, id))
  return CONTINUE
}

export default definePlugin<CorrelationIdConfig>({
  name: 'correlation-id',
  // Kong 3.x runs it first of all (100001), so every other plugin sees the id.
  priority: 100001,
  schema: record({
    header_name: headerName({ default: 'Kong-Request-ID' }),
    generator: oneOf(['uuid', 'uuid#counter', 'tracker'], 'uuid#counter'),
    echo_downstream: bool({ default: false }),
  }),
  compile,
  phases: { access },
})
