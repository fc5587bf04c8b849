// Test helper: read a topic from the beginning as a read_committed consumer would.
import { randomUUID } from 'node:crypto'
import { Kafka, logLevel, type IHeaders } from 'kafkajs'

export interface ReadRecord {
  partition: number
  offset: string
  key: string | null
  value: string
  headers: IHeaders
}

/**
 * Reads `topic` with isolation level read_committed (or read_uncommitted) until at least
 * `expected` records arrived, then keeps reading for `graceMs` more so that duplicates show up too;
 * gives up after `timeoutMs` and returns what it has.
 */
export async function readTopic(
  brokers: string[],
  topic: string,
  expected: number,
  opts: { graceMs?: number; timeoutMs?: number; readUncommitted?: boolean } = {},
): Promise<ReadRecord[]> {
  const kafka = new Kafka({ clientId: 'fluxion-test-reader', brokers, logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: `fluxion-test-reader-${randomUUID()}`, readUncommitted: opts.readUncommitted ?? false, maxWaitTimeInMs: 100 })
  const out: ReadRecord[] = []
  let timer: NodeJS.Timeout | undefined
  try {
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      let grace: NodeJS.Timeout | undefined
      timer = setTimeout(resolve, opts.timeoutMs ?? 20_000)
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            out.push({ partition, offset: message.offset, key: message.key?.toString('utf8') ?? null, value: message.value?.toString('utf8') ?? '', headers: message.headers ?? {} })
            if (out.length >= expected && grace === undefined) {
              grace = setTimeout(resolve, opts.graceMs ?? 1_500)
            }
          },
        })
        .catch(reject)
      if (expected === 0) grace = setTimeout(resolve, opts.graceMs ?? 1_500)
    })
  } finally {
    clearTimeout(timer)
    await consumer.disconnect().catch(() => {})
  }
  return out
}
