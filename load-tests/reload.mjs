// The reload-under-load scenario: steady load on the plain route while the config file is rewritten
// and SIGHUP sent 10 times, after a run of the same load without reloads (its baseline); every reload
// must apply (admin /status) and no request may fail.
import { writeFileSync } from 'node:fs'
import { get } from '../native-bench/lib/net.mjs'
import { measureHttp } from './measure.mjs'

export const RELOADS = 10

async function reloadCount(adminPort) {
  const status = JSON.parse((await get(`http://127.0.0.1:${adminPort}/status`)).body)
  return { ok: status.reloads, failed: status.reloads_failed }
}

/**
 * Resolves measureHttp's result plus { baseline: the steady run, reloads: applied count, reloadsFailed, reloadsSent }. `configFor(n)` is the
 * config of the n-th reload (each differs, so each compiles a new Snapshot).
 */
export async function reloadUnderLoad(gateway, configFor, url, load) {
  // The steady state the reloads are judged against: the same route and load just before, no reloads.
  const steady = await measureHttp(url, load)
  const before = await reloadCount(gateway.adminPort)
  // Reloads spread over the measured phase, the last one well before its end.
  const every = (load.durationS * 1000) / (RELOADS + 1)
  let sent = 0
  const during = (elapsedMs) => {
    if (sent >= RELOADS || elapsedMs < every * (sent + 1)) return
    sent++
    writeFileSync(gateway.configPath, `${JSON.stringify(configFor(sent), null, 2)}\n`)
    gateway.proc.child.kill('SIGHUP')
  }
  const result = await measureHttp(url, { ...load, during })
  const after = await reloadCount(gateway.adminPort)
  return { ...result, baseline: steady, baselineId: 'steady', reloads: after.ok - before.ok, reloadsFailed: after.failed - before.failed, reloadsSent: sent }
}
