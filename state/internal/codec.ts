/**
 * Stored forms and their bytes.
 *
 * In memory (and in the RocksDB backend's cache) a state entry is kept as an object — its
 * "stored form": the value (value, reducing, aggregating state), an array (list state) or a Map
 * (map state). With TTL every value, element or map value is wrapped in a TtlCell.
 *
 * Bytes, as they appear in snapshot rows and RocksDB values, start with a header byte:
 *   bit 0 (FLAG_TTL)    each item carries its TTL timestamp (float64 LE, epoch ms)
 *   bit 1 (FLAG_PACKED) list/map only: the whole array or Map is one v8.serialize payload (used
 *                       when the descriptor keeps the default serializers; much faster)
 *   bit 2 (FLAG_AVRO)   items are Avro binary; the header is followed by the 8-byte fingerprint
 *                       (CRC-64-AVRO, little-endian) of the schema they were written with
 * then [fp]? and:
 *   value:            [ts]? payload
 *   list, packed:     v8(array of values | array of {v, ts})
 *   list:             u32 count, then per element: [ts]? u32 length, payload
 *   map, packed:      v8(Map of key → value | key → {v, ts})
 *   map:              u32 count, then per entry: [ts]? u32 keyLength, key, u32 valueLength, value
 * Decoding converts between the TTL and non-TTL forms, so TTL can be switched on or off for a
 * state between a snapshot and a restore (entries restored into a TTL state start their TTL then).
 * Avro payloads are read through the state's AvroStateCodec (avro.ts): with the schema the
 * fingerprint names, resolved against the descriptor's.
 */
import { deserialize as v8Deserialize, serialize as v8Serialize } from 'node:v8'
import { V8_SERIALIZER, type StateKind, type StateSerializer } from '../api.ts'
import { FINGERPRINT_BYTES, FLAG_AVRO, notAvroError, type AvroStateCodec } from './avro.ts'
import { v8DecodeAt, v8EncodeWithPrefix } from './v8-fast.ts'

export const FLAG_TTL = 1
export const FLAG_PACKED = 2
export { FLAG_AVRO }

/** Whether a frame holds Avro items (and a schema fingerprint). */
export function isAvroFrame(bytes: Uint8Array): boolean {
  return (bytes[0] & FLAG_AVRO) !== 0
}

/** A value with the time (epoch ms) its TTL started. */
export class TtlCell<T = unknown> {
  constructor(
    public v: T,
    public ts: number,
  ) {}
}

type Deserialize = (bytes: Uint8Array) => unknown

export class StateCodec {
  /** List/map: the whole structure is one v8 payload. */
  private readonly packed: boolean
  /** Value-like: the default serializer, used without intermediate copies. */
  private readonly v8: boolean
  /** Header bits and fingerprint every frame this codec writes starts with. */
  private readonly prefix: Uint8Array
  private readonly deserialize: Deserialize

  /**
   * `avro` reads Avro frames (every state has one: entries written with a schema stay readable when
   * the descriptor drops it); with `avro.own` items are written with the descriptor's schema and
   * `serializer` is not used.
   */
  constructor(
    readonly kind: StateKind,
    private readonly serializer: StateSerializer<any>,
    private readonly keySerializer: StateSerializer<any>,
    readonly ttl: boolean,
    readonly avro?: AvroStateCodec,
  ) {
    const own = avro?.own
    if (own !== undefined) {
      this.serializer = { serialize: (v) => avro!.serialize(v), deserialize: () => undefined }
      this.prefix = Buffer.concat([Buffer.of(FLAG_AVRO), own.fingerprint])
    } else this.prefix = Buffer.of(0)
    this.deserialize = (bytes) => this.serializer.deserialize(bytes)
    this.packed = own === undefined && serializer === V8_SERIALIZER && keySerializer === V8_SERIALIZER
    this.v8 = own === undefined && serializer === V8_SERIALIZER
  }

  encode(stored: unknown): Uint8Array {
    switch (this.kind) {
      case 'list':
        return this.packed ? packed(stored, this.ttl) : this.encodeList(stored as unknown[])
      case 'map':
        return this.packed ? packed(stored, this.ttl) : this.encodeMap(stored as Map<unknown, unknown>)
      default: {
        if (this.v8) {
          if (!this.ttl) {
            const out = v8EncodeWithPrefix(stored, 1)
            out[0] = 0
            return out
          }
          const cell = stored as TtlCell
          const out = v8EncodeWithPrefix(cell.v, 9)
          out[0] = FLAG_TTL
          out.writeDoubleLE(cell.ts, 1)
          return out
        }
        const payload = this.serializer.serialize(this.ttl ? (stored as TtlCell).v : stored)
        const out = this.frame((this.ttl ? 8 : 0) + payload.length)
        let at = this.prefix.length
        if (this.ttl) at = out.writeDoubleLE((stored as TtlCell).ts, at)
        out.set(payload, at)
        return out
      }
    }
  }

  /** A buffer of `size` bytes after the prefix, with the prefix (and the TTL flag) written. */
  private frame(size: number): Buffer {
    const out = Buffer.allocUnsafe(this.prefix.length + size)
    out.set(this.prefix, 0)
    if (this.ttl) out[0] |= FLAG_TTL
    return out
  }

  /** Whether decoding `bytes` starts a TTL (the bytes have none, this state has one): write the result back. */
  startsTtl(bytes: Uint8Array): boolean {
    return this.ttl && (bytes[0] & FLAG_TTL) === 0
  }

  /** Decodes bytes into this codec's stored form; `now` starts the TTL of items stored without one. */
  decode(bytes: Uint8Array, now: number): unknown {
    const header = bytes[0]
    const hasTtl = (header & FLAG_TTL) !== 0
    let at = 1
    let deserialize = this.deserialize
    const avroFrame = (header & FLAG_AVRO) !== 0
    if (avroFrame) {
      deserialize = this.avro!.decoderFor(bytes)
      at += FINGERPRINT_BYTES
    } else if (this.avro?.own !== undefined) throw notAvroError(this.avro.stateName)
    if (this.kind === 'list' || this.kind === 'map') {
      if ((header & FLAG_PACKED) !== 0) return this.convertPacked(v8Deserialize(bytes.subarray(1)), hasTtl, now)
      return this.kind === 'list' ? this.decodeList(bytes, at, hasTtl, now, deserialize) : this.decodeMap(bytes, at, hasTtl, now, deserialize)
    }
    const payloadAt = hasTtl ? at + 8 : at
    const v = this.v8 && !avroFrame ? v8DecodeAt(bytes, payloadAt) : deserialize(bytes.subarray(payloadAt))
    if (!this.ttl) return v
    return new TtlCell(v, hasTtl ? viewOf(bytes).getFloat64(at, true) : now)
  }

  private encodeList(list: unknown[]): Uint8Array {
    const parts: Uint8Array[] = new Array(list.length)
    let size = 4
    for (let i = 0; i < list.length; i++) {
      const item = this.ttl ? (list[i] as TtlCell).v : list[i]
      parts[i] = this.serializer.serialize(item)
      size += (this.ttl ? 12 : 4) + parts[i].length
    }
    const out = this.frame(size)
    let at = out.writeUInt32LE(list.length, this.prefix.length)
    for (let i = 0; i < list.length; i++) {
      if (this.ttl) at = out.writeDoubleLE((list[i] as TtlCell).ts, at)
      at = out.writeUInt32LE(parts[i].length, at)
      out.set(parts[i], at)
      at += parts[i].length
    }
    return out
  }

  private decodeList(bytes: Uint8Array, start: number, hasTtl: boolean, now: number, deserialize: Deserialize): unknown[] {
    const view = viewOf(bytes)
    const n = view.getUint32(start, true)
    const out: unknown[] = new Array(n)
    let at = start + 4
    for (let i = 0; i < n; i++) {
      let ts = now
      if (hasTtl) {
        ts = view.getFloat64(at, true)
        at += 8
      }
      const len = view.getUint32(at, true)
      at += 4
      const v = deserialize(bytes.subarray(at, at + len))
      at += len
      out[i] = this.ttl ? new TtlCell(v, ts) : v
    }
    return out
  }

  private encodeMap(map: Map<unknown, unknown>): Uint8Array {
    const parts: Uint8Array[] = []
    const stamps: number[] = []
    let size = 4
    for (const [k, item] of map) {
      const kb = this.keySerializer.serialize(k)
      const vb = this.serializer.serialize(this.ttl ? (item as TtlCell).v : item)
      if (this.ttl) stamps.push((item as TtlCell).ts)
      parts.push(kb, vb)
      size += (this.ttl ? 16 : 8) + kb.length + vb.length
    }
    const out = this.frame(size)
    let at = out.writeUInt32LE(map.size, this.prefix.length)
    for (let i = 0; i < parts.length; i += 2) {
      if (this.ttl) at = out.writeDoubleLE(stamps[i / 2], at)
      for (const part of [parts[i], parts[i + 1]]) {
        at = out.writeUInt32LE(part.length, at)
        out.set(part, at)
        at += part.length
      }
    }
    return out
  }

  private decodeMap(bytes: Uint8Array, start: number, hasTtl: boolean, now: number, deserialize: Deserialize): Map<unknown, unknown> {
    const view = viewOf(bytes)
    const n = view.getUint32(start, true)
    const out = new Map<unknown, unknown>()
    let at = start + 4
    for (let i = 0; i < n; i++) {
      let ts = now
      if (hasTtl) {
        ts = view.getFloat64(at, true)
        at += 8
      }
      const klen = view.getUint32(at, true)
      const k = this.keySerializer.deserialize(bytes.subarray(at + 4, at + 4 + klen))
      at += 4 + klen
      const vlen = view.getUint32(at, true)
      const v = deserialize(bytes.subarray(at + 4, at + 4 + vlen))
      at += 4 + vlen
      out.set(k, this.ttl ? new TtlCell(v, ts) : v)
    }
    return out
  }

  /** Packed payloads hold plain {v, ts} objects for TTL items; rebuild cells or strip them. */
  private convertPacked(value: unknown, hasTtl: boolean, now: number): unknown {
    const convert = (item: any): unknown => (this.ttl ? (hasTtl ? new TtlCell(item.v, item.ts) : new TtlCell(item, now)) : hasTtl ? item.v : item)
    if (!this.ttl && !hasTtl) return value
    if (this.kind === 'list') return (value as unknown[]).map(convert)
    const out = new Map<unknown, unknown>()
    for (const [k, item] of value as Map<unknown, unknown>) out.set(k, convert(item))
    return out
  }
}

function packed(stored: unknown, ttl: boolean): Uint8Array {
  return withHeader(FLAG_PACKED | (ttl ? FLAG_TTL : 0), v8Serialize(stored))
}

function withHeader(header: number, payload: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(1 + payload.length)
  out[0] = header
  out.set(payload, 1)
  return out
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * The stored form without its expired items (a new object when some expired, the same one
 * otherwise), or undefined when nothing is left. For states with TTL only.
 */
export function withoutExpired(kind: StateKind, stored: unknown, now: number, ttlMs: number): unknown {
  if (kind === 'list') {
    const cells = stored as TtlCell[]
    if (cells.every((c) => c.ts + ttlMs > now)) return cells
    const live = cells.filter((c) => c.ts + ttlMs > now)
    return live.length === 0 ? undefined : live
  }
  if (kind === 'map') {
    const cells = stored as Map<unknown, TtlCell>
    let live: Map<unknown, TtlCell> | undefined
    for (const [k, c] of cells) {
      if (c.ts + ttlMs > now) continue
      if (!live) live = new Map(cells)
      live.delete(k)
    }
    if (!live) return cells
    return live.size === 0 ? undefined : live
  }
  return (stored as TtlCell).ts + ttlMs > now ? stored : undefined
}
