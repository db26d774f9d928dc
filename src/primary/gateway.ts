// The primary: loads config, owns the shared memory, runs the worker threads, the admin API and active health
// checks, reloads on SIGHUP (validate → compile → broadcast; an invalid file changes nothing) and drains on SIGTERM.
import type { Snapshot } from '../config/types.js'
import type { Logger } from '../logger.js'
import type { Settings } from '../settings.js'
import { HealthTable, DEFAULT_HEALTH_CAPACITY } from '../shared/health-table.js'
import { STAT, WorkerStats } from '../shared/worker-stats.js'
import { CacheStore } from '../shared/cache-store.js'
import { RateTable } from '../shared/rate-table.js'
import { cacheTierFor } from '../plugins/proxy-cache.js'
import type { CacheTier } from '../redis/cache-tier.js'
import { AdminServer } from './admin/server.js'
import { loadConfigFile, loadConfigText, summarize, type SourceResult } from './config-source.js'
import { HealthChecker } from './health-checker.js'
import { HealthSlots } from './health-slots.js'
import { redact } from './redact.js'
import { WorkerSet } from './workers.js'
import { gatewayTotals, TrafficSampler } from './traffic-sampler.js'
import { VERSION } from '../version.js'
import { defaultCertificateProblem } from '../config/compile-tls.js'

/**
 * What a valid config may still not run with under these settings (the checks beyond validation), made at
 * start, reload, POST /config and by `gateway validate` alike. A TLS listener needs a default certificate:
 * GATEWAY_TLS_CERT/KEY or a config certificate.
 */
export function snapshotProblems(settings: Settings, snapshot: Snapshot): string[] {
  const tls = defaultCertificateProblem(settings.tlsPort, settings.tlsCert !== null, snapshot.tls)
  return tls === null ? [] : [tls]
}

/** What a reload, a posted config or a validation came to; `errors` are `path: message` lines. */
export type ApplyResult =
  | { ok: true; hash: string; summary: string; warnings: string[] }
  | { ok: false; errors: string[]; warnings: string[] }

export class Gateway {
  readonly settings: Settings
  readonly log: Logger
  readonly health: HealthTable
  readonly healthSlots: HealthSlots
  readonly healthChecker: HealthChecker
  readonly stats: WorkerStats
  readonly rateTable: RateTable
  readonly cache: CacheStore
  readonly workers: WorkerSet
  readonly admin: AdminServer
  /** Live traffic windows for the dashboard, sampled only while it is watched. */
  readonly traffic: TrafficSampler
  snapshot: Snapshot
  document: unknown
  port = 0
  /** The TLS listener's port, null when GATEWAY_TLS_PORT is off. */
  tlsPort: number | null = null
  reloads = { ok: 0, failed: 0 }
  private readonly startedAt = Date.now()
  private draining = false

  constructor(settings: Settings, snapshot: Snapshot, document: unknown, log: Logger) {
    this.settings = settings
    this.log = log
    this.snapshot = snapshot
    this.document = document
    this.health = HealthTable.create(DEFAULT_HEALTH_CAPACITY)
    this.healthSlots = new HealthSlots(this.health)
    this.healthSlots.commit(snapshot)
    this.healthChecker = new HealthChecker(this.health, log)
    this.stats = WorkerStats.create(settings.workers)
    this.rateTable = RateTable.allocate(settings.rateLimitSlots)
    this.cache = CacheStore.allocate(settings.cacheSizeBytes)
    this.workers = new WorkerSet(settings.workers, (index) => ({
      index,
      settings: this.settings,
      snapshot: this.snapshot,
      healthSab: this.health.sab,
      healthCapacity: this.health.capacity,
      statsSab: this.stats.sab,
      statsRows: this.stats.rows,
      rateSab: this.rateTable.sab,
      cacheSab: this.cache.sab,
    }), log)
    this.admin = new AdminServer(this)
    this.traffic = new TrafficSampler(() => gatewayTotals(this), { onError: (err) => this.log.warn({ err }, 'dashboard traffic sample failed') })
  }

  /**
   * Rejects with a message naming the variables of the listener that could not start; the caller then stops
   * whatever did start with shutdown() (worker threads must end before the process exits, or it aborts).
   */
  async start(): Promise<void> {
    const problems = snapshotProblems(this.settings, this.snapshot)
    if (problems.length > 0) throw new Error(problems.join('\n'))
    const s = this.settings
    try {
      this.port = await this.workers.start(s.port, s.host, s.tlsPort)
    } catch (err) {
      const message = (err as Error).message
      const tls = / \(TLS\)/.test(message)
      const names = tls ? `GATEWAY_HOST=${s.host} GATEWAY_TLS_PORT=${s.tlsPort}` : `GATEWAY_HOST=${s.host} GATEWAY_PORT=${s.port}`
      throw new Error(`${tls ? 'TLS' : 'proxy'} listener failed to start (${names}): ${message} (is the port in use, or the address not on this host?)`, { cause: err })
    }
    this.tlsPort = this.workers.tlsPort
    try {
      await this.admin.listen(s.adminHost, s.adminPort)
    } catch (err) {
      throw new Error(`admin API failed to start (GATEWAY_ADMIN_HOST=${s.adminHost} GATEWAY_ADMIN_PORT=${s.adminPort}): ${(err as Error).message} (is the port in use, or the address not on this host?)`, { cause: err })
    }
    this.healthChecker.update(this.snapshot)
    this.log.info({ port: this.port, tlsPort: this.tlsPort, admin: `${this.settings.adminHost}:${this.admin.port}`, workers: this.settings.workers, config: this.snapshot.hash }, 'gateway started')
  }

  /** Re-reads the config file (SIGHUP); on any problem logs every error and keeps the running config. */
  reload(): ApplyResult {
    return this.apply(loadConfigFile(this.settings.configPath, this.health.capacity, this.healthSlots.assign), 'file')
  }

  /** A config posted to the admin API (POST /config): the same checks and swap as a reload of the file. */
  applyText(text: string, format: 'yaml' | 'json'): ApplyResult {
    return this.apply(loadConfigText(text, format, this.settings.configPath, this.health.capacity, this.healthSlots.assign), 'admin')
  }

  /** POST /config/validate: every check a reload makes, nothing applied (health slots are not assigned). */
  validateText(text: string, format: 'yaml' | 'json'): ApplyResult {
    const result = loadConfigText(text, format, this.settings.configPath, this.health.capacity)
    const errors = result.ok ? snapshotProblems(this.settings, result.snapshot) : result.errors
    if (!result.ok || errors.length > 0) return { ok: false, errors, warnings: result.warnings }
    return { ok: true, hash: result.snapshot.hash, summary: summarize(result.snapshot), warnings: result.warnings }
  }

  private apply(result: SourceResult, origin: 'file' | 'admin'): ApplyResult {
    const errors = result.ok ? snapshotProblems(this.settings, result.snapshot) : result.errors
    if (!result.ok || errors.length > 0) {
      this.reloads.failed++
      this.log.error({ origin, errors }, 'reload rejected: config is invalid, nothing changed')
      return { ok: false, errors, warnings: result.warnings }
    }
    for (const warning of result.warnings) this.log.warn({ warning }, 'config warning')
    // Slots first: new targets' slots are cleared before any worker can route to them.
    this.healthSlots.commit(result.snapshot)
    this.healthChecker.update(result.snapshot)
    this.snapshot = result.snapshot
    this.document = result.document
    this.workers.broadcast(result.snapshot)
    this.reloads.ok++
    this.log.info({ origin, config: result.snapshot.hash }, 'config reloaded')
    return { ok: true, hash: result.snapshot.hash, summary: summarize(result.snapshot), warnings: result.warnings }
  }

  async shutdown(): Promise<void> {
    if (this.draining) return
    this.draining = true
    this.healthChecker.stop()
    this.traffic.stop()
    this.log.info({ timeoutMs: this.settings.drainTimeoutMs }, 'draining')
    await this.workers.drain(this.settings.drainTimeoutMs)
    this.admin.close()
  }

  ready(): boolean {
    return !this.draining && this.workers.allReady()
  }

  status(): Record<string, unknown> {
    const s = this.stats
    const workers = this.workers.info().map((w) => ({
      index: w.index,
      ready: w.ready,
      config_hash: w.configHash,
      requests: s.get(w.index, STAT.REQUESTS),
      in_flight: s.get(w.index, STAT.IN_FLIGHT),
    }))
    return {
      version: VERSION,
      uptime_s: Math.floor((Date.now() - this.startedAt) / 1000),
      config_hash: this.snapshot.hash,
      ports: { proxy: this.port, tls: this.tlsPort },
      workers: { configured: this.workers.count, ready: workers.filter((w) => w.ready).length, restarts: this.workers.restarts, threads: workers },
      requests: s.sum(STAT.REQUESTS),
      errors: s.sum(STAT.ERRORS),
      connections: { in_flight: s.sum(STAT.IN_FLIGHT), upstream_open: s.sum(STAT.UPSTREAM_OPEN), upstream_idle: s.sum(STAT.UPSTREAM_IDLE) },
      reloads: this.reloads.ok,
      reloads_failed: this.reloads.failed,
      rate_limiting: this.rateLimitStatus(),
      cache: this.cacheStatus(),
    }
  }

  /** Shared rate table occupancy and the limiter's counters, summed over workers. */
  private rateLimitStatus(): Record<string, number> {
    const s = this.stats
    const usage = this.rateTable.usage(Date.now())
    return {
      rejected: s.sum(STAT.RATE_LIMITED),
      redis_fallbacks: s.sum(STAT.REDIS_FALLBACK),
      table_slots: usage.slots,
      table_used: usage.used,
      table_active: usage.active,
      table_full: usage.fullCount,
      table_busy: usage.busyCount,
    }
  }

  /** proxy-cache answers by X-Cache-Status, summed over workers, and the shared store's occupancy. */
  private cacheStatus(): Record<string, number> {
    const s = this.stats
    const store = this.cache.stats()
    return {
      hit: s.sum(STAT.CACHE_HIT),
      miss: s.sum(STAT.CACHE_MISS),
      bypass: s.sum(STAT.CACHE_BYPASS),
      stale: s.sum(STAT.CACHE_STALE),
      entries: store.entries,
      bytes_used: store.bytesUsed,
      slab_bytes: store.slabBytes,
      evictions: store.evictions,
    }
  }

  /** The Redis tiers of every `strategy: redis` proxy-cache in the running config (purges must reach them). */
  cacheTiers(): CacheTier[] {
    const tiers = new Set<CacheTier>()
    for (const p of this.snapshot.plugins) {
      if (p.name === 'proxy-cache' && p.config.strategy === 'redis') tiers.add(cacheTierFor(p.config, this.settings.redisUrl, this.log))
    }
    return [...tiers]
  }

  redactedConfig(): unknown {
    return redact(this.document)
  }
}
