/**
 * The control topic of the exactly-once KafkaSink: a compacted, single-partition topic in which
 * each Kafka transaction of the sink also writes one control record per epoch it publishes, so
 * "epoch e of subtask s is in Kafka" is itself transactional:
 *
 *   key   `<transactionalIdPrefix>/<subtask>/<epoch>`
 *   value JSON `{ "token": <id of that preparation of the epoch>, "records": <count> }`
 *
 * After a restart the sink reads the topic with read_committed up to a probe record it has just
 * committed itself (so everything committed before is visible), and republishes only the epochs
 * whose key does not carry the epoch's token.
 *
 * Every epoch has its own key, so compaction alone would keep them all: the topic is created with
 * `cleanup.policy=compact,delete` and `retention.ms` = the sink's `controlTopicRetentionMs` (default
 * 24 h), which bounds its size and what a recovery reads. The cost, as with Flink's transaction
 * timeout: restoring a checkpoint or savepoint whose pending epochs were committed longer ago than
 * that publishes those epochs again (duplicates, never a loss).
 */
import { randomUUID } from 'node:crypto'
import type { Kafka, Producer } from 'kafkajs'

/** The control record key of one epoch of one subtask. */
export function controlKey(sink: string, subtask: number, epoch: number): string {
  return `${sink}/${subtask}/${epoch}`
}

const probeKey = (sink: string) => `${sink}/probe`

/**
 * Rejects with a retriable error when `work` has not settled within `ms`. kafkajs calls can hang
 * (e.g. a disconnect while the client reconnects to a restarted broker); the work goes on unobserved.
 */
export function bounded<R>(work: Promise<R>, ms: number, what: string): Promise<R> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KafkaTimeout(`${what} did not finish within ${ms} ms`)), ms)
  })
  work.catch(() => {})
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}

/** A Kafka operation took too long: its outcome is unknown, trying again may help. */
export class KafkaTimeout extends Error {}

/** Disconnects a kafkajs client without waiting more than a few seconds or throwing. */
export async function disconnectQuietly(client: { disconnect(): Promise<void> }): Promise<void> {
  await bounded(client.disconnect(), 5_000, 'disconnect').catch(() => {})
}

/** Default `controlTopicRetentionMs`: 24 h. */
export const DEFAULT_CONTROL_RETENTION_MS = 24 * 3600 * 1000

/**
 * Creates the control topic if it is missing: one partition, compacted, records deleted after
 * `retentionMs` (segments roll every quarter of it, so the last one ages out too). An existing
 * topic is left as it is.
 */
export async function ensureControlTopic(kafka: Kafka, topic: string, retentionMs = DEFAULT_CONTROL_RETENTION_MS): Promise<void> {
  const admin = kafka.admin()
  try {
    await admin.connect()
    const existing = await admin.listTopics()
    if (existing.includes(topic)) return
    try {
      await admin.createTopics({
        topics: [
          {
            topic,
            numPartitions: 1,
            configEntries: [
              { name: 'cleanup.policy', value: 'compact,delete' },
              { name: 'retention.ms', value: String(retentionMs) },
              { name: 'segment.ms', value: String(Math.max(60_000, Math.floor(retentionMs / 4))) },
            ],
          },
        ],
        waitForLeaders: true,
      })
    } catch (e) {
      // Another subtask or process created it at the same time.
      if (!(await admin.listTopics()).includes(topic)) throw e
    }
  } finally {
    await disconnectQuietly(admin)
  }
}

/**
 * Reads the control records of `sink`: control key → token of the committed epoch. `producer` is
 * a transactional producer of the sink, already initialised (so any transaction of a zombie with
 * its id is finished): it commits a probe record, and the topic is read with read_committed until
 * that probe, so every transaction committed before is included.
 */
export async function readCommittedEpochs(kafka: Kafka, topic: string, sink: string, producer: Producer, timeoutMs: number): Promise<Map<string, string>> {
  const probe = randomUUID()
  const txn = await producer.transaction()
  try {
    await txn.send({ topic, messages: [{ key: probeKey(sink), value: probe }], acks: -1 })
    await txn.commit()
  } catch (e) {
    await txn.abort().catch(() => {})
    throw e
  }
  const prefix = `${sink}/`
  const committed = new Map<string, string>()
  const consumer = kafka.consumer({ groupId: `fluxion-control-reader-${randomUUID()}`, readUncommitted: false, allowAutoTopicCreation: false, maxWaitTimeInMs: 100 })
  let timer: NodeJS.Timeout | undefined
  try {
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new KafkaTimeout(`reading the control topic "${topic}" to its end took more than ${timeoutMs} ms`)),
        timeoutMs,
      )
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ message }) => {
            const key = message.key?.toString('utf8')
            if (!key?.startsWith(prefix)) return
            if (key === probeKey(sink)) {
              if (message.value?.toString('utf8') === probe) resolve()
              return
            }
            if (message.value === null) committed.delete(key)
            else committed.set(key, (JSON.parse(message.value.toString('utf8')) as { token: string }).token)
          },
        })
        .catch(reject)
    })
  } finally {
    clearTimeout(timer)
    await disconnectQuietly(consumer)
  }
  return committed
}
