/**
 * The in-process benchmark runner (`npm run bench`). For every selected pipeline and parallelism it
 * starts one warm-up run and then `--runs` measured runs, each in a fresh child process
 * (node --import tsx bench/pipeline.ts), and prints ONE JSON line with the medians of the measured
 * runs. Progress goes to stderr, so stdout is JSON lines only. See bench/README.md.
 *
 *   npm run bench -- [--only stateless[,keyed-tumbling-count]] [--events N] [--runs 5] [--warmup 1]
 *                    [--parallelism 1[,2]] [--batch-size 1024] [--cpu-prof] [--no-inline] [--workers N]
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { PIPELINES, type Pipeline } from './pipelines.ts'
import { formatProfileSummary, jobWindowFile, sourceMapsFile, summarizeProfiles, type JobWindow } from './profile-summary.ts'
import { RESULT_PREFIX, type RunResult } from './result.ts'
import { median, round } from './stats.ts'

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results')

/** Fields reported as the median over the measured runs. */
const MEDIAN_FIELDS = [
  'eventsPerSecond',
  'eventsPerCpuSecond',
  'elapsedMs',
  'cpuMs',
  'p50Ms',
  'p99Ms',
  'maxLatencyMs',
  'latencySamples',
  'peakRssMb',
  'maxRssMb',
  'startRssMb',
  'finalHeapUsedMb',
  'finalHeapTotalMb',
  'loadAvg1',
] as const satisfies readonly (keyof RunResult)[]

interface Options {
  pipelines: Pipeline[]
  events: number | undefined
  runs: number
  warmup: number
  parallelisms: number[]
  batchSize: number
  /** Worker threads for every run (0: the current thread); see bench/pipeline.ts. */
  workers: number
  cpuProf: boolean
  /** Extra V8 flags for every child (e.g. --no-turbo-inlining with --no-inline). */
  v8Flags: string[]
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      events: { type: 'string' },
      runs: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      parallelism: { type: 'string', default: '1' },
      'batch-size': { type: 'string', default: '1024' },
      workers: { type: 'string', default: '0' },
      'cpu-prof': { type: 'boolean', default: false },
      'no-inline': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  })
  if (values.help) {
    console.error(
      'usage: npm run bench -- [--only name[,name]] [--events N] [--runs N] [--warmup N] [--parallelism N[,N]] [--batch-size N] [--cpu-prof] [--no-inline]\n' +
        `pipelines: ${PIPELINES.map((p) => p.name).join(', ')}`,
    )
    process.exit(0)
  }
  let pipelines = [...PIPELINES]
  if (values.only !== undefined) {
    pipelines = values.only.split(',').map((name) => {
      const p = PIPELINES.find((q) => q.name === name.trim())
      if (!p) throw new Error(`--only: unknown pipeline "${name}"; known: ${PIPELINES.map((q) => q.name).join(', ')}`)
      return p
    })
  }
  return {
    pipelines,
    events: values.events === undefined ? undefined : int(values.events, '--events', 1),
    runs: int(values.runs!, '--runs', 1),
    warmup: int(values.warmup!, '--warmup', 0),
    parallelisms: values.parallelism!.split(',').map((p) => int(p, '--parallelism', 1)),
    batchSize: int(values['batch-size']!, '--batch-size', 1),
    workers: int(values.workers!, '--workers', 0),
    cpuProf: values['cpu-prof']!,
    v8Flags: values['no-inline'] ? ['--no-turbo-inlining'] : [],
  }
}

function int(text: string, flag: string, min: number): number {
  const n = Number(text.trim().replace(/_/g, ''))
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be an integer >= ${min}, got "${text}"`)
  return n
}

/**
 * The commit measured: `git rev-parse --short HEAD`, plus "+dirty" when files outside bench/ differ
 * from it; or $FLUXION_BENCH_COMMIT when set.
 */
function gitCommit(): string {
  // A copy outside git (e.g. a `git archive` snapshot) can say what it is.
  if (process.env.FLUXION_BENCH_COMMIT) return process.env.FLUXION_BENCH_COMMIT
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' })
  if (head.status !== 0) return 'unknown'
  const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', '--', '.', ':(exclude)bench'], { cwd: REPO_ROOT, encoding: 'utf8' })
  return head.stdout.trim() + (status.status === 0 && status.stdout.trim() !== '' ? '+dirty' : '')
}

/** Runs bench/pipeline.ts once in a fresh Node process and returns its result line. */
function runChild(args: string[], nodeFlags: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', join('bench', 'pipeline.ts'), ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let stdout = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => (stdout += chunk))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX))
      if (code !== 0 || line === undefined) {
        reject(new Error(`bench/pipeline.ts ${args.join(' ')} exited with ${signal ?? code}${line === undefined ? ' and no result line' : ''}\n${stdout}`))
        return
      }
      resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as RunResult)
    })
  })
}

async function main(): Promise<void> {
  const options = parseOptions()
  const out: Record<string, unknown>[] = []
  if (options.cpuProf) mkdirSync(RESULTS_DIR, { recursive: true })
  const profileSummaries: string[] = []
  for (const pipeline of options.pipelines) {
    for (const parallelism of options.parallelisms) {
      const events = options.events ?? pipeline.defaultEvents
      const commit = gitCommit()
      const args = ['--name', pipeline.name, '--events', String(events), '--parallelism', String(parallelism), '--batch-size', String(options.batchSize), ...(options.workers > 0 ? ['--workers', String(options.workers)] : [])]
      for (let w = 0; w < options.warmup; w++) {
        process.stderr.write(`[bench] ${pipeline.name} p=${parallelism} warm-up ${w + 1}/${options.warmup} … `)
        const r = await runChild(args, options.v8Flags)
        process.stderr.write(`${r.eventsPerSecond.toLocaleString('en-US')} events/s (discarded)\n`)
      }
      const results: RunResult[] = []
      const profiles: string[] = []
      for (let k = 1; k <= options.runs; k++) {
        const nodeFlags: string[] = [...options.v8Flags]
        if (options.cpuProf) {
          const file = `${pipeline.name}-p${parallelism}${options.v8Flags.length > 0 ? '-noinline' : ''}-run${k}.cpuprofile`
          nodeFlags.push('--cpu-prof', '--cpu-prof-dir', RESULTS_DIR, '--cpu-prof-name', file, '--enable-source-maps')
          profiles.push(join(RESULTS_DIR, file))
        }
        const childArgs = options.cpuProf ? [...args, '--source-maps-out', sourceMapsFile(profiles[profiles.length - 1])] : args
        process.stderr.write(`[bench] ${pipeline.name} p=${parallelism} run ${k}/${options.runs} … `)
        const r = await runChild(childArgs, nodeFlags)
        if (options.cpuProf) {
          const window: JobWindow = { jobStartUs: r.jobStartUs, jobEndUs: r.jobEndUs }
          writeFileSync(jobWindowFile(profiles[profiles.length - 1]), JSON.stringify(window) + '\n')
        }
        process.stderr.write(
          `${r.eventsPerSecond.toLocaleString('en-US')} events/s (${r.eventsPerCpuSecond.toLocaleString('en-US')}/cpu-s, load ${r.loadAvg1}), p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, peak RSS ${r.peakRssMb} MB\n`,
        )
        results.push(r)
      }
      const first = results[0]
      const commitAfter = gitCommit()
      if (commitAfter !== commit) process.stderr.write(`[bench] WARNING: the code changed during this row (${commit} -> ${commitAfter}); its numbers mix two versions\n`)
      const summary: Record<string, unknown> = {
        name: pipeline.name,
        events: events,
        sinkRecords: first.sinkRecords,
      }
      for (const field of MEDIAN_FIELDS) {
        const m = median(results.map((r) => r[field]))
        summary[field] = field === 'eventsPerSecond' || field === 'eventsPerCpuSecond' || field === 'latencySamples' ? Math.round(m) : round(m, field.endsWith('Mb') ? 1 : 4)
      }
      Object.assign(summary, {
        runs: results.length,
        warmupRuns: options.warmup,
        statistic: 'median of the measured runs, each field separately; each run in a fresh child process',
        eventsPerSecondRuns: results.map((r) => r.eventsPerSecond),
        parallelism,
        batchSize: options.batchSize,
        profiled: options.cpuProf,
        v8Flags: options.v8Flags,
        description: pipeline.description,
        latencyDefinition: pipeline.latencyDefinition,
        node: first.node,
        cpus: availableParallelism(),
        cpuModel: cpus()[0]?.model ?? 'unknown',
        threads: 1,
        commit: commitAfter === commit ? commit : `${commit} -> ${commitAfter}`,
        date: new Date().toISOString(),
      })
      out.push(summary)
      process.stdout.write(JSON.stringify(summary) + '\n')
      if (options.cpuProf) {
        const s = summarizeProfiles(profiles)
        const flags = options.v8Flags.length > 0 ? ` ${options.v8Flags.join(' ')}` : ''
        profileSummaries.push(formatProfileSummary(`${pipeline.name} p=${parallelism}${flags} (${profiles.length} runs, in ${RESULTS_DIR})`, s, 15))
      }
    }
  }
  mkdirSync(RESULTS_DIR, { recursive: true })
  const tag = (options.cpuProf ? '-profiled' : '') + (options.v8Flags.length > 0 ? '-noinline' : '')
  writeFileSync(join(RESULTS_DIR, `latest${tag}.json`), JSON.stringify(out, null, 2) + '\n')
  if (profileSummaries.length > 0) process.stderr.write('\n' + profileSummaries.join('\n\n') + '\n')
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e)
  process.exit(1)
})
