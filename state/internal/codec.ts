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
 * then:
 *   value:            [ts]? payload
 *   list, packed:     v8(array of values | array of {v, ts})
 *   list:             u32 count, then per element: [ts]? u32 length, payload
 *   map, packed:      v8(Map of key → value | key → {v, ts})
 *   map:              u32 count, then per entry: [ts]? u32 keyLength, key, u32 valueLength, value
 * Decoding converts between the TTL and non-TTL forms, so TTL can be switched on or off for a
 * state between a snapshot and a restore (entries restored into a TTL state start their TTL then).
 */
import { deserialize as v8Deserialize, serialize as v8Serialize } from 'node:v8'
import { V8_SERIALIZER, type StateKind, type StateSerializer } from '../api.ts'
import { v8DecodeAt, v8EncodeWithPrefix } from './v8-fast.ts'

export const FLAG_TTL = 1
export const FLAG_PACKED = 2

/** A value with the time (epoch ms) its TTL started. */
export class TtlCell<T = unknown> {
  constructor(
    public v: T,
    public ts: number,
  ) {}
}

export class StateCodec {
  /** List/map: the whole structure is one v8 payload. */
  private readonly packed: boolean
  /** Value-like: the default serializer, used without intermediate copies. */
  private readonly v8: boolean

  constructor(
    readonly kind: StateKind,
    private readonly serializer: StateSerializer<any>,
    private readonly keySerializer: StateSerializer<any>,
    readonly ttl: boolean,
  ) {
    this.packed = serializer === V8_SERIALIZER && keySerializer === V8_SERIALIZER
    this.v8 = serializer === V8_SERIALIZER
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
        if (!this.ttl) return withHeader(0, this.serializer.serialize(stored))
        const cell = stored as TtlCell
        const payload = this.serializer.serialize(cell.v)
        const out = Buffer.allocUnsafe(9 + payload.length)
        out[0] = FLAG_TTL
        out.writeDoubleLE(cell.ts, 1)
        out.set(payload, 9)
        return out
      }
    }
  }

  /** Whether decoding `bytes` starts a TTL (the bytes have none, this state has one): write the result back. */
  startsTtl(bytes: Uint8Array): boolean {
    return this.ttl && (bytes[0] & FLAG_TTL) === 0
  }

  /** Decodes bytes into this codec's stored form; `now` starts the TTL of items stored without one. */
  decode(bytes: Uint8Array, now: number): unknown {
    const header = bytes[0]
    const hasTtl = (header & FLAG_TTL) !== 0
    if (this.kind === 'list' || this.kind === 'map') {
      if ((header & FLAG_PACKED) !== 0) return this.convertPacked(v8Deserialize(bytes.subarray(1)), hasTtl, now)
      return this.kind === 'list' ? this.decodeList(bytes, hasTtl, now) : this.decodeMap(bytes, hasTtl, now)
    }
    const at = hasTtl ? 9 : 1
    const v = this.v8 ? v8DecodeAt(bytes, at) : this.serializer.deserialize(bytes.subarray(at))
    if (!this.ttl) return v
    return new TtlCell(v, hasTtl ? viewOf(bytes).getFloat64(1, true) : now)
  }

  private encodeList(list: unknown[]): Uint8Array {
    const parts: Uint8Array[] = new Array(list.length)
    let size = 5
    for (let i = 0; i < list.length; i++) {
      const item = this.ttl ? (list[i] as TtlCell).v : list[i]
      parts[i] = this.serializer.serialize(item)
      size += (this.ttl ? 12 : 4) + parts[i].length
    }
    const out = Buffer.allocUnsafe(size)
    out[0] = this.ttl ? FLAG_TTL : 0
    out.writeUInt32LE(list.length, 1)
    let at = 5
    for (let i = 0; i < list.length; i++) {
      if (this.ttl) at = out.writeDoubleLE((list[i] as TtlCell).ts, at)
      at = out.writeUInt32LE(parts[i].length, at)
      out.set(parts[i], at)
      at += parts[i].length
    }
    return out
  }

  private decodeList(bytes: Uint8Array, hasTtl: boolean, now: number): unknown[] {
    const view = viewOf(bytes)
    const n = view.getUint32(1, true)
    const out: unknown[] = new Array(n)
    let at = 5
    for (let i = 0; i < n; i++) {
      let ts = now
      if (hasTtl) {
        ts = view.getFloat64(at, true)
        at += 8
      }
      const len = view.getUint32(at, true)
      at += 4
      const v = this.serializer.deserialize(bytes.subarray(at, at + len))
      at += len
      out[i] = this.ttl ? new TtlCell(v, ts) : v
    }
    return out
  }

  private encodeMap(map: Map<unknown, unknown>): Uint8Array {
    const parts: Uint8Array[] = []
    const stamps: number[] = []
    let size = 5
    for (const [k, item] of map) {
      const kb = this.keySerializer.serialize(k)
      const vb = this.serializer.serialize(this.ttl ? (item as TtlCell).v : item)
      if (this.ttl) stamps.push((item as TtlCell).ts)
      parts.push(kb, vb)
      size += (this.ttl ? 16 : 8) + kb.length + vb.length
    }
    const out = Buffer.allocUnsafe(size)
    out[0] = this.ttl ? FLAG_TTL : 0
    out.writeUInt32LE(map.size, 1)
    let at = 5
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

  private decodeMap(bytes: Uint8Array, hasTtl: boolean, now: number): Map<unknown, unknown> {
    const view = viewOf(bytes)
    const n = view.getUint32(1, true)
    const out = new Map<unknown, unknown>()
    let at = 5
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
      const v = this.serializer.deserialize(bytes.subarray(at + 4, at + 4 + vlen))
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
