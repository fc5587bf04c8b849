// vitest globalSetup: make a real Kafka broker and schema registry available to the tests.
//
// - KAFKA_BROKERS and SCHEMA_REGISTRY_URL both set: use them as they are (CI with its own services,
//   docker compose, a remote cluster).
// - Otherwise: run scripts/kafka/up.sh, which starts the local stack (or reuses one that is already
//   up) and waits until both answer, then export its addresses. Workers inherit process.env, and
//   tests read it through tests/kafka/env.ts.
// - Never skips: if the stack cannot be started, setup throws and the whole run fails.
// - A stack this run started is stopped at teardown (scripts/kafka/down.sh) unless another test run
//   on the machine is still using it, or FLUXION_KAFKA_KEEP=1. A stack that was already up (e.g. from
//   `npm run kafka:up`) is left running. Runs announce themselves with a lease file named after their
//   pid in $FLUXION_KAFKA_HOME/leases, written before up.sh runs.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const SCRIPTS = fileURLToPath(new URL('../scripts/kafka/', import.meta.url))
// Same default as scripts/kafka/common.sh.
const HOME = process.env.FLUXION_KAFKA_HOME || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'fluxion', 'kafka')
const LEASES = join(HOME, 'leases')

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Pids of other live test runs holding a lease on the local stack. */
function otherLeases(): number[] {
  let names: string[] = []
  try {
    names = readdirSync(LEASES)
  } catch {
    return []
  }
  return names
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid !== process.pid)
    .filter((pid) => {
      if (alive(pid)) return true
      rmSync(join(LEASES, String(pid)), { force: true })
      return false
    })
}

function runScript(name: 'up.sh' | 'down.sh'): string {
  const res = spawnSync('bash', [SCRIPTS + name], {
    encoding: 'utf8',
    // stderr carries the script's progress and, on failure, the log tails: show it as it comes.
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 15 * 60_000, // a first run downloads ~160 MB from Maven Central
  })
  if (res.error) throw new Error(`scripts/kafka/${name} could not run: ${res.error.message}`)
  if (res.status !== 0) {
    throw new Error(
      `scripts/kafka/${name} failed (exit ${res.status ?? res.signal}); its output is above. ` +
        `The Kafka tests need a real broker and schema registry: fix the local stack, or set ` +
        `KAFKA_BROKERS and SCHEMA_REGISTRY_URL.`,
    )
  }
  return res.stdout
}

export default function setup(): (() => void) | undefined {
  const brokers = process.env.KAFKA_BROKERS?.trim()
  const registry = process.env.SCHEMA_REGISTRY_URL?.trim()
  if (brokers && registry) {
    console.log(`[kafka-setup] using KAFKA_BROKERS=${brokers} SCHEMA_REGISTRY_URL=${registry}`)
    return undefined
  }
  if (brokers || registry) {
    throw new Error('[kafka-setup] set both KAFKA_BROKERS and SCHEMA_REGISTRY_URL, or neither (to use the local stack)')
  }

  const lease = join(LEASES, String(process.pid))
  mkdirSync(LEASES, { recursive: true })
  writeFileSync(lease, `${new Date().toISOString()} ${process.cwd()}\n`)
  let out: string
  try {
    out = runScript('up.sh')
  } catch (err) {
    rmSync(lease, { force: true })
    throw err
  }
  const vars = new Map<string, string>()
  for (const line of out.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim())
    if (m) vars.set(m[1], m[2])
  }
  const gotBrokers = vars.get('KAFKA_BROKERS')
  const gotRegistry = vars.get('SCHEMA_REGISTRY_URL')
  if (!gotBrokers || !gotRegistry) {
    throw new Error(`[kafka-setup] scripts/kafka/up.sh did not print the addresses; its stdout was:\n${out}`)
  }
  process.env.KAFKA_BROKERS = gotBrokers
  process.env.SCHEMA_REGISTRY_URL = gotRegistry
  process.env.FLUXION_KAFKA_LOCAL = '1' // tests/kafka/env.ts: restartBroker() may act on this stack
  console.log(`[kafka-setup] local stack ${vars.get('FLUXION_KAFKA_STACK') ?? 'up'}: KAFKA_BROKERS=${gotBrokers} SCHEMA_REGISTRY_URL=${gotRegistry}`)

  const started = vars.get('FLUXION_KAFKA_STACK') === 'started'
  return () => {
    rmSync(lease, { force: true })
    if (!started || process.env.FLUXION_KAFKA_KEEP === '1') return
    const others = otherLeases()
    if (others.length > 0) {
      console.log(`[kafka-setup] leaving the local stack up: other test runs use it (pids ${others.join(', ')})`)
      return
    }
    console.log('[kafka-setup] stopping the local stack this run started (FLUXION_KAFKA_KEEP=1 keeps it)')
    runScript('down.sh')
  }
}
