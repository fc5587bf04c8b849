// Exactly-once KafkaSink at the level of its two-phase-commit contract, against the real broker:
// which epochs a recovery republishes, zombie transactions, fencing, large epochs, keys, partitions
// and headers, and the start-up checks.
import { deserialize, serialize } from 'node:v8'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel, type Admin } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FluxionError, StreamExecutionEnvironment } from '../../index.ts'
import { jsonSerde } from '../../connectors/kafka/avro-serde.ts'
import { KafkaSink, type KafkaSinkOptions } from '../../connectors/kafka/kafka-sink.ts'
import type { KafkaEpoch } from '../../connectors/kafka/exactly-once-kafka-sink.ts'
import { FINAL_CHECKPOINT_ID } from '../../engine/operator.ts'
import type { Committer, PrecommittingSinkWriter } from '../../operators/sink.ts'
import { kafkaBrokers, uniqueName } from './env.ts'
import { readTopic } from './read-committed.ts'

interface Row {
  id: number
  pad?: string
}

const kafka = new Kafka({ clientId: 'fluxion-eos-sink-spec', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING })
const createdTopics: string[] = []
let admin: Admin

async function createTopic(prefix: string, numPartitions = 1): Promise<string> {
  const topic = uniqueName(prefix)
  await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: true })
  createdTopics.push(topic)
  return topic
}

beforeAll(async () => {
  admin = kafka.admin()
  await admin.connect()
})

afterAll(async () => {
  if (createdTopics.length > 0) await admin.deleteTopics({ topics: createdTopics }).catch(() => {})
  await admin.disconnect().catch(() => {})
})

/** A sink as a (re)started process would build it: same prefix and control topic. */
function eosSink(topic: string, prefix: string, extra: Partial<KafkaSinkOptions<Row>> = {}): KafkaSink<Row> {
  const controlTopic = `${prefix}.control`
  if (!createdTopics.includes(controlTopic)) createdTopics.push(controlTopic)
  return new KafkaSink<Row>({ brokers: kafkaBrokers(), topic, serializer: jsonSerde<Row>(), deliveryGuarantee: 'exactly-once', transactionalIdPrefix: prefix, controlTopic, ...extra })
}

function writer(sink: KafkaSink<Row>, subtaskIndex = 0, parallelism = 1): PrecommittingSinkWriter<Row, KafkaEpoch> {
  return sink.createWriter({ subtaskIndex, parallelism }) as PrecommittingSinkWriter<Row, KafkaEpoch>
}

/** Writes rows [from, to) and prepares them as `epoch`. */
function epoch(w: PrecommittingSinkWriter<Row, KafkaEpoch>, epochId: number, from: number, to: number): KafkaEpoch[] {
  for (let id = from; id < to; id++) w.write({ id }, undefined)
  return w.prepareCommit(epochId)
}

/** What a checkpoint gives back after a restart: a deep copy through v8 serialization. */
const throughCheckpoint = <C>(c: C): C => deserialize(serialize(c)) as C

const ids = (rows: { value: string }[]) => rows.map((r) => (JSON.parse(r.value) as Row).id).sort((a, b) => a - b)
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

describe('exactly-once KafkaSink: recovery', () => {
  it('a crash between checkpoint completion and the Kafka commit republishes exactly the missing epoch', async () => {
    const topic = await createTopic('eos-recover', 3)
    const prefix = uniqueName('eos-recover')
    // Run 1: epochs 1 and 2 prepared (in checkpoint 2); epoch 1 committed; the process dies
    // after checkpoint 2 completed but before its commit reached Kafka.
    const run1 = eosSink(topic, prefix)
    const w1 = writer(run1)
    const e1 = epoch(w1, 1, 0, 40)
    const e2 = epoch(w1, 2, 40, 100)
    await run1.createCommitter().commit(e1)
    w1.close?.()
    const checkpoint2 = throughCheckpoint([...e1, ...e2])

    const afterRun1 = await readTopic(kafkaBrokers(), topic, 40)
    expect(ids(afterRun1)).toEqual(range(0, 40))

    // Run 2 recovers from checkpoint 2: both epochs are handed to the committer again; only epoch 2
    // is missing from the control topic, so only it is published.
    const run2 = eosSink(topic, prefix)
    await run2.createCommitter().commit(checkpoint2)
    const afterRun2 = await readTopic(kafkaBrokers(), topic, 100)
    expect(ids(afterRun2)).toEqual(range(0, 100))

    // Run 3 recovers from the same checkpoint again: everything is committed, nothing is republished.
    const run3 = eosSink(topic, prefix)
    await run3.createCommitter().commit(throughCheckpoint(checkpoint2))
    const afterRun3 = await readTopic(kafkaBrokers(), topic, 100)
    expect(ids(afterRun3)).toEqual(range(0, 100))

    // The control topic says which epochs are done, one record each (with the token of that preparation).
    const control = await readTopic(kafkaBrokers(), `${prefix}.control`, 2)
    const byKey = new Map(control.filter((r) => !r.key!.endsWith('/probe')).map((r) => [r.key, JSON.parse(r.value) as { token: string; records: number }]))
    expect([...byKey.keys()].sort()).toEqual([`${prefix}/0/1`, `${prefix}/0/2`])
    expect(byKey.get(`${prefix}/0/1`)).toEqual({ token: e1[0].token, records: 40 })
    expect(byKey.get(`${prefix}/0/2`)).toEqual({ token: e2[0].token, records: 60 })
  })

  it('a transaction left open by a killed process is aborted, and read_committed readers never see it', async () => {
    const topic = await createTopic('eos-zombie', 2)
    const prefix = uniqueName('eos-zombie')
    // The "previous process": its producer (same transactionalId as subtask 0) sent records of an
    // epoch and died before committing.
    const zombie = kafka.producer({ transactionalId: `${prefix}-0`, idempotent: true, maxInFlightRequests: 1 })
    await zombie.connect()
    const txn = await zombie.transaction()
    await txn.send({ topic, messages: [{ value: JSON.stringify({ id: -1 }) }, { value: JSON.stringify({ id: -2 }) }] })

    const sink = eosSink(topic, prefix)
    const w = writer(sink)
    await sink.createCommitter().commit(epoch(w, 7, 0, 25))
    w.close?.()
    await expect(txn.commit()).rejects.toThrow() // fenced: the zombie can no longer commit
    await zombie.disconnect().catch(() => {})

    expect(ids(await readTopic(kafkaBrokers(), topic, 25))).toEqual(range(0, 25))
    // Read uncommitted, the aborted records are there: the test would notice if they were committed.
    const raw = await readTopic(kafkaBrokers(), topic, 27, { readUncommitted: true })
    expect(ids(raw)).toEqual([-2, -1, ...range(0, 25)])
  })

  it('a fenced producer fails with FLX_KAFKA_PRODUCER_FENCED', async () => {
    const topic = await createTopic('eos-fenced')
    const prefix = uniqueName('eos-fenced')
    const a = eosSink(topic, prefix)
    const wa = writer(a)
    const committerA = a.createCommitter()
    await committerA.commit(epoch(wa, 1, 0, 5))
    // The same sink starts a second time (e.g. the job was started twice): its producer fences A's.
    const b = eosSink(topic, prefix)
    const wb = writer(b)
    await b.createCommitter().commit(epoch(wb, 1, 100, 105))
    const err = await Promise.resolve(committerA.commit(epoch(wa, 2, 5, 10))).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FluxionError)
    expect((err as FluxionError).code).toBe('FLX_KAFKA_PRODUCER_FENCED')
    expect((err as FluxionError).retriable).toBe(false)
    wa.close?.()
    wb.close?.()
    expect(ids(await readTopic(kafkaBrokers(), topic, 10))).toEqual([...range(0, 5), ...range(100, 105)])
  })
})

describe('exactly-once KafkaSink: records', () => {
  it('a large epoch is sent in chunks within one transaction, each record once', async () => {
    const topic = await createTopic('eos-large', 4)
    const sink = eosSink(topic, uniqueName('eos-large'), { maxChunkBytes: 64 * 1024, batchSize: 300 })
    const w = writer(sink)
    const n = 6_000
    const pad = 'x'.repeat(200)
    for (let id = 0; id < n; id++) w.write({ id, pad }, undefined)
    const committables = w.prepareCommit(FINAL_CHECKPOINT_ID)
    expect(committables).toHaveLength(1)
    await sink.createCommitter().commit(committables)
    w.close?.()
    expect(ids(await readTopic(kafkaBrokers(), topic, n, { timeoutMs: 30_000 }))).toEqual(range(0, n))
  })

  it('keys, explicit partitions and headers are kept (also through a checkpoint)', async () => {
    const topic = await createTopic('eos-keys', 3)
    const sink = eosSink(topic, uniqueName('eos-keys'), {
      key: (r) => (r.id % 2 === 0 ? `k${r.id}` : Buffer.from([r.id])),
      partition: (r) => r.id % 3,
      headers: (r) => ({ source: 'spec', id: Buffer.from(String(r.id)), tags: ['a', Buffer.from('b')] }),
    })
    const w = writer(sink)
    const committables = throughCheckpoint(epoch(w, 3, 0, 12))
    await sink.createCommitter().commit(committables)
    w.close?.()
    const rows = await readTopic(kafkaBrokers(), topic, 12)
    expect(rows).toHaveLength(12)
    for (const r of rows) {
      const id = (JSON.parse(r.value) as Row).id
      expect(r.partition).toBe(id % 3)
      expect(r.key).toBe(id % 2 === 0 ? `k${id}` : Buffer.from([id]).toString('utf8'))
      expect(String(r.headers.source)).toBe('spec')
      expect(String(r.headers.id)).toBe(String(id))
      expect((r.headers.tags as Buffer[]).map(String)).toEqual(['a', 'b'])
    }
  })

  it('the control topic it creates is compacted and bounded in time (retention.ms, rolling segments)', async () => {
    const topic = await createTopic('eos-control')
    const prefix = uniqueName('eos-control')
    const sink = eosSink(topic, prefix, { controlTopicRetentionMs: 3_600_000 })
    const w = writer(sink)
    await sink.createCommitter().commit(epoch(w, 1, 0, 3))
    w.close?.()
    const described = await admin.describeConfigs({ resources: [{ type: 2 /* TOPIC */, name: `${prefix}.control`, configNames: ['cleanup.policy', 'retention.ms', 'segment.ms'] }], includeSynonyms: false })
    const config = Object.fromEntries(described.resources[0].configEntries.map((e) => [e.configName, e.configValue]))
    expect(config).toEqual({ 'cleanup.policy': 'compact,delete', 'retention.ms': '3600000', 'segment.ms': '900000' })
  })

  it('an empty epoch prepares nothing and commits nothing', async () => {
    const topic = await createTopic('eos-empty')
    const sink = eosSink(topic, uniqueName('eos-empty'))
    const w = writer(sink)
    expect(w.prepareCommit(1)).toEqual([])
    const committer: Committer<unknown> = sink.createCommitter()
    await committer.commit([])
    w.close?.()
    expect(await readTopic(kafkaBrokers(), topic, 0, { graceMs: 500 })).toEqual([])
  })
})

describe('exactly-once KafkaSink: configuration', () => {
  it('needs checkpointing: fails when the job is submitted, before it runs', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 1 })
    env.fromCollection([{ id: 1 }]).sinkTo(new KafkaSink<Row>({ brokers: kafkaBrokers(), topic: 'never-written', serializer: jsonSerde<Row>(), deliveryGuarantee: 'exactly-once', transactionalIdPrefix: 'x' }))
    const err = await env.execute('no-checkpoints').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FluxionError)
    expect((err as FluxionError).code).toBe('FLX_INVALID_CONFIG')
    expect((err as Error).message).toMatch(/needs checkpointing/)
  })

  it('needs a valid transactionalIdPrefix and a known deliveryGuarantee', () => {
    const base = { brokers: kafkaBrokers(), topic: 't', serializer: jsonSerde<Row>() }
    expect(() => new KafkaSink<Row>({ ...base, deliveryGuarantee: 'exactly-once' })).toThrow(/FLX_INVALID_CONFIG.*transactionalIdPrefix/)
    expect(() => new KafkaSink<Row>({ ...base, deliveryGuarantee: 'exactly-once', transactionalIdPrefix: 'has space' })).toThrow(/FLX_INVALID_CONFIG/)
    expect(() => new KafkaSink<Row>({ ...base, deliveryGuarantee: 'exactly-twice' as 'exactly-once' })).toThrow(/FLX_INVALID_CONFIG.*deliveryGuarantee/)
    // At-least-once needs no checkpointing and no prefix.
    const env = StreamExecutionEnvironment.create({ parallelism: 1, checkpoint: { intervalMs: 1_000, dir: mkdtempSync(join(tmpdir(), 'fluxion-eos-cfg-')) } })
    expect(() => env.fromCollection([{ id: 1 }]).sinkTo(new KafkaSink<Row>(base))).not.toThrow()
  })

  it('rejects batch, linger and retention settings out of range, naming the option', () => {
    const base = { brokers: kafkaBrokers(), topic: 't', serializer: jsonSerde<Row>() }
    expect(() => new KafkaSink<Row>({ ...base, batchSize: 0 })).toThrow(/FLX_INVALID_CONFIG.*batchSize must be an integer >= 1/)
    expect(() => new KafkaSink<Row>({ ...base, maxChunkBytes: 1.5 })).toThrow(/maxChunkBytes/)
    expect(() => new KafkaSink<Row>({ ...base, lingerMs: -1 })).toThrow(/lingerMs must be an integer >= 0/)
    expect(() => new KafkaSink<Row>({ ...base, deliveryGuarantee: 'exactly-once', transactionalIdPrefix: 'p', controlTopicRetentionMs: 1000 })).toThrow(/controlTopicRetentionMs must be an integer >= 60000/)
    expect(() => new KafkaSink<Row>({ ...base, lingerMs: 0 })).not.toThrow()
  })
})
