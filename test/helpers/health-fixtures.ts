// Shared by the health-check e2e suites: upstreams whose status a test flips, a 2-worker gateway, a
// service balanced over an upstream `pool`, and cleanup of all of them after each test.
import { afterEach } from 'vitest'
import { startGateway, type RunningGateway } from './gateway.js'
import { startUpstream, type Upstream } from './upstream.js'

export interface Backend extends Upstream {
  /** Status for every request from now on, probes and proxied ones alike. */
  status: number
}

export interface HealthFixtures {
  /** An upstream answering `status` with its own port in the body. */
  backend(): Promise<Backend>
  gateway(config: object): Promise<RunningGateway>
  /** Registers something else to close after the test. */
  track(close: () => Promise<unknown>): void
}

/** Call at the top of a test file: everything made through the fixtures is closed after each test. */
export function healthFixtures(): HealthFixtures {
  const cleanups: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  })
  return {
    async backend() {
      const state = { status: 200 }
      const up = await startUpstream((_req, res) => {
        res.writeHead(state.status, { 'content-type': 'text/plain' })
        res.end(String(up.port))
      })
      cleanups.push(() => up.close())
      return Object.assign(state, up)
    },
    async gateway(config) {
      const gw = await startGateway(config, { workers: 2 })
      cleanups.push(() => gw.stop())
      return gw
    },
    track(close) {
      cleanups.push(close)
    },
  }
}

/** A service `svc` on `/p` balanced (round-robin) over upstream `pool`. */
export function poolConfig(targets: string[], healthchecks: object, service: object = {}): object {
  return {
    upstreams: [{ name: 'pool', healthchecks, targets: targets.map((target) => ({ target })) }],
    services: [{ name: 'svc', host: 'pool', port: 80, retries: 0, ...service, routes: [{ name: 'p', paths: ['/p'] }] }],
  }
}
