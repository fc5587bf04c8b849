/**
 * The Kafka benchmark's parts, so that `npm run bench:kafka` does not rot: the data and the map
 * against their Avro schemas, the CPU attribution rules, and one small run of the child process for
 * the decode and at-least-once stages against the real broker, with the output read back.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { avroType, AvroSerializer } from '../../connectors/kafka/avro-serde.ts'
import { kafkaBrokers, schemaRegistryUrl, uniqueName } from '../../tests/kafka/env.ts'
import { categoryOf } from './attribution.ts'
import { deleteTopics, fillTopic, kafkaClient, readBack, recreateTopic } from './kafka-io.ts'
import { runChild } from './spawn.ts'
import { ENRICHED_SCHEMA, enrich, makeTransaction, TRANSACTION_SCHEMA, type EnrichedTransaction, type Transaction } from './transactions.ts'

const kafka = kafkaClient(kafkaBrokers(), 'fluxion-kafka-bench-spec')
const topics: string[] = []

afterAll(async () => {
  await deleteTopics(kafka, topics)
  for (const t of topics) await fetch(`${schemaRegistryUrl()}/subjects/${encodeURIComponent(`${t}-value`)}`, { method: 'DELETE' }).catch(() => {})
})

describe('Kafka benchmark', () => {
  it('transactions and their enrichment are valid values of their Avro schemas and survive a round trip', () => {
    const tx = avroType(TRANSACTION_SCHEMA)
    const out = avroType(ENRICHED_SCHEMA)
    for (let i = 0; i < 2000; i++) {
      const t = makeTransaction(i, 1_700_000_000_000 + i)
      expect(tx.isValid(t)).toBe(true)
      expect(tx.fromBuffer(tx.toBuffer(t))).toEqual(t)
      const e = enrich(t)
      expect(out.isValid(e)).toBe(true)
      expect(e.eventTime).toBe(t.eventTime)
      expect(e.amountEur).toBeGreaterThan(0)
    }
    expect(makeTransaction(7, 1)).toEqual(makeTransaction(7, 1))
    expect(new Set(Array.from({ length: 5000 }, (_, i) => makeTransaction(i, 0).txId)).size).toBe(5000)
  })

  it('attributes profile frames to their owner; Node internals are charged to the caller', () => {
    const root = new URL('../..', import.meta.url).href
    expect(categoryOf('send', `${root}node_modules/kafkajs/src/producer/index.js`)).toBe('kafkajs')
    expect(categoryOf('readString', `${root}node_modules/avsc/lib/utils.js`)).toBe('avro')
    expect(categoryOf('deserialize', `${root}connectors/kafka/avro-serde.ts`)).toBe('avro')
    expect(categoryOf('pollNext', `${root}connectors/kafka/kafka-source.ts`)).toBe('kafka-source')
    expect(categoryOf('write', `${root}connectors/kafka/kafka-sink.ts`)).toBe('kafka-sink')
    expect(categoryOf('publish', `${root}connectors/kafka/exactly-once-kafka-sink.ts`)).toBe('kafka-sink')
    expect(categoryOf('onBatch', `${root}connectors/kafka/kafka-reader.ts`)).toBe('kafka-source')
    expect(categoryOf('collect', `${root}engine/output.ts`)).toBe('engine')
    expect(categoryOf('enrich', `${root}bench/kafka/transactions.ts`)).toBe('job code')
    expect(categoryOf('(garbage collector)', '')).toBe('GC')
    expect(categoryOf('FastBuffer', 'node:internal/buffer')).toBeUndefined()
  })

  it('a child run of the decode and at-least-once stages reads every record and writes every transaction once', async () => {
    const events = 2000
    const input = uniqueName('fluxion-kbench-in')
    const output = uniqueName('fluxion-kbench-out')
    topics.push(input, output)
    await recreateTopic(kafka, input, 2)
    await recreateTopic(kafka, output, 2)
    const serializer = new AvroSerializer<Transaction>({ registry: schemaRegistryUrl(), schema: TRANSACTION_SCHEMA })
    const fill = await fillTopic({ kafka, topic: input, partitions: 2, serializer, make: makeTransaction, batch: 1000 }, 0, events)
    expect(fill.records).toBe(events)
    const args = ['--brokers', kafkaBrokers().join(','), '--registry', schemaRegistryUrl(), '--input', input, '--output', output, '--events', String(events), '--checkpoint-ms', '500']
    const decoded = await runChild(['--stage', 'decode', ...args])
    expect(decoded.records).toBe(events)
    expect(decoded.eventsPerSecond).toBeGreaterThan(0)
    const piped = await runChild(['--stage', 'at-least-once', ...args])
    expect(piped.records).toBe(events)
    const type = avroType(ENRICHED_SCHEMA)
    const ids = new Map<string, EnrichedTransaction>()
    const n = await readBack({ kafka, topic: output, expected: events, idleMs: 10_000, onRecord: (v) => ids.set((type.fromBuffer(v.subarray(5)) as EnrichedTransaction).txId, type.fromBuffer(v.subarray(5)) as EnrichedTransaction) })
    expect(n).toBe(events)
    expect(ids.size).toBe(events)
    const t = makeTransaction(42, 0)
    expect({ ...ids.get(t.txId), eventTime: 0 }).toEqual({ ...enrich(t), riskScore: ids.get(t.txId)!.riskScore })
    expect(Math.abs(ids.get(t.txId)!.riskScore - enrich(t).riskScore)).toBeLessThan(1e-6)
  }, 60_000)
})
