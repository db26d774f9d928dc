// Unit-test harness for plugins: a recording PluginRequest and a PluginEnv over real (small) shared
// tables, so a plugin's phases run exactly as the worker calls them, without a listener around them.
import { createLogger } from '../../src/logger.js'
import { newReport, validateRecord } from '../../src/config/schema.js'
import { readSettings } from '../../src/settings.js'
import { CacheStore } from '../../src/shared/cache-store.js'
import { RateTable } from '../../src/shared/rate-table.js'
import { WorkerStats } from '../../src/shared/worker-stats.js'
import { createPluginEnv } from '../../src/worker/plugin-env.js'
import type { PluginDefinition, PluginEnv, PluginRequest, ResponseFilter, ResponseObserver } from '../../src/plugins/types.js'
import type { Snapshot } from '../../src/config/types.js'

export interface Reply {
  status: number
  body: string
  headers: ReadonlyArray<readonly [string, string]>
}

export interface FakeRequest extends PluginRequest {
  replies: Reply[]
  /** Upstream header changes in order (null = removed). */
  upstreamHeaders: Array<[string, string | null]>
  /** Headers added with addResponseHeader, in order. */
  responseHeaders: Array<[string, string]>
  observer: ResponseObserver | null
  /** Every cap passed to limitBody, in order. */
  bodyLimits: number[]
  /** Response filters registered, in order. */
  filters: ResponseFilter[]
  /** What replaceBody, setUpstreamMethod and setUpstreamPath set (null = not called). */
  replacedBody: Buffer | null
  upstreamMethod: string | null
  upstreamPath: string | null
}

export function fakeRequest(over: Partial<PluginRequest> & { body?: string } = {}): FakeRequest {
  const ctx: FakeRequest = {
    method: 'GET', path: '/echo/x', query: '', headers: new Map([['host', 'gw.local:8000']]), clientIp: '127.0.0.1',
    scheme: 'http', host: 'gw.local', port: 8000, requestId: 'rid', routeName: 'r', routeId: 'r-id', serviceName: 's',
    serviceId: 's-id', consumer: null, credentialId: null, rateLimited: false, cacheStatus: '',
    replies: [],
    upstreamHeaders: [],
    responseHeaders: [],
    observer: null,
    reply(status, body, headers = []) {
      this.replies.push({ status, body: body.toString(), headers })
    },
    addResponseHeader(name, value) {
      this.responseHeaders.push([name, value])
    },
    addResponseLines(lines) {
      for (const line of lines.split('\r\n')) {
        if (line === '') continue
        const colon = line.indexOf(': ')
        this.responseHeaders.push([line.slice(0, colon), line.slice(colon + 2)])
      }
    },
    setUpstreamHeader(name, value) {
      this.upstreamHeaders.push([name, value])
      if (value === null) this.headers.delete(name.toLowerCase())
      else this.headers.set(name.toLowerCase(), value)
    },
    setUpstreamQuery(query) {
      ;(this as { query: string }).query = query
    },
    observeResponse(observer) {
      this.observer = observer
    },
    readBody: async () => Buffer.from(over.body ?? ''),
    readBodyWithin: async () => Buffer.from(over.body ?? ''),
    filters: [],
    filterResponse(filter) {
      this.filters.push(filter)
    },
    replacedBody: null,
    replaceBody(body) {
      this.replacedBody = body
    },
    upstreamMethod: null,
    setUpstreamMethod(method) {
      this.upstreamMethod = method
    },
    upstreamPath: null,
    setUpstreamPath(path) {
      this.upstreamPath = path
    },
    bodyLimits: [],
    limitBody(maxBytes) {
      this.bodyLimits.push(maxBytes)
      const length = Number(this.headers.get('content-length') ?? -1)
      if (length <= maxBytes) return true
      this.replies.push({ status: 413, body: JSON.stringify({ message: 'Request size limit exceeded', request_id: this.requestId }), headers: [] })
      return false
    },
    ...over,
  }
  return ctx
}

export interface TestEnv extends PluginEnv {
  /** The env's counters (row 0): `stats.get(0, STAT.RATE_LIMITED)`. */
  stats: WorkerStats
}

/** A PluginEnv over a fresh 1024-slot rate table and a 1 MiB cache (pass them to share between envs). */
export function testEnv(shared: { rateTable?: RateTable; cache?: CacheStore; env?: Record<string, string> } = {}): TestEnv {
  const stats = WorkerStats.create(1)
  const rateTable = shared.rateTable ?? RateTable.allocate(1024)
  const cache = shared.cache ?? CacheStore.allocate(1024 * 1024)
  return { ...createPluginEnv(readSettings(shared.env ?? {}), rateTable, cache, createLogger('silent'), stats, 0), stats }
}

/** A Snapshot with nothing in it but `over` (auth plugins read consumers from it). */
export function snapshotWith(over: Partial<Snapshot> = {}): Snapshot {
  return { hash: '', source: '', loadedAt: 0, services: [], routes: [], upstreams: [], plugins: [], consumers: [], healthSlots: 0, ...over }
}

/** Validates `config` against the plugin's schema (throwing on problems) and compiles it. */
export function compilePlugin<C>(plugin: PluginDefinition<C>, config: Record<string, unknown>, env: PluginEnv = testEnv(), id = 'test-instance', snapshot: Snapshot = snapshotWith()): C {
  const report = newReport()
  const validated = validateRecord(plugin.schema, config, 'config', report)
  if (report.errors.length > 0 || validated === undefined) throw new Error(JSON.stringify(report.errors))
  return plugin.compile(validated, env, { id, route: null, service: null, snapshot })
}
