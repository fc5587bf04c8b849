/**
 * The default serializer's fast path writes what v8.serialize writes (numbers: an equivalent
 * encoding), and its decoder reads any v8.serialize output.
 */
import fc from 'fast-check'
import { deserialize, serialize } from 'node:v8'
import { describe, expect, it } from 'vitest'
import { v8DecodeAt, v8EncodeWithPrefix } from './v8-fast.ts'

const primitive = fc.oneof(
  fc.integer(),
  fc.integer({ min: -(2 ** 31) - 5, max: -(2 ** 31) + 5 }),
  fc.integer({ min: 2 ** 31 - 5, max: 2 ** 31 + 5 }),
  fc.double(),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 2 ** 53, true, false, null, undefined, '', 'x'.repeat(5000)),
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 200 }),
)

describe('v8 fast path', () => {
  it('encodes primitives byte for byte as v8.serialize, and decodes them', () => {
    fc.assert(
      fc.property(primitive, fc.integer({ min: 0, max: 9 }), (value, prefix) => {
        const bytes = v8EncodeWithPrefix(value, prefix)
        // v8 writes an integral number as int32 or float64 depending on its representation in
        // the heap; both decode to the same number. Everything else must match byte for byte.
        if (typeof value !== 'number') expect(Buffer.compare(bytes.subarray(prefix), serialize(value))).toBe(0)
        expect(Object.is(deserialize(bytes.subarray(prefix)), value)).toBe(true)
        expect(Object.is(v8DecodeAt(bytes, prefix), value)).toBe(true)
        expect(Object.is(v8DecodeAt(serialize(value), 0), value)).toBe(true)
      }),
      { numRuns: 2000 },
    )
  })

  it('falls back to v8 for everything else', () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withMap: true, withSet: true, withDate: true, withTypedArray: true }), (value) => {
        const bytes = v8EncodeWithPrefix(value, 1)
        expect(v8DecodeAt(bytes, 1)).toEqual(deserialize(serialize(value)))
      }),
      { numRuns: 300 },
    )
  })
})
