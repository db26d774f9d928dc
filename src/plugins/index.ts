// The plugin registry: every plugin the gateway knows, by its Kong name.
// Adding a plugin = one file in this folder + one line here.
import type { PluginDefinition } from './types.js'
import acl from './acl.js'
import aggregate from './aggregate.js'
import basicAuth from './basic-auth.js'
import compression from './compression.js'
import correlationId from './correlation-id.js'
import keyAuth from './key-auth.js'
import cors from './cors.js'
import fileLog from './file-log.js'
import grpcGateway from './grpc-gateway.js'
import httpLog from './http-log.js'
import ipRestriction from './ip-restriction.js'
import jwt from './jwt.js'
import oauth2 from './oauth2.js'
import opentelemetry from './opentelemetry.js'
import prometheus from './prometheus.js'
import proxyCache from './proxy-cache.js'
import rateLimiting from './rate-limiting.js'
import requestSizeLimiting from './request-size-limiting.js'
import requestTermination from './request-termination.js'
import requestTransformer from './request-transformer.js'
import responseTransformer from './response-transformer.js'

// Each definition has its own compiled-config type; the registry only knows they are plugins.
// A null-prototype record, so only registered names are keys (`plugins['constructor']` is undefined).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const plugins: Readonly<Record<string, PluginDefinition<any>>> = Object.freeze(Object.assign(Object.create(null), {
  [acl.name]: acl,
  [aggregate.name]: aggregate,
  [basicAuth.name]: basicAuth,
  [compression.name]: compression,
  [correlationId.name]: correlationId,
  [keyAuth.name]: keyAuth,
  [cors.name]: cors,
  [fileLog.name]: fileLog,
  [grpcGateway.name]: grpcGateway,
  [httpLog.name]: httpLog,
  [ipRestriction.name]: ipRestriction,
  [jwt.name]: jwt,
  [oauth2.name]: oauth2,
  [opentelemetry.name]: opentelemetry,
  [prometheus.name]: prometheus,
  [proxyCache.name]: proxyCache,
  [rateLimiting.name]: rateLimiting,
  [requestSizeLimiting.name]: requestSizeLimiting,
  [requestTermination.name]: requestTermination,
  [requestTransformer.name]: requestTransformer,
  [responseTransformer.name]: responseTransformer,
}))
