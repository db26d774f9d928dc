#!/usr/bin/env node
// native-bench: one run on loopback that starts one upstream and measures, with the same load
// generator, the upstream directly, NGINX (proxy_pass + upstream keepalive, 1 worker) and this
// gateway (GATEWAY_WORKERS=1, then 2); then runs the router and parser micro-benchmarks.
// It never installs anything: what is missing is reported and its row is skipped.
//
//   npm run bench                      # everything
//   npm run bench -- --only proxy      # only the proxy table
//   npm run bench -- --only micro      # only the micro-benchmarks
//   npm run bench -- --targets direct,nginx --check
//
// Settings (environment): BENCH_DURATION (10s), BENCH_WARMUP (2s), BENCH_CONNECTIONS (64),
// BENCH_THREADS (2, wrk only), BENCH_ROUNDS (1), BENCH_GATEWAY_WORKERS (1,2), BENCH_UPSTREAM (nginx|node),
// BENCH_LOADER (wrk|autocannon), BENCH_NGINX, BENCH_WRK, BENCH_GATEWAY_CLI (dist/cli.js);
// GATEWAY_* are passed to the gateway.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { installCleanup, start } from './lib/procs.mjs'
import { freePorts, get } from './lib/net.mjs'
import { BODY, INSTALL_HINT, findNginx, nginxVersion, proxyConf, startNginx, upstreamConf } from './lib/nginx.mjs'
import { chooseLoader } from './lib/load.mjs'
import { SCENARIOS, startGateway } from './lib/gateway.mjs'
import { machineInfo } from './lib/machine.mjs'
import { startNodeUpstream, startStackFloor } from './lib/upstream.mjs'
import { median } from './lib/stats.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const HERE = path.join(ROOT, 'native-bench')

const HELP = `native-bench — gateway vs NGINX vs direct on loopback, plus micro-benchmarks

Usage: node native-bench/run.mjs [--only proxy|micro|protocols] [--targets LIST] [--check]

  --only proxy      only the proxy comparison (direct, nginx, gateway)
  --only micro      only the micro-benchmarks (router, parser, hot-path, rate-table, jwt)
  --only protocols  only grpc-bench.ts (transcoded unary call vs plain proxy) and ws-bench.ts
                    (WebSocket echo through the gateway vs direct)
  --targets LIST    comma list of rows: direct,nginx,gateway,rate-limit,rate-limit-quiet,cache,
                    key-auth-rl,jwt-hs256,jwt-rs256 (default: all of these). The plugin rows run 1 worker:
                    rate-limiting (local; -quiet with hide_client_headers), every request a proxy-cache
                    hit, key-auth + rate-limiting, jwt HS256/RS256. Also floor (only when named): the
                    least a proxy on this stack does (lib/stack-floor.mjs: uWS, net sockets, the parser)
  --check           exit 1 unless the gateway with 1 worker reaches >= 0.8x NGINX req/s
                    with p99 <= 2x NGINX's (the acceptance bar)

Environment: BENCH_DURATION=10s BENCH_WARMUP=2s BENCH_CONNECTIONS=64 BENCH_THREADS=2 BENCH_ROUNDS=1
  BENCH_GATEWAY_WORKERS=1,2 BENCH_UPSTREAM=nginx|node BENCH_LOADER=wrk|autocannon
  BENCH_NGINX=/path/to/nginx BENCH_WRK=/path/to/wrk BENCH_GATEWAY_CLI=dist/cli.js
  GATEWAY_* variables reach the gateway
  (the bench sets GATEWAY_ACCESS_LOG=off and GATEWAY_LOG_LEVEL=warn unless you set them).
`

/** Scenario rows: one worker, the plain proxy's config plus plugins (lib/gateway.mjs SCENARIOS), and their bars. */
const SCENARIO_ROWS = [
  { id: 'rate-limit', label: 'gateway + rate-limiting (1 worker)', bar: 'cost ≤ 5 %', maxCost: 0.05 },
  { id: 'rate-limit-quiet', label: 'gateway + rate-limiting, headers hidden (1 worker)', bar: 'reference: the limiter without its response headers', maxCost: 0.05 },
  { id: 'cache', label: 'gateway cache hit (1 worker)', bar: '≥ 1.5× the plain proxy', minRatio: 1.5 },
  { id: 'key-auth-rl', label: 'gateway + key-auth + rate-limiting (1 worker)', bar: 'cost ≤ 15 %', maxCost: 0.15 },
  { id: 'jwt-hs256', label: 'gateway + jwt HS256 (1 worker)', bar: 'cost ≤ 20 %', maxCost: 0.2 },
  { id: 'jwt-rs256', label: 'gateway + jwt RS256 (1 worker)', bar: 'cost ≤ 35 %', maxCost: 0.35 },
]
const TARGETS = ['direct', 'nginx', 'gateway', ...SCENARIO_ROWS.map((r) => r.id)]
/** Rows run only when --targets names them. */
const OPT_IN_TARGETS = ['floor']

// Acceptance bar from the issue: single worker, small body, 64 connections.
const BAR_RPS = 0.8
const BAR_P99 = 2

function fail(message) {
  console.error(`native-bench: ${message}`)
  process.exit(2)
}

function seconds(name, fallback) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const m = /^(\d+(?:\.\d+)?)(s|m)?$/.exec(raw.trim())
  if (!m || Number(m[1]) <= 0) fail(`${name} must be a duration like 10 or 10s or 1m, not "${raw}"`)
  return Math.round(Number(m[1]) * (m[2] === 'm' ? 60 : 1))
}

function positiveInt(name, fallback) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n <= 0) fail(`${name} must be a positive integer, not "${raw}"`)
  return n
}

function readOptions() {
  let parsed
  try {
    parsed = parseArgs({
      options: {
        only: { type: 'string' },
        targets: { type: 'string' },
        check: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    fail(`${err.message}\n\n${HELP}`)
  }
  const { values } = parsed
  if (values.help) {
    console.log(HELP)
    process.exit(0)
  }
  if (values.only !== undefined && !['proxy', 'micro', 'protocols'].includes(values.only)) fail(`--only must be proxy, micro or protocols, not "${values.only}"`)
  const targets = new Set((values.targets ?? TARGETS.join(',')).split(',').map((s) => s.trim()).filter(Boolean))
  const known = [...TARGETS, ...OPT_IN_TARGETS]
  for (const t of targets) if (!known.includes(t)) fail(`unknown target "${t}" in --targets (${known.join(', ')})`)
  const gatewayWorkers = (process.env.BENCH_GATEWAY_WORKERS ?? '1,2').split(',').map((s) => Number(s.trim()))
  for (const w of gatewayWorkers) if (!Number.isInteger(w) || w <= 0) fail(`BENCH_GATEWAY_WORKERS must be a comma list of positive integers`)
  const upstream = process.env.BENCH_UPSTREAM ?? ''
  if (upstream && upstream !== 'nginx' && upstream !== 'node') fail(`BENCH_UPSTREAM must be nginx or node, not "${upstream}"`)
  return {
    proxy: values.only === undefined || values.only === 'proxy',
    micro: values.only === undefined || values.only === 'micro',
    protocols: values.only === undefined || values.only === 'protocols',
    check: values.check === true,
    targets,
    gatewayWorkers,
    upstream,
    durationS: seconds('BENCH_DURATION', 10),
    warmupS: seconds('BENCH_WARMUP', 2),
    connections: positiveInt('BENCH_CONNECTIONS', 64),
    threads: positiveInt('BENCH_THREADS', 2),
    rounds: positiveInt('BENCH_ROUNDS', 1),
  }
}

// ---------------------------------------------------------------------------- formatting

function fmtRps(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—'
}

function fmtMs(ms) {
  if (!Number.isFinite(ms)) return '—'
  if (ms < 1) return `${Math.round(ms * 1000)} µs`
  if (ms < 100) return `${ms.toFixed(2)} ms`
  return `${Math.round(ms)} ms`
}

function fmtRatio(r) {
  return Number.isFinite(r) ? `${r.toFixed(2)}×` : '—'
}

function table(rows) {
  const head = ['target', 'req/s', 'p50', 'p99', 'errors', '× NGINX', 'p99 × NGINX']
  const body = rows.map((r) =>
    r.ok
      ? [r.label, fmtRps(r.rps), fmtMs(r.p50Ms), fmtMs(r.p99Ms), String(r.errors), fmtRatio(r.rpsRatio), fmtRatio(r.p99Ratio)]
      : [r.label, 'skipped', '', '', '', '', ''],
  )
  const lines = [head, ...body]
  const width = head.map((_, i) => Math.max(...lines.map((l) => l[i].length)))
  const right = [false, true, true, true, true, true, true]
  const cell = (l) => `| ${l.map((c, i) => (right[i] && l !== head ? c.padStart(width[i]) : c.padEnd(width[i]))).join(' | ')} |`
  const sep = `|${width.map((w, i) => (right[i] ? `${'-'.repeat(w + 1)}:` : `-${'-'.repeat(w + 1)}`)).join('|')}|`
  return [cell(head), sep, ...body.map(cell)].join('\n')
}

// ---------------------------------------------------------------------------- proxy rows

/** GET / once and check the small body comes back: catches a mis-wired target before loading it. */
async function sanity(url, headers = {}) {
  const res = await get(url, 3000, headers)
  if (res.status !== 200) {
    throw new Error(`GET ${url} answered ${res.status} instead of 200: ${res.body.slice(0, 200).replace(/\s+/g, ' ')}`)
  }
  if (res.body !== BODY) throw new Error(`GET ${url} answered 200 with an unexpected body: ${JSON.stringify(res.body.slice(0, 80))}`)
  return res
}

/** Warm-up then one measured run against `url`. */
async function measureOnce(loader, label, url, opts) {
  process.stdout.write(`  ${label}: warm-up ${opts.warmupS}s … `)
  await loader.run(url, { connections: opts.connections, durationS: opts.warmupS, threads: opts.threads, headers: opts.headers })
  process.stdout.write(`measuring ${opts.durationS}s … `)
  const r = await loader.run(url, { connections: opts.connections, durationS: opts.durationS, threads: opts.threads, headers: opts.headers })
  console.log(`${fmtRps(r.rps)} req/s, p50 ${fmtMs(r.p50Ms)}, p99 ${fmtMs(r.p99Ms)}, errors ${r.errors}`)
  delete r.raw
  return r
}

/** The run with the median req/s (the lower middle one for an even count). */
function medianRun(runs) {
  const sorted = [...runs].sort((x, y) => x.rps - y.rps)
  return sorted[Math.floor((sorted.length - 1) / 2)]
}

async function startUpstream(nginxBin, opts, port) {
  const useNginx = opts.upstream === 'nginx' || (opts.upstream === '' && nginxBin)
  if (useNginx) {
    if (!nginxBin) throw new Error(`BENCH_UPSTREAM=nginx but nginx is not installed: ${INSTALL_HINT}`)
    const n = await startNginx(nginxBin, { role: 'upstream', port, conf: (prefix) => upstreamConf(prefix, port) })
    return { kind: 'nginx (1 worker, return 200)', port, stop: () => n.stop() }
  }
  return startNodeUpstream(port)
}

async function runProxy(opts, results) {
  const nginxBin = findNginx()
  const loader = chooseLoader(ROOT)
  results.machine.nginx = nginxBin ? nginxVersion(nginxBin) : 'not installed'
  results.machine.loader = loader ? loader.version : 'none'
  console.log(`nginx:       ${results.machine.nginx}${nginxBin ? ` (${nginxBin})` : ''}`)
  console.log(`loader:      ${results.machine.loader}`)
  if (!loader) {
    console.log(`\nNo load generator: neither wrk nor autocannon is available.`)
    console.log(`  install wrk:        ${INSTALL_HINT}`)
    console.log(`  or autocannon:      npm install (it is a devDependency)`)
    results.proxy = { skipped: 'no load generator' }
    return
  }
  if (!nginxBin) {
    console.log(`\nnginx is not installed: the NGINX row is skipped and the upstream is a node:http server`)
    console.log(`(which may limit every row). To install it: ${INSTALL_HINT}`)
  }
  if (loader.name === 'autocannon') {
    console.log(`\nwrk is not installed, using autocannon (single-threaded JavaScript: on a small machine it`)
    console.log(`may be the bottleneck and compress the differences). To install wrk: ${INSTALL_HINT}`)
  }

  const [upstreamPort, nginxPort, floorPort, ...gwPorts] = await freePorts(3 + 2 * (opts.gatewayWorkers.length + SCENARIO_ROWS.length))
  let upstream
  try {
    upstream = await startUpstream(nginxBin, opts, upstreamPort)
  } catch (err) {
    console.log(`\nThe upstream did not start, so no proxy row can run:\n${err.message}`)
    results.proxy = { skipped: `upstream did not start: ${err.message}` }
    process.exitCode = 1
    return
  }
  results.proxy = {
    upstream: upstream.kind,
    connections: opts.connections,
    durationS: opts.durationS,
    warmupS: opts.warmupS,
    threads: loader.name === 'wrk' ? Math.min(opts.threads, opts.connections) : 1,
    loader: loader.name,
    gatewayEnv: {},
    rows: [],
  }
  console.log(`upstream:    ${upstream.kind} on 127.0.0.1:${upstreamPort}, body ${JSON.stringify(BODY)}`)
  console.log(`run:         ${opts.connections} connections, ${opts.durationS}s (after ${opts.warmupS}s warm-up)` +
    `${loader.name === 'wrk' ? `, wrk -t${results.proxy.threads}` : ', autocannon pipelining 1'}\n`)

  // Every target is started first (an idle one costs nothing), then measured round by round in
  // turn, so slow drifts of a shared machine hit every row alike; the row shows the median run.
  const targets = []
  if (opts.targets.has('direct')) {
    targets.push({ id: 'direct', label: 'direct (upstream)', short: 'direct', start: async () => ({ port: upstreamPort, stop: async () => {} }) })
  }
  if (opts.targets.has('nginx')) {
    targets.push({
      id: 'nginx',
      label: 'nginx (1 worker)',
      short: 'nginx',
      start: async () => {
        if (!nginxBin) throw new Error(`nginx is not installed (${INSTALL_HINT})`)
        return startNginx(nginxBin, { role: 'proxy', port: nginxPort, conf: (prefix) => proxyConf(prefix, nginxPort, upstreamPort) })
      },
    })
  }
  if (opts.targets.has('floor')) {
    targets.push({ id: 'floor', label: 'stack floor (uWS + net + parser)', short: 'stack floor', start: () => startStackFloor(floorPort, upstreamPort) })
  }
  if (opts.targets.has('gateway')) {
    for (const [i, workers] of opts.gatewayWorkers.entries()) {
      const label = `gateway (${workers} worker${workers === 1 ? '' : 's'})`
      targets.push({
        id: `gateway-${workers}`,
        label,
        short: label,
        start: async () => {
          const gw = await startGateway(ROOT, { workers, port: gwPorts[2 * i], adminPort: gwPorts[2 * i + 1], upstreamPort })
          results.proxy.gatewayEnv = pickGatewayEnv(gw.env)
          return gw
        },
      })
    }
  }

  for (const [i, row] of SCENARIO_ROWS.entries()) {
    if (!opts.targets.has(row.id)) continue
    const at = 2 * (opts.gatewayWorkers.length + i)
    const scenario = SCENARIOS[row.id]()
    targets.push({
      id: row.id,
      label: row.label,
      short: row.label,
      headers: scenario.headers,
      start: () => startGateway(ROOT, { workers: 1, port: gwPorts[at], adminPort: gwPorts[at + 1], upstreamPort, scenario }),
    })
  }

  const rows = results.proxy.rows
  try {
    for (const t of targets) {
      try {
        t.running = await t.start()
        t.url = `http://127.0.0.1:${t.running.port}/`
        await sanity(t.url, t.headers)
        t.runs = []
      } catch (err) {
        t.error = err.message
        console.log(`  ${t.label}: SKIPPED — ${err.message.split('\n')[0]}`)
      }
    }
    for (let round = 1; round <= opts.rounds; round++) {
      if (opts.rounds > 1) console.log(`round ${round}/${opts.rounds}`)
      // Each round starts one target later, so no row always runs first or last (measured: a row's place
      // in the order shifts it by several per cent on a shared 2-core machine).
      const shift = (round - 1) % targets.length
      for (const t of [...targets.slice(shift), ...targets.slice(0, shift)]) {
        if (t.error) continue
        try {
          t.runs.push(await measureOnce(loader, t.short, t.url, { ...opts, headers: t.headers ?? {} }))
        } catch (err) {
          t.error = err.message
          console.log(`FAILED — ${err.message.split('\n')[0]}`)
        }
      }
    }
  } finally {
    for (const t of targets) if (t.running) await t.running.stop().catch(() => {})
    await upstream.stop()
  }
  for (const t of targets) {
    if (t.error) rows.push({ id: t.id, label: t.label, ok: false, error: t.error })
    else rows.push({ id: t.id, label: t.label, ok: true, ...medianRun(t.runs), runs: t.runs })
  }

  const nginx = rows.find((r) => r.id === 'nginx' && r.ok)
  for (const r of rows) {
    if (!r.ok) continue
    r.rpsRatio = nginx ? r.rps / nginx.rps : null
    r.p99Ratio = nginx ? r.p99Ms / nginx.p99Ms : null
  }

  console.log(`\n${table(rows)}\n`)
  for (const r of rows) if (!r.ok) console.log(`${r.label} skipped: ${r.error}\n`)
  if (opts.rounds > 1) {
    console.log(`Each row is the median of ${opts.rounds} rounds by req/s; spread (min – max req/s):`)
    for (const r of rows) if (r.ok) console.log(`  ${r.label}: ${fmtRps(Math.min(...r.runs.map((x) => x.rps)))} – ${fmtRps(Math.max(...r.runs.map((x) => x.rps)))}`)
    console.log('')
  }
  console.log('× NGINX = req/s ÷ NGINX req/s (higher is better); p99 × NGINX = p99 ÷ NGINX p99 (lower is better).')
  const plain = rows.find((r) => r.id === 'gateway-1' && r.ok)
  if (plain) {
    for (const row of SCENARIO_ROWS) {
      const r = rows.find((x) => x.id === row.id && x.ok)
      if (!r) continue
      // Paired by round (both rows ran seconds apart), so a drift of the shared machine between rounds
      // cancels out; the median of the per-round ratios, next to the ratio of the two medians.
      r.vsPlainRounds = r.runs.map((run, i) => run.rps / plain.runs[i].rps)
      r.vsPlain = median(r.vsPlainRounds)
      const ofMedians = r.rps / plain.rps
      const show = (x) => (row.maxCost !== undefined ? `${((1 - x) * 100).toFixed(1)} %` : fmtRatio(x))
      const figure = row.maxCost !== undefined ? 'costs' : 'runs at'
      console.log(`${row.label}: ${figure} ${show(r.vsPlain)} (per-round pairs; ratio of medians ${show(ofMedians)}) of the plain proxy's req/s (bar: ${row.bar})`)
    }
  }
  results.proxy.verdict = verdict(rows, opts)
  console.log(results.proxy.verdict.text)
}

function pickGatewayEnv(env) {
  const out = {}
  for (const [k, v] of Object.entries(env)) if (k.startsWith('GATEWAY_') && k !== 'GATEWAY_CONFIG') out[k] = v
  return out
}

function verdict(rows, opts) {
  const gw = rows.find((r) => r.id === 'gateway-1')
  const nginx = rows.find((r) => r.id === 'nginx')
  const bar = `bar: gateway (1 worker) ≥ ${BAR_RPS}× NGINX req/s and p99 ≤ ${BAR_P99}× NGINX p99 at ${opts.connections} connections`
  if (!gw || !nginx) return { pass: null, text: `Acceptance: not evaluated (needs the nginx and gateway (1 worker) rows). ${bar}` }
  if (!gw.ok || !nginx.ok) return { pass: null, text: `Acceptance: NOT EVALUATED — ${!gw.ok ? gw.label : nginx.label} did not run. ${bar}` }
  const pass = gw.rpsRatio >= BAR_RPS && gw.p99Ratio <= BAR_P99
  const note = opts.connections !== 64 ? ' (note: the bar is defined at 64 connections)' : ''
  return {
    pass,
    rpsRatio: gw.rpsRatio,
    p99Ratio: gw.p99Ratio,
    text: `Acceptance: ${pass ? 'PASS' : 'FAIL'} — gateway (1 worker) ${fmtRatio(gw.rpsRatio)} NGINX req/s, p99 ${fmtRatio(gw.p99Ratio)} NGINX. ${bar}${note}`,
  }
}

// ---------------------------------------------------------------------------- micro-benchmarks

/** Runs each script of native-bench/ with tsx, its output passed through, into results[key]. */
async function runScripts(results, key, files) {
  results[key] = []
  for (const file of files) {
    const full = path.join(HERE, file)
    const rel = path.relative(ROOT, full)
    console.log(`\n## ${rel}\n`)
    if (!existsSync(full)) {
      console.log(`(${rel} does not exist yet: skipped)`)
      results[key].push({ name: file, skipped: 'file missing' })
      continue
    }
    const proc = start(process.execPath, ['--import', 'tsx', full], { cwd: ROOT, passThrough: true, name: file })
    await proc.done
    const code = proc.spawnError ? proc.spawnError.message : proc.exitCode ?? proc.signal
    if (code !== 0) console.log(`(${rel} exited ${code})`)
    results[key].push({ name: file, exitCode: code, output: proc.stdout, stderr: proc.stderr || undefined })
  }
}

const MICRO = ['router-bench.ts', 'parser-bench.ts', 'hot-path-bench.ts', 'rate-table-bench.ts', 'jwt-bench.ts']
/** Each starts its own upstream and a 1-worker gateway and prints both sides of its bar in one run. */
const PROTOCOLS = ['grpc-bench.ts', 'ws-bench.ts']

// ---------------------------------------------------------------------------- main

async function main() {
  const opts = readOptions()
  installCleanup()
  const results = {
    timestamp: new Date().toISOString(),
    machine: machineInfo(),
    settings: { durationS: opts.durationS, warmupS: opts.warmupS, connections: opts.connections, threads: opts.threads, rounds: opts.rounds, gatewayWorkers: opts.gatewayWorkers },
  }
  const m = results.machine
  console.log('# native-bench\n')
  console.log(`machine:     ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.kernel}`)
  console.log(`node:        ${m.node}`)
  m.loadAverage1m = Math.round(os.loadavg()[0] * 100) / 100
  if (m.loadAverage1m > 0.5) {
    console.log(`load:        ${m.loadAverage1m} (1 min) before starting — something else is using the CPU; numbers will be noisy`)
  }
  if (opts.proxy) await runProxy(opts, results)
  if (opts.micro) await runScripts(results, 'micro', MICRO)
  if (opts.protocols) await runScripts(results, 'protocols', PROTOCOLS)

  const dir = path.join(HERE, 'results')
  mkdirSync(dir, { recursive: true })
  const file = path.join(dir, `${results.timestamp.replace(/[:.]/g, '-')}.json`)
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`)
  console.log(`\nresults: ${path.relative(process.cwd(), file)}`)
  if (opts.check && results.proxy?.verdict?.pass !== true) process.exitCode = 1
}

main().catch((err) => {
  console.error(err?.stack ?? err)
  process.exitCode = 1
})
