/**
 * Avro pieces without a backend: the schema fingerprint, descriptor validation, the diagnosis
 * behind FLX_STATE_INCOMPATIBLE messages, and what compaction keeps of the writer schemas.
 */
import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import { FluxionError } from '../../engine/errors.ts'
import { ListStateDescriptor, ValueStateDescriptor, V8_SERIALIZER } from '../api.ts'
import type { KeyedStateSnapshot } from '../backend.ts'
import { compactSnapshots } from '../compaction.ts'
import { parseAvroSchema, rabinFingerprint, resolve } from './avro.ts'

const typeOf = (schema: unknown) => avro.Type.forSchema(schema as Parameters<typeof avro.Type.forSchema>[0])

function incompatibility(reader: unknown, writer: unknown): string {
  try {
    resolve('s', typeOf(reader), typeOf(writer))
  } catch (e) {
    expect(e).toBeInstanceOf(FluxionError)
    expect((e as FluxionError).code).toBe('FLX_STATE_INCOMPATIBLE')
    return (e as Error).message
  }
  throw new Error('expected the schemas to be incompatible')
}

const record = (fields: object[], name = 'R') => ({ type: 'record', name, fields })

describe('Avro schema fingerprints', () => {
  it('are CRC-64-AVRO of the Parsing Canonical Form, little-endian (the Avro spec test vectors)', () => {
    expect(rabinFingerprint('"int"').readBigUInt64LE()).toBe(0x7275d51a3f395c8fn)
    expect(rabinFingerprint('"string"').readBigUInt64LE()).toBe(0x8f014872634503c7n)
    // Docs, defaults, aliases and the namespace split do not change the canonical form.
    const a = parseAvroSchema({ type: 'record', name: 'P', namespace: 'x', doc: 'd', fields: [{ name: 'f', type: 'int', default: 1 }] })
    const b = parseAvroSchema('{"type":"record","name":"x.P","fields":[{"name":"f","type":"int"}]}')
    expect(a.canonical).toBe('{"name":"x.P","type":"record","fields":[{"name":"f","type":"int"}]}')
    expect(a.key).toBe(b.key)
    expect(parseAvroSchema('long').canonical).toBe('"long"')
    expect(parseAvroSchema(avro.Type.forSchema('long')).key).toBe(parseAvroSchema('"long"').key)
  })
})

describe('descriptors with avroSchema', () => {
  it('parse the schema up front and refuse a serializer next to it', () => {
    expect(new ValueStateDescriptor('v', { avroSchema: 'string' }).avro?.canonical).toBe('"string"')
    expect(new ValueStateDescriptor('v').avro).toBeUndefined()
    expect(() => new ValueStateDescriptor('v', { avroSchema: { type: 'record', name: 'R' } })).toThrow(/state "v": invalid avroSchema/)
    expect(() => new ListStateDescriptor('l', { avroSchema: 'no-such-type' })).toThrow(/state "l": invalid avroSchema/)
    expect(() => new ValueStateDescriptor('v', { avroSchema: 'int', serializer: V8_SERIALIZER })).toThrow(/either a serializer or an avroSchema/)
  })
})

describe('FLX_STATE_INCOMPATIBLE diagnosis', () => {
  it('names the field, nested ones with their path, array items with [] and map values with {}', () => {
    const inner = (t: unknown) => record([{ name: 'a', type: record([{ name: 'b', type: t }], 'Inner') }])
    expect(incompatibility(inner('int'), inner('string'))).toMatch(/state "s" .*field "a\.b" changed type from "string" to "int".*Keep the old type/)
    const tags = (t: string) => record([{ name: 'tags', type: { type: 'array', items: t } }])
    expect(incompatibility(tags('int'), tags('string'))).toMatch(/field "tags\[\]" changed type from "string" to "int"/)
    const scores = (t: string) => record([{ name: 'scores', type: { type: 'map', values: t } }])
    expect(incompatibility(scores('string'), scores('double'))).toMatch(/field "scores\{\}"/)
    expect(incompatibility('int', 'string')).toMatch(/the top-level value changed type from "string" to "int"/)
  })

  it('explains missing defaults, removed union branches and enum symbols, renames and fixed sizes', () => {
    expect(incompatibility(record([{ name: 'x', type: 'int' }]), record([]))).toMatch(/field "x" \(record R\) was added without a default.*Give the field a default/)
    const u = (branches: string[]) => record([{ name: 'v', type: branches }])
    expect(incompatibility(u(['null', 'string']), u(['null', 'string', 'boolean']))).toMatch(/field "v" can no longer hold "boolean"/)
    const e = (symbols: string[]) => record([{ name: 'c', type: { type: 'enum', name: 'C', symbols } }])
    expect(incompatibility(e(['A']), e(['A', 'B', 'Z']))).toMatch(/field "c" .*lost the symbols "B", "Z".*"default" symbol/)
    expect(incompatibility(record([], 'New'), record([], 'Old'))).toMatch(/record New, but old entries hold a record named Old.*"aliases": \["Old"\]/)
    const f = (size: number) => record([{ name: 'id', type: { type: 'fixed', name: 'Id', size } }])
    expect(incompatibility(f(8), f(16))).toMatch(/field "id" changed size from 16 to 8 bytes/)
  })

  it('accepts what Avro resolves: promotions, removed fields, added fields with defaults, added branches, aliases', () => {
    const reader = record([
      { name: 'n', type: 'double' },
      { name: 's', type: 'bytes' },
      { name: 'u', type: ['null', 'string', 'int'] },
      { name: 'added', type: 'string', default: '' },
      { name: 'renamed', aliases: ['before'], type: 'int' },
    ])
    const writer = record([
      { name: 'n', type: 'int' },
      { name: 's', type: 'string' },
      { name: 'u', type: ['null', 'string'] },
      { name: 'removed', type: 'int' },
      { name: 'before', type: 'int' },
    ])
    expect(() => resolve('s', typeOf(reader), typeOf(writer))).not.toThrow()
  })
})

describe('compaction of Avro states', () => {
  it('keeps the writer schemas that the compacted rows name, and only those', () => {
    const v1 = parseAvroSchema('int')
    const v2 = parseAvroSchema('long')
    const frame = (fp: Buffer) => Buffer.concat([Buffer.of(4), fp, Buffer.of(2)])
    const snap = (type: 'full' | 'incremental', rows: KeyedStateSnapshot['states'][string]['rows'], schemas: string[]): KeyedStateSnapshot => ({
      version: 1,
      type,
      maxParallelism: 8,
      keyGroupRange: { start: 0, end: 7 },
      states: { s: { kind: 'value', rows, avroSchemas: schemas } },
    })
    const base = snap('full', [[0, 'a', '', frame(v1.fingerprint)], [0, 'b', '', frame(v1.fingerprint)]], [v1.canonical])
    const d1 = snap('incremental', [[0, 'a', '', frame(v2.fingerprint)]], [v2.canonical])
    expect(new Set(compactSnapshots([base, d1]).states.s.avroSchemas)).toEqual(new Set([v1.canonical, v2.canonical]))
    const d2 = snap('incremental', [[0, 'b', '', frame(v2.fingerprint)]], [v2.canonical])
    expect(compactSnapshots([base, d1, d2]).states.s.avroSchemas).toEqual([v2.canonical]) // no v1 row left
    const d3 = snap('incremental', [[0, 'a', '', null], [0, 'b', '', null]], [])
    expect(compactSnapshots([base, d3]).states.s.avroSchemas).toBeUndefined()
  })
})
