// The plugin registry: every plugin the gateway knows, by its Kong name.
// Adding a plugin = one file in this folder + one line here.
import type { PluginDefinition } from './types.js'
import proxyCache from './proxy-cache.js'
import rateLimiting from './rate-limiting.js'
import requestTermination from './request-termination.js'

// Each definition has its own compiled-config type; the registry only knows they are plugins.
// A null-prototype record, so only registered names are keys (`plugins['constructor']` is undefined).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const plugins: Readonly<Record<string, PluginDefinition<any>>> = Object.freeze(Object.assign(Object.create(null), {
  [proxyCache.name]: proxyCache,
  [rateLimiting.name]: rateLimiting,
  [requestTermination.name]: requestTermination,
}))
