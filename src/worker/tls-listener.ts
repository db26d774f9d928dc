// The worker's TLS listener: a uWS SSLApp on GATEWAY_TLS_PORT with the default certificate and one
// certificate per server name (SNI) from the Snapshot's `certificates`.
// uWS loads certificates from files, and removeServerName frees the name's router while connections
// that negotiated it still use it (their next request hangs: measured on 20.30), so a change of
// certificates builds a whole new app on the same port (SO_REUSEPORT) and retires the old one once
// its in-flight requests are done. Key files exist only while uWS reads them.
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CertificateRecord, TlsRecords } from '../config/types.js'
import type { Settings } from '../settings.js'
import { uws, type AppOptions, type TemplatedApp, type us_listen_socket } from '../uws.js'

/**
 * Where a request came in: the plain listener, or one server name of one TLS app. Handlers are
 * registered once per origin (a closure per origin, none per request).
 */
export interface Origin {
  readonly scheme: 'http' | 'https'
  /** The listener's bound port (X-Forwarded-Port, ctx.port). */
  port: number
  /**
   * The TLS server name the connection's certificate was chosen by, for routes' `snis`: '' for plain
   * http; null when uWS cannot tell (default certificate, wildcard names), then the Host name stands in.
   */
  readonly sni: string | null
  /** The TLS app generation, counted so a replaced app closes when idle; null for plain http. */
  readonly generation: TlsGeneration | null
}

/** One SSLApp and the requests it has in flight. */
export class TlsGeneration {
  readonly app: TemplatedApp
  readonly fingerprint: string
  readonly origins: Origin[] = []
  inFlight = 0
  /** Replaced by a newer generation: closes once the grace period is over and inFlight is 0. */
  retired = false
  /** The grace period after retirement is over (connections accepted just before the swap had time to send a request). */
  closable = false
  closed = false

  constructor(app: TemplatedApp, fingerprint: string) {
    this.app = app
    this.fingerprint = fingerprint
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    ;(this.app as TemplatedApp & { close(): void }).close()
  }
}

/** What a generation serves: the default certificate and the server names, with a fingerprint to compare. */
export interface TlsPlan {
  fingerprint: string
  /** PEM file paths (GATEWAY_TLS_CERT/KEY), or a config certificate written to a private file. */
  defaultCert: { certFile: string; keyFile: string } | CertificateRecord
  names: { name: string; cert: CertificateRecord }[]
}

/**
 * The plan for one Snapshot. The default certificate is GATEWAY_TLS_CERT/KEY, else the config's first
 * certificate (primary/gateway.ts refuses a config that leaves neither). The files are read here so a
 * rotated certificate is picked up by the next reload (SIGHUP), even when the config did not change.
 */
export function planTls(settings: Settings, tls: TlsRecords | undefined): TlsPlan {
  const certificates = tls?.certificates ?? []
  const hash = createHash('sha256')
  let defaultCert: TlsPlan['defaultCert']
  if (settings.tlsCert !== null && settings.tlsKey !== null) {
    defaultCert = { certFile: settings.tlsCert, keyFile: settings.tlsKey }
    hash.update(readFileSync(settings.tlsCert)).update('\0').update(readFileSync(settings.tlsKey))
  } else if (certificates.length > 0) {
    defaultCert = certificates[0]!
    hash.update(defaultCert.digest)
  } else {
    throw new Error('GATEWAY_TLS_PORT is set but there is no certificate: set GATEWAY_TLS_CERT and GATEWAY_TLS_KEY, or add `certificates` to the config')
  }
  const names: TlsPlan['names'] = []
  for (const cert of certificates) {
    for (const name of cert.snis) {
      names.push({ name, cert })
      hash.update(`\0${name}=${cert.digest}`)
    }
  }
  return { fingerprint: hash.digest('hex'), defaultCert, names }
}

export type RegisterRoutes = (app: TemplatedApp, origin: Origin) => void

/**
 * How long a replaced app stays open at least: a connection it accepted just before the swap may still
 * be in its handshake or sending its first request, which an immediate close would reset.
 */
const RETIRE_GRACE_MS = 1000

export class TlsListener {
  readonly host: string
  /** The bound port; the primary resolves GATEWAY_TLS_PORT=0 to a free port before workers start. */
  port: number
  private current: TlsGeneration | null = null
  private listenSocket: us_listen_socket | null = null
  /** Listen sockets of replaced apps, closed after the next poll phase (see update). */
  private readonly closingSockets = new Set<us_listen_socket>()
  private readonly retired = new Set<TlsGeneration>()
  private readonly register: RegisterRoutes
  private stopped = false

  constructor(host: string, port: number, register: RegisterRoutes) {
    this.host = host
    this.port = port
    this.register = register
  }

  /** Builds the first app and listens; rejects when the certificates cannot be loaded or the port bound. */
  listen(plan: TlsPlan): Promise<number> {
    return new Promise((resolve, reject) => {
      try {
        this.current = this.start(plan)
        resolve(this.port)
      } catch (err) {
        reject(err as Error)
      }
    })
  }

  /**
   * A new Snapshot: when its certificates differ, a new app takes over the port and the old one retires.
   * Throws (and keeps serving the old certificates) when the new ones cannot be loaded or bound.
   */
  update(plan: TlsPlan): void {
    const old = this.current
    if (this.stopped || old === null || old.fingerprint === plan.fingerprint) return
    const oldSocket = this.listenSocket
    this.current = this.start(plan)
    // The new listen socket joins the port's SO_REUSEPORT group before the old one closes, so no
    // connection is refused in between. Closing a listen socket resets the connections still in its
    // accept queue (as on an NGINX reload with reuseport), and the kernel kept queueing on it while the
    // new app was built (milliseconds). So it closes after the *next* poll phase, where uWS accepts what
    // was queued: the first immediate runs in this iteration's check phase, the second after the next
    // poll (measured at ~900 new connections/s: about 1 reset per swap with one immediate, 1 in 40 swaps
    // with two; README, TLS). Accepted connections stay on the old app until it retires.
    if (oldSocket !== null) {
      this.closingSockets.add(oldSocket)
      setImmediate(() => setImmediate(() => this.closeListenSocket(oldSocket)))
    }
    old.retired = true
    this.retired.add(old)
    setTimeout(() => {
      old.closable = true
      this.closeIfIdle(old)
    }, RETIRE_GRACE_MS).unref()
  }

  private closeListenSocket(socket: us_listen_socket): void {
    if (!this.closingSockets.delete(socket)) return
    uws.us_listen_socket_close(socket)
  }

  /** Called by the listener when a request of `gen` finished. */
  ended(gen: TlsGeneration): void {
    gen.inFlight--
    if (gen.closable && gen.inFlight === 0) this.closeIfIdle(gen)
  }

  /** Drain: stop accepting (connections in progress finish). */
  stopAccepting(): void {
    this.stopped = true
    if (this.listenSocket !== null) uws.us_listen_socket_close(this.listenSocket)
    this.listenSocket = null
    for (const socket of this.closingSockets) this.closeListenSocket(socket)
  }

  /** Closes every TLS connection at once (crash, terminate). */
  closeAll(): void {
    this.stopAccepting()
    this.current?.close()
    for (const gen of this.retired) gen.close()
    this.retired.clear()
  }

  /**
   * Closes a retired app once nothing is in flight on it (idle keep-alive connections go with it, as a
   * server may close them at any time, RFC 9112 §9.3). Deferred: the last request may end inside one of
   * the app's own callbacks, where closing it is not safe.
   */
  private closeIfIdle(gen: TlsGeneration): void {
    if (gen.inFlight !== 0 || gen.closed) return
    setImmediate(() => {
      if (gen.inFlight !== 0 || gen.closed) return
      gen.close()
      this.retired.delete(gen)
    })
  }

  private start(plan: TlsPlan): TlsGeneration {
    const gen = this.build(plan)
    const result: { socket: us_listen_socket | false } = { socket: false }
    // uWS calls the listen callback synchronously.
    gen.app.listen(this.host, this.port, (socket) => {
      result.socket = socket
    })
    const bound = result.socket
    if (bound === false) {
      gen.close()
      throw new Error(`cannot listen on ${this.host}:${this.port} (TLS)`)
    }
    this.listenSocket = bound
    this.port = uws.us_socket_local_port(bound)
    for (const origin of gen.origins) origin.port = this.port
    return gen
  }

  /**
   * One SSLApp: the default certificate plus one server name per SNI, each with its own router (uWS keeps
   * a router per server name, so the handlers are registered on every one). Config certificates are
   * written to a private directory (0700, files 0600) that is removed as soon as uWS has read them.
   */
  private build(plan: TlsPlan): TlsGeneration {
    const dir = mkdtempSync(join(tmpdir(), 'gw-tls-'))
    try {
      const files = new Map<CertificateRecord, AppOptions>()
      const fileOptions = (cert: CertificateRecord): AppOptions => {
        let options = files.get(cert)
        if (options === undefined) {
          const base = join(dir, String(files.size))
          writeFileSync(`${base}.crt`, cert.cert, { mode: 0o600 })
          writeFileSync(`${base}.key`, cert.key, { mode: 0o600 })
          options = { cert_file_name: `${base}.crt`, key_file_name: `${base}.key` }
          files.set(cert, options)
        }
        return options
      }
      const d = plan.defaultCert
      const app = uws.SSLApp('certFile' in d ? { cert_file_name: d.certFile, key_file_name: d.keyFile } : fileOptions(d))
      const gen = new TlsGeneration(app, plan.fingerprint)
      const route = (sni: string | null): void => {
        const origin: Origin = { scheme: 'https', port: this.port, sni, generation: gen }
        gen.origins.push(origin)
        this.register(app, origin)
      }
      route(null)
      // Every certificate here was parsed and matched to its key by config validation: uWS crashes the
      // process on a server name whose files it cannot load, instead of reporting it.
      for (const { name, cert } of plan.names) {
        app.addServerName(name, fileOptions(cert))
        app.domain(name)
        route(name.startsWith('*.') ? null : name)
      }
      if (plan.names.length > 0) app.domain('') // back to the default router
      return gen
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
