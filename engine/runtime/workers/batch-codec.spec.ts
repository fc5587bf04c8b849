/**
 * Batches crossing between workers: whatever the records, decodeBatch(encodeBatch(b)) must be what
 * the structured clone makes of them (v8.deserialize(v8.serialize(...))), whether they take the flat
 * path (flat-records.ts) or not. The comparison is strict: the same keys in the same order, the same
 * prototypes, Object.is on primitives (−0, NaN), properties holding undefined.
 */
import { deserialize, serialize } from 'node:v8'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RecordBatch } from '../channel.ts'
import { decodeBatch, encodeBatch } from './batch-codec.ts'
import { encodeFlat, MAX_SHAPES } from './flat-records.ts'

/** Why `a` and `b` differ, or undefined when they are the same data. */
function difference(a: unknown, b: unknown, path = '$'): string | undefined {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) {
    return Object.is(a, b) ? undefined : `${path}: ${String(a)} vs ${String(b)}`
  }
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return `${path}: prototypes differ`
  if (a instanceof Map || a instanceof Set || a instanceof Date) return difference(serialize(a).toString('hex'), serialize(b).toString('hex'), path)
  const ka = Reflect.ownKeys(a)
  const kb = Reflect.ownKeys(b)
  if (ka.join('\u0000') !== kb.join('\u0000')) return `${path}: keys [${ka.map(String)}] vs [${kb.map(String)}]`
  for (const k of ka) {
    const d = difference((a as Record<PropertyKey, unknown>)[k], (b as Record<PropertyKey, unknown>)[k], `${path}.${String(k)}`)
    if (d) return d
  }
  return undefined
}

function batchOf(values: unknown[], keys: unknown[] | null): RecordBatch {
  const b = new RecordBatch()
  b.values.push(...values)
  b.timestamps.push(...values.map((_, i) => (i % 3 === 0 ? -i * 1.5 : Date.UTC(2025, 0, 1) + i)))
  b.keys = keys
  return b
}

function checkRoundTrip(batch: RecordBatch): void {
  const expected = deserialize(serialize([batch.values, batch.timestamps, batch.keys])) as [unknown[], number[], unknown[] | null]
  const got = decodeBatch(encodeBatch(batch, 'test-edge'))
  expect(difference(got.values, expected[0])).toBeUndefined()
  expect(difference(got.timestamps, expected[1])).toBeUndefined()
  expect(difference(got.keys, expected[2])).toBeUndefined()
}

const primitive = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(-0, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53 + 2, Date.UTC(2025, 0, 1)),
  fc.string(),
  fc.string({ unit: 'binary' }),
  // Lone surrogates (not carried flat), also two halves of a pair in adjacent cells.
  fc.constantFrom('\ud800', 'a\udc00b', '\udc00x', 'é€😀'),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
)
const fieldName = fc.oneof(fc.constantFrom('auction', 'price', 'extra', '0', '7', 'constructor', 'toString', '__proto__'), fc.string({ maxLength: 6 }))

/** Records of one to three shapes, interleaved (the flat path), sometimes spoiled by one odd record. */
const someShapes = fc
  .array(fc.uniqueArray(fieldName, { minLength: 0, maxLength: 6 }), { minLength: 1, maxLength: 3 })
  .chain((shapes) =>
    fc.tuple(
      fc.array(
        fc.nat({ max: shapes.length - 1 }).chain((s) => fc.tuple(fc.constant(s), fc.tuple(...shapes[s].map(() => primitive)))),
        { minLength: 1, maxLength: 40 },
      ),
      fc.constant(shapes),
      fc.option(fc.oneof(fc.constant([1, 2]), fc.constant({ nested: { a: 1 } }), fc.constant(new Map([[1, 2]])), fc.constant(new Date(0)), fc.constant(7n), fc.constant({ other: 1 })), { freq: 3 }),
    ),
  )
  .map(([rows, shapes, odd]) => {
    const values: unknown[] = rows.map(([s, row]) => {
      // JSON.parse makes an own "__proto__" property, as records parsed from input may have.
      const o = JSON.parse('{}') as Record<string, unknown>
      shapes[s].forEach((f, j) => Object.defineProperty(o, f, { value: row[j], enumerable: true, writable: true, configurable: true }))
      return o
    })
    if (odd !== null) values.splice(values.length >> 1, 0, odd)
    return values
  })

const keysFor = (n: number) => fc.option(fc.array(fc.oneof(fc.integer(), fc.string(), fc.double(), fc.constant(null), fc.constant({ k: 1 })), { minLength: n, maxLength: n }), { freq: 2 })

describe('record batches between workers', () => {
  it('decode(encode(batch)) is the structured clone of the batch, flat or not (fast-check)', () => {
    fc.assert(
      fc.property(
        someShapes.chain((values) => fc.tuple(fc.constant(values), keysFor(values.length))),
        ([values, keys]) => checkRoundTrip(batchOf(values, keys)),
      ),
      { numRuns: 500 },
    )
  })

  it('class instances, null prototypes and inherited properties come out as the structured clone makes them', () => {
    class Point {
      constructor(
        public x: number,
        public y: number,
      ) {}
    }
    checkRoundTrip(batchOf([new Point(1, 2), new Point(3, 4)], null))
    const bare = Object.assign(Object.create(null) as object, { a: 1 })
    checkRoundTrip(batchOf([bare, bare], [1, 2]))
    const inherited = Object.assign(Object.create({ inheritedKey: 1 }) as object, { a: 1 })
    checkRoundTrip(batchOf([{ a: 2 }, inherited], null))
  })

  it(`takes the flat path for flat records of up to ${MAX_SHAPES} shapes, and only for them`, () => {
    const bids = Array.from({ length: 100 }, (_, i) => ({ auction: 1000 + i, bidder: i * 7, price: i * 1.25, dateTime: Date.UTC(2025, 0, 1) + i, extra: 'x'.repeat(i % 80) }))
    expect(encodeFlat(bids, bids.map((b) => b.dateTime), bids.map((b) => b.auction))?.hasShapes).toBe(false)
    // A union of two kinds (persons and auctions on one edge), the wider records after the narrower.
    const mixed = [...bids.slice(0, 3), { id: 1, name: 'Kate Abrams', city: 'Bend', state: 'OR', extra: 'é€😀', a: 1, b: 2, c: true, d: null }, ...bids.slice(3)]
    expect(encodeFlat(mixed, mixed.map((_, i) => i), mixed.map((_, i) => i))?.shapes).toHaveLength(2)
    checkRoundTrip(batchOf(mixed, mixed.map((_, i) => `k${i}`)))
    const many = Array.from({ length: MAX_SHAPES * 3 }, (_, i) => ({ [`f${i % MAX_SHAPES}`]: i, g: 'x' }))
    expect(encodeFlat(many, many.map(() => 0), null)?.shapes).toHaveLength(MAX_SHAPES)
    checkRoundTrip(batchOf(many, null))
    expect(encodeFlat([...many, { tooMany: 1 }], [], null)).toBeUndefined()
    expect(encodeFlat([{ a: [1] }], [0], null)).toBeUndefined()
    // Lone surrogates cross as they are (the text travels as UTF-16 code units, not UTF-8).
    expect(encodeFlat([{ a: '\ud800' }, { a: 'x\udc00' }], [0, 1], null)).toBeDefined()
    checkRoundTrip(batchOf([{ a: '\ud800' }, { a: '\udc00y' }, { a: 'é€😀' }], ['\ud800', 'k', '\udfff']))
    expect(encodeFlat([{ a: 1 }], [0], [{ k: 1 }])).toBeUndefined()
    checkRoundTrip(batchOf(bids, bids.map((b) => b.auction)))
  })

  it('names the edge when a record cannot cross', () => {
    expect(() => encodeBatch(batchOf([{ f: () => 1 }], null), 'a->b')).toThrow(/edge a->b/)
  })
})
