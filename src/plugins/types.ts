// The plugin contract: a schema validated at load, a compile step run once per Snapshot,
// and phase functions run per request in Kong's priority order (higher first, ties by name).
import type { Schema } from '../config/schema.js'

/** Returned by a phase: CONTINUE (undefined) to go on, DONE when it answered through ctx.reply. */
export const CONTINUE = undefined
export const DONE = 1
export type PhaseResult = typeof CONTINUE | typeof DONE | Promise<typeof CONTINUE | typeof DONE>

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
  readonly host: string
  readonly port: number
  readonly requestId: string
  readonly routeName: string
  readonly serviceName: string
  /** Answer the request now; the phase then returns DONE. Headers are [name, value] pairs. */
  reply(status: number, body: string | Buffer, headers?: ReadonlyArray<readonly [string, string]>): void
  /** Read the whole request body up to `limit` bytes (rejects with a 413 GatewayError past it). */
  readBody(limit: number): Promise<Buffer>
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
  /** Runs once per Snapshot in each worker, turning the validated config into what the phases use. */
  compile: (config: Record<string, unknown>) => C
  phases: PluginPhases<C>
}

export function definePlugin<C>(def: PluginDefinition<C>): PluginDefinition<C> {
  return def
}
