/**
 * A KafkaSource over a pre-filled multi-partition topic advances its watermark while it reads, not
 * only at the end of input. kafkajs hands over a fetch response a partition at a time, each with its
 * whole backlog; a reader that emitted in arrival order read one partition to its end while the
 * others (no records yet) held the per-partition watermark (a minimum) at -∞, so event-time windows
 * fired only when the input ended.
 *
 * Observable: a keyed process function records, for every record, the current watermark. One
 * source subtask reads all partitions (no start-up skew between subtasks), so after the first few
 * polls every record must see a watermark close behind its own timestamp.
 */
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CollectSink, StreamExecutionEnvironment, WatermarkStrategy, type KeyedProcessFunction } from '../../index.ts'
import { jsonSerde } from '../../connectors/kafka/avro-serde.ts'
import { KafkaSource } from '../../connectors/kafka/kafka-source.ts'
import { kafkaBrokers, uniqueName } from './env.ts'

type Event = { i: number; ts: number }

const PARTITIONS = 4
const N = 8_000
/** Event i is on partition i % 4 with timestamp 10·i: every partition spans the whole time range. */
const STEP_MS = 10
const RANGE_MS = N * STEP_MS

const kafka = new Kafka({ clientId: 'fluxion-wm-progress-spec', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING })
let topic: string

beforeAll(async () => {
  const admin = kafka.admin()
  await admin.connect()
  topic = uniqueName('fluxion-wm-progress')
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true })
  await admin.disconnect()
  const producer = kafka.producer()
  await producer.connect()
  for (let p = 0; p < PARTITIONS; p++) {
    const messages = []
    for (let i = p; i < N; i += PARTITIONS) messages.push({ partition: p, value: JSON.stringify({ i, ts: i * STEP_MS }) })
    await producer.send({ topic, messages, acks: -1 })
  }
  await producer.disconnect()
})

afterAll(async () => {
  const admin = kafka.admin()
  await admin.connect()
  await admin.deleteTopics({ topics: [topic] }).catch(() => {})
  await admin.disconnect()
})

/** What the probe saw, in processing order (module-level: the job clones its functions). */
const seen: { ts: number; watermark: number }[] = []

class WatermarkProbe implements KeyedProcessFunction<number, Event, number> {
  processElement(e: Event, ctx: Parameters<KeyedProcessFunction<number, Event, number>['processElement']>[1]): void {
    seen.push({ ts: e.ts, watermark: ctx.timerService().currentWatermark() })
  }
}

async function watermarksWhileReading(bufferSize: number | undefined): Promise<{ ts: number; watermark: number }[]> {
  seen.length = 0
  const env = StreamExecutionEnvironment.create({ parallelism: 1, batchSize: 64 })
  env
    .fromSource(
      new KafkaSource<Event>({ brokers: kafkaBrokers(), topics: [topic], stopAtOffsets: 'latest', bufferSize, deserializer: jsonSerde<Event>() }),
      WatermarkStrategy.forBoundedOutOfOrderness<Event>(100).withTimestampAssigner((e) => e.ts),
    )
    .keyBy((e) => e.i % 2)
    .process(new WatermarkProbe())
    .sinkTo(new CollectSink<number>([]))
  await env.execute('watermark-progress')
  return [...seen]
}

/** Records after the first tenth of the input whose watermark is more than 5% of the time range behind their timestamp. */
function lagging(rows: { ts: number; watermark: number }[]): string[] {
  return rows
    .slice(N / 10)
    .map((r, k) => ({ ...r, k: k + N / 10 }))
    .filter((r) => r.ts - r.watermark > RANGE_MS / 20)
    .map((r) => `#${r.k} ts ${r.ts} watermark ${r.watermark}`)
}

describe('KafkaSource watermarks advance while a pre-filled multi-partition topic is read', () => {
  it('all records buffered at once: partitions are emitted round-robin', async () => {
    const rows = await watermarksWhileReading(undefined)
    expect(rows.length).toBe(N)
    const late = lagging(rows)
    expect(late.slice(0, 5), `${late.length} of ${N} records saw a lagging watermark`).toEqual([])
  }, 60_000)

  it('a small buffer (50 records): no partition waiting for room keeps the others from being fetched', async () => {
    const rows = await watermarksWhileReading(50)
    expect(rows.length).toBe(N)
    const late = lagging(rows)
    expect(late.slice(0, 5), `${late.length} of ${N} records saw a lagging watermark`).toEqual([])
  }, 60_000)
})
