// Micro-benchmark: Router.match over ~200 routes (exact and wildcard hosts, prefixes, regexes,
// methods, headers), in matches/s and bytes allocated per match; run with `node --import tsx native-bench/router-bench.ts`.
import { compileSnapshot } from '../src/config/compile.js'
import { validateConfig } from '../src/config/validate.js'
import { Router } from '../src/worker/router.js'

interface Req {
  method: string
  host: string
  path: string
  headers: Map<string, string>
  query: string
}

/** 200 routes over 10 services: a realistic mix, so most requests need the host table, trie and regex lists. */
function config(): Record<string, unknown> {
  const services = []
  for (let s = 0; s < 10; s++) {
    const routes = []
    for (let r = 0; r < 20; r++) {
      const n = s * 20 + r
      switch (r % 5) {
        case 0: routes.push({ name: `prefix-${n}`, paths: [`/svc${s}/res${r}`, `/svc${s}/alias${r}`] }); break
        case 1: routes.push({ name: `host-${n}`, hosts: [`api${s}.example.com`], paths: [`/v${r}`], methods: ['GET', 'POST'] }); break
        case 2: routes.push({ name: `wild-${n}`, hosts: [`*.tenant${s}.example.net`], paths: [`/t${r}`] }); break
        case 3: routes.push({ name: `regex-${n}`, paths: [`~/svc${s}/items/\\d+/r${r}$`], regex_priority: r }); break
        default: routes.push({ name: `header-${n}`, paths: [`/svc${s}/h${r}`], headers: { 'x-version': [`v${r}`, '~*^beta-\\d+$'] } })
      }
    }
    services.push({ name: `service-${s}`, host: `backend-${s}`, path: `/base${s}`, routes })
  }
  return { _format_version: '3.0', services }
}

function requests(): Req[] {
  const h = (entries: [string, string][] = []) => new Map([['user-agent', 'bench'], ...entries])
  const out: Req[] = []
  for (let s = 0; s < 10; s++) {
    out.push({ method: 'GET', host: 'gw.local', path: `/svc${s}/res10/items`, headers: h(), query: '' })
    out.push({ method: 'POST', host: `api${s}.example.com`, path: '/v6/orders', headers: h(), query: 'a=1' })
    out.push({ method: 'GET', host: `eu.tenant${s}.example.net:8443`, path: '/t7/x', headers: h(), query: '' })
    out.push({ method: 'GET', host: 'gw.local', path: `/svc${s}/items/12345/r13`, headers: h(), query: '' })
    out.push({ method: 'GET', host: 'GW.Local', path: `/svc${s}/h14/x`, headers: h([['x-version', 'beta-7']]), query: '' })
    out.push({ method: 'GET', host: 'gw.local', path: `/nothing/here/${s}`, headers: h(), query: '' }) // miss
  }
  return out
}

function measure(router: Router, reqs: Req[], budgetMs: number): { perSecond: number; bytesPerMatch: number; matched: number } {
  let ops = 0
  let matched = 0
  const start = process.hrtime.bigint()
  const heapBefore = process.memoryUsage().heapUsed
  const budget = BigInt(budgetMs) * 1_000_000n
  let elapsed = 0n
  while (elapsed < budget) {
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i]
      if (router.match(r.method, r.host, r.path, r.headers, r.query) !== null) matched++
    }
    ops += reqs.length
    elapsed = process.hrtime.bigint() - start
  }
  const heapAfter = process.memoryUsage().heapUsed
  return { perSecond: (ops * 1e9) / Number(elapsed), bytesPerMatch: Math.max(0, heapAfter - heapBefore) / ops, matched }
}

const valid = validateConfig(config())
if (!valid.ok) throw new Error(valid.errors.map((e) => `${e.path}: ${e.message}`).join('\n'))
const snapshot = compileSnapshot(valid.config, 'bench', 0)
const router = new Router(snapshot)
const reqs = requests()

measure(router, reqs, 300) // warm up (JIT)
const runs = [measure(router, reqs, 500), measure(router, reqs, 500), measure(router, reqs, 500)]
  .sort((a, b) => a.perSecond - b.perSecond)
const median = runs[1]
const hits = reqs.filter((r) => router.match(r.method, r.host, r.path, r.headers, r.query) !== null).length

console.log(`node ${process.version}; ${snapshot.routes.length} routes; ${reqs.length} requests (${hits} match, ${reqs.length - hits} miss);`
  + ' median of 3 x 500 ms after 300 ms warm-up\n')
console.log('| case | matches/s | ns/match | heap growth per match (B, GC-dependent) |')
console.log('|---|---:|---:|---:|')
console.log(`| mixed hosts/prefix/regex/header | ${Math.round(median.perSecond).toLocaleString('en-US')} | ${(1e9 / median.perSecond).toFixed(0)} | ${median.bytesPerMatch.toFixed(1)} |`)
