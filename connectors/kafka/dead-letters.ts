/**
 * Writing a Kafka source's dead letters to a dead-letter topic: the original key, value and headers,
 * with the error and the record's coordinates added as `fluxion.dlq.*` headers. Use it with a KafkaSink:
 *
 *   stream.getSideOutput(DEAD_LETTERS).sinkTo(new KafkaSink({ brokers, topic: 'orders-dlq', ...kafkaDeadLetterFormat }))
 */
import type { DeadLetter } from '../../engine/source.ts'
import type { KafkaSerializer } from './avro-serde.ts'

/** Header names of a dead-letter record. */
export const DEAD_LETTER_HEADERS = {
  error: 'fluxion.dlq.error',
  reason: 'fluxion.dlq.reason',
  source: 'fluxion.dlq.source',
  topic: 'fluxion.dlq.topic',
  partition: 'fluxion.dlq.partition',
  offset: 'fluxion.dlq.offset',
} as const

/** KafkaSink options (serializer, key, headers) that write a dead letter as its original record. */
export const kafkaDeadLetterFormat: {
  serializer: KafkaSerializer<DeadLetter>
  key: (letter: DeadLetter) => Buffer | null
  headers: (letter: DeadLetter) => Record<string, string | Buffer | Buffer[]>
} = {
  /** The original value bytes (an empty value for a tombstone). */
  serializer: { serialize: (letter) => Buffer.from(letter.raw, 'base64') },
  key: (letter) => (letter.key === undefined || letter.key === null ? null : Buffer.from(letter.key, 'base64')),
  headers: (letter) => {
    const h: Record<string, string | Buffer | Buffer[]> = {}
    for (const [name, v] of Object.entries(letter.headers ?? {})) h[name] = Array.isArray(v) ? v.map((x) => Buffer.from(x, 'base64')) : Buffer.from(v, 'base64')
    h[DEAD_LETTER_HEADERS.error] = letter.error
    h[DEAD_LETTER_HEADERS.reason] = letter.reason ?? 'unreadable'
    h[DEAD_LETTER_HEADERS.source] = letter.source
    const { topic, partition, offset } = letter.position
    if (topic !== undefined) h[DEAD_LETTER_HEADERS.topic] = String(topic)
    if (partition !== undefined) h[DEAD_LETTER_HEADERS.partition] = String(partition)
    if (offset !== undefined) h[DEAD_LETTER_HEADERS.offset] = String(offset)
    return h
  },
}
