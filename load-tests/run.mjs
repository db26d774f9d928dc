#!/usr/bin/env node
// load-tests: the release gate. Starts an upstream and a gateway (2 workers) itself, measures every
// scenario with autocannon (each HTTP one just after a direct run of the upstream), checks each against
// budgets.json (relative to its direct baseline of the same run), prints a table and hdr percentiles,
// writes JSON results, and exits 1 when a budget is missed.
//
//   npm run load-test                       # every scenario, 5 s each
//   npm run load-test -- --only plain,reload --duration 10
//
// Environment: LOAD_DURATION (5 s), LOAD_CONNECTIONS (32), LOAD_WORKERS (2); GATEWAY_* reach the gateway.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { installCleanup } from '../native-bench/lib/procs.mjs'
import { freePorts } from '../native-bench/lib/net.mjs'
import { startGateway } from '../native-bench/lib/gateway.mjs'
import { startNodeUpstream } from '../native-bench/lib/upstream.mjs'
import { machineInfo } from '../native-bench/lib/machine.mjs'
import { combineRuns, measureHttp, percentiles } from './measure.mjs'
import { GRPC_PATH, HTTP_SCENARIOS, WS_PATH, gatewayConfig } from './scenarios.mjs'
import { measureWs } from './ws-echo.mjs'
import { startListeningChild } from '../native-bench/lib/listening-child.mjs'
import { reloadUnderLoad } from './reload.mjs'
import { checkBudgets } from './budgets.mjs'
import { printReport } from './report.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const ALL = [...HTTP_SCENARIOS.map((s) => s.id), 'grpc', 'ws', 'reload']

function options() {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string' },
      budgets: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean' },
    },
  })
  if (values.help) {
    console.log(`Usage: npm run load-test -- [--only ${ALL.join(',')}] [--duration S] [--connections N] [--budgets FILE] [--out FILE]`)
    process.exit(0)
  }
  const positive = (name, text, fallback) => {
    const n = Number(text ?? fallback)
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, not "${text}"`)
    return n
  }
  const only = values.only ? values.only.split(',').map((s) => s.trim()) : ALL
  for (const id of only) if (!ALL.includes(id)) throw new Error(`--only: unknown scenario "${id}" (known: ${ALL.join(', ')})`)
  return {
    only,
    durationS: positive('--duration / LOAD_DURATION', values.duration ?? process.env.LOAD_DURATION, 5),
    connections: positive('--connections / LOAD_CONNECTIONS', values.connections ?? process.env.LOAD_CONNECTIONS, 32),
    workers: positive('LOAD_WORKERS', process.env.LOAD_WORKERS, 2),
    budgetsPath: path.resolve(values.budgets ?? path.join(ROOT, 'load-tests', 'budgets.json')),
    outPath: path.resolve(values.out ?? path.join(ROOT, 'load-tests', 'results', 'latest.json')),
  }
}

/** The upstreams every run starts: HTTP (node:http), a lean unary gRPC server, a `ws` echo server. */
async function startUpstreams(httpPort) {
  const http = await startNodeUpstream(httpPort)
  const grpc = await startListeningChild(['--import', 'tsx', path.join(ROOT, 'native-bench/lib/grpc-bench-server.ts'), 'lean', '0'], { cwd: ROOT, name: 'grpc upstream' })
  const ws = await startListeningChild([path.join(ROOT, 'native-bench/lib/ws-echo-server.mjs')], { cwd: ROOT, name: 'ws echo' })
  return { http, grpc, ws, stop: () => Promise.all([http.stop(), grpc.stop(), ws.stop()]) }
}

async function main() {
  installCleanup()
  const opts = options()
  const [upstreamPort, port, adminPort] = await freePorts(3)
  const upstreams = await startUpstreams(upstreamPort)
  const configFor = (generation) => gatewayConfig(upstreamPort, generation, { grpcPort: upstreams.grpc.port, wsPort: upstreams.ws.port })
  const { config, headers } = configFor(0)
  const gateway = await startGateway(ROOT, { workers: opts.workers, port, adminPort, config })
  const load = { connections: opts.connections, durationS: opts.durationS }
  let results = {}
  // Every HTTP scenario is paired with a direct run just before it and judged against that run: on a
  // shared machine the direct figure drifts by a third within a minute, which a single baseline turns into
  // false verdicts. The table's `direct` row is all of those runs together.
  const directRuns = []
  const paired = async (url, headers) => {
    const baseline = await measureHttp(`http://127.0.0.1:${upstreamPort}/`, load)
    directRuns.push(baseline)
    return { ...(await measureHttp(url, { ...load, headers })), baseline, baselineId: 'direct' }
  }
  try {
    for (const s of HTTP_SCENARIOS) {
      if (opts.only.includes(s.id)) results[s.id] = await paired(`http://127.0.0.1:${port}/${s.id}`, headers[s.id])
    }
    if (opts.only.includes('grpc')) results.grpc = await paired(`http://127.0.0.1:${port}${GRPC_PATH}`)
    if (opts.only.includes('ws')) {
      const baseline = await measureWs(`ws://127.0.0.1:${upstreams.ws.port}/`, load)
      results['ws-direct'] = baseline
      results.ws = { ...(await measureWs(`ws://127.0.0.1:${port}${WS_PATH}`, load)), baseline, baselineId: 'ws-direct' }
    }
    if (opts.only.includes('reload')) results.reload = await reloadUnderLoad(gateway, (n) => configFor(n).config, `http://127.0.0.1:${port}/plain`, load)
    if (directRuns.length > 0) results = { direct: combineRuns(directRuns), ...results }
  } finally {
    await gateway.stop()
    await upstreams.stop()
  }
  const budgets = JSON.parse(readFileSync(opts.budgetsPath, 'utf8'))
  const verdicts = checkBudgets(results, budgets)
  printReport(results, verdicts, opts)
  const summary = Object.fromEntries(Object.entries(results).map(([id, r]) => [id, { rps: r.rps, baselineRps: r.baseline?.rps, requests: r.requests, errors: r.errors, reloads: r.reloads, latencyMs: percentiles(r.hist) }]))
  mkdirSync(path.dirname(opts.outPath), { recursive: true })
  writeFileSync(opts.outPath, `${JSON.stringify({ machine: machineInfo({ workers: opts.workers, connections: opts.connections, durationS: opts.durationS }), results: summary, verdicts }, null, 2)}\n`)
  console.log(`results written to ${path.relative(process.cwd(), opts.outPath)}`)
  process.exit(verdicts.every((v) => v.pass) ? 0 : 1)
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err)
  process.exit(2)
})
