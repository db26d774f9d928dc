// The plugin entity as written in declarative config (Kong's plugins.lua); `config` is checked
// afterwards against the plugin's own schema from the registry (see validate.ts).
import { any, bool, noop, oneOf, record, setOf, str, type RecordField } from '../schema.js'
import { id, parentRef, ref, tags, timestamp } from '../typedefs.js'

export const KONG_PROTOCOLS = ['grpc', 'grpcs', 'http', 'https', 'tcp', 'tls', 'tls_passthrough', 'udp', 'ws', 'wss']

export const NO_EFFECT = 'accepted for Kong compatibility; has no effect here'

/** `enabled: true` is the default and says nothing; `enabled: false` is honoured. */
export const enabledField = () => bool({ default: true, warn: (v: boolean) => (v ? NO_EFFECT : null) })

export type Parent = 'service' | 'route' | 'consumer' | null

export function pluginSchema(parent: Parent): RecordField {
  const scope = (kind: Exclude<Parent, null>) => (parent === kind ? parentRef(kind) : ref())
  return record({
    id: id(),
    name: str({ required: true, minLength: 1 }),
    instance_name: noop(str()),
    config: any(),
    enabled: enabledField(),
    protocols: noop(setOf(oneOf(KONG_PROTOCOLS)), 'accepted for Kong compatibility; a plugin runs for every protocol of its routes'),
    ordering: noop(any(), 'accepted for Kong compatibility; plugins run in priority order'),
    service: scope('service'),
    route: scope('route'),
    consumer: scope('consumer'),
    tags: tags(),
    created_at: timestamp(),
    updated_at: timestamp(),
  })
}
