/**
 * The Nexmark runner: Fluxion and Apache Flink side by side, on the same generator, in one invocation.
 *
 *   npm run bench:nexmark -- --query q5 --events 10000000 --state memory --parallelism 2 --json
 *                            [--system fluxion|flink|both] [--runs 3] [--warmup 1] …   (see --help)
 *
 * Every run is a fresh child process: Fluxion `node --import tsx bench/nexmark/job.ts`, Flink
 * `java -cp … fluxion.nexmark.NexmarkJob` (a local MiniCluster with the same parallelism). Each child
 * first runs the query on --warmup-events events (JIT warm-up), then the measured run. The runner
 * discards the first --warmup runs, alternates the systems run by run, and reports medians over
 * --runs runs. Peak RSS is read by the runner from /proc/<pid>/status (VmHWM) of the child.
 * See bench/nexmark/README.md.
 */
import { spawn, spawnSync } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { readHwmMb } from '../rss.ts'
import { prepareKafkaTopics } from './kafka-topics.ts'
import { formatSelfTimes, selfTimes } from './profile.ts'
import { QUERIES, queryByName } from './queries/index.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const RESULTS = join(ROOT, 'bench', 'results')
const FLINK_DIR = join(ROOT, 'bench', 'peers', 'flink')
const FLINK_JAR = join(FLINK_DIR, 'target', 'nexmark-flink-peer-0.1.0.jar')
const RESULT_PREFIX = 'NEXMARK_RESULT '
const EXIT_UNSUPPORTED = 3
/** JVM flags Flink needs on Java 17 (Flink's own env.java.opts.all defaults). */
const JAVA_OPENS = ['java.lang', 'java.util', 'java.lang.reflect', 'java.io', 'java.nio', 'sun.nio.ch', 'java.net', 'java.text', 'java.time', 'java.util.concurrent', 'java.util.concurrent.atomic', 'java.util.concurrent.locks'].map(
  (p) => `--add-opens=java.base/${p}=ALL-UNNAMED`,
)

type System = 'fluxion' | 'flink'

interface Options {
  queries: string[]
  events: number
  state: 'memory' | 'rocksdb'
  parallelisms: number[]
  systems: System[]
  runs: number
  warmup: number
  warmupEvents: number
  batchSize: number
  json: boolean
  /** Fluxion on this many worker threads (0: the current thread). */
  workers: number
  cpuProf: boolean
  verify: boolean
  heap: string
  generator: string[]
  /** 'kafka': both systems read the events from a pre-filled Kafka topic (kafka-topics.ts; Flink: KafkaEvents.java). */
  source: 'generator' | 'kafka'
  partitions: number
  /** job.ts / NexmarkJob arguments naming the pre-filled topics (set in main). */
  kafkaArgs: string[]
}

const USAGE = `usage: npm run bench:nexmark -- [options]
  --query q0[,q5,…]|all     queries (default: all): ${QUERIES.map((q) => q.name).join(', ')}
  --events N               events per measured run (default 2000000)
  --state memory|rocksdb   state backend (default memory)
  --parallelism N[,M]      parallelism (default 1); a list runs each
  --system both|fluxion|flink   (default both)
  --runs N                 measured runs per system; medians are reported (default 3)
  --warmup N               runs per system before the measured ones, discarded (default 1)
  --warmup-events N        events of the in-process warm-up before each measured run (default min(events/5, 500000))
  --batch-size N           Fluxion batchSize, and the Flink watermark cadence (default 1024)
  --rate N                 event-time rate of the generator, events/s (default 100000)
  --ooo-group N            out-of-order group size (default 1000)
  --seed N                 generator seed (default 1)
  --heap SIZE              JVM -Xmx for Flink (default 2g)
  --workers N              Fluxion runs its subtasks on N worker threads (worker-job.ts; start-up excluded, latency reported from the workers)
  --json                   one JSON object per line on stdout (progress on stderr)
  --source generator|kafka the in-process generator (default), or Avro events pre-filled into a Kafka topic (both systems read it)
  --partitions N           --source kafka: partitions of the topic (default 4)
  --cpu-prof               Fluxion children write .cpuprofile files (bench/results/nexmark-prof/); self-time summary on stderr
  --verify                 instead of measuring: run each query once per system with result digests and compare them`

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      query: { type: 'string', default: 'all' },
      events: { type: 'string', default: '2000000' },
      state: { type: 'string', default: 'memory' },
      parallelism: { type: 'string', default: '1' },
      system: { type: 'string', default: 'both' },
      runs: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      'warmup-events': { type: 'string' },
      'batch-size': { type: 'string', default: '1024' },
      rate: { type: 'string' },
      'ooo-group': { type: 'string' },
      seed: { type: 'string' },
      heap: { type: 'string', default: '2g' },
      json: { type: 'boolean', default: false },
      workers: { type: 'string', default: '0' },
      source: { type: 'string', default: 'generator' },
      partitions: { type: 'string', default: '4' },
      'cpu-prof': { type: 'boolean', default: false },
      verify: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  })
  if (values.help) {
    console.error(USAGE)
    process.exit(0)
  }
  const int = (name: string, v: string, min: number): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got "${v}"`)
    return n
  }
  const queries = values.query === 'all' ? QUERIES.map((q) => q.name) : values.query.split(',').map((q) => q.trim())
  for (const q of queries) {
    try {
      queryByName(q)
    } catch (e) {
      fail((e as Error).message)
    }
  }
  if (values.state !== 'memory' && values.state !== 'rocksdb') fail(`--state must be memory or rocksdb, got "${values.state}"`)
  const systems: System[] = values.system === 'both' ? ['fluxion', 'flink'] : values.system === 'fluxion' || values.system === 'flink' ? [values.system] : fail(`--system must be fluxion, flink or both, got "${values.system}"`)
  const events = int('events', values.events, 1)
  const generator: string[] = []
  if (values.rate !== undefined) generator.push('--rate', String(int('rate', values.rate, 1)))
  if (values['ooo-group'] !== undefined) generator.push('--ooo-group', String(int('ooo-group', values['ooo-group'], 1)))
  if (values.seed !== undefined) generator.push('--seed', String(int('seed', values.seed, 0)))
  return {
    queries,
    events,
    state: values.state,
    parallelisms: values.parallelism.split(',').map((p) => int('parallelism', p, 1)),
    systems,
    runs: int('runs', values.runs, 1),
    warmup: int('warmup', values.warmup, 0),
    warmupEvents: values['warmup-events'] !== undefined ? int('warmup-events', values['warmup-events'], 0) : Math.min(Math.floor(events / 5), 500_000),
    batchSize: int('batch-size', values['batch-size'], 1),
    json: values.json,
    workers: int('workers', values.workers, 0),
    cpuProf: values['cpu-prof'],
    verify: values.verify,
    heap: values.heap,
    generator,
    source: values.source === 'kafka' || values.source === 'generator' ? values.source : fail(`--source must be generator or kafka, got "${values.source}"`),
    partitions: int('partitions', values.partitions, 1),
    kafkaArgs: [],
  }
}

function fail(message: string): never {
  console.error(`bench:nexmark: ${message}`)
  process.exit(2)
}

const log = (msg: string): void => void process.stderr.write(msg + '\n')

// ---- the Flink peer's build ---------------------------------------------------------------------

function newestMtime(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs)
  }
  return newest
}

/** Builds bench/peers/flink with Maven unless the jar is newer than its sources. */
function ensureFlinkJar(): void {
  for (const tool of ['java', 'mvn']) {
    if (spawnSync(tool, ['-version'], { stdio: 'ignore' }).error) fail(`--system flink needs "${tool}" on the PATH (Java 17 and Maven)`)
  }
  const sources = Math.max(newestMtime(join(FLINK_DIR, 'src')), statSync(join(FLINK_DIR, 'pom.xml')).mtimeMs)
  if (existsSync(FLINK_JAR) && existsSync(join(FLINK_DIR, 'target', 'lib')) && statSync(FLINK_JAR).mtimeMs >= sources) return
  log('building the Flink peer: mvn -q -B package (bench/peers/flink) …')
  const r = spawnSync('mvn', ['-q', '-B', 'package'], { cwd: FLINK_DIR, stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.status !== 0) fail('the Flink peer did not build (mvn -q -B package in bench/peers/flink); see the output above')
}

// ---- one child run ------------------------------------------------------------------------------

interface ChildResult {
  query: string
  system: System
  state: string
  parallelism: number
  events: number
  eventsPerSecond: number
  elapsedMs: number
  cpuMs: number
  outputs: number
  p50Ms: number | null
  p99Ms: number | null
  latencySamples: number
  latencyMode: string
  peakRssMb: number
  /** --workers N runs (job.ts runOnWorkers). */
  workers?: number
  digest?: string
  flinkVersion?: string
  /** Flink, --source kafka: records dropped because their nested field did not match event_type. */
  deadLetters?: number
}

function childCommand(system: System, o: Options, query: string, parallelism: number, events: number, extra: { profile?: string; digest?: boolean }): [string, string[]] {
  const common = ['--query', query, '--events', String(events), '--parallelism', String(parallelism), '--state', o.state, '--batch-size', String(o.batchSize), ...o.generator]
  const warm = ['--warmup-events', String(extra.digest ? 0 : o.warmupEvents)]
  if (system === 'fluxion') {
    const prof = extra.profile ? ['--cpu-prof', '--cpu-prof-dir', join(RESULTS, 'nexmark-prof'), '--cpu-prof-name', extra.profile] : []
    const workers = o.workers > 0 ? ['--workers', String(o.workers)] : []
    return [process.execPath, [...prof, '--import', 'tsx', join(ROOT, 'bench', 'nexmark', 'job.ts'), ...common, ...warm, ...(extra.digest ? ['--digest'] : []), ...o.kafkaArgs, ...workers]]
  }
  const cp = `${FLINK_JAR}:${join(FLINK_DIR, 'target', 'lib')}/*`
  return ['java', [`-Xmx${o.heap}`, ...JAVA_OPENS, '-cp', cp, 'fluxion.nexmark.NexmarkJob', ...common, ...warm, ...(extra.digest ? ['--digest', 'true'] : []), ...o.kafkaArgs]]
}

function runChild(system: System, o: Options, query: string, parallelism: number, events: number, extra: { profile?: string; digest?: boolean } = {}): Promise<ChildResult> {
  const [cmd, args] = childCommand(system, o, query, parallelism, events, extra)
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let peak = 0
    const poll = setInterval(() => {
      const mb = readHwmMb(child.pid!)
      if (mb > peak) peak = mb
    }, 50)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timeout = setTimeout(() => child.kill('SIGKILL'), 30 * 60_000)
    child.on('error', (e) => {
      clearInterval(poll)
      clearTimeout(timeout)
      reject(e)
    })
    child.on('exit', (code) => {
      clearInterval(poll)
      clearTimeout(timeout)
      if (code === EXIT_UNSUPPORTED) {
        reject(new UnsupportedError(`${system} cannot run --state ${o.state}: ${stderr.trim().split('\n').pop()}`))
        return
      }
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX))
      if (code !== 0 || !line) {
        reject(new Error(`${system} ${query} p=${parallelism} failed (exit ${code}):\n${stderr.trim().split('\n').slice(-30).join('\n')}`))
        return
      }
      const r = JSON.parse(line.slice(RESULT_PREFIX.length)) as ChildResult
      r.peakRssMb = peak
      resolve(r)
    })
  })
}

class UnsupportedError extends Error {}

// ---- statistics and reports ---------------------------------------------------------------------

function median(xs: readonly number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return Number.NaN
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

const round = (x: number, digits = 3): number | null => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null)

interface Summary {
  query: string
  system: System
  state: string
  parallelism: number
  events: number
  eventsPerSecond: number
  p50Ms: number | null
  p99Ms: number | null
  peakRssMb: number | null
  runs: number
  eventsPerSecondRuns: number[]
  cpuMs: number | null
  /** events / CPU time of the whole process during the measured run (all threads, GC included). */
  eventsPerCpuSecond: number
  outputs: number
  latencyMode: string
  latencySamples: number
  ratioToFlink?: number | null
  loadAvg1: number
  node: string
  flinkVersion?: string
  date: string
  source?: 'kafka'
  /** Flink, --source kafka: records dropped as not matching their event_type (most of any run). */
  deadLetters?: number
  /** Fluxion with --workers N. */
  workers?: number
}

function summarize(runs: readonly ChildResult[], loadAvg1: number): Summary {
  const r0 = runs[0]
  return {
    query: r0.query,
    system: r0.system,
    state: r0.state,
    parallelism: r0.parallelism,
    events: r0.events,
    eventsPerSecond: Math.round(median(runs.map((r) => r.eventsPerSecond))),
    p50Ms: round(median(runs.map((r) => r.p50Ms ?? Number.NaN))),
    p99Ms: round(median(runs.map((r) => r.p99Ms ?? Number.NaN))),
    peakRssMb: round(median(runs.map((r) => r.peakRssMb)), 1),
    runs: runs.length,
    eventsPerSecondRuns: runs.map((r) => Math.round(r.eventsPerSecond)),
    cpuMs: round(median(runs.map((r) => r.cpuMs)), 0),
    eventsPerCpuSecond: Math.round(median(runs.map((r) => (r.events / r.cpuMs) * 1000))),
    outputs: r0.outputs,
    latencyMode: r0.latencyMode,
    latencySamples: r0.latencySamples,
    loadAvg1: round(loadAvg1, 2) ?? 0,
    node: process.version,
    ...(r0.flinkVersion ? { flinkVersion: r0.flinkVersion } : {}),
    ...(r0.workers ? { workers: r0.workers } : {}),
    ...(r0.deadLetters !== undefined ? { deadLetters: Math.max(...runs.map((r) => r.deadLetters ?? 0)) } : {}),
    date: new Date().toISOString(),
  }
}

const fmtRate = (x: number): string => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${Math.round(x / 1000)}k`)
const fmtMs = (x: number | null): string => (x === null ? '–' : x < 1 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0))

function markdown(o: Options, summaries: readonly Summary[]): string {
  const lines = [
    `## ${new Date().toISOString()} — ${o.events.toLocaleString('en')} events, state ${o.state}, ${o.runs} runs (+${o.warmup} warm-up), median`,
    '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}. Source: ${o.source === 'kafka' ? `Kafka topic, ${o.partitions} partitions` : 'in-process generator'}. Generator: ${o.generator.join(' ') || 'defaults'}. Command: \`npm run bench:nexmark -- ${process.argv.slice(2).join(' ')}\``,
    '',
    '| query | p | system | events/s (median) | runs | events/CPU-s | p50 ms | p99 ms | peak RSS MB | Fluxion / Flink |',
    '| --- | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |',
  ]
  for (const s of summaries) {
    const ratio = s.system === 'fluxion' && s.ratioToFlink != null ? s.ratioToFlink.toFixed(2) : ''
    lines.push(
      `| ${s.query} | ${s.parallelism} | ${s.system} | ${fmtRate(s.eventsPerSecond)} | ${s.eventsPerSecondRuns.map(fmtRate).join(', ')} | ${fmtRate(s.eventsPerCpuSecond)} | ${fmtMs(s.p50Ms)} | ${fmtMs(s.p99Ms)} | ${s.peakRssMb ?? '–'} | ${ratio} |`,
    )
  }
  return lines.join('\n') + '\n\n'
}

// ---- main ---------------------------------------------------------------------------------------

async function verify(o: Options): Promise<void> {
  let bad = 0
  for (const query of o.queries) {
    if (query === 'q12') {
      log('q12: skipped (processing-time windows: results depend on the machine)')
      continue
    }
    for (const p of o.parallelisms) {
      const digests: string[] = []
      for (const system of o.systems) digests.push(`${system} ${(await runChild(system, o, query, p, o.events, { digest: true })).digest}`)
      const same = new Set(digests.map((d) => d.split(' ')[1])).size === 1
      if (!same) bad++
      log(`${query} p=${p}: ${same ? 'same results' : 'DIFFERENT results'} (${digests.join(', ')})`)
    }
  }
  if (bad > 0) fail(`${bad} query runs differ`)
}

async function main(): Promise<void> {
  const o = parseOptions()
  if (o.systems.includes('flink')) ensureFlinkJar()
  const topics = o.source === 'kafka' ? await prepareKafkaTopics(o, log) : undefined
  if (topics) o.kafkaArgs = topics.childArgs
  try {
    await (o.verify ? verify(o) : measure(o))
  } finally {
    await topics?.cleanup()
  }
}

async function measure(o: Options): Promise<void> {
  mkdirSync(RESULTS, { recursive: true })
  const all: Summary[] = []
  const failures: string[] = []
  for (const query of o.queries) {
    for (const p of o.parallelisms) {
      const results = new Map<System, ChildResult[]>(o.systems.map((s) => [s, []]))
      const load = loadavg()[0]
      let failed = false
      for (let run = 0; run < o.warmup + o.runs && !failed; run++) {
        const measured = run >= o.warmup
        // Alternate which system goes first, so drifts in machine load hit both alike.
        const order = run % 2 === 0 ? o.systems : [...o.systems].reverse()
        for (const system of order) {
          const profile = measured && o.cpuProf && system === 'fluxion' ? `${query}-p${p}-run${run - o.warmup + 1}.cpuprofile` : undefined
          const r = await runWithRetry(system, o, query, p, profile)
          if (typeof r === 'string') {
            failures.push(r)
            failed = true
            break
          }
          log(`${query} p=${p} ${system} ${measured ? `run ${run - o.warmup + 1}/${o.runs}` : 'warm-up'}: ${fmtRate(r.eventsPerSecond)} events/s, p50 ${fmtMs(r.p50Ms)} ms, p99 ${fmtMs(r.p99Ms)} ms, peak RSS ${r.peakRssMb.toFixed(0)} MB, ${r.outputs} outputs`)
          if (measured) results.get(system)!.push(r)
        }
      }
      if (failed) continue
      const summaries = o.systems.map((s) => summarize(results.get(s)!, load))
      const fl = summaries.find((s) => s.system === 'fluxion')
      const fk = summaries.find((s) => s.system === 'flink')
      if (o.source === 'kafka') for (const s of summaries) Object.assign(s, s === fl ? { source: 'kafka', ratioToFlink: null } : { source: 'kafka' })
      if (fl && fk) {
        fl.ratioToFlink = round(fl.eventsPerSecond / fk.eventsPerSecond, 3)
        log(`${query} p=${p}: Fluxion / Flink = ${fl.ratioToFlink} (${fmtRate(fl.eventsPerSecond)} vs ${fmtRate(fk.eventsPerSecond)} events/s)`)
      }
      for (const s of summaries) {
        all.push(s)
        if (o.json) process.stdout.write(JSON.stringify(s) + '\n')
      }
      if (o.cpuProf && results.get('fluxion')?.length) {
        const dir = join(RESULTS, 'nexmark-prof')
        const files = readdirSync(dir)
          .filter((f) => f.startsWith(`${query}-p${p}-run`) && f.endsWith('.cpuprofile'))
          .map((f) => join(dir, f))
        log(`\nFluxion ${query} p=${p}: self time over ${files.length} profiles\n${formatSelfTimes(selfTimes(files), 15)}\n`)
      }
    }
  }
  if (!o.json) {
    for (const s of all) {
      const ratio = s.ratioToFlink != null ? `  Fluxion/Flink ${s.ratioToFlink}` : ''
      console.log(`${s.query.padEnd(4)} p=${s.parallelism} ${s.system.padEnd(7)} ${fmtRate(s.eventsPerSecond).padStart(7)} events/s  p50 ${fmtMs(s.p50Ms)} ms  p99 ${fmtMs(s.p99Ms)} ms  peak RSS ${s.peakRssMb} MB${ratio}`)
    }
  }
  const file = join(RESULTS, `nexmark-${new Date().toISOString().slice(0, 10)}.md`)
  if (!existsSync(file)) appendFileSync(file, '# Nexmark: Fluxion and Apache Flink side by side\n\nWritten by `npm run bench:nexmark` (bench/nexmark/README.md); one section per invocation.\n\n')
  appendFileSync(file, markdown(o, all))
  log(`summary table appended to ${file}`)
  if (failures.length > 0) fail(`${failures.length} query run(s) failed and were skipped:\n${failures.join('\n')}`)
}

/**
 * One run; a failed child is retried once (the engine's working tree may be mid-edit), then the
 * query is skipped with the error as a string. A configuration the engine rejects ends the runner.
 */
async function runWithRetry(system: System, o: Options, query: string, p: number, profile: string | undefined): Promise<ChildResult | string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await runChild(system, o, query, p, o.events, { profile })
    } catch (e) {
      if (e instanceof UnsupportedError) fail(e.message)
      const message = (e as Error).message
      if (attempt >= 2) {
        log(`${query} p=${p} ${system}: failed twice, skipped\n${message}`)
        return `${query} p=${p} ${system}: ${message.split('\n')[0]}`
      }
      log(`${query} p=${p} ${system}: failed, retrying in 5 s\n${message}`)
      await new Promise((resolve) => setTimeout(resolve, 5000))
    }
  }
}

await main()
