/**
 * Keys and key groups (DESIGN.md §3).
 *
 * A key is turned into a canonical string (its "state key"); the key group is murmur3 (32-bit,
 * seed 0) of that string's UTF-8 bytes, modulo maxParallelism. Key group g belongs to subtask
 * floor(g * p / maxParallelism), so state stored per key group can be redistributed to any
 * parallelism p ≤ maxParallelism.
 *
 * Canonical strings: a string key is itself (prefixed with \u0000s when it starts with \u0000);
 * numbers, bigints, booleans, arrays and plain objects are tagged with a leading \u0000 and a type
 * letter, and objects have their keys sorted, so equal keys always give equal bytes.
 */
import { FluxionError } from './errors.ts'

export const DEFAULT_MAX_PARALLELISM = 128

/** Returns the canonical state key of a user key. Throws FLX_UNSUPPORTED_KEY for other types. */
export function stateKeyOf(key: unknown): string {
  if (typeof key === 'string') return key.charCodeAt(0) === 0 ? '\u0000s' + key : key
  return '\u0000' + encodeTagged(key)
}

function encodeTagged(key: unknown): string {
  switch (typeof key) {
    case 'number':
      if (Number.isNaN(key)) throw unsupported(key, 'NaN is not a valid key')
      return 'n' + (Object.is(key, -0) ? '0' : String(key))
    case 'bigint':
      return 'b' + key.toString()
    case 'boolean':
      return key ? 't' : 'f'
    case 'string':
      return 's' + JSON.stringify(key)
    case 'object': {
      if (key === null) return 'z'
      if (Array.isArray(key)) return 'a[' + key.map(encodeTagged).join(',') + ']'
      const proto = Object.getPrototypeOf(key)
      if (proto !== Object.prototype && proto !== null) throw unsupported(key, 'only plain objects can be keys')
      const entries = Object.keys(key as object)
        .sort()
        .map((k) => JSON.stringify(k) + ':' + encodeTagged((key as Record<string, unknown>)[k]))
      return 'o{' + entries.join(',') + '}'
    }
    default:
      throw unsupported(key, `a ${typeof key} cannot be a key`)
  }
}

function unsupported(key: unknown, why: string): FluxionError {
  return new FluxionError(
    'FLX_UNSUPPORTED_KEY',
    `unsupported key ${String(key)}: ${why}. Return a string, number, bigint, boolean, or an array or plain object of those from keyBy.`,
  )
}

/**
 * MurmurHash3 x86 32-bit over the UTF-8 bytes of `s`, computed without allocating the bytes.
 * Matches the reference implementation (seed 0) byte for byte; see keys.spec.ts for test vectors.
 */
export function murmur3String(s: string, seed = 0): number {
  // State of the byte stream: hash, pending block, bits in the pending block, total bytes.
  let h = seed | 0
  let k = 0
  let shift = 0
  let length = 0
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i)
    let bytes: number
    let n: number
    if (c < 0x80) {
      bytes = c
      n = 1
    } else {
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1)
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
          i++
        }
      }
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd // lone surrogate, as TextEncoder does
      if (c < 0x800) {
        bytes = (0xc0 | (c >> 6)) | ((0x80 | (c & 0x3f)) << 8)
        n = 2
      } else if (c < 0x10000) {
        bytes = (0xe0 | (c >> 12)) | ((0x80 | ((c >> 6) & 0x3f)) << 8) | ((0x80 | (c & 0x3f)) << 16)
        n = 3
      } else {
        bytes = (0xf0 | (c >> 18)) | ((0x80 | ((c >> 12) & 0x3f)) << 8) | ((0x80 | ((c >> 6) & 0x3f)) << 16) | ((0x80 | (c & 0x3f)) << 24)
        n = 4
      }
    }
    // Feed the UTF-8 bytes of this code point (little-endian packed in `bytes`).
    for (let b = 0; b < n; b++) {
      k |= ((bytes >>> (8 * b)) & 0xff) << shift
      shift += 8
      length++
      if (shift === 32) {
        h = mixBlock(h, k)
        k = 0
        shift = 0
      }
    }
  }
  if (shift > 0) h = mixTail(h, k)
  return finalMix(h, length)
}

/** murmur3_32: mixes the last, partial block (1–3 bytes, little-endian in `k`) into `h`. */
function mixTail(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51)
  k = (k << 15) | (k >>> 17)
  k = Math.imul(k, 0x1b873593)
  return h ^ k
}

/** murmur3_32: the final avalanche over the hash of `length` bytes. */
function finalMix(h: number, length: number): number {
  h ^= length
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

function mixBlock(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51)
  k = (k << 15) | (k >>> 17)
  k = Math.imul(k, 0x1b873593)
  h ^= k
  h = (h << 13) | (h >>> 19)
  return (Math.imul(h, 5) + 0xe6546b64) | 0
}

/** Key group of a canonical state key. */
export function keyGroupOfStateKey(stateKey: string, maxParallelism: number): number {
  return murmur3String(stateKey) % maxParallelism
}

/** Key group of a user key. */
export function keyGroupOf(key: unknown, maxParallelism: number): number {
  if (typeof key === 'number' && Number.isSafeInteger(key)) return murmur3SafeInteger(key) % maxParallelism
  return keyGroupOfStateKey(stateKeyOf(key), maxParallelism)
}

/** UTF-8 bytes of a safe integer's state key (scratch for murmur3SafeInteger): at most 2 + 1 + 16. */
const keyBytes = new Uint8Array(24)

/**
 * murmur3String(stateKeyOf(n)) for a safe integer n, without building the string: the state key
 * is \u0000, 'n', an optional '-' and the decimal digits (String(n) has no exponent below 2^53,
 * and -0 is written 0), all ASCII, so its UTF-8 bytes are its characters.
 */
export function murmur3SafeInteger(n: number): number {
  const bytes = keyBytes
  bytes[0] = 0
  bytes[1] = 0x6e
  let length = 2
  if (n < 0) bytes[length++] = 45
  const abs = n < 0 ? -n : n
  let digits = 1
  for (let p = 10; p <= abs; p *= 10) digits++
  let rest = abs
  let i = length + digits - 1
  // Above 2^31 through doubles, below it in int32 arithmetic.
  for (; rest > 0x7fffffff; i--) {
    const q = Math.floor(rest / 10)
    bytes[i] = 48 + (rest - q * 10)
    rest = q
  }
  let small = rest | 0
  for (; i >= length; i--) {
    const q = (small / 10) | 0
    bytes[i] = 48 + (small - q * 10)
    small = q
  }
  length += digits
  let h = 0
  i = 0
  for (; i + 4 <= length; i += 4) h = mixBlock(h, bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24))
  if (i < length) {
    let k = 0
    for (let shift = 0; i < length; i++, shift += 8) k |= bytes[i] << shift
    h = mixTail(h, k)
  }
  return finalMix(h, length)
}

/** The subtask (0-based) that owns key group `keyGroup` at parallelism `parallelism`. */
export function subtaskForKeyGroup(keyGroup: number, parallelism: number, maxParallelism: number): number {
  return Math.floor((keyGroup * parallelism) / maxParallelism)
}

/** The inclusive range of key groups owned by `subtask`, the inverse of subtaskForKeyGroup. */
export function keyGroupRangeOf(subtask: number, parallelism: number, maxParallelism: number): { start: number; end: number } {
  const start = Math.ceil((subtask * maxParallelism) / parallelism)
  const end = Math.ceil(((subtask + 1) * maxParallelism) / parallelism) - 1
  return { start, end }
}
