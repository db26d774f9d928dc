// The validated declarative config: Kong's entities with every default filled, nested entities
// flattened, and references resolved to indexes. validate.ts produces it; compile.ts consumes it.
import type { BalancerAlgorithm, HashOn, RouteProtocol, ServiceProtocol } from './types.js'
import type { Issue } from './schema.js'

/** Every entity remembers where it was written (`services[0].routes[1]`), for later messages. */
interface Located {
  at: string
}

export interface ServiceEntity extends Located {
  id: string | null
  name: string | null
  protocol: ServiceProtocol
  host: string
  port: number
  /** As written, null when absent. */
  path: string | null
  retries: number
  connect_timeout: number
  write_timeout: number
  read_timeout: number
  /** null = Kong's default (off). */
  tls_verify: boolean | null
  tls_verify_depth: number | null
  ca_certificates: string[] | null
  /** Certificate id, for mutual TLS to the upstream. */
  client_certificate: string | null
  enabled: boolean
}

export interface RouteEntity extends Located {
  id: string | null
  name: string | null
  /** Index into ValidConfig.services, -1 when the route has none. */
  service: number
  protocols: RouteProtocol[]
  methods: string[]
  hosts: string[]
  paths: string[]
  headers: Record<string, string[]>
  /** Extension: query-parameter matcher, name → accepted values. */
  query: Record<string, string[]>
  snis: string[]
  strip_path: boolean
  preserve_host: boolean
  regex_priority: number
  path_handling: 'v0' | 'v1'
  https_redirect_status_code: number
  request_buffering: boolean
  response_buffering: boolean
}

export interface TargetEntity extends Located {
  id: string | null
  /** As written. */
  target: string
  host: string
  port: number
  weight: number
}

export interface UpstreamEntity extends Located {
  id: string | null
  name: string
  algorithm: BalancerAlgorithm
  hash_on: HashOn
  hash_fallback: HashOn
  hash_on_header: string | null
  hash_fallback_header: string | null
  hash_on_cookie: string | null
  hash_on_cookie_path: string
  hash_on_query_arg: string | null
  hash_fallback_query_arg: string | null
  hash_on_uri_capture: string | null
  hash_fallback_uri_capture: string | null
  slots: number
  host_header: string | null
  client_certificate: string | null
  use_srv_name: boolean
  /** Kong's healthchecks record (active/passive/threshold) with every default filled. */
  healthchecks: Record<string, unknown>
  /** Nested and top-level targets together, in file order. */
  targets: TargetEntity[]
}

/** Credentials are kept as validated Kong records (snake_case), for the auth plugins. */
export type Credential = Record<string, unknown>

export interface ConsumerEntity extends Located {
  id: string | null
  username: string | null
  custom_id: string | null
  keyauth_credentials: Credential[]
  basicauth_credentials: Credential[]
  jwt_secrets: Credential[]
  acls: Credential[]
  oauth2_credentials: Credential[]
}

export interface PluginEntity extends Located {
  id: string | null
  name: string
  instance_name: string | null
  /** Validated by the plugin's own schema, defaults filled. */
  config: Record<string, unknown>
  /** What the plugin's prepare() returned (plain data, e.g. a loaded proto's descriptor); absent without one. */
  prepared?: unknown
  enabled: boolean
  /** Indexes into ValidConfig.services / routes / consumers, -1 when not scoped by that entity. */
  service: number
  route: number
  consumer: number
}

export interface CertificateEntity extends Located {
  id: string | null
  cert: string
  key: string
  cert_alt: string | null
  key_alt: string | null
  /** Server names served with this certificate (nested `snis` and top-level `snis` together). */
  snis: string[]
}

export interface CaCertificateEntity extends Located {
  id: string | null
  cert: string
  cert_digest: string | null
}

export interface ValidConfig {
  format_version: string
  services: ServiceEntity[]
  /** Nested routes in service order first, then top-level routes. */
  routes: RouteEntity[]
  upstreams: UpstreamEntity[]
  consumers: ConsumerEntity[]
  /** Global, nested and top-level plugins, in file order (service, route, consumer nesting first). */
  plugins: PluginEntity[]
  certificates: CertificateEntity[]
  ca_certificates: CaCertificateEntity[]
}

export type ValidationResult =
  | { ok: true; config: ValidConfig; warnings: Issue[] }
  | { ok: false; errors: Issue[]; warnings: Issue[] }
