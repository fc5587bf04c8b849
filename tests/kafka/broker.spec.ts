// Checks of the real Kafka broker and schema registry that the Kafka connectors rely on: topics,
// produce/consume, transactions under read_committed, and the Confluent-compatible registry with
// the Confluent wire format and Avro schema evolution. No mocks: tests/kafka-setup.ts (globalSetup)
// provides KAFKA_BROKERS and SCHEMA_REGISTRY_URL, starting the local stack when they are not given.
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry'
import avro from 'avsc'
import { Kafka, logLevel, Partitioners, type Admin, type Consumer, type Producer } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isLocalStack, kafkaBrokers, restartBroker, schemaRegistryUrl, uniqueName } from './env.ts'

interface Received {
  key: string | null
  value: Buffer
  offset: string
}

// Quiet: kafkajs logs retriable broker answers (coordinator loading, concurrent transactions) as
// errors before retrying them; real failures still reject the calls and fail the tests.
const kafka = new Kafka({ clientId: 'fluxion-broker-spec', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING })
const createdTopics: string[] = []
const createdSubjects: string[] = []
const clients: Array<Producer | Consumer | Admin> = []
let admin: Admin

function producer(opts: Parameters<Kafka['producer']>[0] = {}): Producer {
  const p = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, ...opts })
  clients.push(p)
  return p
}

async function createTopic(prefix: string, numPartitions = 1): Promise<string> {
  const topic = uniqueName(prefix)
  const created = await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: true })
  expect(created).toBe(true)
  createdTopics.push(topic)
  return topic
}

/** Consumes `topic` from the beginning with a fresh group until `count` records arrived (or fails after timeoutMs). */
async function consume(topic: string, count: number, opts: { readUncommitted?: boolean; timeoutMs?: number } = {}): Promise<Received[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('fluxion-spec-group'), readUncommitted: opts.readUncommitted ?? false })
  clients.push(consumer)
  const got: Received[] = []
  try {
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out after ${opts.timeoutMs ?? 20_000} ms with ${got.length}/${count} records from ${topic}`)),
        opts.timeoutMs ?? 20_000,
      )
      consumer
        .run({
          eachMessage: async ({ message }) => {
            got.push({ key: message.key?.toString() ?? null, value: message.value ?? Buffer.alloc(0), offset: message.offset })
            if (got.length >= count) {
              clearTimeout(timer)
              resolve()
            }
          },
        })
        .catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return got
}

beforeAll(async () => {
  admin = kafka.admin()
  clients.push(admin)
  await admin.connect()
})

afterAll(async () => {
  const registry = schemaRegistryUrl()
  for (const subject of createdSubjects) {
    await fetch(`${registry}/subjects/${encodeURIComponent(subject)}`, { method: 'DELETE' }).catch(() => {})
  }
  if (createdTopics.length > 0) await admin.deleteTopics({ topics: createdTopics }).catch(() => {})
  await Promise.all(clients.map((c) => c.disconnect().catch(() => {})))
})

describe('Kafka broker', () => {
  it('reports a single-node cluster', async () => {
    const cluster = await admin.describeCluster()
    expect(cluster.brokers.length).toBeGreaterThanOrEqual(1)
    expect(cluster.controller).not.toBeNull()
  })

  it('creates a topic with the requested partitions', async () => {
    const topic = await createTopic('fluxion-spec-topic', 3)
    const meta = await admin.fetchTopicMetadata({ topics: [topic] })
    expect(meta.topics).toHaveLength(1)
    expect(meta.topics[0].partitions).toHaveLength(3)
    expect(await admin.listTopics()).toContain(topic)
  })

  it('produces and consumes keyed records', async () => {
    const topic = await createTopic('fluxion-spec-plain', 2)
    const p = producer()
    await p.connect()
    const messages = Array.from({ length: 20 }, (_, i) => ({ key: `k${i % 4}`, value: `v${i}` }))
    await p.send({ topic, messages })
    await p.disconnect()

    const got = await consume(topic, messages.length)
    expect(got.map((r) => r.value.toString()).sort()).toEqual(messages.map((m) => m.value).sort())
    // Same key, same partition: per-key order is preserved.
    for (const key of ['k0', 'k1', 'k2', 'k3']) {
      const values = got.filter((r) => r.key === key).map((r) => Number(r.value.toString().slice(1)))
      expect(values).toEqual([...values].sort((a, b) => a - b))
      expect(values).toHaveLength(5)
    }
  })

  it('hides an aborted transaction from a read_committed consumer and shows the committed one', async () => {
    const topic = await createTopic('fluxion-spec-txn')
    const p = producer({ transactionalId: uniqueName('fluxion-spec-txn'), idempotent: true, maxInFlightRequests: 1 })
    await p.connect()

    const aborted = await p.transaction()
    await aborted.send({ topic, messages: [0, 1, 2].map((i) => ({ key: 'a', value: `aborted-${i}` })) })
    await aborted.abort()

    const committed = await p.transaction()
    await committed.send({ topic, messages: [0, 1, 2].map((i) => ({ key: 'c', value: `committed-${i}` })) })
    await committed.commit()
    await p.disconnect()

    // The aborted records sit before the committed ones in the log, so a consumer that has the
    // three committed records has already passed over them.
    const readCommitted = await consume(topic, 3)
    expect(readCommitted.map((r) => r.value.toString())).toEqual(['committed-0', 'committed-1', 'committed-2'])
    // Offsets: 3 aborted records (0-2) + abort marker (3), then the committed ones from 4.
    expect(readCommitted.map((r) => Number(r.offset))).toEqual([4, 5, 6])

    // Sensitivity check: the aborted records are really in the log.
    const readUncommitted = await consume(topic, 6, { readUncommitted: true })
    expect(readUncommitted.map((r) => r.value.toString())).toEqual([
      'aborted-0',
      'aborted-1',
      'aborted-2',
      'committed-0',
      'committed-1',
      'committed-2',
    ])
  })
})

describe('Local broker restart (scripts/kafka/restart-broker.sh)', () => {
  // Only the stack that scripts/kafka/up.sh manages can be restarted; a broker given through
  // KAFKA_BROKERS is not ours to stop.
  it.skipIf(!isLocalStack())('keeps committed data across a restart, and clients reconnect', async () => {
    const topic = await createTopic('fluxion-spec-restart')
    const p = producer({ transactionalId: uniqueName('fluxion-spec-restart'), idempotent: true, maxInFlightRequests: 1 })
    await p.connect()
    const before = await p.transaction()
    await before.send({ topic, messages: [{ value: 'before-restart' }] })
    await before.commit()

    await restartBroker()

    // The same producer (same transactional id) commits again after the restart.
    const after = await p.transaction()
    await after.send({ topic, messages: [{ value: 'after-restart' }] })
    await after.commit()
    await p.disconnect()
    const got = await consume(topic, 2)
    expect(got.map((r) => r.value.toString())).toEqual(['before-restart', 'after-restart'])
  })
})

describe('Schema registry (Confluent-compatible API)', () => {
  type Field = { name: string; type: avro.Schema; default?: unknown }
  const record = (fields: Field[]): avro.Schema => ({ type: 'record', name: 'User', namespace: 'dev.fluxion.spec', fields })
  const v1Fields: Field[] = [
    { name: 'id', type: 'long' },
    { name: 'name', type: 'string' },
  ]
  const userV1 = record(v1Fields)
  // Backward compatible: a new field with a default.
  const userV2 = record([...v1Fields, { name: 'email', type: ['null', 'string'], default: null }])
  // Not backward compatible: a new field without a default.
  const userBad = record([...v1Fields, { name: 'age', type: 'int' }])

  it('answers GET /config/{subject} with 404 for an unknown subject (register() relies on it)', async () => {
    const res = await fetch(`${schemaRegistryUrl()}/config/${uniqueName('fluxion-spec-nosuch')}-value`)
    expect(res.status).toBe(404)
  })

  it('round-trips Avro in the Confluent wire format through Kafka and resolves v1 data with a v2 reader', async () => {
    const registry = new SchemaRegistry({ host: schemaRegistryUrl() })
    const topic = await createTopic('fluxion-spec-avro')
    const subject = `${topic}-value`
    createdSubjects.push(subject)

    const { id: v1 } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(userV1) }, { subject })
    expect(v1).toBeGreaterThan(0)
    // Registering the same schema again is idempotent.
    expect((await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(userV1) }, { subject })).id).toBe(v1)

    const record = { id: 42, name: 'ada' }
    const encoded = await registry.encode(v1, record)
    expect(encoded[0]).toBe(0) // magic byte
    expect(encoded.readInt32BE(1)).toBe(v1) // schema id, big-endian
    expect(avro.Type.forSchema(userV1).fromBuffer(encoded.subarray(5))).toEqual(record)

    const p = producer()
    await p.connect()
    await p.send({ topic, messages: [{ key: '42', value: encoded }] })
    await p.disconnect()
    const [received] = await consume(topic, 1)
    expect(Buffer.compare(received.value, encoded)).toBe(0)
    expect(await registry.decode(received.value)).toEqual(record)

    // v2: compatible, so it registers as a new version with a new id.
    const { id: v2 } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(userV2) }, { subject })
    expect(v2).not.toBe(v1)
    expect(await registry.getLatestSchemaId(subject)).toBe(v2)
    const versions = (await (await fetch(`${schemaRegistryUrl()}/subjects/${subject}/versions`)).json()) as number[]
    expect(versions).toEqual([1, 2])

    // A job compiled with v2 reads the v1 bytes: writer schema by id from the registry, then avsc's resolver.
    const writerRes = await fetch(`${schemaRegistryUrl()}/schemas/ids/${received.value.readInt32BE(1)}`)
    expect(writerRes.status).toBe(200)
    const writer = avro.Type.forSchema(JSON.parse(((await writerRes.json()) as { schema: string }).schema) as avro.Schema)
    const reader = avro.Type.forSchema(userV2)
    const resolved = reader.fromBuffer(received.value.subarray(5), reader.createResolver(writer))
    expect(resolved).toEqual({ id: 42, name: 'ada', email: null })

    // And v2 data still round-trips through the registry client.
    const encodedV2 = await registry.encode(v2, { id: 7, name: 'bob', email: 'bob@example.com' })
    expect(encodedV2.readInt32BE(1)).toBe(v2)
    expect(await registry.decode(encodedV2)).toEqual({ id: 7, name: 'bob', email: 'bob@example.com' })

    // The subject's BACKWARD compatibility (set by register()) is enforced: a new field without a default is refused.
    await expect(
      registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(userBad) }, { subject }),
    ).rejects.toThrow(/incompatible/i)
    expect(await registry.getLatestSchemaId(subject)).toBe(v2)
  })
})
