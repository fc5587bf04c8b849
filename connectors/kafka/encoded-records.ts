/**
 * Kafka records serialized at write time and kept back to back in one buffer: what the KafkaSink
 * holds between a record's write and its send (at-least-once: until the batch is sent; exactly-once:
 * until the epoch's checkpoint completes, as checkpoint state).
 *
 * Why: a record object per pending record made every checkpoint clone and serialize thousands of
 * small objects, and serialization waited for the commit (a promise per record). One buffer per
 * batch or epoch is one copy in a checkpoint, and the records' bytes are ready to send.
 *
 * Layout of `EncodedRecords`: for record i, `lengths[2i]` is its key length in bytes (−1: null key,
 * −2: no key, so the partitioner chooses), `lengths[2i+1]` its value length; the key's bytes and then
 * the value's bytes follow each other in `bytes`, record after record. `partitions` (−1: by key) and
 * `headers` are present only when the sink chooses them.
 *
 * Contract: an `EncodedRecords` is immutable once `finish()` returned it (checkpoints keep a
 * reference to it, not a copy). After a checkpoint restore its arrays come back as plain typed
 * arrays (Uint8Array, not Buffer): readers must not rely on Buffer methods.
 */
import type { IHeaders, Message } from 'kafkajs'

export interface EncodedRecords {
  count: number
  bytes: Uint8Array
  lengths: Int32Array
  partitions?: Int32Array
  headers?: (IHeaders | undefined)[]
}

const NULL_KEY = -1
const NO_KEY = -2

/**
 * Writes `value` at `pos` of `buf`; returns the end position, a negative number (−bytes missing)
 * when `buf` is too small, or undefined when it cannot encode synchronously (nothing written).
 */
export type EncodeInto<T> = (value: T, buf: Buffer, pos: number) => number | undefined

/** Builds one `EncodedRecords`. Grows its buffer by doubling; `finish()` trims it. */
export class EncodedRecordsBuilder {
  private buf: Buffer
  private pos = 0
  private lengths: Int32Array
  private partitions: Int32Array | undefined
  private headers: (IHeaders | undefined)[] | undefined
  private n = 0

  /** The buffer keeps the size it grew to across `finish()` calls, so a steady state does not re-grow. */
  constructor(initialBytes = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(256, initialBytes))
    this.lengths = new Int32Array(256)
  }

  get count(): number {
    return this.n
  }

  /** Bytes of keys and values so far. */
  get byteLength(): number {
    return this.pos
  }

  /**
   * Appends one record; false (nothing appended) when `encodeValue` cannot encode synchronously.
   * `encodeValue` writes the value's bytes (called again with a larger buffer if the first one was
   * too small). `partition` −1 or undefined: by key.
   */
  append<T>(value: T, encodeValue: EncodeInto<T>, key: string | Uint8Array | null | undefined, partition?: number, headers?: IHeaders): boolean {
    const i = this.n
    if (2 * i + 2 > this.lengths.length) this.lengths = grow(this.lengths, this.lengths.length * 2)
    const start = this.pos
    let keyLength = NO_KEY
    if (key === null) keyLength = NULL_KEY
    else if (typeof key === 'string') {
      this.ensure(start + key.length * 3)
      keyLength = this.buf.write(key, start, 'utf8')
    } else if (key !== undefined) {
      this.ensure(start + key.length)
      this.buf.set(key, start)
      keyLength = key.length
    }
    const valueStart = start + Math.max(keyLength, 0)
    let end = encodeValue(value, this.buf, valueStart)
    while (end !== undefined && end < 0) {
      this.ensure(this.buf.length - end)
      end = encodeValue(value, this.buf, valueStart)
    }
    if (end === undefined) return false
    this.lengths[2 * i] = keyLength
    this.lengths[2 * i + 1] = end - valueStart
    this.pos = end
    if (partition !== undefined && partition >= 0) {
      this.partitions ??= new Int32Array(this.lengths.length / 2).fill(-1)
      if (this.partitions.length < this.lengths.length / 2) this.partitions = grow(this.partitions, this.lengths.length / 2, -1)
      this.partitions[i] = partition
    }
    if (headers) {
      this.headers ??= []
      this.headers[i] = headers
    }
    this.n = i + 1
    return true
  }

  /** The records so far (immutable from now on); the builder starts over, empty. */
  finish(): EncodedRecords {
    const out: EncodedRecords = { count: this.n, bytes: Buffer.from(this.buf.subarray(0, this.pos)), lengths: this.lengths.slice(0, 2 * this.n) }
    if (this.partitions) out.partitions = this.partitions.slice(0, this.n)
    if (this.headers) {
      this.headers.length = this.n
      out.headers = this.headers
    }
    this.pos = 0
    this.n = 0
    this.partitions = undefined
    this.headers = undefined
    return out
  }

  private ensure(size: number): void {
    if (size <= this.buf.length) return
    let n = this.buf.length * 2
    while (n < size) n *= 2
    const next = Buffer.allocUnsafe(n)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }
}

function grow(a: Int32Array, size: number, fill = 0): Int32Array {
  const out = new Int32Array(size)
  out.set(a)
  if (fill !== 0) out.fill(fill, a.length)
  return out
}

function asBuffer(a: Uint8Array): Buffer {
  return Buffer.isBuffer(a) ? a : Buffer.from(a.buffer, a.byteOffset, a.byteLength)
}

/** kafkajs wants Buffers (in keys and headers); checkpoints give back Uint8Arrays. */
export function headersOf(h: IHeaders): IHeaders {
  const out: IHeaders = {}
  for (const [k, v] of Object.entries(h)) out[k] = Array.isArray(v) ? v.map((x) => toBufferIfBytes(x)) : toBufferIfBytes(v)
  return out
}

export function toBufferIfBytes<V>(v: V): V | Buffer {
  return v instanceof Uint8Array ? asBuffer(v) : v
}

/**
 * The records as kafkajs messages, in chunks of at most `maxRecords` records and about `maxBytes`
 * bytes (a chunk always holds at least one record). The messages' buffers are views of `records`.
 */
export function* kafkaMessageChunks(records: EncodedRecords, maxRecords: number, maxBytes: number): Generator<Message[]> {
  const bytes = asBuffer(records.bytes)
  const { lengths, partitions, headers } = records
  let pos = 0
  let chunk: Message[] = []
  let chunkBytes = 0
  for (let i = 0; i < records.count; i++) {
    const keyLength = lengths[2 * i]
    const valueLength = lengths[2 * i + 1]
    const m: Message = { value: null }
    if (keyLength === NULL_KEY) m.key = null
    else if (keyLength >= 0) {
      m.key = bytes.subarray(pos, pos + keyLength)
      pos += keyLength
    }
    m.value = bytes.subarray(pos, pos + valueLength)
    pos += valueLength
    if (partitions && partitions[i] >= 0) m.partition = partitions[i]
    const h = headers?.[i]
    if (h) m.headers = headersOf(h)
    if (chunk.length > 0 && (chunk.length >= maxRecords || chunkBytes + valueLength > maxBytes)) {
      yield chunk
      chunk = []
      chunkBytes = 0
    }
    chunk.push(m)
    chunkBytes += valueLength + Math.max(keyLength, 0)
  }
  if (chunk.length > 0) yield chunk
}
