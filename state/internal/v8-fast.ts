/**
 * The default serializer's fast path. `new v8.Serializer()` costs more than a microsecond per
 * call, which dominates snapshots and RocksDB flushes of small values; so numbers, one-byte
 * strings, booleans, null and undefined are written here directly, in v8.serialize's format
 * (header 0xFF + version, then the value's tag: 'I' zigzag varint int32, 'N' float64, '"' one-byte
 * string, 'T', 'F', '0', '_'; v8 itself picks 'I' or 'N' for an integer by its heap
 * representation, we pick 'I' for every int32 — both decode alike). Anything else goes through
 * node:v8, and decoding falls back to v8.deserialize for any other byte sequence — so bytes from
 * either path decode with either side.
 */
import { endianness } from 'node:os'
import { deserialize as v8Deserialize, serialize as v8Serialize } from 'node:v8'

const VERSION = v8Serialize(0)[1]
const ENABLED = endianness() === 'LE' && v8Serialize(0).length === 4
const TAG_INT = 0x49
const TAG_DOUBLE = 0x4e
const TAG_ONE_BYTE = 0x22
const TAG_TRUE = 0x54
const TAG_FALSE = 0x46
const TAG_NULL = 0x30
const TAG_UNDEFINED = 0x5f
const MAX_FAST_STRING = 4096

function varintSize(v: number): number {
  let n = 1
  while (v >= 0x80) {
    v = Math.floor(v / 128)
    n++
  }
  return n
}

function writeVarint(out: Buffer, at: number, v: number): number {
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80
    v = Math.floor(v / 128)
  }
  out[at++] = v
  return at
}

function isOneByte(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return false
  return true
}

function start(prefix: number, size: number, tag: number): Buffer {
  const out = Buffer.allocUnsafe(prefix + size)
  out[prefix] = 0xff
  out[prefix + 1] = VERSION
  out[prefix + 2] = tag
  return out
}

/** v8.serialize(value), preceded by `prefix` bytes left for the caller to fill. */
export function v8EncodeWithPrefix(value: unknown, prefix: number): Buffer {
  if (ENABLED) {
    switch (typeof value) {
      case 'number': {
        if (Number.isInteger(value) && value >= -2147483648 && value <= 2147483647 && !Object.is(value, -0)) {
          const z = ((value << 1) ^ (value >> 31)) >>> 0
          const out = start(prefix, 3 + varintSize(z), TAG_INT)
          writeVarint(out, prefix + 3, z)
          return out
        }
        const out = start(prefix, 11, TAG_DOUBLE)
        out.writeDoubleLE(value, prefix + 3)
        return out
      }
      case 'string':
        if (value.length <= MAX_FAST_STRING && isOneByte(value)) {
          const out = start(prefix, 3 + varintSize(value.length) + value.length, TAG_ONE_BYTE)
          out.write(value, writeVarint(out, prefix + 3, value.length), 'latin1')
          return out
        }
        break
      case 'boolean':
        return start(prefix, 3, value ? TAG_TRUE : TAG_FALSE)
      case 'undefined':
        return start(prefix, 3, TAG_UNDEFINED)
      case 'object':
        if (value === null) return start(prefix, 3, TAG_NULL)
    }
  }
  const payload = v8Serialize(value)
  if (prefix === 0) return payload
  const out = Buffer.allocUnsafe(prefix + payload.length)
  out.set(payload, prefix)
  return out
}

/** v8.deserialize(bytes.subarray(at)). */
export function v8DecodeAt(bytes: Uint8Array, at: number): unknown {
  const end = bytes.length
  if (ENABLED && end - at >= 3 && bytes[at] === 0xff) {
    const p = at + 3
    switch (bytes[at + 2]) {
      case TAG_INT: {
        let z = 0
        let scale = 1
        let q = p
        while (q < end && q - p < 5) {
          const b = bytes[q++]
          z += (b & 0x7f) * scale
          scale *= 128
          if (b < 0x80) {
            if (q !== end) break
            return (z >>> 1) ^ -(z & 1)
          }
        }
        break
      }
      case TAG_DOUBLE:
        if (end - p === 8) return new DataView(bytes.buffer, bytes.byteOffset + p, 8).getFloat64(0, true)
        break
      case TAG_ONE_BYTE: {
        let len = 0
        let scale = 1
        let q = p
        while (q < end) {
          const b = bytes[q++]
          len += (b & 0x7f) * scale
          scale *= 128
          if (b < 0x80) break
        }
        if (q + len === end) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1', q, end)
        break
      }
      case TAG_TRUE:
        if (end === p) return true
        break
      case TAG_FALSE:
        if (end === p) return false
        break
      case TAG_NULL:
        if (end === p) return null
        break
      case TAG_UNDEFINED:
        if (end === p) return undefined
        break
    }
  }
  return v8Deserialize(at === 0 ? bytes : bytes.subarray(at))
}
