// The one place uWebSockets.js is loaded: the upstream `uWebSockets.js` package when it resolves
// (Node 22+ users install it from its repository), else the native binary of the npm build.
import { createRequire } from 'node:module'
import type * as UWS from '@trufflesuite/uws-js-unofficial'

const require = createRequire(import.meta.url)

function load(): typeof UWS {
  try {
    return require('uWebSockets.js') as typeof UWS
  } catch {
    // The npm build's own entry silently falls back to a slow pure-JS server when its binary does not
    // load; we require the binary directly so an unsupported Node is a clear start-up error instead.
    const binary = `@trufflesuite/uws-js-unofficial/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`
    try {
      return require(binary) as typeof UWS
    } catch (err) {
      throw new Error(`uWebSockets.js has no binary for Node ${process.version} on ${process.platform}-${process.arch} (${binary}): use Node.js 20`, { cause: err })
    }
  }
}

export const uws = load()
export type { AppOptions, HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t, WebSocket, WebSocketBehavior, RecognizedString } from '@trufflesuite/uws-js-unofficial'
