// Validates a whole declarative document (Kong 3.x format): the schema pass over every entity,
// then flatten.ts for references, duplicates and plugin configs. Every problem is collected.
import type { ValidationResult } from './model.js'
import { any, arrayOf, bool, isPlainObject, newReport, noop, record, str, validateRecord, type RecordField } from './schema.js'
import { migrateLegacyRoutes, readFormatVersion } from './format-version.js'
import { warnUntranscodedGrpcRoutes } from './grpc-routes.js'
import { flatten, type PluginSchemas } from './flatten.js'
import { serviceSchema } from './entities/services.js'
import { routeSchema } from './entities/routes.js'
import { targetSchema, upstreamSchema } from './entities/upstreams.js'
import { consumerSchema } from './entities/consumers.js'
import { pluginSchema } from './entities/plugins.js'
import { caCertificateSchema, certificateSchema, sniSchema } from './entities/certificates.js'
import { plugins } from '../plugins/index.js'

const NO_EFFECT = 'accepted for Kong and decK compatibility; has no effect here'

/**
 * The top level of a declarative file. `_transform`, `_info`, `_workspace` and `_konnect` (decK) are
 * accepted with a warning; `vaults` other than the built-in env vault are not supported.
 */
function documentSchema(): RecordField {
  return record({
    _format_version: any(), // read by readFormatVersion, before the schema pass
    _transform: noop(bool(), NO_EFFECT),
    _info: noop(any(), NO_EFFECT),
    _workspace: noop(str(), NO_EFFECT),
    _konnect: noop(any(), NO_EFFECT),
    services: arrayOf(serviceSchema()),
    routes: arrayOf(routeSchema(false)),
    upstreams: arrayOf(upstreamSchema()),
    targets: arrayOf(targetSchema(false)),
    consumers: arrayOf(consumerSchema()),
    plugins: arrayOf(pluginSchema(null)),
    certificates: arrayOf(certificateSchema()),
    ca_certificates: arrayOf(caCertificateSchema()),
    snis: arrayOf(sniSchema(false)),
    vaults: arrayOf(any(), {
      custom: (v: unknown[]) => v.length > 0 ? 'vault entities are not supported; use {vault://env/NAME} references' : null,
    }),
  })
}

let cachedSchema: RecordField | null = null

export interface ValidateOptions {
  /** Plugin schemas by name; the registry of src/plugins by default. */
  plugins?: PluginSchemas
  /** Environment for `{vault://env/NAME}` and for plugin checks that depend on it (GATEWAY_REDIS_URL); process.env by default. */
  env?: Readonly<Record<string, string | undefined>>
  /** Directory that relative file paths in plugin configs resolve against (a .proto); the config file's, else the cwd. */
  baseDir?: string
}

/** Validates a parsed declarative document. Never throws; the input is not modified. */
export function validateConfig(input: unknown, options: ValidateOptions = {}): ValidationResult {
  const report = newReport()
  if (!isPlainObject(input)) {
    report.errors.push({ path: '', message: 'expected a record (a declarative config document)' })
    return { ok: false, errors: report.errors, warnings: report.warnings }
  }
  const doc = structuredClone(input)
  const version = readFormatVersion(doc, report)
  if (version === '1.1' || version === '2.1') migrateLegacyRoutes(doc, report)
  cachedSchema ??= documentSchema()
  const tree = validateRecord(cachedSchema, doc, '', report) ?? {}
  const config = flatten(tree, version ?? '3.0', options.plugins ?? plugins, report, options.env ?? process.env, options.baseDir)
  if (report.errors.length > 0) return { ok: false, errors: report.errors, warnings: report.warnings }
  warnUntranscodedGrpcRoutes(config, report)
  return { ok: true, config, warnings: report.warnings }
}
