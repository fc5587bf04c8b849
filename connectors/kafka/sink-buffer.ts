/**
 * What a KafkaSink writer holds between `write` and the send: records serialized at write time into
 * one buffer (`EncodedRecords`), or, while the serializer cannot serialize synchronously (an Avro
 * serializer whose schema id is still being registered, a serializer that returns promises), the
 * records themselves, serialized when they are sent.
 *
 * A batch keeps write order: once a record of the batch had to be kept as a value, the following
 * ones are kept as values too, so `encoded` always precedes `values`.
 */
import type { IHeaders, Message } from 'kafkajs'
import type { KafkaSerializer } from './avro-serde.ts'
import { EncodedRecordsBuilder, headersOf, kafkaMessageChunks, toBufferIfBytes, type EncodeInto, type EncodedRecords } from './encoded-records.ts'
import type { KafkaSinkOptions } from './kafka-sink.ts'

/** One record kept as a value (serialized when sent), with the key, partition and headers chosen at write time. */
export interface PendingKafkaRecord {
  value: unknown
  key?: string | Uint8Array | null
  partition?: number
  headers?: IHeaders
}

/** Records of one send or one checkpoint epoch, in write order: `encoded` first, then `values`. */
export interface PendingBatch {
  encoded?: EncodedRecords
  values?: PendingKafkaRecord[]
}

/** A serializer failed: bad data, retrying does not help. */
export class SerializeFailure extends Error {}

export class SinkBuffer<T> {
  private readonly builder = new EncodedRecordsBuilder()
  private values: PendingKafkaRecord[] = []
  /** The serializer returned a promise once: it is not asked at write time again. */
  private serializesAsync = false
  private readonly encodeInto: EncodeInto<T>
  /** A serialized value that did not fit the buffer: copied once the buffer grew, not serialized again. */
  private unfitted: { value: T; bytes: Buffer } | undefined

  constructor(private readonly opts: Pick<KafkaSinkOptions<T>, 'serializer' | 'topic' | 'key' | 'partition' | 'headers'>) {
    const { serializer, topic } = opts
    this.encodeInto = serializer.encodeInto
      ? (value, buf, pos) => serializer.encodeInto!(value, topic, buf, pos)
      : (value, buf, pos) => this.copySync(serializer, value, buf, pos)
  }

  /** Records held. */
  get count(): number {
    return this.builder.count + this.values.length
  }

  /** Bytes of the serialized records held (records kept as values not counted). */
  get byteLength(): number {
    return this.builder.byteLength
  }

  /** Serializes and holds one record; throws what the serializer or the key/partition/headers functions throw. */
  write(value: T): void {
    const { key, partition, headers } = this.opts
    const k = key ? key(value) : undefined
    const p = partition ? partition(value) : undefined
    const h = headers ? headers(value) : undefined
    if (this.values.length === 0 && !this.serializesAsync && this.builder.append(value, this.encodeInto, k, p, h)) return
    const r: PendingKafkaRecord = { value }
    if (k !== undefined) r.key = k
    if (p !== undefined) r.partition = p
    if (h) r.headers = h
    this.values.push(r)
  }

  /** The records held (immutable from now on), or undefined when there are none; the buffer starts over. */
  take(): PendingBatch | undefined {
    if (this.count === 0) return undefined
    const batch: PendingBatch = {}
    if (this.builder.count > 0) batch.encoded = this.builder.finish()
    if (this.values.length > 0) {
      batch.values = this.values
      this.values = []
    }
    return batch
  }

  /** A serializer without `encodeInto`: its synchronous result is copied in; a promise means "keep the value". */
  private copySync(serializer: KafkaSerializer<T>, value: T, buf: Buffer, pos: number): number | undefined {
    const out = this.unfitted?.value === value ? this.unfitted.bytes : serializer.serialize(value, this.opts.topic)
    this.unfitted = undefined
    if (!Buffer.isBuffer(out)) {
      void Promise.resolve(out).catch(() => {}) // serialized again when sent
      this.serializesAsync = true
      return undefined
    }
    if (pos + out.length > buf.length) {
      this.unfitted = { value, bytes: out }
      return buf.length - (pos + out.length)
    }
    out.copy(buf, pos)
    return pos + out.length
  }
}

export function batchSize(batch: PendingBatch): number {
  return (batch.encoded?.count ?? 0) + (batch.values?.length ?? 0)
}

/**
 * The batch as kafkajs messages in chunks of at most `maxRecords` records and about `maxBytes`
 * bytes. Records kept as values are serialized here; a serializer failure is a SerializeFailure.
 */
export async function* messageChunks<T>(batch: PendingBatch, serializer: KafkaSerializer<T>, topic: string, maxRecords: number, maxBytes: number): AsyncGenerator<Message[]> {
  if (batch.encoded) yield* kafkaMessageChunks(batch.encoded, maxRecords, maxBytes)
  if (!batch.values) return
  let chunk: Message[] = []
  let bytes = 0
  for (const r of batch.values) {
    let value: Buffer
    try {
      value = await serializer.serialize(r.value as T, topic)
    } catch (e) {
      throw new SerializeFailure(e instanceof Error ? e.message : String(e), { cause: e })
    }
    const m: Message = { value }
    if (r.key !== undefined) m.key = r.key === null ? null : (toBufferIfBytes(r.key) as string | Buffer)
    if (r.partition !== undefined) m.partition = r.partition
    if (r.headers) m.headers = headersOf(r.headers)
    if (chunk.length > 0 && (chunk.length >= maxRecords || bytes + value.length > maxBytes)) {
      yield chunk
      chunk = []
      bytes = 0
    }
    chunk.push(m)
    bytes += value.length + (m.key?.length ?? 0)
  }
  if (chunk.length > 0) yield chunk
}
