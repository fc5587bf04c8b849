/**
 * Runs ONE stage of the Kafka benchmark once, in this process, and prints one result line
 * `KAFKA_BENCH_RESULT {json}` (bench/kafka/run.ts starts one child per run):
 *
 *   node --import tsx bench/kafka/child.ts --stage exactly-once --input T --output U --events N
 *        --brokers 127.0.0.1:19092 --registry http://… [--parallelism 1] [--checkpoint-ms 1000] [--live]
 *
 * Stages (bench/README.md, "Kafka pipeline"):
 *  - consume:        a plain kafkajs consumer reads the raw bytes (no Fluxion, no decode);
 *  - source-raw:     KafkaSource with a pass-through deserializer → counting sink;
 *  - decode:         KafkaSource with the AvroDeserializer → counting sink;
 *  - at-least-once:  KafkaSource (Avro) → map(enrich) → KafkaSink (Avro), at-least-once;
 *  - exactly-once:   the same with an exactly-once KafkaSink (needs KafkaSink support for it).
 *
 * Bounded runs read the input up to its end offsets at start and measure from the first record
 * the source decodes to the end of the job (every output acknowledged, or committed). With
 * `--live` the source is unbounded, the child prints `KAFKA_BENCH_READY` and runs until killed
 * (the runner's latency phase).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { StreamExecutionEnvironment, WatermarkStrategy, type Sink } from '../../index.ts'
import { AvroDeserializer, AvroSerializer, type DecodeResult, type KafkaDeserializer } from '../../connectors/kafka/avro-serde.ts'
import { KafkaSink } from '../../connectors/kafka/kafka-sink.ts'
import { KafkaSource } from '../../connectors/kafka/kafka-source.ts'
import { round } from '../stats.ts'
import { hrtimeUs, RssSampler } from '../rss.ts'
import { kafkaClient } from './kafka-io.ts'
import { ENRICHED_SCHEMA, enrich, TRANSACTION_SCHEMA, type EnrichedTransaction, type Transaction } from './transactions.ts'

export const RESULT_PREFIX = 'KAFKA_BENCH_RESULT '
export const READY_LINE = 'KAFKA_BENCH_READY'
export const STAGES = ['consume', 'source-raw', 'decode', 'at-least-once', 'exactly-once'] as const
export type Stage = (typeof STAGES)[number]

/**
 * The pipeline's sink. The exactly-once options are passed through an untyped object, so this
 * file compiles against a KafkaSink without them; `exactlyOnceSinkAvailable()` checks at run time
 * that the sink really took them.
 */
export function pipelineSink(a: { brokers: string[]; registry: string; output: string; stage: Stage; sinkBatchSize?: number }): KafkaSink<EnrichedTransaction> {
  const exactlyOnce: Record<string, unknown> = a.stage === 'exactly-once' ? { deliveryGuarantee: 'exactly-once', transactionalIdPrefix: `fluxion-bench-${process.pid}-${Date.now()}` } : {}
  return new KafkaSink<EnrichedTransaction>({
    brokers: a.brokers,
    topic: a.output,
    key: (t) => String(t.accountId),
    serializer: new AvroSerializer<EnrichedTransaction>({ registry: a.registry, schema: ENRICHED_SCHEMA }),
    ...(a.sinkBatchSize ? { batchSize: a.sinkBatchSize } : {}),
    ...exactlyOnce,
  })
}

/** Whether KafkaSink has an exactly-once mode in this checkout (the stage is reported as missing otherwise). */
export function exactlyOnceSinkAvailable(): boolean {
  const sink = pipelineSink({ brokers: ['127.0.0.1:1'], registry: 'http://127.0.0.1:1', output: 'probe', stage: 'exactly-once' })
  return sink.name.includes('exactly-once')
}

export interface ChildResult {
  stage: Stage
  events: number
  /** Records that reached the end of the stage (sink writes; for `consume`, records read). */
  records: number
  /** From the first record read to the end of the job, ms. */
  elapsedMs: number
  /** From execute() to its end (consumer group join and connection set-up included), ms. */
  jobMs: number
  eventsPerSecond: number
  cpuMs: number
  eventsPerCpuSecond: number
  peakRssMb: number
  maxRssMb: number
  startRssMb: number
  loadAvg1: number
  /** Epoch ms of the first record read and of the end: the runner checks the output against them. */
  firstRecordAt: number
  endAt: number
  /** The same on the clock of V8 CPU profiles (µs), to cut a profile to the measured part. */
  jobStartUs: number
  jobEndUs: number
  node: string
}

interface Args {
  stage: Stage
  brokers: string[]
  registry: string
  input: string
  output: string
  events: number
  parallelism: number
  checkpointMs: number
  live: boolean
  /** KafkaSink batchSize (records per send); undefined: the sink's default. */
  sinkBatchSize: number | undefined
}

function parse(): Args {
  const { values } = parseArgs({
    options: {
      stage: { type: 'string' },
      brokers: { type: 'string', default: '127.0.0.1:19092' },
      registry: { type: 'string', default: 'http://127.0.0.1:18081/apis/ccompat/v7' },
      input: { type: 'string' },
      output: { type: 'string', default: '' },
      events: { type: 'string' },
      parallelism: { type: 'string', default: '1' },
      'checkpoint-ms': { type: 'string', default: '1000' },
      live: { type: 'boolean', default: false },
      'sink-batch-size': { type: 'string' },
    },
    strict: true,
  })
  const stage = STAGES.find((s) => s === values.stage)
  if (!stage) throw new Error(`--stage must be one of ${STAGES.join(', ')}, got "${values.stage}"`)
  if (!values.input) throw new Error('--input is required')
  if ((stage === 'at-least-once' || stage === 'exactly-once') && !values.output) throw new Error(`--output is required for ${stage}`)
  return {
    stage,
    brokers: values.brokers.split(','),
    registry: values.registry,
    input: values.input,
    output: values.output,
    events: Number(values.events ?? (values.live ? Number.POSITIVE_INFINITY : Number.NaN)),
    parallelism: Number(values.parallelism),
    checkpointMs: Number(values['checkpoint-ms']),
    live: values.live,
    sinkBatchSize: values['sink-batch-size'] === undefined ? undefined : Number(values['sink-batch-size']),
  }
}

/** When the first record was read: set by the first deserialize call (or the first consumer batch). */
class FirstRecord {
  at = Number.NaN
  us = Number.NaN
  cpu: NodeJS.CpuUsage | undefined
  mark(): void {
    if (!Number.isNaN(this.at)) return
    this.at = Date.now()
    this.us = hrtimeUs()
    this.cpu = process.cpuUsage()
  }
}

function marking<T>(inner: KafkaDeserializer<T>, first: FirstRecord): KafkaDeserializer<T> {
  return {
    deserialize(bytes, topic) {
      first.mark()
      return inner.deserialize(bytes, topic)
    },
  }
}

const RAW: KafkaDeserializer<Buffer> = { deserialize: (bytes): DecodeResult<Buffer> => ({ ok: true, value: bytes }) }

class CountingSink<T> implements Sink<T> {
  readonly name = 'counting-sink'
  count = 0
  createWriter() {
    return { write: () => void this.count++ }
  }
}

/** The consume stage: one plain kafkajs consumer over all partitions, eachBatch counting records. */
async function consumeOnly(a: Args, first: FirstRecord): Promise<number> {
  const kafka = kafkaClient(a.brokers, 'fluxion-bench-consume')
  const consumer = kafka.consumer({ groupId: `fluxion-bench-consume-${process.pid}-${Date.now()}`, maxBytes: 50 * 1024 * 1024 })
  await consumer.connect()
  await consumer.subscribe({ topics: [a.input], fromBeginning: true })
  let count = 0
  let bytes = 0
  await new Promise<void>((resolve, reject) => {
    consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error))
    consumer
      .run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          first.mark()
          for (const m of batch.messages) bytes += m.value?.length ?? 0
          count += batch.messages.length
          if (count >= a.events) resolve()
        },
      })
      .catch(reject)
  })
  await consumer.disconnect()
  if (bytes === 0) throw new Error('consume: no bytes read')
  return count
}

async function runStage(a: Args, first: FirstRecord): Promise<number> {
  if (a.stage === 'consume') return consumeOnly(a, first)
  const checkpointDir = mkdtempSync(join(tmpdir(), 'fluxion-kafka-bench-'))
  try {
    const env = StreamExecutionEnvironment.create({ parallelism: a.parallelism, checkpoint: { intervalMs: a.checkpointMs, dir: checkpointDir } })
    const sourceOptions = { brokers: a.brokers, topics: [a.input], groupId: 'fluxion-bench', ...(a.live ? {} : { stopAtOffsets: 'latest' as const }) }
    if (a.stage === 'source-raw') {
      const sink = new CountingSink<Buffer>()
      env.fromSource(new KafkaSource<Buffer>({ ...sourceOptions, deserializer: marking(RAW, first) }), WatermarkStrategy.noWatermarks<Buffer>()).sinkTo(sink)
      await execute(env, a)
      return sink.count
    }
    const deserializer = marking(new AvroDeserializer<Transaction>({ registry: a.registry, schema: TRANSACTION_SCHEMA }), first)
    const transactions = env.fromSource(new KafkaSource<Transaction>({ ...sourceOptions, deserializer }), WatermarkStrategy.noWatermarks<Transaction>())
    if (a.stage === 'decode') {
      const sink = new CountingSink<Transaction>()
      transactions.sinkTo(sink)
      await execute(env, a)
      return sink.count
    }
    if (a.stage === 'exactly-once' && !exactlyOnceSinkAvailable()) throw new Error('exactly-once: KafkaSink has no exactly-once mode in this checkout')
    let written = 0
    transactions
      .map((t) => {
        written++
        return enrich(t)
      }, 'enrich')
      .sinkTo(pipelineSink(a))
    await execute(env, a)
    return written
  } finally {
    rmSync(checkpointDir, { recursive: true, force: true })
  }
}

async function execute(env: StreamExecutionEnvironment, a: Args): Promise<void> {
  const client = env.executeAsync(`kafka-bench-${a.stage}`)
  if (a.live) process.stdout.write(READY_LINE + '\n')
  await client.result
}

async function main(): Promise<void> {
  const a = parse()
  const rss = new RssSampler()
  const loadAvg1 = loadavg()[0]
  const first = new FirstRecord()
  const jobStart = performance.now()
  const records = await runStage(a, first)
  const endAt = Date.now()
  const jobEndUs = hrtimeUs()
  const jobMs = performance.now() - jobStart
  const cpu = process.cpuUsage(first.cpu)
  const mem = rss.stop()
  if (records !== a.events) throw new Error(`${a.stage}: ${records} records reached the end of the stage, expected ${a.events}`)
  const elapsedMs = endAt - first.at
  const cpuMs = (cpu.user + cpu.system) / 1000
  const result: ChildResult = {
    stage: a.stage,
    events: a.events,
    records,
    elapsedMs,
    jobMs: round(jobMs, 1),
    eventsPerSecond: Math.round((a.events * 1000) / elapsedMs),
    cpuMs: round(cpuMs, 1),
    eventsPerCpuSecond: Math.round((a.events * 1000) / cpuMs),
    ...mem,
    loadAvg1: round(loadAvg1, 2),
    firstRecordAt: first.at,
    endAt,
    jobStartUs: first.us,
    jobEndUs,
    node: process.version,
  }
  process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + '\n')
  process.exit(0)
}

if (process.argv[1]?.endsWith('child.ts')) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e)
    process.exit(1)
  })
}
