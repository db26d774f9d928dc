#!/usr/bin/env node
// The `gateway` command: start | validate, --help, --version (SPEC §1).
// Settings come from GATEWAY_* variables; -c and --workers override GATEWAY_CONFIG and GATEWAY_WORKERS.
import { parseArgs } from 'node:util'
import type { Server } from 'node:http'
import { createLogger } from './logger.js'
import { checkSettings, type Settings } from './settings.js'
import type { Snapshot } from './config/types.js'
import { claimStdout } from './observability/stdout-claim.js'
import { VERSION } from './version.js'

/** Where --demo-upstream's echo server listens; config/gateway.yaml points there. */
const DEMO_UPSTREAM_PORT = 8002

const HELP = `gateway ${VERSION} — a multi-threaded API gateway (Kong 3.x declarative config)

Usage:
  gateway start [-c FILE] [--workers N] [--demo-upstream]
  gateway validate -c FILE
  gateway --help | --version

Options:
  -c, --config FILE    declarative config, YAML or JSON (default: $GATEWAY_CONFIG or config/gateway.yaml)
  -w, --workers N      listener worker threads (default: $GATEWAY_WORKERS or available parallelism)
  --demo-upstream      also start the built-in echo upstream on 127.0.0.1:${DEMO_UPSTREAM_PORT} (used by config/gateway.yaml)

Signals: SIGHUP reloads the config file; SIGTERM/SIGINT drain and exit.
Every setting is an environment variable (GATEWAY_*); see README.md.
`

/** The GATEWAY_* variables with -c / --workers applied over GATEWAY_CONFIG / GATEWAY_WORKERS. */
function envFrom(values: { config?: string; workers?: string }): Record<string, string | undefined> {
  const env = { ...process.env }
  if (values.config !== undefined) env.GATEWAY_CONFIG = values.config
  if (values.workers !== undefined) env.GATEWAY_WORKERS = values.workers
  return env
}

/** The settings, or null after printing every invalid variable as `gateway: NAME="value": message` on stderr. */
function settingsOrReport(env: Record<string, string | undefined>): Settings | null {
  const checked = checkSettings(env)
  for (const e of checked.errors) console.error(`gateway: ${e}`)
  return checked.settings
}

/**
 * `gateway validate`: every check `gateway start` makes before it listens — the variables, the file, and
 * what the config needs of the variables (e.g. a TLS port needs a certificate). Exit 0 or 1, nothing else.
 */
async function validate(env: Record<string, string | undefined>): Promise<number> {
  const { settings, errors: settingsErrors } = checkSettings(env)
  const configPath = settings?.configPath ?? (env.GATEWAY_CONFIG || 'config/gateway.yaml')
  const { loadConfigFile, summarize } = await import('./primary/config-source.js')
  const result = loadConfigFile(configPath)
  for (const w of result.warnings) console.log(`warning: ${w}`)
  const configProblems = result.ok ? (settings === null ? [] : await startProblems(settings, result.snapshot)) : result.errors
  const problems = [...settingsErrors, ...configProblems]
  for (const e of problems) console.log(e)
  if (!result.ok || problems.length > 0) {
    console.log(`${configPath}: ${problems.length} problem(s)`)
    return 1
  }
  console.log(`${configPath}: OK (${summarize(result.snapshot)})`)
  return 0
}

/** What a valid config cannot start with under these settings (the same list start, reload and POST /config use). */
async function startProblems(settings: Settings, snapshot: Snapshot): Promise<string[]> {
  const { snapshotProblems } = await import('./primary/gateway.js')
  return snapshotProblems(settings, snapshot)
}

/** Lets a failed start end once every worker thread has: exiting while one holds uWS handles aborts the process. */
function exitWhenIdle(code: number): void {
  process.exitCode = code
  // Everything is closed, so the process ends by itself as the last thread exits; this only bounds a stuck one.
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref()
}

/** How long a failed start waits for its worker threads to end before exiting anyway. */
const EXIT_GRACE_MS = 10_000

async function start(config: Settings, demo: boolean): Promise<void> {
  // First, before anything opens files or starts threads: stdout becomes the access log's alone.
  const settings = claimStdout(config)
  const log = createLogger(settings.logLevel, { component: 'primary' })
  const { loadConfigFile } = await import('./primary/config-source.js')
  const { Gateway } = await import('./primary/gateway.js')
  const result = loadConfigFile(settings.configPath)
  const problems = result.ok ? await startProblems(settings, result.snapshot) : result.errors
  if (!result.ok || problems.length > 0) {
    for (const e of problems) console.error(e)
    console.error(`${settings.configPath}: ${problems.length} problem(s); not starting`)
    process.exit(1)
  }
  for (const warning of result.warnings) log.warn({ warning }, 'config warning')
  let demoServer: Server | null = null
  if (demo) {
    const { startDemoUpstream } = await import('./primary/demo-upstream.js')
    try {
      demoServer = await startDemoUpstream(DEMO_UPSTREAM_PORT)
    } catch (err) {
      console.error(`gateway: --demo-upstream cannot listen on 127.0.0.1:${DEMO_UPSTREAM_PORT}: ${(err as Error).message}`)
      process.exit(1)
    }
  }
  const gateway = new Gateway(settings, result.snapshot, result.document, log)
  // Handlers go in before the "gateway started" line, so a signal sent right after it is never
  // met by the default action (which for SIGHUP would end the process).
  let started = false
  let stopRequested = false
  const stop = (): void => {
    if (!started) {
      stopRequested = true
      return
    }
    void gateway.shutdown().then(() => {
      demoServer?.close()
      log.info('stopped')
      process.exit(0)
    })
  }
  process.on('SIGHUP', () => (started ? gateway.reload() : log.warn('SIGHUP before start-up finished: ignored')))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  try {
    await gateway.start()
  } catch (err) {
    const message = (err as Error).message
    log.fatal({ err }, 'gateway failed to start')
    console.error(`gateway: ${message}; not starting`)
    // The listeners that did start (workers, perhaps the admin API) are stopped before the process ends.
    await gateway.shutdown().catch((e: unknown) => log.error({ err: e }, 'stopping after the failed start'))
    demoServer?.close()
    return exitWhenIdle(1)
  }
  started = true
  if (stopRequested) stop()
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      workers: { type: 'string', short: 'w' },
      'demo-upstream': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  })
  if (values.version) return void console.log(VERSION)
  const command = positionals[0]
  if (values.help || command === undefined || command === 'help') return void console.log(HELP)
  if (command === 'validate') process.exit(await validate(envFrom(values)))
  if (command !== 'start') {
    console.error(`unknown command "${command}"\n\n${HELP}`)
    process.exit(2)
  }
  const settings = settingsOrReport(envFrom(values))
  if (settings === null) process.exit(1)
  return start(settings, values['demo-upstream'] === true)
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
    console.error(`gateway: ${err.message}`)
    process.exit(2)
  }
  console.error(err)
  process.exit(1)
})
