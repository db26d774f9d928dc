// What key-auth, basic-auth and acl share: Kong's JSON failure answers, the `anonymous` fallback (the
// consumer looked up once per Snapshot) and the `realm` field. Nothing here runs per request but a reply.
import { str, type StringField } from '../config/schema.js'
import { errorBody } from '../errors.js'
import { authenticate, findConsumer } from './consumer.js'
import { CONTINUE, DONE, type ConsumerRef, type PluginEnv, type PluginRequest, type PluginScope } from './types.js'

export const JSON_TYPE = 'application/json; charset=utf-8'

/** Kong's kong.response.error(401) default message, also used by acl without a consumer. */
export const UNAUTHORIZED = 'Unauthorized'

/** A realm goes into a quoted WWW-Authenticate parameter: no quotes, backslashes or control characters. */
function realmError(realm: string): string | null {
  for (let i = 0; i < realm.length; i++) {
    const ch = realm.charCodeAt(i)
    if (ch < 0x20 || ch === 0x7f || ch === 0x22 || ch === 0x5c) return 'must not contain quotes, backslashes or control characters'
  }
  return null
}

export function realmField(def?: string): StringField {
  return str({ default: def, custom: realmError })
}

/** The headers of a 401 with `challenge` as WWW-Authenticate, built once per plugin instance. */
export function challengeHeaders(challenge: string): ReadonlyArray<readonly [string, string]> {
  return [['Content-Type', JSON_TYPE], ['WWW-Authenticate', challenge]]
}

export const JSON_HEADERS: ReadonlyArray<readonly [string, string]> = [['Content-Type', JSON_TYPE]]

/** Answers with Kong's `{"message": …}` body (plus our request_id, SPEC §4). */
export function fail(ctx: PluginRequest, status: number, message: string, headers: ReadonlyArray<readonly [string, string]> = JSON_HEADERS): typeof DONE {
  ctx.reply(status, errorBody(message, ctx.requestId), headers)
  return DONE
}

/** An `anonymous` setting: what was written, and the consumer it names in this Snapshot (null = none). */
export interface Anonymous {
  readonly ref: string
  readonly consumer: ConsumerRef | null
}

/**
 * Resolves `anonymous` (a consumer id or username) against the Snapshot being compiled; null when unset.
 * A name that matches no consumer is kept: requests that fail authentication then get Kong's 500.
 */
export function compileAnonymous(value: unknown, plugin: string, env: PluginEnv, scope: PluginScope): Anonymous | null {
  if (typeof value !== 'string' || value === '') return null
  const consumer = findConsumer(scope.snapshot, value)
  if (consumer === null) env.log.warn({ plugin, instance: scope.id, anonymous: value }, 'anonymous consumer is configured but does not exist')
  return { ref: value, consumer }
}

/**
 * Kong's logical OR: the request goes on as the anonymous consumer (X-Anonymous-Consumer: true, no
 * credential). Kong 3.x answers 500 when that consumer does not exist.
 */
export function useAnonymous(ctx: PluginRequest, anonymous: Anonymous): typeof CONTINUE | typeof DONE {
  if (anonymous.consumer === null) return fail(ctx, 500, `anonymous consumer ${anonymous.ref} is configured but doesn't exist`)
  authenticate(ctx, anonymous.consumer, null)
  return CONTINUE
}

/** True when the request has a body to read (Content-Length above 0 or chunked). */
export function hasBody(ctx: PluginRequest): boolean {
  const len = ctx.headers.get('content-length')
  return (len !== undefined && len !== '0') || ctx.headers.has('transfer-encoding')
}
