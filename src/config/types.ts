// The Snapshot: immutable plain data compiled from one validated config version.
// It crosses threads by structured clone, so it holds no functions and no class instances.

export type ServiceProtocol = 'http' | 'https' | 'grpc' | 'grpcs' | 'ws' | 'wss' | 'tcp' | 'tls'
export type RouteProtocol = 'http' | 'https' | 'grpc' | 'grpcs' | 'ws' | 'wss'
export type BalancerAlgorithm = 'round-robin' | 'least-connections' | 'consistent-hashing' | 'latency'
export type HashOn = 'none' | 'consumer' | 'ip' | 'header' | 'cookie' | 'path' | 'query_arg' | 'uri_capture'

/** One plugin instance after validation: `config` has every default filled in. */
export interface PluginInstance {
  name: string
  id: string
  config: Record<string, unknown>
  /** Plain data from the plugin's prepare() in the primary (PluginScope.prepared); absent without one. */
  prepared?: unknown
  /** Scope, as names/ids of the entities it is attached to (null = not scoped by that entity). */
  service: string | null
  route: string | null
  consumer: string | null
}

export interface TargetRecord {
  /** host:port as written. */
  target: string
  host: string
  port: number
  weight: number
  /** Index into the shared health table (unique across the whole Snapshot). */
  healthSlot: number
}

export interface UpstreamRecord {
  name: string
  id: string
  algorithm: BalancerAlgorithm
  hashOn: HashOn
  hashOnHeader: string | null
  hashOnCookie: string | null
  hashFallback: HashOn
  hashFallbackHeader: string | null
  // The hash inputs below are always set by compileSnapshot; optional only so hand-built records stay short.
  /** Cookie path for a cookie set by hash_on cookie (Kong default '/'). */
  hashOnCookiePath?: string
  /** Query argument names for hash_on / hash_fallback `query_arg`. */
  hashOnQueryArg?: string | null
  hashFallbackQueryArg?: string | null
  /** Route regex capture names for hash_on / hash_fallback `uri_capture`. */
  hashOnUriCapture?: string | null
  hashFallbackUriCapture?: string | null
  /** Host header sent upstream when the service points at this upstream and preserve_host is off. */
  hostHeader: string | null
  /** Index into Snapshot.tls.certificates used for mTLS when the service sets none, -1 = none (optional as above). */
  clientCertificate?: number
  slots: number
  targets: TargetRecord[]
  healthchecks: Record<string, unknown>
  /** healthchecks.active compiled for the primary's prober; null when neither interval is set (no probing). */
  activeChecks: ActiveChecks | null
  /** healthchecks.passive compiled for the workers' counting; null when no unhealthy threshold is set. */
  passiveChecks: PassiveChecks | null
}

/**
 * Kong's `healthchecks.active` (lua-resty-healthcheck semantics). A threshold of 0 turns that counter off;
 * an interval of 0 means targets in that state are not probed.
 */
export interface ActiveChecks {
  /** grpc probes as tcp (connect) and grpcs as a TLS handshake: no grpc.health.v1 call. */
  type: 'tcp' | 'http' | 'https' | 'grpc' | 'grpcs'
  timeoutMs: number
  concurrency: number
  httpPath: string
  /** SNI for https probes; null = the target's host name (none for an IP). */
  httpsSni: string | null
  httpsVerifyCertificate: boolean
  /** Extra request headers, name → values, sent as written. */
  headers: Record<string, string[]>
  healthyIntervalMs: number
  healthyStatuses: number[]
  successes: number
  unhealthyIntervalMs: number
  unhealthyStatuses: number[]
  tcpFailures: number
  timeouts: number
  httpFailures: number
}

/**
 * Kong's `healthchecks.passive`, counted by every worker after each upstream attempt (upstream/passive-health).
 * A threshold of 0 turns that counter off.
 */
export interface PassiveChecks {
  /** false for passive `type: tcp`: any response counts as a success, whatever its status. */
  countStatuses: boolean
  healthyStatuses: number[]
  /** Successes that close a half-open breaker; 0 = the breaker stays half-open until a failure or an active check. */
  successes: number
  unhealthyStatuses: number[]
  tcpFailures: number
  timeouts: number
  httpFailures: number
  /** How long a passive ejection lasts before the target turns half-open (routable on probation). */
  ejectMs: number
}

export interface ServiceRecord {
  name: string
  id: string
  protocol: ServiceProtocol
  host: string
  port: number
  /** Upstream path prefix, '' when none ('/' is stored as ''). */
  path: string
  retries: number
  connectTimeout: number
  writeTimeout: number
  readTimeout: number
  tlsVerify: boolean
  // TLS to the upstream (compile-tls.ts); optional only so hand-built records stay short.
  /** Index into Snapshot.tls.certificates presented as client certificate (mTLS), -1 = none. */
  clientCertificate?: number
  /** Indexes into Snapshot.tls.caCertificates: the trust store when tlsVerify is on; empty = system CAs. */
  caCertificates?: number[]
  /** Longest verified chain (OpenSSL verify depth: intermediates allowed), null = no limit. */
  tlsVerifyDepth?: number | null
  /** Index into Snapshot.upstreams when `host` names an upstream, else -1 (then `target` is used). */
  upstream: number
  /** The single target used when `upstream` is -1 (health slot included so passive checks still work). */
  target: TargetRecord
}

export interface HeaderMatch {
  /** Lower-case header name. */
  name: string
  /** Lower-cased exact values, any of which matches; a value written `~*regex` is kept in `regexes`. */
  values: string[]
  regexes: string[]
}

export interface QueryMatch {
  name: string
  values: string[]
}

export interface RouteRecord {
  name: string
  id: string
  /** Index into Snapshot.services, or -1 for a route without a service (only valid with a terminating plugin). */
  service: number
  protocols: RouteProtocol[]
  /** Upper-case methods, empty = any. */
  methods: string[]
  /** Lower-case hosts as written; a leading or trailing `*` is a wildcard. Empty = any. */
  hosts: string[]
  /** Paths as written: a prefix, or a regex when it starts with `~`. Empty = any. */
  paths: string[]
  headers: HeaderMatch[]
  query: QueryMatch[]
  snis: string[]
  stripPath: boolean
  preserveHost: boolean
  regexPriority: number
  pathHandling: 'v0' | 'v1'
  httpsRedirectStatusCode: number
  requestBuffering: boolean
  responseBuffering: boolean
  /** Position in the config file, the last tie-breaker (earlier wins). */
  order: number
}

/** One credential as validated (Kong's snake_case record), with a stable id. */
export type CredentialRecord = Record<string, unknown> & { id: string }

/** A consumer with its credentials (auth plugins build their lookup tables from these). */
export interface ConsumerRecord {
  /** The consumer's id, else its username, else its custom_id (X-Consumer-ID). */
  id: string
  /** What plugins' `consumer` scope names it by (PluginInstance.consumer). */
  name: string
  username: string | null
  customId: string | null
  /** ACL groups (acls[].group). */
  groups: string[]
  keyauth: CredentialRecord[]
  basicauth: CredentialRecord[]
  jwt: CredentialRecord[]
  oauth2: CredentialRecord[]
}

export interface Snapshot {
  /** sha256 of the canonical config, first 16 hex chars. */
  hash: string
  /** Absolute path of the file it came from, or '' for a config posted to the admin API. */
  source: string
  loadedAt: number
  services: ServiceRecord[]
  routes: RouteRecord[]
  upstreams: UpstreamRecord[]
  plugins: PluginInstance[]
  consumers: ConsumerRecord[]
  /** Certificates for the TLS listener and upstream mTLS, and CA certificates (always set by compileSnapshot). */
  tls?: TlsRecords
  /** Size the health table needs: one more than the highest health slot used (slots stay stable across reloads, so there may be gaps). */
  healthSlots: number
}

/** One `certificates` entity: PEM strings as validated, and the server names it is served for. */
export interface CertificateRecord {
  id: string
  /** sha256 of cert + key (first 16 hex chars): what pools and the TLS listener compare across reloads. */
  digest: string
  cert: string
  key: string
  certAlt: string | null
  keyAlt: string | null
  /** Lower-case server names, exact or `*.example.com`. */
  snis: string[]
}

export interface CaCertificateRecord {
  id: string
  digest: string
  cert: string
}

export interface TlsRecords {
  certificates: CertificateRecord[]
  caCertificates: CaCertificateRecord[]
}
