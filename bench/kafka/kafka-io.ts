/**
 * Plain kafkajs helpers of the Kafka benchmarks (no Fluxion in between): create and delete topics,
 * pre-fill a topic as fast as the client can, produce at a fixed rate, and read a topic back with
 * a read_committed consumer. Values are Avro in the Confluent wire format, encoded by the project's
 * AvroSerializer (schema registered once, then `encodeWithId`, synchronous).
 */
import { Kafka, logLevel, type Admin, type Message, type Producer } from 'kafkajs'
import { AvroSerializer } from '../../connectors/kafka/avro-serde.ts'

export function kafkaClient(brokers: string[], clientId: string): Kafka {
  return new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING })
}

export async function withAdmin<R>(kafka: Kafka, fn: (admin: Admin) => Promise<R>): Promise<R> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    return await fn(admin)
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

/** Creates `topic` with `partitions` partitions (deleting an old one of that name first). */
export async function recreateTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  await withAdmin(kafka, async (admin) => {
    const existing = await admin.listTopics()
    if (existing.includes(topic)) {
      await admin.deleteTopics({ topics: [topic] })
      // Deletion is asynchronous on the broker: wait until the name is free.
      for (let i = 0; i < 100 && (await admin.listTopics()).includes(topic); i++) await sleep(100)
    }
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true })
  })
}

export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  if (topics.length === 0) return
  await withAdmin(kafka, (admin) => admin.deleteTopics({ topics }).catch(() => {}))
}

/** Total records in `topic` (sum of high − low watermarks; transaction markers count too). */
export async function topicSize(kafka: Kafka, topic: string): Promise<number> {
  return withAdmin(kafka, async (admin) => (await admin.fetchTopicOffsets(topic)).reduce((n, o) => n + Number(o.high) - Number(o.low), 0))
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export interface FillOptions<T> {
  kafka: Kafka
  topic: string
  partitions: number
  serializer: AvroSerializer<T>
  /** Record i, produced at `now` (epoch ms; also the Kafka record timestamp). */
  make: (i: number, now: number) => T
  /** Key bytes of a record (null: no key). */
  key?: (value: T) => string | null
  /** Records per send request. */
  batch?: number
  /** Send requests in flight at once. */
  inFlight?: number
}

export interface FillResult {
  records: number
  bytes: number
  seconds: number
  recordsPerSecond: number
  compression: 'none'
  acks: -1
}

function newProducer(kafka: Kafka): Producer {
  // Explicit partitions (round-robin by index), so no partitioner is used; the legacy one silences kafkajs' warning.
  return kafka.producer({ allowAutoTopicCreation: false, maxInFlightRequests: undefined })
}

/**
 * Produces records `from` … `from + count − 1` to `topic`, record i to partition i mod partitions,
 * in uncompressed requests of about `batch` records with up to `inFlight` requests in flight,
 * acks = all. Each partition is written by one sender, one request after the other, so every
 * partition holds its records in index order (concurrent requests for the same partition could
 * land in either order).
 */
export async function fillTopic<T>(o: FillOptions<T>, from: number, count: number): Promise<FillResult> {
  const producer = newProducer(o.kafka)
  await producer.connect()
  const id = await o.serializer.schemaId(o.topic)
  const batch = o.batch ?? 5_000
  const senders = Math.max(1, Math.min(o.inFlight ?? 4, o.partitions))
  const started = performance.now()
  let bytes = 0
  const end = from + count
  // Sender w writes the partitions p with p mod senders = w, walking the indices in order.
  const sender = async (w: number): Promise<void> => {
    const stride = Math.max(1, Math.floor((batch * o.partitions) / Math.ceil(o.partitions / senders) / senders) * senders)
    for (let lo = from; lo < end; lo += stride) {
      const hi = Math.min(end, lo + stride)
      const now = Date.now()
      const timestamp = String(now)
      const messages: Message[] = []
      for (let i = lo; i < hi; i++) {
        const partition = i % o.partitions
        if (partition % senders !== w) continue
        const value = o.make(i, now)
        const bytesOf = o.serializer.encodeWithId(id, value)
        bytes += bytesOf.length
        messages.push({ key: o.key?.(value) ?? null, value: bytesOf, partition, timestamp })
      }
      if (messages.length > 0) await producer.send({ topic: o.topic, messages, acks: -1 })
    }
  }
  try {
    await Promise.all(Array.from({ length: senders }, (_, w) => sender(w)))
  } finally {
    await producer.disconnect().catch(() => {})
  }
  const seconds = (performance.now() - started) / 1000
  return { records: count, bytes, seconds, recordsPerSecond: Math.round(count / seconds), compression: 'none', acks: -1 }
}

/**
 * Produces `count` records starting at index `from` at `rate` records/s (in slices every 10 ms:
 * each slice sends what is due by then, stamped with the current time). Resolves when all are acked.
 */
export async function producePaced<T>(o: FillOptions<T>, from: number, count: number, rate: number): Promise<{ seconds: number; achievedRate: number }> {
  const producer = newProducer(o.kafka)
  await producer.connect()
  const id = await o.serializer.schemaId(o.topic)
  const started = performance.now()
  let sent = 0
  const pending: Promise<unknown>[] = []
  try {
    while (sent < count) {
      const due = Math.min(count, Math.floor(((performance.now() - started) / 1000) * rate) + 1)
      if (due > sent) {
        const now = Date.now()
        const timestamp = String(now)
        const messages: Message[] = []
        for (let i = from + sent; i < from + due; i++) {
          const value = o.make(i, now)
          messages.push({ key: o.key?.(value) ?? null, value: o.serializer.encodeWithId(id, value), partition: i % o.partitions, timestamp })
        }
        sent = due
        pending.push(producer.send({ topic: o.topic, messages, acks: -1 }))
        if (pending.length > 64) await pending.shift()
      }
      await sleep(10)
    }
    await Promise.all(pending)
  } finally {
    await producer.disconnect().catch(() => {})
  }
  const seconds = (performance.now() - started) / 1000
  return { seconds, achievedRate: Math.round(count / seconds) }
}

export interface ReadBackOptions {
  kafka: Kafka
  topic: string
  /** Stop after this many records … */
  expected: number
  /** … or after this long without a new record (ms). */
  idleMs: number
  /** Called for every record, in order per partition, with the wall time (epoch ms) of its batch's arrival and the record's Kafka timestamp. */
  onRecord?: (value: Buffer, seenAt: number, timestamp: number) => void
  /** Resolves once the consumer has joined and been assigned (before it reads). */
  onReady?: () => void
}

/**
 * Reads `topic` from the beginning with a read_committed consumer (kafkajs' default isolation) until
 * `expected` records arrived or none arrived for `idleMs`. Returns the count.
 */
export async function readBack(o: ReadBackOptions): Promise<number> {
  const consumer = o.kafka.consumer({ groupId: `fluxion-bench-verify-${process.pid}-${Date.now()}`, readUncommitted: false, maxBytes: 50 * 1024 * 1024 })
  await consumer.connect()
  await consumer.subscribe({ topics: [o.topic], fromBeginning: true })
  let count = 0
  let lastAt = Date.now()
  let done: () => void = () => {}
  const finished = new Promise<void>((resolve) => (done = resolve))
  consumer.on(consumer.events.GROUP_JOIN, () => o.onReady?.())
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      const seenAt = Date.now()
      lastAt = seenAt
      for (const m of batch.messages) {
        if (m.value && o.onRecord) o.onRecord(m.value, seenAt, Number(m.timestamp))
        count++
      }
      if (count >= o.expected) done()
    },
  })
  const idle = setInterval(() => {
    if (Date.now() - lastAt > o.idleMs) done()
  }, 100)
  await finished
  clearInterval(idle)
  await consumer.disconnect().catch(() => {})
  return count
}
