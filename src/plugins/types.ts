// The plugin contract: a schema validated at load, a compile step run once per Snapshot,
// and phase functions run per request in Kong's priority order (higher first, ties by name).
import type { Schema } from '../config/schema.js'
import type { Snapshot } from '../config/types.js'
import type { GatewayError } from '../errors.js'
import type { CacheStore } from '../shared/cache-store.js'
import type { RateTable } from '../shared/rate-table.js'
import type { Logger } from '../logger.js'
import type { Settings } from '../settings.js'
import type { GrpcCall } from '../protocols/grpc/call.js'

/** Returned by a phase: CONTINUE (undefined) to go on, DONE when it answered through ctx.reply. */
export const CONTINUE = undefined
export const DONE = 1
export type PhaseResult = typeof CONTINUE | typeof DONE | Promise<typeof CONTINUE | typeof DONE>

/** The authenticated consumer (set by an auth plugin), as Kong's kong.client.get_consumer(). */
export interface ConsumerRef {
  readonly id: string
  readonly username: string | null
  readonly customId: string | null
  /** ACL groups. */
  readonly groups: readonly string[]
}

/**
 * Watches the upstream response of one request (proxy-cache). Registered in the access phase;
 * chunks are views of a reused read buffer, so anything kept must be copied.
 */
export interface ResponseObserver {
  /**
   * The upstream's head, before it is written to the client: may still add response headers. Returns
   * true after answering the client itself through ctx.reply (stale_if_error on a 5xx): the upstream
   * response is then dropped. `contentLength` is -1 when the response has none (chunked, until close).
   */
  onResponseHead(status: number, headers: readonly string[], contentLength: number): boolean
  onResponseBody(chunk: Buffer): void
  /** The whole response reached the client. */
  onResponseEnd(): void
  /** The exchange ended without a complete response (upstream or client failure). */
  onResponseAbort(): void
  /**
   * The upstream failed before any byte was sent to the client and the gateway is about to answer
   * with `err`; return true after answering through ctx.reply instead (stale_if_error).
   */
  onUpstreamFailure(err: GatewayError): boolean
}

/**
 * A response head as filters see it (upstream response or gateway answer). `headers` is the flat
 * `[name, value, …]` list of end-to-end headers (upstream's, then those plugins added), edited in place.
 */
export interface ResponseHead {
  readonly status: number
  /** No body follows (HEAD request, 204, 304): body filters are not run whatever onHead returns. */
  readonly bodyless: boolean
  /** The body's length as it reaches this filter; -1 when unknown (chunked, until close, or an earlier filter transforms it). */
  readonly contentLength: number
  readonly headers: string[]
}

/** Where a response filter's output goes: the next filter in priority order, or the client. */
export interface FilterSink {
  write(chunk: Buffer): void
  /** The filter's output is complete (call once, after the last write). */
  end(): void
  /** Asks for no more input until resume() (the filter's own buffer is full): the upstream is paused. */
  pause(): void
  resume(): void
}

/**
 * Changes the response a client gets (response-transformer, compression). Registered in the access phase with
 * ctx.filterResponse; filters run in plugin priority order (Kong's header_filter/body_filter), on the upstream
 * response and on answers the gateway makes itself (ctx.reply, errors). A request without filters pays nothing.
 */
export interface ResponseFilter {
  /**
   * The head, before it is written: may remove, rename, replace or add headers (the status stays). Returns true
   * when this filter will transform the body: the response then goes out chunked (Content-Length dropped) and
   * onChunk/onEnd are called; false lets the body pass this filter untouched (they are never called).
   */
  onHead(head: ResponseHead): boolean
  /** A body chunk, a view of a reused buffer (copy what is kept); output goes to `sink`, now or later. */
  onChunk(chunk: Buffer, sink: FilterSink): void
  /** The body is complete: write what is left, then sink.end(), now or later. */
  onEnd(sink: FilterSink): void
  /** The response was abandoned (client gone, upstream broke): release what is held; the sink is dead. May follow onEnd. */
  onAbort(): void
}

/**
 * What a plugin sees of a request. The worker's RequestContext implements it; everything a phase
 * may read was copied out of uWS's request object before the handler returned.
 */
export interface PluginRequest {
  readonly method: string
  /** Path as received, without the query string. */
  readonly path: string
  /** Raw query string without '?', '' when none. */
  readonly query: string
  /** Lower-case header name → value (duplicates joined with ', '). */
  readonly headers: Map<string, string>
  readonly clientIp: string
  readonly scheme: 'http' | 'https'
  /** The peer is a trusted proxy (GATEWAY_TRUSTED_IPS), so its X-Forwarded-* headers are believed. */
  readonly peerTrusted?: boolean
  readonly host: string
  readonly port: number
  readonly requestId: string
  readonly routeName: string
  readonly routeId: string
  readonly serviceName: string
  readonly serviceId: string
  /** Set by an auth plugin; null when anonymous or no auth plugin ran. */
  consumer: ConsumerRef | null
  /** The credential an auth plugin accepted (its id), or null. */
  credentialId: string | null
  /** Set by rate-limiting when it refused the request (metrics, logs). */
  rateLimited: boolean
  /** proxy-cache's decision as its X-Cache-Status value (Hit, Miss, Bypass, Refresh, Stale); '' when none. */
  cacheStatus: string
  /** Adds a header to the response the client gets, whoever produces it (upstream, plugin, error). */
  addResponseHeader(name: string, value: string): void
  /**
   * The hot-path form: `Name: value\r\n` lines as one string, unchecked. Only for lines the plugin built
   * from validated names and numbers: a stray CR/LF would split the response.
   */
  addResponseLines(lines: string): void
  /**
   * Sets (or with null removes) a header sent upstream; names are case-insensitive. `lower` is the name
   * lower-cased, when the caller has it as a constant (saves a string and its hash on the request path).
   * `Host` sets the Host header sent upstream (instead of the target's, or the client's with preserve_host).
   */
  setUpstreamHeader(name: string, value: string | null, lower?: string): void
  /** Replaces the query string sent upstream ('' for none). */
  setUpstreamQuery(query: string): void
  /** Watches the upstream response (one observer per request; a later call replaces it). */
  observeResponse(observer: ResponseObserver): void
  /** Adds a filter for the response (after those registered before it, i.e. by higher-priority plugins). */
  filterResponse(filter: ResponseFilter): void
  /**
   * Replaces the request body sent upstream (request-transformer): Content-Length becomes its length and
   * chunked framing is dropped. Call after readBody(), or on a request without a body.
   */
  replaceBody(body: Buffer): void
  /** Sets the method sent upstream (the client's method is still `method`). */
  setUpstreamMethod(method: string): void
  /** Sets the path sent upstream (query string excluded), replacing the routed service path. */
  setUpstreamPath(path: string): void
  /** grpc-gateway's transcoded call: set in access, the listener then calls the gRPC upstream instead of proxying HTTP. */
  grpcCall?: GrpcCall | null
  /** Answer the request now; the phase then returns DONE. Headers are [name, value] pairs. */
  reply(status: number, body: string | Buffer, headers?: ReadonlyArray<readonly [string, string]>): void
  /** Read the whole request body up to `limit` bytes (rejects with a 413 GatewayError past it). */
  readBody(limit: number): Promise<Buffer>
  /** Like readBody, but past `limit` resolves null and leaves the body to stream upstream untouched. */
  readBodyWithin(limit: number): Promise<Buffer | null>
  /**
   * Caps this request's body at `maxBytes` (only ever lowers GATEWAY_MAX_BODY_SIZE). A Content-Length
   * above it, or more bytes already received, is answered 413 now (connection closed) and false is
   * returned: the phase then returns DONE. Otherwise a streamed body is checked as its chunks arrive
   * and gets 413 the moment it passes the cap, aborting the upstream exchange if one is under way.
   */
  limitBody(maxBytes: number): boolean
  /**
   * For a plugin that answers after I/O of its own (aggregate): `listener` is told once if the client
   * goes away, or the request is failed, before the answer, so it can release sockets and timers; null
   * unregisters. It takes the slot the upstream exchange uses, so only a plugin that answers may set it.
   */
  onClientAbort?(listener: ClientAbortListener | null): void
}

/** Told when the request ends without the answer of the plugin that registered it (see onClientAbort). */
export interface ClientAbortListener {
  clientAborted(): void
}

/**
 * Phases, in the order they run:
 * - access(ctx, conf): after routing, before the upstream is picked. Return CONTINUE to go on,
 *   DONE when the plugin answered (ctx.reply), or a promise of either when it needed I/O.
 *   Leaving it out: the plugin has nothing to do before proxying.
 */
export interface PluginPhases<C> {
  access?: (ctx: PluginRequest, conf: C) => PhaseResult
  /**
   * Kong's log phase: after the response was sent, or the client went away. For counters, log lines and
   * spans: it must not throw and must not wait (queue the work and return).
   */
  log?: (log: RequestLog, conf: C) => void
}

/** A finished request as the log phase sees it. Times are ms. */
export interface RequestLog {
  readonly request: PluginRequest
  /** The status sent to the client; 0 when it went away before a response head. */
  readonly status: number
  /** Epoch ms when the request reached the gateway. */
  readonly startedAt: number
  /** Received → last response byte (or the abort). */
  readonly totalMs: number
  /** Received → request written upstream (the gateway's own time); -1 when no upstream was called. */
  readonly proxyMs: number
  /** Written upstream → first response byte; -1 when no upstream answered. */
  readonly upstreamMs: number
  /** Request body bytes received from the client. */
  readonly bytesIn: number
  /** Response body bytes sent to the client. */
  readonly bytesOut: number
  /** `host:port` of the last target tried, '' when none. */
  readonly upstreamTarget: string
  /** Path and query sent upstream, '' when none. */
  readonly upstreamUri: string
  readonly aborted: boolean
  /** proxy-cache's X-Cache-Status, '' when it did not decide. */
  readonly cacheStatus: string
  readonly rateLimited: boolean
}

export interface PluginDefinition<C = unknown> {
  name: string
  /** Kong's PRIORITY: higher runs first. */
  priority: number
  schema: Schema
  /** Checks that depend on the environment (e.g. GATEWAY_REDIS_URL), run at validation; fields relative to config. */
  checkEnv?: (config: Record<string, unknown>, env: Readonly<Record<string, string | undefined>>) => readonly { field: string; message: string }[]
  /** Kong's `no_consumer`: refuse the plugin scoped to a consumer (auth plugins, acl, cors). */
  noConsumer?: boolean
  /**
   * Runs once per config version in the primary, after the config passed its schema, for work that needs files
   * or is too slow for every worker (grpc-gateway loads its .proto here). `baseDir` is the config file's
   * directory (relative paths resolve against it). Returns plain, structured-clone-safe data that the Snapshot
   * carries to compile() as `instance.prepared`, or problems as `{ field, message }` relative to the config.
   */
  prepare?: (config: Record<string, unknown>, baseDir: string) => PrepareResult
  /** Runs once per Snapshot in each worker, turning the validated config into what the phases use. */
  compile: (config: Record<string, unknown>, env: PluginEnv, instance: PluginScope) => C
  phases: PluginPhases<C>
}

/** What prepare() found: the data for compile(), or problems (each `field` relative to the config record). */
export type PrepareResult = { ok: true; data: unknown } | { ok: false; problems: readonly { field: string; message: string }[] }

/** Which plugin instance is being compiled (rate-limit buckets and cache keys are per instance). */
export interface PluginScope {
  id: string
  route: string | null
  service: string | null
  /** What the plugin's prepare() returned in the primary (undefined for plugins without one). */
  prepared?: unknown
  /** The Snapshot being compiled: auth plugins build their credential tables from its consumers. */
  snapshot: Snapshot
}

/** What compile() gets from the worker: the shared tables and process-wide settings. */
export interface PluginEnv {
  readonly settings: Settings
  readonly rateTable: RateTable
  readonly cache: CacheStore
  /** Adds to one of this worker's STAT counters (shared/worker-stats), e.g. STAT.REDIS_FALLBACK. */
  count(stat: number, delta?: number): void
  readonly log: Logger
}

export function definePlugin<C>(def: PluginDefinition<C>): PluginDefinition<C> {
  return def
}
