// KafkaSource, KafkaSink and the Avro serde against the real broker and registry (no mocks).
import avro from 'avsc'
import fc from 'fast-check'
import { Kafka, logLevel, Partitioners, type Admin, type Producer } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry'
import { CollectSink, DEAD_LETTERS, FluxionError, StreamExecutionEnvironment, WatermarkStrategy, type DeadLetter } from '../../index.ts'
import { AvroDeserializer, AvroSerializer, jsonSerde } from '../../connectors/kafka/avro-serde.ts'
import { KafkaSink } from '../../connectors/kafka/kafka-sink.ts'
import { KafkaSource, type KafkaSplit } from '../../connectors/kafka/kafka-source.ts'
import type { ReaderOutput } from '../../engine/source.ts'
import { SystemClock } from '../../engine/time.ts'
import { kafkaBrokers, schemaRegistryUrl, uniqueName } from './env.ts'

const kafka = new Kafka({ clientId: 'fluxion-connectors-spec', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING })
const createdTopics: string[] = []
const createdSubjects: string[] = []
let admin: Admin
let producer: Producer

async function createTopic(prefix: string, numPartitions = 1): Promise<string> {
  const topic = uniqueName(prefix)
  await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: true })
  createdTopics.push(topic)
  createdSubjects.push(`${topic}-value`)
  return topic
}

beforeAll(async () => {
  admin = kafka.admin()
  await admin.connect()
  producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
})

afterAll(async () => {
  for (const subject of createdSubjects) {
    await fetch(`${schemaRegistryUrl()}/subjects/${encodeURIComponent(subject)}`, { method: 'DELETE' }).catch(() => {})
  }
  if (createdTopics.length > 0) await admin.deleteTopics({ topics: createdTopics }).catch(() => {})
  await producer.disconnect().catch(() => {})
  await admin.disconnect().catch(() => {})
})

const orderSchema: avro.Schema = {
  type: 'record',
  name: 'Order',
  namespace: 'dev.fluxion.spec',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'customer', type: { type: 'record', name: 'Customer', fields: [{ name: 'name', type: 'string' }, { name: 'vip', type: 'boolean' }] } },
    { name: 'items', type: { type: 'array', items: 'string' } },
    { name: 'attrs', type: { type: 'map', values: 'int' } },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'status', type: { type: 'enum', name: 'Status', symbols: ['NEW', 'PAID', 'SHIPPED'] } },
    { name: 'amount', type: { type: 'bytes', logicalType: 'decimal', precision: 12, scale: 2 } },
    { name: 'discount', type: ['null', { type: 'bytes', logicalType: 'decimal', precision: 6, scale: 2 }], default: null },
  ],
}

interface Order {
  id: number
  customer: { name: string; vip: boolean }
  items: string[]
  attrs: Record<string, number>
  note: string | null
  status: 'NEW' | 'PAID' | 'SHIPPED'
  amount: string
  discount: string | null
}

function makeOrder(i: number): Order {
  return {
    id: i,
    customer: { name: `c${i % 7}`, vip: i % 3 === 0 },
    items: Array.from({ length: i % 4 }, (_, k) => `item-${k}`),
    attrs: i % 2 === 0 ? {} : { weight: i, qty: -i },
    note: i % 5 === 0 ? null : `note ${i}`,
    status: (['NEW', 'PAID', 'SHIPPED'] as const)[i % 3],
    amount: i % 4 === 0 ? `-${i}.05` : `${i * 1000}.${String(i % 100).padStart(2, '0')}`,
    discount: i % 2 === 0 ? null : '0.10',
  }
}

const byId = <X extends { id: number }>(xs: X[]) => [...xs].sort((a, b) => a.id - b.id)

describe('Avro serde', () => {
  it('encodes the Confluent wire format and decodes with a typed failure for bad input', async () => {
    const topic = uniqueName('fluxion-serde')
    createdSubjects.push(`${topic}-value`)
    const ser = new AvroSerializer<Order>({ registry: schemaRegistryUrl(), schema: orderSchema })
    const de = new AvroDeserializer<Order>({ registry: schemaRegistryUrl(), schema: orderSchema })
    const bytes = await ser.serialize(makeOrder(3), topic)
    expect(bytes[0]).toBe(0)
    expect(bytes.readInt32BE(1)).toBe(await ser.schemaId(topic))
    expect(await de.deserialize(bytes)).toEqual({ ok: true, value: makeOrder(3) })

    expect(await de.deserialize(Buffer.from('garbage!'))).toMatchObject({ ok: false, kind: 'bad-magic-byte' })
    const unknownId = Buffer.concat([Buffer.from([0, 0x7f, 0, 0, 1]), bytes.subarray(5)])
    expect(await de.deserialize(unknownId)).toMatchObject({ ok: false, kind: 'unknown-schema-id' })
    const truncated = bytes.subarray(0, 8)
    expect(await de.deserialize(truncated)).toMatchObject({ ok: false, kind: 'undecodable' })

    // A writer schema the reader cannot resolve (different record, no defaults): a typed failure too.
    const otherTopic = uniqueName('fluxion-serde-other')
    createdSubjects.push(`${otherTopic}-value`)
    const other = new AvroSerializer<{ x: string }>({ registry: schemaRegistryUrl(), schema: { type: 'record', name: 'Other', fields: [{ name: 'x', type: 'string' }] } })
    const result = await de.deserialize(await other.serialize({ x: 'y' }, otherTopic))
    expect(result).toMatchObject({ ok: false, kind: 'resolution-failed' })
  })

  it('property: random values of the order schema survive encode → Kafka → KafkaSource decode unchanged', async () => {
    const topic = await createTopic('fluxion-serde-prop', 2)
    const ser = new AvroSerializer<Order>({ registry: schemaRegistryUrl(), schema: orderSchema })
    const decimal = (scale: number, maxDigits: number) =>
      fc.tuple(fc.boolean(), fc.bigInt({ min: 0n, max: 10n ** BigInt(maxDigits) - 1n })).map(([neg, n]) => {
        const digits = n.toString().padStart(scale + 1, '0')
        const text = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`
        return neg && n !== 0n ? `-${text}` : text
      })
    const order: fc.Arbitrary<Order> = fc.record({
      id: fc.integer({ min: -1_000_000, max: 1_000_000 }),
      customer: fc.record({ name: fc.string(), vip: fc.boolean() }),
      items: fc.array(fc.string(), { maxLength: 5 }),
      attrs: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxKeys: 4 }),
      note: fc.option(fc.string(), { nil: null }),
      status: fc.constantFrom('NEW' as const, 'PAID' as const, 'SHIPPED' as const),
      amount: decimal(2, 12),
      discount: fc.option(decimal(2, 6), { nil: null }),
    })
    const values = fc.sample(fc.array(order, { minLength: 50, maxLength: 50 }), { numRuns: 1, seed: 42 })[0].map((o, i) => ({ ...o, id: i }))
    await producer.send({ topic, messages: await Promise.all(values.map(async (v) => ({ key: String(v.id), value: await ser.serialize(v, topic) }))) })
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const stream = env.fromSource(
      new KafkaSource<Order>({ brokers: kafkaBrokers(), topics: [topic], stopAtOffsets: 'latest', deserializer: new AvroDeserializer({ registry: schemaRegistryUrl(), schema: orderSchema }) }),
      WatermarkStrategy.noWatermarks<Order>(),
    )
    const [got] = await env.executeAndCollect(stream)
    expect(byId(got as Order[])).toEqual(values)

    // And the serde alone, over many more random values.
    const de = new AvroDeserializer<Order>({ registry: schemaRegistryUrl(), schema: orderSchema })
    await fc.assert(
      fc.asyncProperty(order, async (o) => {
        expect(await de.deserialize(await ser.serialize(o, topic))).toEqual({ ok: true, value: o })
      }),
      { numRuns: 300 },
    )
  }, 60_000)

  it('an unreachable registry is a retriable failure: the source retries with backoff, then fails the job clearly (no record lost)', async () => {
    const topic = await createTopic('fluxion-conn-noreg', 1)
    const ser = new AvroSerializer<Order>({ registry: schemaRegistryUrl(), schema: orderSchema })
    await producer.send({ topic, messages: [{ value: await ser.serialize(makeOrder(1), topic) }] })
    const down = new SchemaRegistry({ host: 'http://127.0.0.1:1', retry: { retries: 0 } })
    const de = new AvroDeserializer<Order>({ registry: down, schema: orderSchema })
    expect(await de.deserialize(await ser.serialize(makeOrder(1), topic))).toMatchObject({ ok: false, kind: 'registry-unavailable' })

    const env = StreamExecutionEnvironment.create({ parallelism: 1 })
    const stream = env.fromSource(new KafkaSource<Order>({ brokers: kafkaBrokers(), topics: [topic], stopAtOffsets: 'latest', deserializer: de, registryRetries: 3 }), WatermarkStrategy.noWatermarks<Order>())
    const error = await env.executeAndCollect(stream, stream.getSideOutput(DEAD_LETTERS)).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(FluxionError)
    expect((error as FluxionError).code).toBe('FLX_SCHEMA_REGISTRY_UNAVAILABLE')
    expect((error as Error).message).toMatch(/schema registry unavailable after 3 tries/)
  }, 60_000)

  it('decimals keep their exact value (negative, zero, many digits)', async () => {
    const topic = uniqueName('fluxion-serde-dec')
    createdSubjects.push(`${topic}-value`)
    const schema: avro.Schema = { type: 'record', name: 'Dec', fields: [{ name: 'd', type: { type: 'bytes', logicalType: 'decimal', precision: 30, scale: 4 } }] }
    const ser = new AvroSerializer<{ d: string }>({ registry: schemaRegistryUrl(), schema })
    const de = new AvroDeserializer<{ d: string }>({ registry: schemaRegistryUrl(), schema })
    for (const d of ['0.0000', '-0.0001', '1.0000', '-128.0000', '12345678901234567890.1234', '-99999999999999999999.9999']) {
      expect(await de.deserialize(await ser.serialize({ d }, topic))).toEqual({ ok: true, value: { d } })
    }
  })
})

describe('KafkaSource and KafkaSink', () => {
  it('round-trips Avro records (records, arrays, maps, unions, enums, decimals, nulls) through a Kafka → job → Kafka pipeline', async () => {
    const input = await createTopic('fluxion-conn-in', 3)
    const output = await createTopic('fluxion-conn-out', 2)
    const orders = Array.from({ length: 60 }, (_, i) => makeOrder(i))

    // Write the input with a job too (KafkaSink keyed by id).
    const env0 = StreamExecutionEnvironment.create({ parallelism: 2 })
    env0.fromCollection(orders).sinkTo(new KafkaSink<Order>({ brokers: kafkaBrokers(), topic: input, key: (o) => String(o.id), serializer: new AvroSerializer({ registry: schemaRegistryUrl(), schema: orderSchema }), batchSize: 7 }))
    await env0.execute('write-input')

    // Kafka → map → Kafka, bounded by the offsets at start.
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const source = new KafkaSource<Order>({ brokers: kafkaBrokers(), topics: [input], stopAtOffsets: 'latest', deserializer: new AvroDeserializer({ registry: schemaRegistryUrl(), schema: orderSchema }) })
    env
      .fromSource(source, WatermarkStrategy.forMonotonousTimestamps<Order>())
      .map((o) => ({ ...o, items: [...o.items, 'checked'] }))
      .sinkTo(new KafkaSink<Order>({ brokers: kafkaBrokers(), topic: output, key: (o) => String(o.id), serializer: new AvroSerializer({ registry: schemaRegistryUrl(), schema: orderSchema }) }))
    await env.execute('kafka-to-kafka')

    // Read the output back with a third job.
    const env2 = StreamExecutionEnvironment.create({ parallelism: 2 })
    const back = env2.fromSource(
      new KafkaSource<Order>({ brokers: kafkaBrokers(), topics: [output], stopAtOffsets: 'latest', deserializer: new AvroDeserializer({ registry: schemaRegistryUrl(), schema: orderSchema }) }),
      WatermarkStrategy.noWatermarks<Order>(),
    )
    const [got] = await env2.executeAndCollect(back)
    expect(byId(got as Order[])).toEqual(orders.map((o) => ({ ...o, items: [...o.items, 'checked'] })))
  }, 90_000)

  it('schema evolution: records written with v1 are read by a job compiled with v2 (field added with default, field removed)', async () => {
    const topic = await createTopic('fluxion-conn-evo', 2)
    const v1: avro.Schema = {
      type: 'record',
      name: 'User',
      namespace: 'dev.fluxion.spec',
      fields: [
        { name: 'id', type: 'long' },
        { name: 'name', type: 'string' },
        { name: 'legacy', type: 'string', default: '' },
      ],
    }
    const v2: avro.Schema = {
      type: 'record',
      name: 'User',
      namespace: 'dev.fluxion.spec',
      fields: [
        { name: 'id', type: 'long' },
        { name: 'name', type: 'string' },
        { name: 'email', type: ['null', 'string'], default: null },
        { name: 'tier', type: 'string', default: 'basic' },
      ],
    }
    const ser = new AvroSerializer<{ id: number; name: string; legacy: string }>({ registry: schemaRegistryUrl(), schema: v1 })
    const users = Array.from({ length: 10 }, (_, i) => ({ id: i, name: `u${i}`, legacy: `old-${i}` }))
    await producer.send({ topic, messages: await Promise.all(users.map(async (u) => ({ key: String(u.id), value: await ser.serialize(u, topic) }))) })

    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const stream = env.fromSource(
      new KafkaSource<{ id: number; name: string; email: string | null; tier: string }>({
        brokers: kafkaBrokers(),
        topics: [topic],
        stopAtOffsets: 'latest',
        deserializer: new AvroDeserializer({ registry: schemaRegistryUrl(), schema: v2 }),
      }),
      WatermarkStrategy.noWatermarks(),
    )
    const [got] = await env.executeAndCollect(stream)
    expect(byId(got as { id: number }[])).toEqual(users.map((u) => ({ id: u.id, name: u.name, email: null, tier: 'basic' })))
  }, 60_000)

  it('poison pills (bad magic byte, garbage, unknown schema id) land in DEAD_LETTERS with their offsets; the rest is processed', async () => {
    const topic = await createTopic('fluxion-conn-poison', 1)
    const ser = new AvroSerializer<Order>({ registry: schemaRegistryUrl(), schema: orderSchema })
    const good = await Promise.all([0, 1, 2, 3, 4].map((i) => ser.serialize(makeOrder(i), topic)))
    const badMagic = Buffer.from([1, ...good[0].subarray(1)])
    const garbage = Buffer.from('definitely not avro')
    const unknownId = Buffer.concat([Buffer.from([0, 0x7f, 0x00, 0x00, 0x02]), good[1].subarray(5)])
    // offsets:           0        1        2        3         4        5          6
    const values = [good[0], badMagic, good[1], garbage, good[2], unknownId, good[3], good[4]]
    await producer.send({ topic, messages: values.map((value) => ({ value })) })

    const env = StreamExecutionEnvironment.create({ parallelism: 1 })
    const stream = env.fromSource(
      new KafkaSource<Order>({ brokers: kafkaBrokers(), topics: [topic], stopAtOffsets: 'latest', deserializer: new AvroDeserializer({ registry: schemaRegistryUrl(), schema: orderSchema }) }),
      WatermarkStrategy.noWatermarks<Order>(),
    )
    const [rows, letters] = await env.executeAndCollect(
      stream.map((o) => o.id),
      stream.getSideOutput(DEAD_LETTERS),
    )
    expect((rows as number[]).sort()).toEqual([0, 1, 2, 3, 4])
    const dead = letters as DeadLetter[]
    expect(dead.map((l) => l.position)).toEqual([
      { topic, partition: 0, offset: 1 },
      { topic, partition: 0, offset: 3 },
      { topic, partition: 0, offset: 5 },
    ])
    expect(dead.every((l) => l.source === topic)).toBe(true)
    expect(dead[0].error).toMatch(/magic byte/)
    expect(dead[2].error).toMatch(/schema id/)
    expect(Buffer.from(dead[1].raw, 'base64').toString()).toBe('definitely not avro')
  }, 60_000)

  it('dead letters can be written to a dead-letter topic with source topic, partition and offset in headers', async () => {
    const topic = await createTopic('fluxion-conn-dlq-in', 1)
    const dlq = await createTopic('fluxion-conn-dlq', 1)
    const ser = new AvroSerializer<Order>({ registry: schemaRegistryUrl(), schema: orderSchema })
    await producer.send({ topic, messages: [{ value: await ser.serialize(makeOrder(1), topic) }, { value: Buffer.from([0xff, 1, 2]) }, { value: await ser.serialize(makeOrder(2), topic) }] })
    const env = StreamExecutionEnvironment.create({ parallelism: 1 })
    const stream = env.fromSource(
      new KafkaSource<Order>({ brokers: kafkaBrokers(), topics: [topic], stopAtOffsets: 'latest', deserializer: new AvroDeserializer({ registry: schemaRegistryUrl(), schema: orderSchema }) }),
      WatermarkStrategy.noWatermarks<Order>(),
    )
    stream.getSideOutput(DEAD_LETTERS).sinkTo(
      new KafkaSink<DeadLetter>({
        brokers: kafkaBrokers(),
        topic: dlq,
        serializer: jsonSerde<DeadLetter>(),
        headers: (l) => ({ 'fluxion.source': l.source, ...Object.fromEntries(Object.entries(l.position).map(([k, v]) => [`fluxion.${k}`, String(v)])), 'fluxion.error': l.error }),
      }),
    )
    const [ids] = await env.executeAndCollect(stream.map((o) => o.id))
    expect((ids as number[]).sort()).toEqual([1, 2])

    const back = StreamExecutionEnvironment.create({ parallelism: 1 })
    const [letters] = await back.executeAndCollect(
      back.fromSource(new KafkaSource({ brokers: kafkaBrokers(), topics: [dlq], stopAtOffsets: 'latest', deserializer: jsonSerde<DeadLetter>() }), WatermarkStrategy.noWatermarks<DeadLetter>()),
    )
    expect(letters).toHaveLength(1)
    const l = letters[0] as DeadLetter
    expect(l.position).toEqual({ topic, partition: 0, offset: 1 })
    expect(Buffer.from(l.raw, 'base64')).toEqual(Buffer.from([0xff, 1, 2]))
  }, 60_000)

  it('KafkaSink sets keys, explicit partitions and headers; KafkaSource can start from a timestamp', async () => {
    const topic = await createTopic('fluxion-conn-sinkopts', 3)
    const serde = jsonSerde<{ id: number; at: number }>()
    const env = StreamExecutionEnvironment.create({ parallelism: 1 })
    env
      .fromCollection(Array.from({ length: 9 }, (_, id) => ({ id, at: id })))
      .sinkTo(new KafkaSink({ brokers: kafkaBrokers(), topic, serializer: serde, key: (v) => `k${v.id}`, partition: (v) => v.id % 3, headers: (v) => ({ id: String(v.id) }) }))
    await env.execute('sink-options')
    const offsets = await admin.fetchTopicOffsets(topic)
    expect(offsets.map((o) => Number(o.high)).sort()).toEqual([3, 3, 3])

    const consumer = kafka.consumer({ groupId: uniqueName('fluxion-conn-check') })
    const seen: { partition: number; key: string; header: string; id: number }[] = []
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timeout')), 20_000)
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          seen.push({ partition, key: message.key!.toString(), header: String(message.headers!.id), id: (JSON.parse(message.value!.toString()) as { id: number }).id })
          if (seen.length === 9) {
            clearTimeout(timer)
            resolve()
          }
        },
      })
    })
    await consumer.disconnect()
    for (const r of seen) {
      expect(r.partition).toBe(r.id % 3)
      expect(r.key).toBe(`k${r.id}`)
      expect(r.header).toBe(String(r.id))
    }

    // Records written after `cut` only.
    await new Promise((r) => setTimeout(r, 20))
    const cut = Date.now()
    await new Promise((r) => setTimeout(r, 20))
    await producer.send({ topic, messages: [100, 101, 102].map((id) => ({ partition: id % 3, value: Buffer.from(JSON.stringify({ id, at: 0 })) })) })
    const env2 = StreamExecutionEnvironment.create({ parallelism: 2 })
    const stream = env2.fromSource(new KafkaSource({ brokers: kafkaBrokers(), topics: [topic], startFrom: { timestamp: cut }, stopAtOffsets: 'latest', deserializer: serde }), WatermarkStrategy.noWatermarks())
    const [late] = await env2.executeAndCollect(stream.map((v) => v.id))
    expect((late as number[]).sort()).toEqual([100, 101, 102])
  }, 60_000)

  it('with checkpoints, a job that fails and restarts resumes from the checkpointed offsets: every record exactly once', async () => {
    const topic = await createTopic('fluxion-conn-chk', 3)
    const serde = jsonSerde<{ n: number }>()
    const count = 3_000
    for (let start = 0; start < count; start += 500) {
      await producer.send({ topic, messages: Array.from({ length: 500 }, (_, i) => ({ key: String(start + i), value: Buffer.from(JSON.stringify({ n: start + i })) })) })
    }
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-kafka-chk-'))
    const env = StreamExecutionEnvironment.create({
      parallelism: 2,
      batchSize: 64,
      checkpoint: { intervalMs: 5, dir },
      restartStrategy: { type: 'fixed-delay', attempts: 5, delayMs: 0 },
    })
    const failAt = new Set([700, 2_100])
    let seen = 0
    const got: number[] = []
    env
      .fromSource(new KafkaSource({ brokers: kafkaBrokers(), topics: [topic], stopAtOffsets: 'latest', deserializer: serde, bufferSize: 200 }), WatermarkStrategy.noWatermarks())
      .map((v) => {
        if (failAt.delete(++seen)) throw new Error('injected failure')
        return v.n
      })
      .sinkTo(new CollectSink(got))
    const result = await env.execute('kafka-checkpointed', { log: () => {} })
    expect(result.restarts).toBeGreaterThanOrEqual(1)
    expect(got.sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => i))
  }, 90_000)

  it('a reader restored from split state resumes at the checkpointed offsets, and snapshots the next offset to read', async () => {
    const topic = await createTopic('fluxion-conn-restore', 2)
    const serde = jsonSerde<{ n: number }>()
    await producer.send({ topic, messages: Array.from({ length: 10 }, (_, n) => ({ partition: n % 2, value: serde.serialize({ n }, topic) as Buffer })) })
    // Partition 0 holds n = 0,2,4,6,8 (offsets 0-4); partition 1 holds 1,3,5,7,9.
    const source = new KafkaSource<{ n: number }>({ brokers: kafkaBrokers(), topics: [topic], stopAtOffsets: 'latest', deserializer: serde })
    const restored: KafkaSplit[] = [
      { topic, partition: 0, offset: 3 },
      { topic, partition: 1, offset: 5 },
    ]
    const reader = source.createReader({ subtaskIndex: 0, parallelism: 1, clock: new SystemClock() }, restored)
    const got: { n: number; ts: number | undefined }[] = []
    const released: string[] = []
    const out: ReaderOutput<{ n: number }> = {
      collect: (v, ts) => void got.push({ n: v.n, ts }),
      deadLetter: (l) => {
        throw new Error(`unexpected dead letter ${JSON.stringify(l)}`)
      },
      createOutputForSplit: () => out,
      releaseOutputForSplit: (id) => void released.push(id),
    }
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      const status = reader.pollNext(out, 100)
      if (status === 'end') break
      if (status === 'nothing') await reader.isAvailable()
    }
    expect(got.map((g) => g.n).sort((a, b) => a - b)).toEqual([6, 8])
    expect(got.every((g) => typeof g.ts === 'number' && g.ts > 0)).toBe(true)
    expect(released.sort()).toEqual([`${topic}-0`, `${topic}-1`])
    expect(reader.snapshotState!()).toEqual([
      { topic, partition: 0, offset: 5 },
      { topic, partition: 1, offset: 5 },
    ])
    await reader.close?.()
  }, 60_000)
})
