// The open WebSocket tunnels of one worker: the idle sweep, the drain deadline and the count the
// listener's drain waits for. Idle time is a coarse tick (1 s) so a relayed message costs one store.
import type { Origin } from '../worker/tls-listener.js'

/** What the set needs of a tunnel. */
export interface Tunnel {
  readonly origin: Origin
  /** The set's tick when a message last went either way. */
  lastTick: number
  /** Closes both sides with `code` (the gateway's own reason: idle, drain, backpressure). */
  shut(code: number, reason: string): void
}

/** RFC 6455 §7.4.1: 1001 going away (the gateway shuts down, or the tunnel sat idle). */
export const CLOSE_GOING_AWAY = 1001

export class TunnelSet {
  readonly open = new Set<Tunnel>()
  /** Seconds since the set was made, advanced by the sweep. */
  tick = 0
  private readonly idleTicks: number
  private readonly sweepTimer: NodeJS.Timeout | null
  private drainTimer: NodeJS.Timeout | null = null
  /** Told when a tunnel ended (the listener releases its TLS app and checks whether the drain is done). */
  private readonly ended: (origin: Origin) => void

  /** `idleTimeoutS` 0 = tunnels never time out. */
  constructor(idleTimeoutS: number, ended: (origin: Origin) => void) {
    this.idleTicks = idleTimeoutS
    this.ended = ended
    this.sweepTimer = idleTimeoutS > 0 ? setInterval(() => this.sweep(), 1000).unref() : null
  }

  get size(): number {
    return this.open.size
  }

  add(tunnel: Tunnel): void {
    tunnel.lastTick = this.tick
    this.open.add(tunnel)
    const gen = tunnel.origin.generation
    // A tunnel keeps its TLS app open through certificate reloads, as an in-flight request does.
    if (gen !== null) gen.inFlight++
  }

  /** A tunnel's both sides are closed. */
  remove(tunnel: Tunnel): void {
    if (this.open.delete(tunnel)) this.ended(tunnel.origin)
  }

  /**
   * Idle: nothing relayed either way for `idleTimeoutS` (whole seconds, so a tunnel closes between
   * idleTimeoutS and idleTimeoutS + 1 after its last message). uWS's own idleTimeout is not used: it
   * cannot go below 8 s, ticks every 4 s and sees only the client side.
   */
  private sweep(): void {
    const now = ++this.tick
    if (this.open.size === 0) return
    for (const t of this.open) if (now - t.lastTick > this.idleTicks) t.shut(CLOSE_GOING_AWAY, 'idle timeout')
  }

  /** SIGTERM: tunnels may run on for `graceMs`, then every one left is closed with 1001. */
  drain(graceMs: number): void {
    if (this.drainTimer !== null) return
    this.drainTimer = setTimeout(() => this.closeAll(), graceMs)
    this.drainTimer.unref()
  }

  /** Closes every tunnel with 1001 now (end of the drain grace, or the worker is going down). */
  closeAll(): void {
    for (const t of [...this.open]) t.shut(CLOSE_GOING_AWAY, 'gateway shutting down')
  }

  stop(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer)
    if (this.drainTimer !== null) clearTimeout(this.drainTimer)
  }
}
