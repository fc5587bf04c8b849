/**
 * Nexmark via the real Kafka broker: the generator's events written to one topic as Avro (Nexmark's
 * Kafka layout, kafka.ts), read back by KafkaSource with per-partition watermarks, q0 and q5 run on
 * them and compared with the plain reference computations (reference.ts) as multisets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEAD_LETTERS, StreamExecutionEnvironment } from '../../index.ts'
import { AvroSerializer } from '../../connectors/kafka/avro-serde.ts'
import { kafkaBrokers, schemaRegistryUrl, uniqueName } from '../../tests/kafka/env.ts'
import { deleteTopics, kafkaClient, recreateTopic } from '../kafka/kafka-io.ts'
import { createGenerator, type NexmarkConfig } from './generator.ts'
import { fillNexmarkTopic, fromKafkaRecord, kafkaNexmarkSource, NEXMARK_EVENT_SCHEMA, toKafkaRecord, type NexmarkKafkaRecord } from './kafka.ts'
import type { NexmarkEvent } from './model.ts'
import { queryByName } from './queries/index.ts'
import * as ref from './reference.ts'

/** 500 events/s of event time: 12k events span 24 s (several 10 s hop windows every 2 s). */
const CONFIG: Partial<NexmarkConfig> = { seed: 11, eventsPerSecond: 500, outOfOrderGroupSize: 400 }
const COUNT = 12_000
const PARTITIONS = 3

const kafka = kafkaClient(kafkaBrokers(), 'fluxion-nexmark-kafka-spec')
const topic = uniqueName('fluxion-nexmark')
const events: NexmarkEvent[] = (() => {
  const g = createGenerator(CONFIG)
  return Array.from({ length: COUNT }, (_, i) => g(i))
})()

const multiset = (rows: readonly unknown[]): string[] => rows.map((r) => JSON.stringify(r)).sort()

beforeAll(async () => {
  await recreateTopic(kafka, topic, PARTITIONS)
  await fillNexmarkTopic({ kafka, registry: schemaRegistryUrl(), topic, partitions: PARTITIONS }, COUNT, CONFIG)
  // One record that is not a Nexmark event (a bid record without its bid): it must become a dead letter.
  const serializer = new AvroSerializer<NexmarkKafkaRecord>({ registry: schemaRegistryUrl(), schema: NEXMARK_EVENT_SCHEMA })
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: [{ value: await serializer.serialize({ event_type: 2, person: null, auction: null, bid: null }, topic), partition: 0 }] })
  await producer.disconnect()
})

afterAll(async () => {
  await deleteTopics(kafka, [topic])
  await fetch(`${schemaRegistryUrl()}/subjects/${encodeURIComponent(`${topic}-value`)}`, { method: 'DELETE' }).catch(() => {})
})

async function runQuery(name: string, parallelism: number): Promise<{ rows: unknown[]; deadLetters: number }> {
  const env = StreamExecutionEnvironment.create({ parallelism, batchSize: 256 })
  const source = kafkaNexmarkSource(env, { brokers: kafkaBrokers(), registry: schemaRegistryUrl(), topic })
  const [rows, dead] = await env.executeAndCollect(queryByName(name).build(env, source), source.getSideOutput(DEAD_LETTERS))
  return { rows, deadLetters: dead.length }
}

describe('Nexmark from Kafka (Avro, one topic, 3 partitions) vs the reference', () => {
  it('the Kafka record layout round-trips every kind of event', () => {
    for (const e of events.slice(0, 200)) expect(fromKafkaRecord(toKafkaRecord(e))).toEqual(e)
    expect(fromKafkaRecord({ event_type: 1, person: null, auction: null, bid: null })).toBeUndefined()
  })

  it('q0 at parallelism 2 returns every bid (the malformed record is a dead letter)', async () => {
    const { rows, deadLetters } = await runQuery('q0', 2)
    expect(rows.length).toBe(ref.refQ0(events).length)
    expect(multiset(rows)).toEqual(multiset(ref.refQ0(events)))
    expect(deadLetters).toBe(1)
  }, 30_000)

  it('q5 at parallelism 1 and 2 (hop windows on per-partition watermarks) matches the reference', async () => {
    const expected = multiset(ref.refQ5(events))
    expect(expected.length).toBeGreaterThan(10)
    for (const p of [1, 2]) expect(multiset((await runQuery('q5', p)).rows)).toEqual(expected)
  }, 40_000)
})
