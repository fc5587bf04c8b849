/**
 * The Kafka pipeline benchmark (`npm run bench:kafka`): Kafka → Avro decode (Confluent wire format,
 * schema registry) → map → Avro encode → Kafka, against the real broker. See bench/README.md.
 *
 *   npm run -s bench:kafka -- [--events 1000000] [--partitions 4] [--runs 3] [--warmup 1]
 *                             [--stages at-least-once,exactly-once] [--breakdown] [--cpu-prof] …  (--help)
 *
 * Once per invocation it pre-fills an input topic with `--events` Avro transactions. Then, per
 * stage: `--warmup` discarded runs and `--runs` measured runs, each a fresh child process
 * (bench/kafka/child.ts) that reads the whole input (bounded) and, for the pipeline stages, writes a
 * fresh output topic, which this process reads back with a read_committed consumer and checks
 * (every transaction exactly once, or at least once). Then the latency phase (latency.ts) at half
 * the measured throughput. One JSON line per stage on stdout; progress on stderr.
 *
 * --breakdown runs every stage (consume, source-raw, decode, at-least-once, exactly-once) and one
 * extra profiled run of each pipeline stage, and prints where the time goes.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { avroType, AvroSerializer } from '../../connectors/kafka/avro-serde.ts'
import { formatProfileSummary, jobWindowFile, summarizeProfiles } from '../profile-summary.ts'
import { median, round } from '../stats.ts'
import { attribute, formatAttribution, type Attribution } from './attribution.ts'
import { exactlyOnceSinkAvailable, STAGES, type ChildResult, type Stage } from './child.ts'
import { deleteTopics, fillTopic, kafkaClient, readBack, recreateTopic, topicSize, type FillResult } from './kafka-io.ts'
import { measureLatency, type LatencyResult } from './latency.ts'
import { REPO_ROOT, runChild } from './spawn.ts'
import { ENRICHED_SCHEMA, makeTransaction, TRANSACTION_SCHEMA, type EnrichedTransaction, type Transaction } from './transactions.ts'

const RESULTS = join(REPO_ROOT, 'bench', 'results')
const PROFILES = join(RESULTS, 'kafka-prof')
const TARGET_EVENTS_PER_SECOND = 150_000
const PIPELINE_STAGES: readonly Stage[] = ['at-least-once', 'exactly-once']

const USAGE = `usage: npm run -s bench:kafka -- [options]
  --events N             records pre-filled into the input topic and read by every run (default 1000000)
  --partitions N         partitions of the input and output topics (default 4)
  --parallelism N        Fluxion parallelism (default 1)
  --stages a[,b]         ${STAGES.join(', ')} (default at-least-once,exactly-once)
  --breakdown            every stage, plus one profiled run of each pipeline stage: where the time goes
  --runs N / --warmup N  measured / discarded runs per stage (default 3 / 1)
  --checkpoint-ms N      checkpoint interval of the Fluxion job (default 1000)
  --sink-batch-size N    KafkaSink batchSize: records per send (default: the sink's own, 500)
  --latency-rate N       input rate of the latency phase, records/s (default: half the stage's median throughput)
  --latency-seconds N    length of the measured part of the latency phase (default 10)
  --no-latency           skip the latency phase
  --no-verify            do not read the output back after each run
  --cpu-prof             profile every measured run (numbers then include the profiler's cost)
  --brokers / --registry default $KAFKA_BROKERS / $SCHEMA_REGISTRY_URL, else the local stack`

interface Options {
  events: number
  partitions: number
  parallelism: number
  stages: Stage[]
  breakdown: boolean
  runs: number
  warmup: number
  checkpointMs: number
  sinkBatchSize: number | undefined
  latencyRate: number | undefined
  latencySeconds: number
  latency: boolean
  verify: boolean
  cpuProf: boolean
  brokers: string[]
  registry: string
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '1000000' },
      partitions: { type: 'string', default: '4' },
      parallelism: { type: 'string', default: '1' },
      stages: { type: 'string' },
      breakdown: { type: 'boolean', default: false },
      runs: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      'checkpoint-ms': { type: 'string', default: '1000' },
      'sink-batch-size': { type: 'string' },
      'latency-rate': { type: 'string' },
      'latency-seconds': { type: 'string', default: '10' },
      'no-latency': { type: 'boolean', default: false },
      'no-verify': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      brokers: { type: 'string', default: process.env.KAFKA_BROKERS ?? '127.0.0.1:19092' },
      registry: { type: 'string', default: process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:18081/apis/ccompat/v7' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  })
  if (values.help) {
    console.error(USAGE)
    process.exit(0)
  }
  const int = (name: string, v: string, min: number): number => {
    const n = Number(v.replace(/_/g, ''))
    if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got "${v}"`)
    return n
  }
  const stages = values.breakdown ? [...STAGES] : (values.stages ?? PIPELINE_STAGES.join(',')).split(',').map((s) => STAGES.find((x) => x === s.trim()) ?? fail(`--stages: unknown stage "${s}"; known: ${STAGES.join(', ')}`))
  return {
    events: int('events', values.events, 1),
    partitions: int('partitions', values.partitions, 1),
    parallelism: int('parallelism', values.parallelism, 1),
    stages,
    breakdown: values.breakdown,
    runs: int('runs', values.runs, 1),
    warmup: int('warmup', values.warmup, 0),
    checkpointMs: int('checkpoint-ms', values['checkpoint-ms'], 1),
    sinkBatchSize: values['sink-batch-size'] === undefined ? undefined : int('sink-batch-size', values['sink-batch-size'], 1),
    latencyRate: values['latency-rate'] === undefined ? undefined : int('latency-rate', values['latency-rate'], 1),
    latencySeconds: int('latency-seconds', values['latency-seconds'], 1),
    latency: !values['no-latency'],
    verify: !values['no-verify'],
    cpuProf: values['cpu-prof'],
    brokers: values.brokers.split(',').map((b) => b.trim()),
    registry: values.registry.replace(/\/+$/, ''),
  }
}

function fail(message: string): never {
  console.error(`bench:kafka: ${message}`)
  process.exit(2)
}

const log = (msg: string): void => void process.stderr.write(msg + '\n')
const fmtRate = (x: number): string => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1000).toFixed(1)}k`)

function gitCommit(): string {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' })
  if (head.status !== 0) return 'unknown'
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'engine', 'operators', 'connectors', 'state', 'index.ts'], { cwd: REPO_ROOT, encoding: 'utf8' })
  return head.stdout.trim() + (dirty.stdout?.trim() ? '+dirty' : '')
}

interface Verified {
  outputs: number
  distinctTransactions: number
}

/** Reads the output back (read_committed) and checks every input transaction is there once (exactly-once) or at least once. */
async function verifyOutput(o: Options, kafka: ReturnType<typeof kafkaClient>, topic: string, stage: Stage, run: ChildResult): Promise<Verified> {
  const type = avroType(ENRICHED_SCHEMA)
  const ids = new Set<string>()
  let outOfWindow = 0
  const outputs = await readBack({
    kafka,
    topic,
    expected: o.events,
    idleMs: 15_000,
    onRecord: (value) => {
      const e = type.fromBuffer(value.subarray(5)) as EnrichedTransaction
      ids.add(e.txId)
      if (e.eventTime > run.endAt) outOfWindow++
    },
  })
  if (ids.size !== o.events) throw new Error(`${stage}: the output has ${ids.size} distinct transactions, expected ${o.events}`)
  if (stage === 'exactly-once') {
    if (outputs !== o.events) throw new Error(`exactly-once: ${outputs} output records for ${o.events} transactions (duplicates)`)
    // Transactional writes leave commit markers in the log: offsets > records. Proves the sink really wrote in transactions.
    const offsets = await topicSize(kafka, topic)
    if (offsets <= outputs) throw new Error(`exactly-once: the output has no transaction markers (${offsets} offsets for ${outputs} records): the sink did not write transactionally`)
  }
  if (outOfWindow > 0) throw new Error(`${stage}: ${outOfWindow} outputs carry an event time after the run ended`)
  return { outputs, distinctTransactions: ids.size }
}

function childArgs(o: Options, stage: Stage): string[] {
  const batch = o.sinkBatchSize === undefined ? [] : ['--sink-batch-size', String(o.sinkBatchSize)]
  return ['--stage', stage, '--brokers', o.brokers.join(','), '--registry', o.registry, '--parallelism', String(o.parallelism), '--checkpoint-ms', String(o.checkpointMs), ...batch]
}

async function measureStage(o: Options, kafka: ReturnType<typeof kafkaClient>, input: string, stage: Stage, profile: 'none' | 'measured' | 'extra'): Promise<{ runs: ChildResult[]; verified: Verified[]; profiles: string[] }> {
  const runs: ChildResult[] = []
  const verified: Verified[] = []
  const profiles: string[] = []
  const total = profile === 'extra' ? 1 : o.warmup + o.runs
  for (let k = 0; k < total; k++) {
    const measured = profile === 'extra' || k >= o.warmup
    const label = profile === 'extra' ? 'profiled run' : measured ? `run ${k - o.warmup + 1}/${o.runs}` : `warm-up ${k + 1}/${o.warmup}`
    const output = `fluxion-bench-kafka-out-${process.pid}-${stage}-${k}`
    const sinks = PIPELINE_STAGES.includes(stage)
    if (sinks) await recreateTopic(kafka, output, o.partitions)
    const flags: string[] = []
    let profilePath: string | undefined
    const profileDir = join(PROFILES, `${stage}-run${k + 1}`)
    if (measured && profile !== 'none') {
      // Each thread writes its own profile (tsx's loader runs on a worker): keep the main thread's (tid 0).
      profilePath = join(PROFILES, `${stage}-run${k + 1}.cpuprofile`)
      flags.push('--cpu-prof', '--cpu-prof-dir', profileDir)
    }
    try {
      process.stderr.write(`[bench:kafka] ${stage} ${label} … `)
      const r = await runChild([...childArgs(o, stage), '--input', input, '--output', output, '--events', String(o.events)], flags)
      process.stderr.write(`${fmtRate(r.eventsPerSecond)} events/s (${fmtRate(r.eventsPerCpuSecond)}/cpu-s, job ${(r.jobMs / 1000).toFixed(1)} s, load ${r.loadAvg1}), peak RSS ${r.peakRssMb} MB`)
      if (profilePath) {
        const main = readdirSync(profileDir).find((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f))
        if (!main) throw new Error(`no main-thread profile in ${profileDir}`)
        renameSync(join(profileDir, main), profilePath)
        rmSync(profileDir, { recursive: true, force: true })
        writeFileSync(jobWindowFile(profilePath), JSON.stringify({ jobStartUs: r.jobStartUs, jobEndUs: r.jobEndUs }) + '\n')
        profiles.push(profilePath)
      }
      if (sinks && o.verify && measured) {
        const v = await verifyOutput(o, kafka, output, stage, r)
        verified.push(v)
        process.stderr.write(`; read back ${v.outputs} outputs, ${v.distinctTransactions} distinct`)
      }
      process.stderr.write('\n')
      if (measured) runs.push(r)
    } finally {
      if (sinks) await deleteTopics(kafka, [output])
    }
  }
  return { runs, verified, profiles }
}

function summarize(o: Options, stage: Stage, runs: ChildResult[], verified: Verified[], latency: LatencyResult[], latencyRate: number | undefined, prefill: FillResult, commit: string): Record<string, unknown> {
  const med = (f: (r: ChildResult) => number): number => median(runs.map(f))
  const lmed = (f: (r: LatencyResult) => number): number | null => (latency.length === 0 ? null : round(median(latency.map(f)), 2))
  const eps = Math.round(med((r) => r.eventsPerSecond))
  return {
    benchmark: 'kafka',
    stage,
    delivery: stage === 'exactly-once' ? 'exactly-once' : stage === 'at-least-once' ? 'at-least-once' : null,
    events: o.events,
    partitions: o.partitions,
    parallelism: o.parallelism,
    eventsPerSecond: eps,
    eventsPerSecondRuns: runs.map((r) => r.eventsPerSecond),
    eventsPerCpuSecond: Math.round(med((r) => r.eventsPerCpuSecond)),
    elapsedMs: Math.round(med((r) => r.elapsedMs)),
    jobMs: Math.round(med((r) => r.jobMs)),
    targetEventsPerSecond: PIPELINE_STAGES.includes(stage) ? TARGET_EVENTS_PER_SECOND : null,
    meetsTarget: PIPELINE_STAGES.includes(stage) ? eps >= TARGET_EVENTS_PER_SECOND : null,
    p50Ms: lmed((l) => l.p50Ms),
    p99Ms: lmed((l) => l.p99Ms),
    maxLatencyMs: lmed((l) => l.maxLatencyMs),
    toSinkP50Ms: lmed((l) => l.toSinkP50Ms),
    toSinkP99Ms: lmed((l) => l.toSinkP99Ms),
    latencySamples: latency.length === 0 ? 0 : Math.round(median(latency.map((l) => l.latencySamples))),
    latencyRate: latency.length === 0 ? null : latencyRate,
    latencyAchievedRate: lmed((l) => l.achievedRate),
    latencyRuns: latency.length,
    peakRssMb: round(med((r) => r.peakRssMb), 1),
    maxRssMb: round(med((r) => r.maxRssMb), 1),
    startRssMb: round(med((r) => r.startRssMb), 1),
    latencyPeakRssMb: lmed((l) => l.peakRssMb),
    loadAvg1: round(med((r) => r.loadAvg1), 2),
    loadAvg1Runs: runs.map((r) => r.loadAvg1),
    verifiedOutputs: verified.map((v) => v.outputs),
    checkpointMs: o.checkpointMs,
    sinkBatchSize: o.sinkBatchSize ?? null,
    prefill,
    runs: runs.length,
    warmupRuns: o.warmup,
    statistic: 'median of the measured runs, each field separately; each run in a fresh child process',
    profiled: o.cpuProf,
    node: process.version,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    commit,
    date: new Date().toISOString(),
  }
}

async function main(): Promise<void> {
  const o = parseOptions()
  const kafka = kafkaClient(o.brokers, 'fluxion-bench-kafka')
  mkdirSync(RESULTS, { recursive: true })
  if (o.cpuProf || o.breakdown) {
    rmSync(PROFILES, { recursive: true, force: true })
    mkdirSync(PROFILES, { recursive: true })
  }
  const commit = gitCommit()
  const input = `fluxion-bench-kafka-in-${process.pid}`
  log(`[bench:kafka] pre-filling ${input}: ${o.events.toLocaleString('en')} Avro transactions over ${o.partitions} partitions (load ${loadavg()[0].toFixed(2)}) …`)
  await recreateTopic(kafka, input, o.partitions)
  const serializer = new AvroSerializer<Transaction>({ registry: o.registry, schema: TRANSACTION_SCHEMA })
  const out: Record<string, unknown>[] = []
  try {
    const prefill = await fillTopic({ kafka, topic: input, partitions: o.partitions, serializer, make: makeTransaction, key: (t) => String(t.accountId) }, 0, o.events)
    log(`[bench:kafka] pre-filled in ${prefill.seconds.toFixed(1)} s: ${fmtRate(prefill.recordsPerSecond)} records/s, ${(prefill.bytes / o.events).toFixed(0)} B/record (kafkajs, ≈5000 records per request, one sender per partition group, up to 4 in flight, no compression, acks=all)`)
    const attributions: Record<string, Attribution> = {}
    for (const stage of o.stages) {
      if (stage === 'exactly-once' && !exactlyOnceSinkAvailable()) {
        const line = { benchmark: 'kafka', stage, missing: true, reason: 'KafkaSink has no exactly-once mode in this checkout (connectors/kafka/kafka-sink.ts is at-least-once)', commit, date: new Date().toISOString() }
        log(`[bench:kafka] ${stage}: missing (${line.reason})`)
        out.push(line)
        process.stdout.write(JSON.stringify(line) + '\n')
        continue
      }
      const { runs, verified, profiles } = await measureStage(o, kafka, input, stage, o.cpuProf ? 'measured' : 'none')
      const latency: LatencyResult[] = []
      let rate: number | undefined
      if (o.latency && PIPELINE_STAGES.includes(stage)) {
        rate = o.latencyRate ?? Math.round(median(runs.map((r) => r.eventsPerSecond)) / 2)
        for (let k = 1; k <= o.runs; k++) {
          process.stderr.write(`[bench:kafka] ${stage} latency ${k}/${o.runs} at ${fmtRate(rate)} records/s for ${o.latencySeconds} s … `)
          const l = await measureLatency({ kafka, registry: o.registry, childArgs: childArgs(o, stage), partitions: o.partitions, rate, seconds: o.latencySeconds, warmupRecords: 2000, tag: `${process.pid}-${stage}-${k}` })
          process.stderr.write(`p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, max ${l.maxLatencyMs} ms (until the sink's send: p50 ${l.toSinkP50Ms} ms, p99 ${l.toSinkP99Ms} ms; ${l.latencySamples} samples, input ${fmtRate(l.achievedRate)}/s, peak RSS ${l.peakRssMb} MB)\n`)
          latency.push(l)
        }
      }
      const summary = summarize(o, stage, runs, verified, latency, rate, prefill, commit)
      let allProfiles = profiles
      if (o.breakdown && PIPELINE_STAGES.includes(stage) && !o.cpuProf) allProfiles = (await measureStage(o, kafka, input, stage, 'extra')).profiles
      if (allProfiles.length > 0) {
        const a = attribute(allProfiles)
        attributions[stage] = a
        summary.cpuAttribution = Object.fromEntries(a.rows.map((r) => [r.category, r.percent]))
        log('\n' + formatAttribution(`${stage} (${allProfiles.length} profiled run(s), first record to end of job)`, a))
        log(formatProfileSummary(`${stage}`, summarizeProfiles(allProfiles), 20) + '\n')
      }
      out.push(summary)
      process.stdout.write(JSON.stringify(summary) + '\n')
    }
    if (o.breakdown) {
      const line = breakdownLine(out, attributions, commit)
      out.push(line)
      process.stdout.write(JSON.stringify(line) + '\n')
    }
  } finally {
    await deleteTopics(kafka, [input])
  }
  writeFileSync(join(RESULTS, o.breakdown ? 'kafka-breakdown-latest.json' : 'kafka-latest.json'), JSON.stringify(out, null, 2) + '\n')
  if (o.cpuProf || o.breakdown) log(`profiles in ${PROFILES}: ${readdirSync(PROFILES).filter((f) => f.endsWith('.cpuprofile')).join(', ')}`)
}

/**
 * The per-record cost of each stage (1 / throughput, µs) and the increments between consecutive
 * stages: what the Fluxion source adds to the client, what Avro decoding adds, what map + encode +
 * KafkaSink add, what exactly-once adds.
 */
function breakdownLine(lines: Record<string, unknown>[], attributions: Record<string, Attribution>, commit: string): Record<string, unknown> {
  const perRecord = (field: 'eventsPerSecond' | 'eventsPerCpuSecond'): Map<string, number> => {
    const us = new Map<string, number>()
    for (const l of lines) if (typeof l[field] === 'number') us.set(l.stage as string, round(1e6 / (l[field] as number), 3))
    return us
  }
  const increments = (us: Map<string, number>): Record<string, number | null> => {
    const inc = (a: string, b: string): number | null => (us.has(a) && us.has(b) ? round(us.get(b)! - us.get(a)!, 3) : null)
    return {
      'kafkajs consumer (consume)': us.get('consume') ?? null,
      'Fluxion KafkaSource + engine (source-raw − consume)': inc('consume', 'source-raw'),
      'Avro decode (decode − source-raw)': inc('source-raw', 'decode'),
      'map + Avro encode + KafkaSink + kafkajs producer, at-least-once (at-least-once − decode)': inc('decode', 'at-least-once'),
      'exactly-once (exactly-once − at-least-once)': inc('at-least-once', 'exactly-once'),
    }
  }
  const cpu = perRecord('eventsPerCpuSecond')
  const wall = perRecord('eventsPerSecond')
  return {
    benchmark: 'kafka',
    stage: 'breakdown',
    cpuUsPerRecord: Object.fromEntries(cpu),
    cpuIncrements: increments(cpu),
    usPerRecord: Object.fromEntries(wall),
    increments: increments(wall),
    cpuAttribution: Object.fromEntries(Object.entries(attributions).map(([stage, a]) => [stage, Object.fromEntries(a.rows.map((r) => [r.category, r.percent]))])),
    missing: lines.filter((l) => l.missing).map((l) => l.stage),
    note: 'cpu*: CPU µs of the child per record (1 / median eventsPerCpuSecond; all threads, GC included; the broker and the runner not included): the stable measure on a shared machine. usPerRecord/increments: wall-clock µs per record (1 / median eventsPerSecond), where the broker and other processes compete for the same 2 cores. Increments are differences of medians.',
    commit,
    date: new Date().toISOString(),
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e)
  process.exit(1)
})
