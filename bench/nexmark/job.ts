/**
 * One Fluxion Nexmark run, in this process (the runner starts one child per run):
 *
 *   node --import tsx bench/nexmark/job.ts --query q5 --events 2000000 --parallelism 2 [--state memory]
 *        [--batch-size 1024] [--warmup-events N] [--rate 100000] [--ooo-group 1000] [--seed 1] [--digest]
 *        [--source kafka --topic T --warmup-topic W --brokers B --registry URL]   (kafka.ts: read the events from Kafka)
 *        [--workers N]   (run the subtasks on N worker threads: the query as the job module worker-job.ts,
 *                         metrics reported from the workers: worker-metrics.ts)
 *
 * It first runs the query on `--warmup-events` events (JIT warm-up in two jobs, not measured: warmUp), then the measured
 * run, and prints one line `NEXMARK_RESULT {json}` on stdout. A configuration the engine rejects
 * (e.g. --state rocksdb before that backend exists) exits with code 3 and the engine's message.
 * --digest adds an order-independent digest of the results (metrics.ts Digest), to compare with Flink's.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { FluxionError, loadJob, StreamExecutionEnvironment } from '../../index.ts'
import { nexmarkSource, WATERMARK_DELAY_MS, warmUpConfig, warmUpJobCounts, type NexmarkConfig } from './generator.ts'
import { kafkaNexmarkSource, observeEvents, type KafkaNexmarkSourceOptions } from './kafka.ts'
import { Digest, MetricsSink, quantile, RunMetrics } from './metrics.ts'
import { queryByName } from './queries/index.ts'
import { monotonicMs, WorkerMetricsCollector } from './worker-metrics.ts'

export const RESULT_PREFIX = 'NEXMARK_RESULT '
export const EXIT_UNSUPPORTED = 3

interface JobArgs {
  query: string
  events: number
  parallelism: number
  state: 'memory' | 'rocksdb'
  batchSize: number
  warmupEvents: number
  config: Partial<NexmarkConfig>
  digest: boolean
  /** --source kafka: the pre-filled topics (the runner writes them); undefined: the generator. */
  kafka: { measured: KafkaNexmarkSourceOptions; warmup: KafkaNexmarkSourceOptions | undefined } | undefined
  /** --workers N: worker threads (0: every subtask on this thread). */
  workers: number
}

function parse(): JobArgs {
  const { values } = parseArgs({
    options: {
      query: { type: 'string' },
      events: { type: 'string', default: '1000000' },
      parallelism: { type: 'string', default: '1' },
      state: { type: 'string', default: 'memory' },
      'batch-size': { type: 'string', default: '1024' },
      'warmup-events': { type: 'string', default: '0' },
      rate: { type: 'string' },
      'ooo-group': { type: 'string' },
      seed: { type: 'string' },
      digest: { type: 'boolean', default: false },
      source: { type: 'string', default: 'generator' },
      topic: { type: 'string' },
      'warmup-topic': { type: 'string' },
      brokers: { type: 'string', default: '127.0.0.1:19092' },
      registry: { type: 'string', default: 'http://127.0.0.1:18081/apis/ccompat/v7' },
      workers: { type: 'string', default: '0' },
    },
    strict: true,
  })
  if (!values.query) throw new Error('--query is required')
  if (values.state !== 'memory' && values.state !== 'rocksdb') throw new Error(`--state must be memory or rocksdb, got ${values.state}`)
  const config: Partial<NexmarkConfig> = {}
  if (values.rate !== undefined) config.eventsPerSecond = Number(values.rate)
  if (values['ooo-group'] !== undefined) config.outOfOrderGroupSize = Number(values['ooo-group'])
  if (values.source !== 'generator' && values.source !== 'kafka') throw new Error(`--source must be generator or kafka, got ${values.source}`)
  if (values.source === 'kafka' && !values.topic) throw new Error('--source kafka needs --topic')
  const topic = (t: string): KafkaNexmarkSourceOptions => ({ brokers: values.brokers.split(','), registry: values.registry, topic: t })
  if (values.seed !== undefined) config.seed = Number(values.seed)
  return {
    query: values.query,
    events: Number(values.events),
    parallelism: Number(values.parallelism),
    state: values.state,
    batchSize: Number(values['batch-size']),
    warmupEvents: Number(values['warmup-events']),
    config,
    digest: values.digest,
    workers: Number(values.workers),
    kafka: values.source === 'kafka' ? { measured: topic(values.topic!), warmup: values['warmup-topic'] ? topic(values['warmup-topic']) : undefined } : undefined,
  }
}

/** RocksDB working copies of this process; removed when it exits. */
let stateDir: string | undefined

/**
 * The JIT warm-up before the measured run: the query on `--warmup-events` events, as two jobs of half
 * as many events each, with metrics that are thrown away, at a tenth of the event rate. Each job
 * builds new closures and operator objects; V8 specialises optimised code to the first job's and
 * deoptimises it when the next job's arrive (and, without metrics, the measured run's metrics paths
 * had never run at all). After two jobs the call sites are generic, so the measured run starts on
 * code that stays optimised (alternated children, 3M events, p = 1: q8 +26%, q11 +14%, q0, q3 and
 * q5 +2–4%). The tenth of the rate spreads the events over ten times the event time, so that
 * windows fire in the warm-up too (500k events at 100k events/s span 5 s, less than the 10 s windows
 * of q5, q7, q8 and q11 plus the watermark's 4 s). The Flink peer warms up the same way
 * (NexmarkJob.java). From Kafka the warm-up is one job over the warm-up topic.
 */
async function warmUp(args: JobArgs): Promise<void> {
  if (args.warmupEvents <= 0) return
  if (args.kafka) {
    if (args.kafka.warmup) await runOnce(args, args.warmupEvents, undefined)
    return
  }
  const latency = queryByName(args.query).latency
  const config = warmUpConfig(args.config)
  for (const count of warmUpJobCounts(args.warmupEvents)) await runOnce(args, count, new RunMetrics(args.parallelism, latency), undefined, config)
}

/** One job over `events` events; without `metrics` (a Kafka warm-up) it reads the warm-up topic and discards its outputs. */
async function runOnce(args: JobArgs, events: number, metrics: RunMetrics | undefined, digest?: Digest, config = args.config): Promise<void> {
  if (args.state === 'rocksdb' && stateDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-nexmark-'))
    stateDir = dir
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  }
  const env = StreamExecutionEnvironment.create({ parallelism: args.parallelism, batchSize: args.batchSize, stateBackend: args.state, ...(stateDir ? { stateDir } : {}) })
  const query = queryByName(args.query)
  const kafka = args.kafka && (metrics ? args.kafka.measured : args.kafka.warmup)
  const source = kafka ? observeEvents(kafkaNexmarkSource(env, kafka), metrics?.observe ?? (() => {})) : nexmarkSource(env, { count: events, config, observe: metrics?.observe })
  query.build(env, source).sinkTo(new MetricsSink(metrics, digest))
  await env.execute(`nexmark-${args.query}`)
}

/**
 * The query on worker threads. Each job spawns fresh workers, so an in-process warm-up would not
 * warm them: every worker runs the query on --warmup-events events in-thread before it deploys its
 * subtasks (worker-job.ts), before the start gate, so outside the measurement. The source and sink subtasks report their
 * progress and output samples from the workers (worker-metrics.ts), so throughput, CPU and latency
 * are defined as in-process: from the first event generated by any source subtask to the last sink
 * subtask's end of input, latencies by the query's mode. The sources wait at their first event until
 * every worker has deployed its subtasks (the start gate), so start-up (workers, module import,
 * deploy) is outside, as the process start is in-process; `sourceStartSkewMs` shows the rest.
 */
async function runOnWorkers(args: JobArgs): Promise<void> {
  if (args.kafka || args.digest) throw new FluxionError('FLX_INVALID_CONFIG', 'bench: --workers runs the generator source without --digest')
  const query = queryByName(args.query)
  const collector = new WorkerMetricsCollector(query.latency, args.parallelism, args.events)
  const params: Record<string, string> = { query: args.query, events: String(args.events), 'warmup-events': String(args.warmupEvents), 'metrics-channel': collector.channelName }
  if (args.config.eventsPerSecond !== undefined) params.rate = String(args.config.eventsPerSecond)
  if (args.config.outOfOrderGroupSize !== undefined) params['ooo-group'] = String(args.config.outOfOrderGroupSize)
  if (args.config.seed !== undefined) params.seed = String(args.config.seed)
  const started = monotonicMs()
  const { env } = await loadJob(new URL('./worker-job.ts', import.meta.url), params, { parallelism: args.parallelism, batchSize: args.batchSize, stateBackend: args.state, workers: args.workers, ...(stateDir ? { stateDir } : {}) })
  const client = env.executeAsync(`nexmark-${args.query}`)
  // Every worker has deployed its subtasks once the client lists them: let the sources start.
  const poll = setInterval(() => {
    if (client.tasks().length === 0) return
    collector.openGate()
    clearInterval(poll)
  }, 1)
  const result = await client.result.catch((e: unknown) => {
    collector.close()
    throw e
  }).finally(() => clearInterval(poll))
  const metrics = await collector.finish()
  if (metrics.sourceEvents !== args.events) throw new Error(`worker metrics: the sources reported ${metrics.sourceEvents} events, expected ${args.events}`)
  const elapsedMs = metrics.lastSinkEndAt - metrics.firstEventAt
  const lat = metrics.latencies(WATERMARK_DELAY_MS).sort((a, b) => a - b)
  const out = {
    query: args.query,
    system: 'fluxion',
    source: 'generator',
    state: args.state,
    parallelism: args.parallelism,
    workers: args.workers,
    events: args.events,
    eventsPerSecond: (args.events / elapsedMs) * 1000,
    elapsedMs,
    startupMs: metrics.firstEventAt - started,
    sourceStartSkewMs: metrics.sourceStartSkewMs,
    cpuMs: metrics.cpuMs,
    outputs: metrics.outputs,
    sourceRecords: result.tasks.filter((t) => t.recordsIn === 0).reduce((n, t) => n + t.recordsOut, 0),
    p50Ms: quantile(lat, 0.5),
    p99Ms: quantile(lat, 0.99),
    latencySamples: lat.length,
    latencyMode: query.latency,
    maxRssMbSelf: process.resourceUsage().maxRSS / 1024,
  }
  process.stdout.write(RESULT_PREFIX + JSON.stringify(out) + '\n')
}

async function main(): Promise<void> {
  const args = parse()
  const query = queryByName(args.query)
  try {
    if (args.workers > 0) return await runOnWorkers(args)
    await warmUp(args)
    const metrics = new RunMetrics(args.parallelism, query.latency)
    const digest = args.digest ? new Digest() : undefined
    await runOnce(args, args.events, metrics, digest)
    const elapsedMs = metrics.lastSinkEndAt - metrics.firstEventAt
    const lat = metrics.latencies(WATERMARK_DELAY_MS).sort((a, b) => a - b)
    const result = {
      query: args.query,
      system: 'fluxion',
      source: args.kafka ? 'kafka' : 'generator',
      state: args.state,
      parallelism: args.parallelism,
      events: args.events,
      eventsPerSecond: (args.events / elapsedMs) * 1000,
      elapsedMs,
      cpuMs: metrics.cpuMs(),
      outputs: metrics.outputs,
      p50Ms: quantile(lat, 0.5),
      p99Ms: quantile(lat, 0.99),
      latencySamples: lat.length,
      latencyMode: query.latency,
      maxRssMbSelf: process.resourceUsage().maxRSS / 1024,
      ...(digest ? { digest: digest.toString() } : {}),
    }
    process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + '\n')
  } catch (e) {
    if (e instanceof FluxionError && e.code === 'FLX_INVALID_CONFIG') {
      process.stderr.write(`fluxion rejected the configuration: ${e.message}\n`)
      process.exit(EXIT_UNSUPPORTED)
    }
    throw e
  }
}

await main()
