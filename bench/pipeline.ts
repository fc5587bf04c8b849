/**
 * Runs ONE benchmark pipeline once, in this process, and prints one result line:
 *
 *   BENCH_RESULT {"name":…,"events":…,"eventsPerSecond":…,…}
 *
 * bench/run.ts starts this file in a fresh child process per run (node --import tsx), so peak RSS
 * is per run and runs do not share a warmed-up JIT. It can also be run by hand:
 *
 *   node --import tsx bench/pipeline.ts --name stateless --events 5000000 --parallelism 1 [--workers 2]
 *
 * With --workers N the pipeline runs as the job module bench/worker-pipelines.ts on N worker
 * threads; elapsed time runs from when every worker has deployed its subtasks (start-up excluded)
 * to the end of the job, and there are no latency samples.
 */
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { loadJob } from '../index.ts'
import { pipelineByName, PIPELINES, type PipelineOutcome } from './pipelines.ts'
import { RESULT_PREFIX, type RunResult } from './result.ts'
import { quantile, round } from './stats.ts'
import { writeSourceMaps } from './source-maps.ts'

const MB = 1024 * 1024

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      name: { type: 'string' },
      events: { type: 'string' },
      parallelism: { type: 'string', default: '1' },
      'batch-size': { type: 'string', default: '1024' },
      workers: { type: 'string', default: '0' },
      /** With --enable-source-maps: write the source maps of the loaded repo modules here (for profile summaries). */
      'source-maps-out': { type: 'string' },
    },
    strict: true,
  })
  const pipeline = pipelineByName(values.name ?? '')
  if (!pipeline) throw new Error(`unknown pipeline "${values.name}"; known: ${PIPELINES.map((p) => p.name).join(', ')}`)
  const events = values.events === undefined ? pipeline.defaultEvents : positiveInt(values.events, '--events')
  const parallelism = positiveInt(values.parallelism!, '--parallelism')
  const batchSize = positiveInt(values['batch-size']!, '--batch-size')

  // Peak RSS: sampled every 50 ms. The executor yields to the event loop every ~5 ms, so the
  // interval does fire while the job runs.
  const startRss = process.memoryUsage.rss()
  let peakRss = startRss
  const sampler = setInterval(() => {
    const rss = process.memoryUsage.rss()
    if (rss > peakRss) peakRss = rss
  }, 50)

  const loadAvg1 = loadavg()[0]
  const cpuBefore = process.cpuUsage()
  const jobStartUs = hrtimeUs()
  const workers = Number(values.workers)
  const outcome = workers > 0 ? await runOnWorkers(pipeline.name, events, parallelism, batchSize, workers) : await pipeline.run({ events, parallelism, batchSize })
  const jobEndUs = hrtimeUs()
  const cpu = process.cpuUsage(cpuBefore)
  const cpuMs = (cpu.user + cpu.system) / 1000

  clearInterval(sampler)
  peakRss = Math.max(peakRss, process.memoryUsage.rss())
  const mem = process.memoryUsage()
  const result: RunResult = {
    name: pipeline.name,
    events,
    sinkRecords: outcome.sinkRecords,
    elapsedMs: round(outcome.elapsedMs, 1),
    eventsPerSecond: Math.round((events * 1000) / outcome.elapsedMs),
    cpuMs: round(cpuMs, 1),
    eventsPerCpuSecond: Math.round((events * 1000) / cpuMs),
    loadAvg1: round(loadAvg1, 2),
    p50Ms: round(quantile(outcome.latenciesMs, 0.5), 4),
    p99Ms: round(quantile(outcome.latenciesMs, 0.99), 4),
    maxLatencyMs: round(quantile(outcome.latenciesMs, 1), 4),
    latencySamples: outcome.latenciesMs.length,
    latencyDefinition: pipeline.latencyDefinition,
    peakRssMb: round(peakRss / MB, 1),
    // The kernel's high-water mark for the whole process (startup included), in KiB.
    maxRssMb: round(process.resourceUsage().maxRSS / 1024, 1),
    startRssMb: round(startRss / MB, 1),
    finalHeapUsedMb: round(mem.heapUsed / MB, 1),
    finalHeapTotalMb: round(mem.heapTotal / MB, 1),
    parallelism,
    batchSize,
    node: process.version,
    jobStartUs,
    jobEndUs,
  }
  if (values['source-maps-out'] !== undefined) writeSourceMaps(values['source-maps-out'])
  process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + '\n')
}

/** The pipeline as a job module on worker threads; timed from when every worker is deployed. */
async function runOnWorkers(name: string, events: number, parallelism: number, batchSize: number, workers: number): Promise<PipelineOutcome> {
  const { env, job } = await loadJob(new URL('./worker-pipelines.ts', import.meta.url), { name, events: String(events) }, { parallelism, batchSize, workers })
  const client = env.executeAsync(job.name)
  let readyAt = 0
  const poll = setInterval(() => {
    if (readyAt === 0 && client.tasks().length > 0) readyAt = performance.now()
  }, 2)
  const result = await client.result.finally(() => clearInterval(poll))
  const sinkTasks = result.tasks.filter((t) => t.name.endsWith('sink') && t.recordsIn > 0)
  // A sink chained to the source has no input channel to count at: then NaN (null in the JSON).
  return { elapsedMs: performance.now() - readyAt, sinkRecords: sinkTasks.length > 0 ? sinkTasks.reduce((n, t) => n + t.recordsIn, 0) : Number.NaN, latenciesMs: [] }
}

/** process.hrtime in µs: the clock V8 stamps CPU profile samples with. */
function hrtimeUs(): number {
  return Number(process.hrtime.bigint() / 1000n)
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text.replace(/_/g, ''))
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be an integer >= 1, got "${text}"`)
  return n
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e)
  process.exit(1)
})
