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
 */
import { randomUUID } from 'node:crypto'
import type { Kafka, Producer } from 'kafkajs'
import { FluxionError } from '../../engine/errors.ts'

/** The control record key of one epoch of one subtask. */
export function controlKey(sink: string, subtask: number, epoch: number): string {
  return `${sink}/${subtask}/${epoch}`
}

const probeKey = (sink: string) => `${sink}/probe`

/** Creates the control topic if it is missing (one partition, cleanup.policy=compact). */
export async function ensureControlTopic(kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const existing = await admin.listTopics()
    if (existing.includes(topic)) return
    try {
      await admin.createTopics({
        topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
        waitForLeaders: true,
      })
    } catch (e) {
      // Another subtask or process created it at the same time.
      if (!(await admin.listTopics()).includes(topic)) throw e
    }
  } finally {
    await admin.disconnect().catch(() => {})
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
        () => reject(new FluxionError('FLX_SINK_FAILED', `KafkaSink: the control topic "${topic}" was not read to its end within ${timeoutMs} ms`, { retriable: true })),
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
    await consumer.disconnect().catch(() => {})
  }
  return committed
}
