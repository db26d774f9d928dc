// Keep-alive sockets per upstream target for this worker (undici/Pingora pool discipline).
// A socket is pooled only after a complete response with keep-alive on both sides; idle ones evict themselves.
import { UpstreamConnection, type ConnectOptions } from './connection.js'
import { STAT, type WorkerStats } from '../shared/worker-stats.js'

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
  /** Sockets ever opened; tests and /status read it to prove keep-alive reuse. */
  opened = 0

  constructor(settings: PoolSettings) {
    this.settings = settings
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
    this.opened++
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

  opening(delta: number): void {
    this.settings.stats.add(this.settings.statsRow, STAT.UPSTREAM_OPEN, delta)
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
