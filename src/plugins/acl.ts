// Kong's acl (PRIORITY 950, after every auth plugin): allows or denies the identified consumer by its
// groups (consumers[].acls), and tells the upstream those groups in X-Consumer-Groups.
//
// Kong's answers: no consumer → 401 "Unauthorized" (403 when a credential without a consumer was
// accepted); denied → 403 "You cannot consume this service". One deviation: with hide_groups_header the
// client's own X-Consumer-Groups is removed (Kong forwards it), so an upstream never sees forged groups.
// Kong's "authenticated groups" come from plugins this gateway does not have (LDAP, OpenID Connect), so
// always_use_authenticated_groups is accepted with a warning and the consumer's groups are always used.
import { arrayOf, atLeastOneOf, bool, onlyOneOf, record, str } from '../config/schema.js'
import { fail, UNAUTHORIZED } from './auth-common.js'
import { CONTINUE, DONE, definePlugin, type PluginRequest } from './types.js'

const ERR_FORBIDDEN = 'You cannot consume this service'
const GROUPS_HEADER = 'X-Consumer-Groups'

/** A consumer's groups → the decision: true = blocked, else the X-Consumer-Groups value ('' = none). */
type Decision = true | string

export interface AclConfig {
  /** true: `allow` lists the groups let through; false: `deny` lists the groups turned away. */
  readonly allow: boolean
  readonly groups: ReadonlySet<string>
  readonly hideGroupsHeader: boolean
  /**
   * Decisions per consumer groups array (each ConsumerRef shares its record's array), as Kong's config
   * cache; weak, so a reload drops them with the old Snapshot.
   */
  readonly decisions: WeakMap<readonly string[], Decision>
}

function compile(c: Record<string, unknown>): AclConfig {
  const deny = c.deny as string[] | null
  const allow = deny === null || deny.length === 0
  return {
    allow,
    groups: new Set(allow ? (c.allow as string[]) : deny),
    hideGroupsHeader: c.hide_groups_header as boolean,
    decisions: new WeakMap(),
  }
}

function decide(c: AclConfig, groups: readonly string[]): Decision {
  let inGroup = false
  for (const g of groups) {
    if (c.groups.has(g)) {
      inGroup = true
      break
    }
  }
  if (c.allow !== inGroup) return true
  return groups.join(', ')
}

function access(ctx: PluginRequest, c: AclConfig): typeof CONTINUE | typeof DONE {
  const consumer = ctx.consumer
  if (consumer === null) return ctx.credentialId !== null ? fail(ctx, 403, ERR_FORBIDDEN) : fail(ctx, 401, UNAUTHORIZED)
  let d = c.decisions.get(consumer.groups)
  if (d === undefined) {
    d = decide(c, consumer.groups)
    c.decisions.set(consumer.groups, d)
  }
  if (d === true) return fail(ctx, 403, ERR_FORBIDDEN)
  ctx.setUpstreamHeader(GROUPS_HEADER, c.hideGroupsHeader || d === '' ? null : d)
  return CONTINUE
}

export default definePlugin<AclConfig>({
  name: 'acl',
  priority: 950,
  noConsumer: true,
  schema: record({
    allow: arrayOf(str()),
    deny: arrayOf(str()),
    hide_groups_header: bool({ default: false }),
    always_use_authenticated_groups: bool({
      default: false,
      warn: (v: boolean) => (v ? 'no plugin here sets authenticated groups; the consumer\'s groups (acls) are always used' : null),
    }),
  }, { checks: [onlyOneOf('allow', 'deny'), atLeastOneOf('allow', 'deny')] }),
  compile,
  phases: { access },
})
