// Keep-alive sockets per upstream target for this worker (undici/Pingora pool discipline).
// A socket is pooled only after a complete response with keep-alive on both sides; one coarse
// sweep (every 250 ms) enforces every connection's deadline, so timeouts cost no timer per request.
import { performance } from 'node:perf_hooks'
import { UpstreamConnection, type ConnectOptions } from './connection.js'
import { STAT, type WorkerStats } from '../shared/worker-stats.js'

/** Timeout resolution: deadlines are checked this often. */
const SWEEP_MS = 250

export interface PoolSettings {
  /** Idle sockets kept per target (GATEWAY_UPSTREAM_KEEPALIVE). */
  maxIdle: number
  /** Idle socket lifetime (GATEWAY_UPSTREAM_IDLE_TIMEOUT_MS). */
  idleTimeoutMs: number
  stats: WorkerStats
  statsRow: number
}

/** Idle connections to one peer identity (host, port, TLS settings), newest last (LIFO reuse). */
class TargetPool {
  readonly idle: UpstreamConnection[] = []
}

export class ConnectionPool {
  readonly settings: PoolSettings
  private readonly pools = new Map<string, TargetPool>()
  /** Every open connection, busy or idle, for the deadline sweep. */
  private readonly live = new Set<UpstreamConnection>()
  private readonly sweeper: NodeJS.Timeout

  constructor(settings: PoolSettings) {
    this.settings = settings
    this.sweeper = setInterval(this.sweep, SWEEP_MS)
    this.sweeper.unref()
  }

  private readonly sweep = (): void => {
    const now = performance.now()
    for (const conn of this.live) if (conn.deadline !== 0 && now >= conn.deadline) conn.timedOut()
  }

  /** An idle connection for the peer, or a new one that is connecting (its exchange gets onConnect). */
  acquire(opts: ConnectOptions): UpstreamConnection {
    const pool = this.pools.get(opts.key)
    if (pool !== undefined) {
      while (pool.idle.length > 0) {
        const conn = pool.idle.pop()!
        this.settings.stats.add(this.settings.statsRow, STAT.UPSTREAM_IDLE, -1)
        if (conn.usable()) return conn
        conn.destroy()
      }
    }
    return new UpstreamConnection(this, opts)
  }

  /** Called by a connection after a clean, complete, keep-alive response. */
  release(conn: UpstreamConnection): void {
    let pool = this.pools.get(conn.key)
    if (pool === undefined) {
      pool = new TargetPool()
      this.pools.set(conn.key, pool)
    }
    if (pool.idle.length >= this.settings.maxIdle) {
      conn.destroy()
      return
    }
    conn.park(this.settings.idleTimeoutMs)
    pool.idle.push(conn)
    this.settings.stats.add(this.settings.statsRow, STAT.UPSTREAM_IDLE, 1)
  }

  /** An idle connection closed or timed out: forget it. */
  evict(conn: UpstreamConnection): void {
    const pool = this.pools.get(conn.key)
    if (pool === undefined) return
    const i = pool.idle.indexOf(conn)
    if (i < 0) return
    pool.idle.splice(i, 1)
    this.settings.stats.add(this.settings.statsRow, STAT.UPSTREAM_IDLE, -1)
  }

  opened(conn: UpstreamConnection): void {
    this.live.add(conn)
    this.settings.stats.add(this.settings.statsRow, STAT.UPSTREAM_OPEN, 1)
  }

  closed(conn: UpstreamConnection): void {
    this.live.delete(conn)
    this.settings.stats.add(this.settings.statsRow, STAT.UPSTREAM_OPEN, -1)
  }

  /** Closes every idle socket (drain, shutdown). */
  closeIdle(): void {
    for (const pool of this.pools.values()) {
      const idle = pool.idle.splice(0)
      for (const conn of idle) {
        this.settings.stats.add(this.settings.statsRow, STAT.UPSTREAM_IDLE, -1)
        conn.destroy()
      }
    }
  }
}
