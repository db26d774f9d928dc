// `gateway validate`'s warning for routes of grpc/grpcs services that no grpc-gateway plugin covers:
// the gateway does not relay native gRPC from HTTP/1.1 clients, so such a route answers 502.
import type { ValidConfig } from './model.js'
import type { Report } from './schema.js'

const TRANSCODER = 'grpc-gateway'

export function warnUntranscodedGrpcRoutes(config: ValidConfig, report: Report): void {
  const transcoders = config.plugins.filter((p) => p.name === TRANSCODER && p.enabled)
  const global = transcoders.some((p) => p.route < 0 && p.service < 0)
  config.routes.forEach((route, index) => {
    const service = config.services[route.service]
    if (service === undefined || (service.protocol !== 'grpc' && service.protocol !== 'grpcs')) return
    if (global || transcoders.some((p) => p.route === index || (p.route < 0 && p.service === route.service))) return
    report.warnings.push({
      path: route.at,
      message: `reaches ${service.protocol} service '${service.name ?? service.at}' without the ${TRANSCODER} plugin: its requests get 502 (native gRPC is not relayed)`,
    })
  })
}
