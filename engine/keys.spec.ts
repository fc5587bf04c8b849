import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { keyGroupOf, keyGroupOfStateKey, keyGroupRangeOf, murmur3SafeInteger, murmur3String, stateKeyOf, subtaskForKeyGroup } from './keys.ts'

describe('murmur3String', () => {
  it('matches the reference MurmurHash3_x86_32 test vectors (seed 0)', () => {
    expect(murmur3String('')).toBe(0)
    expect(murmur3String('a')).toBe(0x3c2569b2)
    expect(murmur3String('abc')).toBe(0xb3dd93fa)
    expect(murmur3String('abcd')).toBe(0x43ed676a)
    expect(murmur3String('Hello, world!')).toBe(0xc0363e43)
    expect(murmur3String('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723)
    expect(murmur3String('aaaa', 0x9747b28c)).toBe(0x5a97808a)
  })

  it('hashes the UTF-8 bytes of non-ASCII strings', () => {
    // 'ä' is C3 A4 in UTF-8; 'π' CF 80; the emoji is 4 bytes. Compare with an explicit byte hash.
    for (const s of ['ä', 'πr²', '😀x', 'naïve café']) {
      expect(murmur3String(s)).toBe(murmur3Bytes(new TextEncoder().encode(s)))
    }
  })

  it('equals a byte-wise implementation on random strings', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => murmur3String(s) === murmur3Bytes(new TextEncoder().encode(s))))
  })
})

describe('murmur3SafeInteger', () => {
  it('equals murmur3String of the state key for every safe integer (property), so key groups do not change', () => {
    const edges = [0, -0, 1, -1, 9, 10, 99, 100, 2 ** 31, -(2 ** 31), 2 ** 32, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]
    for (const n of edges) expect(murmur3SafeInteger(n)).toBe(murmur3String(stateKeyOf(n)))
    const int = fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.integer({ min: -1000, max: 1000 }))
    fc.assert(
      fc.property(int, fc.integer({ min: 1, max: 32768 }), (n, maxParallelism) => {
        expect(murmur3SafeInteger(n)).toBe(murmur3String(stateKeyOf(n)))
        expect(keyGroupOf(n, maxParallelism)).toBe(keyGroupOfStateKey(stateKeyOf(n), maxParallelism))
      }),
      { numRuns: 5000 },
    )
  })
})

describe('key groups', () => {
  it('maps every key group to exactly the subtask whose range contains it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 128 }), fc.integer({ min: 1, max: 128 }), (p, extra) => {
        const maxP = Math.max(p, extra)
        for (let g = 0; g < maxP; g++) {
          const s = subtaskForKeyGroup(g, p, maxP)
          const r = keyGroupRangeOf(s, p, maxP)
          if (g < r.start || g > r.end) return false
        }
        return true
      }),
    )
  })

  it('gives equal keys equal groups and tells types apart', () => {
    expect(keyGroupOf({ a: 1, b: 'x' }, 128)).toBe(keyGroupOf({ b: 'x', a: 1 }, 128))
    expect(stateKeyOf(1)).not.toBe(stateKeyOf('1'))
    expect(stateKeyOf([1, 'a'])).toBe(stateKeyOf([1, 'a']))
    expect(() => stateKeyOf(() => 1)).toThrow(/FLX_UNSUPPORTED_KEY/)
    expect(() => stateKeyOf(new Date())).toThrow(/plain objects/)
  })
})

function murmur3Bytes(data: Uint8Array, seed = 0): number {
  let h = seed | 0
  const blocks = data.length >> 2
  for (let i = 0; i < blocks; i++) {
    let k = data[i * 4] | (data[i * 4 + 1] << 8) | (data[i * 4 + 2] << 16) | (data[i * 4 + 3] << 24)
    k = Math.imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, 0x1b873593)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  let k = 0
  const tail = blocks * 4
  const rest = data.length & 3
  if (rest > 0) {
    if (rest === 3) k ^= data[tail + 2] << 16
    if (rest >= 2) k ^= data[tail + 1] << 8
    k ^= data[tail]
    k = Math.imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, 0x1b873593)
    h ^= k
  }
  h ^= data.length
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
