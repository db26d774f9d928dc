// The plugin contract: a schema validated at load, a compile step run once per Snapshot,
// and phase functions run per request in Kong's priority order (higher first, ties by name).
import type { Schema } from '../config/schema.js'
import type { Snapshot } from '../config/types.js'
import type { GatewayError } from '../errors.js'
import type { CacheStore } from '../shared/cache-store.js'
import type { RateTable } from '../shared/rate-table.js'
import type { Logger } from '../logger.js'
import type { Settings } from '../settings.js'

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
   */
  setUpstreamHeader(name: string, value: string | null, lower?: string): void
  /** Replaces the query string sent upstream ('' for none). */
  setUpstreamQuery(query: string): void
  /** Watches the upstream response (one observer per request; a later call replaces it). */
  observeResponse(observer: ResponseObserver): void
  /** Answer the request now; the phase then returns DONE. Headers are [name, value] pairs. */
  reply(status: number, body: string | Buffer, headers?: ReadonlyArray<readonly [string, string]>): void
  /** Read the whole request body up to `limit` bytes (rejects with a 413 GatewayError past it). */
  readBody(limit: number): Promise<Buffer>
  /**
   * Caps this request's body at `maxBytes` (only ever lowers GATEWAY_MAX_BODY_SIZE). A Content-Length
   * above it, or more bytes already received, is answered 413 now (connection closed) and false is
   * returned: the phase then returns DONE. Otherwise a streamed body is checked as its chunks arrive
   * and gets 413 the moment it passes the cap, aborting the upstream exchange if one is under way.
   */
  limitBody(maxBytes: number): boolean
}

/**
 * Phases, in the order they run:
 * - access(ctx, conf): after routing, before the upstream is picked. Return CONTINUE to go on,
 *   DONE when the plugin answered (ctx.reply), or a promise of either when it needed I/O.
 *   Leaving it out: the plugin has nothing to do before proxying.
 */
export interface PluginPhases<C> {
  access?: (ctx: PluginRequest, conf: C) => PhaseResult
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
  /** Runs once per Snapshot in each worker, turning the validated config into what the phases use. */
  compile: (config: Record<string, unknown>, env: PluginEnv, instance: PluginScope) => C
  phases: PluginPhases<C>
}

/** Which plugin instance is being compiled (rate-limit buckets and cache keys are per instance). */
export interface PluginScope {
  id: string
  route: string | null
  service: string | null
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
