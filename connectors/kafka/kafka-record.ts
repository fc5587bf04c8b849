/**
 * What a KafkaSource hands to the job: the whole Kafka record (key, value, headers, timestamp,
 * topic, partition, offset), as Flink's KafkaRecordDeserializationSchema, or just the value.
 */
import type { DecodeResult, KafkaDeserializer } from './avro-serde.ts'

/** Kafka header values: one Buffer, or several when the key repeats. */
export type KafkaHeaders = Readonly<Record<string, Buffer | Buffer[] | undefined>>

/** One Kafka record with its key and value (raw bytes, or decoded). */
export interface KafkaRecord<K = Buffer | null, V = Buffer | null> {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  /** The record's Kafka timestamp (create or log-append time), epoch ms. */
  readonly timestamp: number
  readonly key: K
  readonly value: V
  readonly headers: KafkaHeaders
}

/**
 * Turns a raw Kafka record into a T, or a typed failure (the record then goes to DEAD_LETTERS with
 * its coordinates and original bytes). Return a promise only when work is truly asynchronous (a
 * registry look-up): the source awaits nothing for synchronous results. A throw counts as a
 * 'deserializer-failed' dead letter. Failures of kind 'registry-unavailable' are retried.
 */
export interface KafkaRecordDeserializer<T> {
  deserialize(record: KafkaRecord): DecodeResult<T> | Promise<DecodeResult<T>>
}

export interface RecordDeserializerOptions<T, K, V> {
  /** Decodes the value (e.g. an AvroDeserializer or jsonSerde()). A null value (tombstone) is a dead letter. */
  value: KafkaDeserializer<V>
  /** Decodes the key; default: the key's raw bytes (or null). */
  key?: KafkaDeserializer<K>
  /** Builds the job's record from the decoded record; a throw makes it a dead letter. */
  map: (record: KafkaRecord<K, V>) => T
}

const isPromise = <X>(x: X | Promise<X>): x is Promise<X> => typeof (x as { then?: unknown } | null)?.then === 'function'

/** A record deserializer from a value (and optional key) deserializer plus a mapping. */
export function kafkaRecordDeserializer<T, V, K = Buffer | null>(opts: RecordDeserializerOptions<T, K, V>): KafkaRecordDeserializer<T> {
  const finish = (record: KafkaRecord, key: DecodeResult<K>, value: DecodeResult<V>): DecodeResult<T> => {
    if (!key.ok) return { ...key, error: `key: ${key.error}` }
    if (!value.ok) return value
    try {
      return { ok: true, value: opts.map({ topic: record.topic, partition: record.partition, offset: record.offset, timestamp: record.timestamp, headers: record.headers, key: key.value, value: value.value }) }
    } catch (e) {
      return { ok: false, kind: 'deserializer-failed', error: `map threw: ${e instanceof Error ? e.message : String(e)}` }
    }
  }
  const rawKey = (record: KafkaRecord): DecodeResult<K> => ({ ok: true, value: record.key as K })
  return {
    deserialize(record) {
      if (record.value === null) return TOMBSTONE
      const key = opts.key && record.key !== null ? opts.key.deserialize(record.key, record.topic) : rawKey(record)
      const value = opts.value.deserialize(record.value, record.topic)
      if (!isPromise(key) && !isPromise(value)) return finish(record, key, value)
      return Promise.all([key, value]).then(([k, v]) => finish(record, k, v))
    },
  }
}

/** The failure of a null value (tombstone) where a value was expected. */
export const TOMBSTONE: DecodeResult<never> = { ok: false, kind: 'tombstone', error: 'null value (tombstone)' }

export { isPromise }
