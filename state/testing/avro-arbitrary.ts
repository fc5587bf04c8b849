/**
 * fast-check arbitraries of values of an Avro schema (JSON form), as avsc reads and writes them:
 * records as objects, enums as their symbol, unions of null and distinguishable branches
 * unwrapped, `long` as an integer in ±2^52, `bytes` as a Buffer. Covers what the contract suite's
 * schemas use: primitives, records, enums, arrays, maps, unions and references to named types.
 */
import fc from 'fast-check'

type SchemaJson = string | SchemaJson[] | { type: string; [k: string]: any }

/** Map keys and strings that stay clear of prototype keys, for values compared with toEqual. */
const mapKey = fc.string({ maxLength: 6 }).filter((k) => k !== '__proto__' && k !== 'constructor')

export function avroValueArb(schema: SchemaJson): fc.Arbitrary<unknown> {
  const named = new Map<string, () => fc.Arbitrary<unknown>>()

  const arb = (s: SchemaJson, namespace: string | undefined): fc.Arbitrary<unknown> => {
    if (Array.isArray(s)) return fc.oneof(...s.map((branch) => arb(branch, namespace)))
    if (typeof s === 'string') {
      switch (s) {
        case 'null':
          return fc.constant(null)
        case 'boolean':
          return fc.boolean()
        case 'int':
          return fc.integer()
        case 'long':
          // avsc's default long is exact in ±2^52 only: it zigzag-encodes with float arithmetic,
          // so a negative long below -2^52 comes back changed (avsc 5.7.9).
          return fc.integer({ min: -(2 ** 52), max: 2 ** 52 })
        case 'float':
          return fc.float()
        case 'double':
          return fc.double()
        case 'string':
          return fc.string({ unit: 'grapheme', maxLength: 8 })
        case 'bytes':
          return fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a))
        default: {
          const ref = named.get(s) ?? named.get(`${namespace}.${s}`)
          if (ref === undefined) throw new Error(`avroValueArb: unknown type ${s}`)
          return fc.constant(null).chain(() => ref())
        }
      }
    }
    const ns = s.namespace ?? namespace
    switch (s.type) {
      case 'record':
      case 'error': {
        const fields: Record<string, fc.Arbitrary<unknown>> = {}
        const make = () => fc.record(fields, { noNullPrototype: true })
        named.set(s.name, make)
        if (ns) named.set(`${ns}.${s.name}`, make)
        for (const f of s.fields) fields[f.name] = arb(f.type, ns)
        return make()
      }
      case 'enum': {
        const make = () => fc.constantFrom(...(s.symbols as string[]))
        named.set(s.name, make)
        return make()
      }
      case 'fixed': {
        const make = () => fc.uint8Array({ minLength: s.size, maxLength: s.size }).map((a) => Buffer.from(a))
        named.set(s.name, make)
        return make()
      }
      case 'array':
        return fc.array(arb(s.items, ns), { maxLength: 4 })
      case 'map':
        return fc.dictionary(mapKey, arb(s.values, ns), { maxKeys: 4, noNullPrototype: true })
      default:
        return arb(s.type, ns)
    }
  }
  return arb(schema, undefined)
}
