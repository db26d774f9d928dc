// What every auth plugin does once it knows who is calling (Kong's kong.client.authenticate): set the
// consumer and credential on the request and the X-Consumer-* / X-Credential-Identifier upstream headers.
import type { ConsumerRecord, Snapshot } from '../config/types.js'
import type { ConsumerRef, PluginRequest } from './types.js'

export function consumerRef(c: ConsumerRecord): ConsumerRef {
  return { id: c.id, username: c.username, customId: c.customId, groups: c.groups }
}

/** The consumer an `anonymous` field names (by id, username or custom_id), or null when there is none. */
export function findConsumer(snapshot: Snapshot, ref: string | null): ConsumerRef | null {
  if (ref === null || ref === '') return null
  const c = snapshot.consumers.find((x) => x.id === ref || x.username === ref || x.customId === ref || x.name === ref)
  return c === undefined ? null : consumerRef(c)
}

/**
 * Marks the request as `consumer`'s, through `credentialId` (null for the anonymous consumer), and sets
 * Kong's upstream headers; headers the client sent under these names are removed, so none can be forged.
 */
export function authenticate(ctx: PluginRequest, consumer: ConsumerRef, credentialId: string | null): void {
  ctx.consumer = consumer
  ctx.credentialId = credentialId
  ctx.setUpstreamHeader('X-Consumer-ID', consumer.id, 'x-consumer-id')
  ctx.setUpstreamHeader('X-Consumer-Custom-ID', consumer.customId, 'x-consumer-custom-id')
  ctx.setUpstreamHeader('X-Consumer-Username', consumer.username, 'x-consumer-username')
  ctx.setUpstreamHeader('X-Credential-Identifier', credentialId, 'x-credential-identifier')
  ctx.setUpstreamHeader('X-Anonymous-Consumer', credentialId === null ? 'true' : null, 'x-anonymous-consumer')
}

/**
 * Kong's rule for stacked auth plugins configured with `anonymous`: a request another auth plugin already
 * authenticated with a real credential (with or without a consumer) is left alone (a logical OR).
 */
export function alreadyAuthenticated(ctx: PluginRequest): boolean {
  // Kong checks the credential: a token accepted without a mapped consumer counts too.
  return ctx.credentialId !== null
}
