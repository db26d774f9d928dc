#!/usr/bin/env node
// The `gateway` command: start | validate, --help, --version (SPEC §1).
// Settings come from GATEWAY_* variables; -c and --workers override GATEWAY_CONFIG and GATEWAY_WORKERS.
import { parseArgs } from 'node:util'
import type { Server } from 'node:http'
import { createLogger } from './logger.js'
import { readSettings, SettingsError, type Settings } from './settings.js'
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

function settingsFrom(values: { config?: string; workers?: string }): Settings {
  const env = { ...process.env }
  if (values.config !== undefined) env.GATEWAY_CONFIG = values.config
  if (values.workers !== undefined) env.GATEWAY_WORKERS = values.workers
  return readSettings(env)
}

async function validate(settings: Settings): Promise<number> {
  const { loadConfigFile, summarize } = await import('./primary/config-source.js')
  const result = loadConfigFile(settings.configPath)
  for (const w of result.warnings) console.log(`warning: ${w}`)
  if (!result.ok) {
    for (const e of result.errors) console.log(e)
    console.log(`${settings.configPath}: ${result.errors.length} problem(s)`)
    return 1
  }
  console.log(`${settings.configPath}: OK (${summarize(result.snapshot)})`)
  return 0
}

async function start(config: Settings, demo: boolean): Promise<void> {
  // First, before anything opens files or starts threads: stdout becomes the access log's alone.
  const settings = claimStdout(config)
  const log = createLogger(settings.logLevel, { component: 'primary' })
  const { loadConfigFile } = await import('./primary/config-source.js')
  const { Gateway } = await import('./primary/gateway.js')
  const result = loadConfigFile(settings.configPath)
  if (!result.ok) {
    for (const e of result.errors) console.error(e)
    console.error(`${settings.configPath}: ${result.errors.length} problem(s); not starting`)
    process.exit(1)
  }
  for (const warning of result.warnings) log.warn({ warning }, 'config warning')
  let demoServer: Server | null = null
  if (demo) {
    const { startDemoUpstream } = await import('./primary/demo-upstream.js')
    demoServer = await startDemoUpstream(DEMO_UPSTREAM_PORT)
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
    log.fatal({ err }, 'gateway failed to start')
    process.exit(1)
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
  const settings = settingsFrom(values)
  if (command === 'validate') process.exit(await validate(settings))
  if (command === 'start') return start(settings, values['demo-upstream'] === true)
  console.error(`unknown command "${command}"\n\n${HELP}`)
  process.exit(2)
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof SettingsError || (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
    console.error(`gateway: ${err.message}`)
    process.exit(2)
  }
  console.error(err)
  process.exit(1)
})
