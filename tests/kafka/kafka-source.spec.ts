// KafkaSource completeness against the real broker and registry: topic patterns, discovery of new
// partitions and topics, start offsets, per-partition watermarks with idleness, whole-record
// deserializers, dead letters (counted, written to a topic), registry outages, offset commits.
import fc from 'fast-check'
import { createServer, type Server, type Socket } from 'node:net'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel, type Admin, type IHeaders, type Producer } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CollectSink, DEAD_LETTERS, FluxionError, ManualClock, StreamExecutionEnvironment, TumblingEventTimeWindows, WatermarkStrategy, type DeadLetter, type JobClient } from '../../index.ts'
import { AvroDeserializer, AvroSerializer, jsonSerde } from '../../connectors/kafka/avro-serde.ts'
import { DEAD_LETTER_HEADERS, kafkaDeadLetterFormat } from '../../connectors/kafka/dead-letters.ts'
import { kafkaRecordDeserializer } from '../../connectors/kafka/kafka-record.ts'
import { KafkaSink } from '../../connectors/kafka/kafka-sink.ts'
import { KafkaSource } from '../../connectors/kafka/kafka-source.ts'
import { partitionOwner } from '../../connectors/kafka/partition-discovery.ts'
import { METRIC } from '../../engine/metrics.ts'
import { kafkaBrokers, schemaRegistryUrl, uniqueName } from './env.ts'

const kafka = new Kafka({ clientId: 'fluxion-kafka-source-spec', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING })
const createdTopics: string[] = []
let admin: Admin
let producer: Producer

async function createTopic(name: string, numPartitions: number): Promise<string> {
  await admin.createTopics({ topics: [{ topic: name, numPartitions }], waitForLeaders: true })
  createdTopics.push(name)
  return name
}

beforeAll(async () => {
  admin = kafka.admin()
  await admin.connect()
  producer = kafka.producer()
  await producer.connect()
})

afterAll(async () => {
  if (createdTopics.length > 0) await admin.deleteTopics({ topics: createdTopics }).catch(() => {})
  await producer.disconnect().catch(() => {})
  await admin.disconnect().catch(() => {})
})

/** Adds partitions; a new producer then (kafkajs' producer drops records for partitions its cached metadata does not list). */
async function addPartitions(topic: string, count: number): Promise<void> {
  await admin.createPartitions({ topicPartitions: [{ topic, count }] })
  await producer.disconnect()
  producer = kafka.producer()
  await producer.connect()
}

type N = { n: number }
const serde = jsonSerde<N>()
const json = (n: number) => Buffer.from(JSON.stringify({ n }))

async function send(topic: string, partition: number, ns: number[], timestamp?: (n: number) => number): Promise<void> {
  await producer.send({ topic, messages: ns.map((n) => ({ partition, value: json(n), timestamp: timestamp ? String(timestamp(n)) : undefined })) })
}

/**
 * Polls `check` (real time) until it holds or `ms` pass. A retriable Kafka error thrown by the check
 * (a group coordinator still loading after the broker started, say) counts as "not yet".
 */
async function until(check: () => boolean | Promise<boolean>, ms = 30_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  const holds = async () => {
    try {
      return await check()
    } catch (e) {
      if ((e as { retriable?: boolean }).retriable === true && Date.now() <= deadline) return false
      throw e
    }
  }
  while (!(await holds())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Waits until the job's private consumer groups (prefix `${groupId}-`) number at least `count`: the readers resolved their start offsets. */
async function readersStarted(groupId: string, count: number): Promise<void> {
  await until(async () => (await admin.listGroups()).groups.filter((g) => g.groupId.startsWith(`${groupId}-`)).length >= count, 30_000, 'the readers to start')
}

async function cancelled(client: JobClient): Promise<void> {
  client.cancel()
  await client.result.then(
    () => {},
    (e: unknown) => expect((e as FluxionError).code).toBe('FLX_JOB_CANCELLED'),
  )
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b)
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

describe('partition ownership', () => {
  it("is Flink's getSplitOwner: every partition has exactly one owner, spread evenly, round-robin from a topic-dependent start", () => {
    // Java: "orders".hashCode() = -1008770331; (-1008770331 * 31) & 0x7fffffff = 940374459; 940374459 % 4 = 3.
    expect([0, 1, 2, 3, 4].map((p) => partitionOwner('orders', p, 4))).toEqual([3, 0, 1, 2, 3])
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 16 }), (topic, partitions, parallelism) => {
        const counts = new Array<number>(parallelism).fill(0)
        for (let p = 0; p < partitions; p++) {
          const owner = partitionOwner(topic, p, parallelism)
          expect(Number.isInteger(owner) && owner >= 0 && owner < parallelism).toBe(true)
          counts[owner]++
        }
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1)
      }),
    )
  })
})

describe('KafkaSource', () => {
  it("topics as a RegExp: reads matching topics only; startFrom 'latest'; topics and partitions created later are discovered and read from their earliest offset", async () => {
    const prefix = uniqueName('fluxion-ks-pat')
    const a = await createTopic(`${prefix}-a`, 1)
    const other = await createTopic(`${prefix}x-other`, 1) // does not match ^prefix-.*
    await send(a, 0, [-1, -2]) // before start: 'latest' skips them
    const groupId = uniqueName('fluxion-ks-pat-group')
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const seen: number[] = []
    env
      .fromSource(
        new KafkaSource<N>({ brokers: kafkaBrokers(), topics: new RegExp(`${prefix}-.*`), groupId, startFrom: 'latest', deserializer: serde, partitionDiscoveryIntervalMs: 300 }),
        WatermarkStrategy.noWatermarks(),
      )
      .map((v) => {
        seen.push(v.n)
        return v.n
      })
      .sinkTo(new CollectSink([]))
    const client = env.executeAsync('pattern')
    try {
      await readersStarted(groupId, 1)
      await send(a, 0, range(0, 10))
      await send(other, 0, [1000])
      await until(() => seen.length >= 10, 30_000, 'records of the first topic')
      // A new matching topic, written to before any discovery can see it, and new partitions of `a`.
      const b = await createTopic(`${prefix}-b`, 2)
      await send(b, 0, range(100, 110))
      await send(b, 1, range(110, 120))
      await addPartitions(a, 3)
      await send(a, 1, range(200, 210))
      await send(a, 2, range(210, 220))
      await until(() => seen.length >= 50, 30_000, 'records of discovered partitions')
      await new Promise((r) => setTimeout(r, 500))
      expect(sorted(seen)).toEqual([...range(0, 10), ...range(100, 120), ...range(200, 220)])
      expect(client.metrics().filter((m) => m.name === METRIC.kafkaPartitionsDiscovered).reduce((s, m) => s + m.value, 0)).toBe(4)
    } finally {
      await cancelled(client)
    }
  }, 90_000)

  it('a deleted topic: its partitions stop being read and no longer hold the watermark back, the other topics go on; created again, it is read from its earliest offset', async () => {
    const prefix = uniqueName('fluxion-ks-del')
    const a = await createTopic(`${prefix}-a`, 1)
    const b = await createTopic(`${prefix}-b`, 1)
    const env = StreamExecutionEnvironment.create({ parallelism: 1 })
    const seen: number[] = []
    const windows: { start: number; count: number }[] = []
    env
      .fromSource(
        new KafkaSource<N>({ brokers: kafkaBrokers(), topics: new RegExp(`${prefix}-.*`), deserializer: serde, partitionDiscoveryIntervalMs: 300 }),
        WatermarkStrategy.forMonotonousTimestamps<N>().withTimestampAssigner((v) => v.n),
      )
      .map((v) => {
        seen.push(v.n)
        return v
      })
      .keyBy(() => 'all')
      .window(TumblingEventTimeWindows.of(10))
      .aggregate({ createAccumulator: () => 0, add: (_v, acc) => acc + 1, getResult: (acc) => acc, merge: (x, y) => x + y }, (_key, window, count) => ({ start: window.start, count }))
      .map((w) => {
        windows.push(w)
        return w
      })
      .sinkTo(new CollectSink([]))
    const client = env.executeAsync('deleted-topic')
    try {
      // b's partition holds the watermark at 5: window [0, 10) cannot fire while b is read.
      await send(b, 0, [5])
      await send(a, 0, range(0, 10))
      await send(a, 0, [20])
      await until(() => seen.length === 12, 30_000, 'the first records')
      await new Promise((r) => setTimeout(r, 700))
      expect(windows).toEqual([])
      await admin.deleteTopics({ topics: [b] })
      createdTopics.splice(createdTopics.indexOf(b), 1)
      await until(() => windows.length > 0, 30_000, 'the window that b held back')
      expect(windows).toEqual([{ start: 0, count: 11 }])
      await send(a, 0, [30])
      await until(() => windows.length === 2, 30_000, 'a later window of a')
      expect(windows[1]).toEqual({ start: 20, count: 1 })
      expect(client.metrics().filter((m) => m.name === METRIC.kafkaPartitionsDeleted).reduce((n, m) => n + m.value, 0)).toBe(1)
      // The same name again: a new topic, discovered and read from its earliest offset.
      await until(async () => !(await admin.listTopics()).includes(b), 30_000, 'the deletion')
      const again = await createTopic(`${prefix}-b`, 1)
      await send(again, 0, [31, 32])
      await until(() => seen.includes(32), 30_000, 'the records of the topic created again')
      expect(sorted(seen)).toEqual([...range(0, 10), 5, 20, 30, 31, 32].sort((x, y) => x - y))
    } finally {
      await cancelled(client)
    }
  }, 90_000)

  it('discovered partitions are in checkpoints; a restore at another parallelism reads every record exactly once (partitions created since the savepoint from earliest)', async () => {
    const topic = await createTopic(uniqueName('fluxion-ks-chk'), 2)
    await send(topic, 0, range(0, 50))
    await send(topic, 1, range(50, 100))
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-ks-chk-'))
    const committed: number[] = []
    const seen: number[] = []
    const env = StreamExecutionEnvironment.create({ parallelism: 2, checkpoint: { intervalMs: 3_600_000, dir } })
    env
      .fromSource(new KafkaSource<N>({ brokers: kafkaBrokers(), topics: [topic], deserializer: serde, partitionDiscoveryIntervalMs: 200 }), WatermarkStrategy.noWatermarks())
      .map((v) => {
        seen.push(v.n)
        return v.n
      })
      .sinkTo(new CollectSink(committed))
    const client = env.executeAsync('discover-checkpoint')
    let savepoint: string
    try {
      await until(() => seen.length >= 100, 30_000, 'the first records')
      await addPartitions(topic, 4)
      await send(topic, 2, range(100, 150))
      await send(topic, 3, range(150, 200))
      await until(() => seen.length >= 200, 30_000, 'records of discovered partitions')
      await send(topic, 3, range(200, 220))
      savepoint = (await client.triggerSavepoint()).path
    } finally {
      await cancelled(client)
    }
    // The savepoint's sink output is committed; everything after it comes from the restore.
    await addPartitions(topic, 5)
    await send(topic, 4, range(300, 330))
    for (let p = 0; p < 4; p++) await send(topic, p, range(400 + p * 10, 410 + p * 10))
    const env2 = StreamExecutionEnvironment.create({ parallelism: 3, checkpoint: { intervalMs: 3_600_000, dir } })
    const after: number[] = []
    env2
      .fromSource(new KafkaSource<N>({ brokers: kafkaBrokers(), topics: [topic], deserializer: serde, stopAtOffsets: 'latest' }), WatermarkStrategy.noWatermarks())
      .map((v) => v.n)
      .sinkTo(new CollectSink(after))
    await env2.execute('restore', { restoreFrom: savepoint, log: () => {} })
    expect(sorted([...committed, ...after])).toEqual([...range(0, 220), ...range(300, 330), ...range(400, 440)])
  }, 90_000)

  it("startFrom 'committed' reads the group's offsets, committed when checkpoints complete; without committed offsets the reset strategy applies", async () => {
    const topic = await createTopic(uniqueName('fluxion-ks-commit'), 2)
    await send(topic, 0, range(0, 30))
    await send(topic, 1, range(30, 60))
    const groupId = uniqueName('fluxion-ks-commit-group')
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-ks-commit-'))
    const seen: number[] = []
    const env = StreamExecutionEnvironment.create({ parallelism: 2, checkpoint: { intervalMs: 100, dir } })
    env
      .fromSource(new KafkaSource<N>({ brokers: kafkaBrokers(), topics: [topic], groupId, deserializer: serde }), WatermarkStrategy.noWatermarks())
      .map((v) => {
        seen.push(v.n)
        return v.n
      })
      .sinkTo(new CollectSink([]))
    const client = env.executeAsync('commits')
    const committedOffsets = async () => {
      const [t] = await admin.fetchOffsets({ groupId, topics: [topic] })
      return t.partitions.map((p) => Number(p.offset)).sort((x, y) => x - y)
    }
    try {
      await until(() => seen.length >= 60, 30_000, 'the records')
      await until(async () => (await committedOffsets()).join() === '30,30', 30_000, 'committed offsets 30, 30')
      // The broker shows a commit before its response reaches the reader, which counts it then.
      const commitsOk = () => client.metrics().filter((m) => m.name === METRIC.kafkaOffsetCommits && m.labels.result === 'ok').reduce((sum, m) => sum + m.value, 0)
      await until(() => commitsOk() > 0, 10_000, 'the offset-commit counter')
    } finally {
      await cancelled(client)
    }
    await send(topic, 0, range(100, 105))
    await send(topic, 1, range(105, 110))
    const read = async (startFrom: KafkaSource<N>['options']['startFrom'], group = groupId) => {
      const e = StreamExecutionEnvironment.create({ parallelism: 2 })
      const [rows] = await e.executeAndCollect(
        e.fromSource(new KafkaSource<N>({ brokers: kafkaBrokers(), topics: [topic], groupId: group, startFrom, stopAtOffsets: 'latest', deserializer: serde }), WatermarkStrategy.noWatermarks()).map((v) => v.n),
      )
      return sorted(rows as number[])
    }
    expect(await read('committed')).toEqual(range(100, 110))
    const fresh = uniqueName('fluxion-ks-nogroup')
    expect(await read('committed', fresh)).toEqual([...range(0, 60), ...range(100, 110)])
    expect(await read({ committed: { reset: 'latest' } }, fresh)).toEqual([])
    const error = await read({ committed: { reset: 'fail' } }, fresh).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect((error as FluxionError).code).toBe('FLX_NO_COMMITTED_OFFSET')
    expect((error as Error).message).toContain(fresh)
  }, 90_000)

  it('per-partition watermarks: an empty partition holds the watermark back until withIdleness(ms) of processing time (ManualClock)', async () => {
    const topic = await createTopic(uniqueName('fluxion-ks-idle'), 2)
    const clock = new ManualClock(1_000)
    const env = StreamExecutionEnvironment.create({ parallelism: 1, clock, autoWatermarkIntervalMs: 100 })
    let consumed = 0
    const windows: { start: number; count: number }[] = []
    env
      .fromSource(new KafkaSource<N>({ brokers: kafkaBrokers(), topics: [topic], deserializer: serde }), WatermarkStrategy.forBoundedOutOfOrderness<N>(0).withIdleness(5_000))
      .map((v) => {
        consumed++
        return v
      })
      .keyBy(() => 'all')
      .window(TumblingEventTimeWindows.of(1_000))
      .aggregate({ createAccumulator: () => 0, add: (_v, acc) => acc + 1, getResult: (acc) => acc, merge: (x, y) => x + y }, (_key, window, count) => ({ start: window.start, count }))
      .map((w) => {
        windows.push(w)
        return w
      })
      .sinkTo(new CollectSink([]))
    const client = env.executeAsync('idleness')
    try {
      // Record timestamps are the Kafka timestamps (no assigner): 10 000 … 11 900, then 12 000 … 13 900, all on partition 0.
      await send(topic, 0, range(0, 20), (n) => 10_000 + n * 100)
      await until(() => consumed === 20, 30_000, 'the first records')
      clock.setTime(4_000)
      await send(topic, 0, range(20, 40), (n) => 10_000 + n * 100)
      await until(() => consumed === 40, 30_000, 'the second records')
      await new Promise((r) => setTimeout(r, 1_000))
      expect(windows).toEqual([]) // partition 1 has no data and is not idle yet (3 s < 5 s)
      clock.setTime(6_500) // partition 1: 5.5 s without data → idle; partition 0: 2.5 s → active
      await until(() => windows.length >= 3, 30_000, 'the windows')
      await new Promise((r) => setTimeout(r, 300))
      expect(windows).toEqual([
        { start: 10_000, count: 10 },
        { start: 11_000, count: 10 },
        { start: 12_000, count: 10 },
      ])
    } finally {
      await cancelled(client)
    }
  }, 60_000)

  it('subtasks without partitions do not hold back the watermark (more subtasks than partitions)', async () => {
    const topic = await createTopic(uniqueName('fluxion-ks-fewparts'), 1)
    await send(topic, 0, range(0, 30), (n) => 1_000 + n * 100)
    const env = StreamExecutionEnvironment.create({ parallelism: 3, autoWatermarkIntervalMs: 50 })
    const windows: number[] = []
    env
      .fromSource(new KafkaSource<N>({ brokers: kafkaBrokers(), topics: [topic], deserializer: serde }), WatermarkStrategy.forMonotonousTimestamps<N>())
      .keyBy(() => 'all')
      .window(TumblingEventTimeWindows.of(1_000))
      .aggregate({ createAccumulator: () => 0, add: (_v, acc) => acc + 1, getResult: (acc) => acc, merge: (x, y) => x + y }, (_key, window) => window.start)
      .map((start) => {
        windows.push(start)
        return start
      })
      .sinkTo(new CollectSink([]))
    const client = env.executeAsync('few-partitions')
    try {
      // Timestamps 1000 … 3900: the watermark reaches 3899, which fires the windows before 3000.
      await until(() => windows.length >= 2, 30_000, 'windows [1000, 3000) to fire')
      await new Promise((r) => setTimeout(r, 300))
      expect(sorted(windows)).toEqual([1_000, 2_000])
    } finally {
      await cancelled(client)
    }
  }, 60_000)

  it("a record deserializer sees key, value, headers, timestamp, topic, partition and offset; its failures are counted dead letters", async () => {
    const topic = await createTopic(uniqueName('fluxion-ks-record'), 2)
    await producer.send({
      topic,
      messages: [
        { partition: 0, key: 'k0', value: json(0), headers: { h: 'a' }, timestamp: '5000' },
        { partition: 0, key: 'k1', value: json(1), headers: { h: 'b' }, timestamp: '5001' },
        { partition: 1, key: null, value: json(2), timestamp: '5002' },
        { partition: 1, key: 'k3', value: json(-1), timestamp: '5003' }, // map throws
        { partition: 1, key: 'k4', value: null, timestamp: '5004' }, // tombstone
        { partition: 0, key: 'k5', value: Buffer.from('{oops'), timestamp: '5005' }, // invalid JSON
      ],
    })
    type Row = { key: string | null; n: number; h: string | undefined; topic: string; partition: number; offset: number; ts: number }
    const records = kafkaRecordDeserializer<Row, N>({
      value: serde,
      map: (r) => {
        if (r.value.n < 0) throw new Error('negative')
        const h = r.headers.h
        return { key: r.key?.toString() ?? null, n: r.value.n, h: h === undefined ? undefined : String(h), topic: r.topic, partition: r.partition, offset: r.offset, ts: r.timestamp }
      },
    })
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const rows: Row[] = []
    const letters: DeadLetter[] = []
    const stream = env.fromSource(new KafkaSource<Row>({ brokers: kafkaBrokers(), topics: [topic], stopAtOffsets: 'latest', recordDeserializer: records }), WatermarkStrategy.noWatermarks())
    stream.sinkTo(new CollectSink(rows))
    stream.getSideOutput(DEAD_LETTERS).sinkTo(new CollectSink(letters))
    const client = env.executeAsync('records')
    await client.result
    expect([...rows].sort((x, y) => x.n - y.n)).toEqual([
      { key: 'k0', n: 0, h: 'a', topic, partition: 0, offset: 0, ts: 5000 },
      { key: 'k1', n: 1, h: 'b', topic, partition: 0, offset: 1, ts: 5001 },
      { key: null, n: 2, h: undefined, topic, partition: 1, offset: 0, ts: 5002 },
    ])
    const byReason = Object.fromEntries(letters.map((l) => [l.reason, l]))
    expect(Object.keys(byReason).sort()).toEqual(['deserializer-failed', 'tombstone', 'undecodable'])
    expect(byReason['deserializer-failed'].position).toEqual({ topic, partition: 1, offset: 1 })
    expect(byReason['deserializer-failed'].error).toMatch(/negative/)
    expect(Buffer.from(byReason['deserializer-failed'].key!, 'base64').toString()).toBe('k3')
    expect(Buffer.from(byReason.undecodable.raw, 'base64').toString()).toBe('{oops')
    const counted = client.metrics().filter((m) => m.name === METRIC.deadLetters)
    expect(counted.map((m) => [m.labels.reason, m.value]).sort()).toEqual([
      ['deserializer-failed', 1],
      ['tombstone', 1],
      ['undecodable', 1],
    ])
    expect(counted.every((m) => m.labels.source === `kafka-source(${topic})`)).toBe(true)
  }, 60_000)

  it('dead letters go to a dead-letter topic as the original key and value, with error, reason, topic, partition and offset in headers', async () => {
    const topic = await createTopic(uniqueName('fluxion-ks-dlq-in'), 1)
    const dlq = await createTopic(uniqueName('fluxion-ks-dlq'), 1)
    const ser = new AvroSerializer<N>({ registry: schemaRegistryUrl(), schema: { type: 'record', name: 'N', fields: [{ name: 'n', type: 'long' }] } })
    const de = new AvroDeserializer<N>({ registry: schemaRegistryUrl(), schema: { type: 'record', name: 'N', fields: [{ name: 'n', type: 'long' }] } })
    const good = await ser.serialize({ n: 1 }, topic)
    // Once a schema id is known, decoding is synchronous (no promise per record).
    expect(await de.deserialize(good)).toEqual({ ok: true, value: { n: 1 } })
    expect(de.deserialize(good)).toEqual({ ok: true, value: { n: 1 } })
    await producer.send({ topic, messages: [{ key: 'a', value: good }, { key: 'bad-key', value: Buffer.from([0xff, 1, 2, 3, 4, 5]), headers: { trace: 'abc', hops: ['1', Buffer.from([0, 255])] } }, { value: Buffer.from('x') }, { key: 'b', value: good }] })
    const env2 = StreamExecutionEnvironment.create({ parallelism: 1 })
    const out = env2.fromSource(new KafkaSource<N>({ brokers: kafkaBrokers(), topics: [topic], stopAtOffsets: 'latest', deserializer: de }), WatermarkStrategy.noWatermarks())
    out.getSideOutput(DEAD_LETTERS).sinkTo(new KafkaSink<DeadLetter>({ brokers: kafkaBrokers(), topic: dlq, ...kafkaDeadLetterFormat }))
    const [ns] = await env2.executeAndCollect(out.map((v) => v.n))
    expect(ns).toEqual([1, 1])

    const consumer = kafka.consumer({ groupId: uniqueName('fluxion-ks-dlq-check') })
    const got: { key: string | null; value: Buffer; headers: Record<string, string>; raw: IHeaders }[] = []
    await consumer.connect()
    await consumer.subscribe({ topic: dlq, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]))
        got.push({ key: message.key?.toString() ?? null, value: message.value!, headers, raw: message.headers ?? {} })
      },
    })
    await until(() => got.length >= 2, 30_000, 'the dead-letter records')
    await consumer.disconnect()
    expect(got.map((g) => g.key)).toEqual(['bad-key', null])
    expect(got[0].value).toEqual(Buffer.from([0xff, 1, 2, 3, 4, 5]))
    expect(got[1].value.toString()).toBe('x')
    expect(got[0].headers).toMatchObject({
      [DEAD_LETTER_HEADERS.topic]: topic,
      [DEAD_LETTER_HEADERS.partition]: '0',
      [DEAD_LETTER_HEADERS.offset]: '1',
      [DEAD_LETTER_HEADERS.reason]: 'bad-magic-byte',
      [DEAD_LETTER_HEADERS.source]: topic,
    })
    expect(got[0].headers[DEAD_LETTER_HEADERS.error]).toMatch(/magic byte/)
    // The original record's headers travel along, repeated ones too, bytes unchanged.
    expect(got[0].headers.trace).toBe('abc')
    expect(got[0].raw.hops).toEqual([Buffer.from('1'), Buffer.from([0, 255])])
    expect(got[1].raw.trace).toBeUndefined()
    expect(got[1].headers[DEAD_LETTER_HEADERS.offset]).toBe('2')
  }, 60_000)

  it('a schema registry that accepts connections but never answers: retried with backoff, then the job fails with FLX_SCHEMA_REGISTRY_UNAVAILABLE and no record is skipped', async () => {
    const sockets: Socket[] = []
    const silent: Server = createServer((s) => void sockets.push(s)) // never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    try {
      const topic = await createTopic(uniqueName('fluxion-ks-silent'), 1)
      const ser = new AvroSerializer<N>({ registry: schemaRegistryUrl(), schema: { type: 'record', name: 'N', fields: [{ name: 'n', type: 'long' }] } })
      await producer.send({ topic, messages: [{ value: await ser.serialize({ n: 7 }, topic) }] })
      const port = (silent.address() as { port: number }).port
      const de = new AvroDeserializer<N>({ registry: `http://127.0.0.1:${port}`, registryTimeoutMs: 300, schema: { type: 'record', name: 'N', fields: [{ name: 'n', type: 'long' }] } })
      const env = StreamExecutionEnvironment.create({ parallelism: 1 })
      const stream = env.fromSource(new KafkaSource<N>({ brokers: kafkaBrokers(), topics: [topic], stopAtOffsets: 'latest', deserializer: de, registryRetries: 2, registryRetryBackoffMs: 50 }), WatermarkStrategy.noWatermarks())
      const rows: N[] = []
      const letters: DeadLetter[] = []
      stream.sinkTo(new CollectSink(rows))
      stream.getSideOutput(DEAD_LETTERS).sinkTo(new CollectSink(letters))
      const started = Date.now()
      const error = await env.execute('silent-registry').then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(FluxionError)
      expect((error as FluxionError).code).toBe('FLX_SCHEMA_REGISTRY_UNAVAILABLE')
      expect((error as FluxionError).retriable).toBe(true)
      expect((error as Error).message).toMatch(new RegExp(`after 2 tries, at ${topic}-0 offset 0: .*Timeout`))
      expect(rows).toEqual([])
      expect(letters).toEqual([])
      expect(sockets.length).toBeGreaterThanOrEqual(2) // it did try (twice, plus the client's own retries)
      expect(Date.now() - started).toBeLessThan(30_000)
    } finally {
      for (const s of sockets) s.destroy()
      silent.close()
    }
  }, 60_000)

  it('rejects bad options with FLX_INVALID_CONFIG', () => {
    const base = { brokers: kafkaBrokers(), deserializer: serde }
    const bad = (opts: object) => () => new KafkaSource<N>({ ...base, topics: ['t'], ...opts } as never)
    expect(bad({ topics: [] })).toThrow(/topics must be/)
    expect(bad({ recordDeserializer: kafkaRecordDeserializer({ value: serde, map: (r) => r.value }) })).toThrow(/exactly one of deserializer/)
    expect(bad({ startFrom: 'committed' })).toThrow(/needs a groupId/)
    expect(bad({ groupId: 'g', startFrom: { committed: { reset: 'never' } } })).toThrow(/reset must be/)
    expect(bad({ startFrom: 'newest' })).toThrow(/startFrom must be/)
    expect(bad({ partitionDiscoveryIntervalMs: -1 })).toThrow(/partitionDiscoveryIntervalMs/)
    expect(bad({ commitOffsetsOnCheckpoint: true })).toThrow(/needs a groupId/)
    try {
      bad({ topics: [] })()
    } catch (e) {
      expect((e as FluxionError).code).toBe('FLX_INVALID_CONFIG')
    }
  })
})
