/**
 * RocksDB-specific behaviour beyond the contract suite: the key layout, a state far larger than
 * the cache, the working directory, the lifecycle, and restored Avro rows kept in their writer schema.
 */
import avro from 'avsc'
import fc from 'fast-check'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ListStateDescriptor, ValueStateDescriptor } from '../api.ts'
import type { KeyedStateSnapshot } from '../backend.ts'
import { decodeKey, encodeKey, keyGroupBound } from './key-layout.ts'
import { RocksDbKeyedStateBackend, type RocksDbBackendOptions } from './rocksdb-backend.ts'

const root = mkdtempSync(join(tmpdir(), 'fluxion-rocksdb-spec-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let n = 0
const ALL = { start: 0, end: 127 }
const options = (extra: Partial<RocksDbBackendOptions> = {}): RocksDbBackendOptions => ({ dir: join(root, `db-${n++}`), maxParallelism: 128, keyGroupRange: ALL, ...extra })

const anyString = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), maxLength: 3 }))

describe('rocksdb key layout', () => {
  it('decodes what it encodes, and keeps every key of a key group between its bounds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 32766 }),
        fc.integer({ min: 1, max: 0xffff }),
        fc.oneof(fc.double(), fc.integer(), anyString),
        anyString,
        (keyGroup, stateId, namespace, stateKey) => {
          const key = encodeKey(keyGroup, stateId, namespace, stateKey)
          const decoded = decodeKey(key)
          expect(decoded).toEqual({ keyGroup, stateId, namespace: Object.is(namespace, -0) ? 0 : namespace, stateKey })
          expect(Buffer.compare(key, keyGroupBound(keyGroup))).toBeGreaterThanOrEqual(0)
          expect(Buffer.compare(key, keyGroupBound(keyGroup + 1))).toBeLessThan(0)
        },
      ),
      { numRuns: 1000 },
    )
  })
})

describe('RocksDbKeyedStateBackend', () => {
  it('holds a state far larger than its cache, and its deltas still carry every change', async () => {
    const b = await RocksDbKeyedStateBackend.open(options({ cacheEntries: 64 }))
    const v = b.getValueState(new ValueStateDescriptor<number>('v'))
    const l = b.getListState(new ListStateDescriptor<string>('l'))
    const keys = 8_000
    const full = b.snapshot()
    for (let i = 0; i < keys; i++) {
      b.setCurrentKey(`user-${i}`)
      v.update(i)
      l.add(`a${i}`)
      if (i % 1000 === 0) expect(b.cachedEntries()).toBeLessThanOrEqual(64)
    }
    const d1 = b.snapshotIncremental() // most entries were flushed and evicted long ago
    expect(d1.states.v.rows).toHaveLength(keys)
    expect(d1.states.l.rows).toHaveLength(keys)
    for (let i = 0; i < keys; i += 100) {
      b.setCurrentKey(`user-${i}`)
      v.update(-i)
      l.add('b')
      b.setCurrentKey(`user-${i + 1}`)
      v.clear()
    }
    for (let i = 0; i < 500; i++) b.setCurrentKey(`other-${i}`) // switching keys alone changes nothing
    const d2 = b.snapshotIncremental()
    expect(d2.states.v.rows).toHaveLength(160)
    expect(d2.states.l.rows).toHaveLength(80)
    expect(b.size()).toBe(2 * keys - 80)
    await b.close()

    const r = await RocksDbKeyedStateBackend.open(options({ cacheEntries: 64 }))
    r.restore([full, d1, structuredClone(d2) as KeyedStateSnapshot]) // structuredClone turns Buffers into plain Uint8Arrays
    const rv = r.getValueState(new ValueStateDescriptor<number>('v'))
    const rl = r.getListState(new ListStateDescriptor<string>('l'))
    for (let i = keys - 1; i >= 0; i--) {
      r.setCurrentKey(`user-${i}`)
      const changed = i % 100 === 0
      const cleared = i % 100 === 1
      expect(rv.value()).toBe(changed ? -i : cleared ? undefined : i)
      expect(rl.get()).toEqual(changed ? [`a${i}`, 'b'] : [`a${i}`])
    }
    await r.close()
  })

  it('owns its directory: wipes a RocksDB left by an earlier run, refuses a foreign one, removes it on close', async () => {
    const opts = options({ keepDir: true })
    const b = await RocksDbKeyedStateBackend.open(opts)
    b.setCurrentKey('k')
    b.getValueState(new ValueStateDescriptor<number>('v')).update(1)
    expect(b.size()).toBe(1)
    await b.close()
    expect(existsSync(opts.dir)).toBe(true)
    const again = await RocksDbKeyedStateBackend.open({ ...opts, keepDir: false })
    expect(again.size()).toBe(0)
    await again.close()
    expect(existsSync(opts.dir)).toBe(false)

    const foreign = join(root, 'foreign')
    mkdirSync(foreign)
    writeFileSync(join(foreign, 'precious.txt'), 'keep me')
    await expect(RocksDbKeyedStateBackend.open(options({ dir: foreign }))).rejects.toThrow(/not empty and holds no RocksDB/)
    expect(existsSync(join(foreign, 'precious.txt'))).toBe(true)
  })

  it('fails clearly when used before open or after dispose, and closes once', async () => {
    const b = new RocksDbKeyedStateBackend(options({ cacheEntries: 1 }))
    const v = b.getValueState(new ValueStateDescriptor<number>('v'))
    b.setCurrentKey('k')
    expect(() => v.value()).toThrow(/not open/)
    await b.open()
    v.update(1)
    b.setCurrentKey('k2')
    v.update(2)
    b.dispose()
    expect(() => b.snapshot()).toThrow(/disposed/)
    await b.close()
    await b.close()
    expect(() => new RocksDbKeyedStateBackend(options({ cacheEntries: 0 }))).toThrow(/cacheEntries/)
  })

  it('keeps restored Avro rows as bytes in their writer schema next to rows in the new one, and reads both', async () => {
    const v1 = { type: 'record', name: 'P', fields: [{ name: 'x', type: 'int' }, { name: 'old', type: 'string' }] }
    const v2 = { type: 'record', name: 'P', fields: [{ name: 'x', type: 'long' }, { name: 'y', type: ['null', 'string'], default: null }] }
    const canonical = (s: object) => JSON.stringify(avro.Type.forSchema(s as Parameters<typeof avro.Type.forSchema>[0]).schema())
    const fingerprintsOf = (snap: KeyedStateSnapshot) => new Set(snap.states.p.rows.map((r) => Buffer.from(r[3]!.subarray(1, 9)).toString('hex')))
    const w = await RocksDbKeyedStateBackend.open(options())
    const p1 = w.getValueState(new ValueStateDescriptor<object>('p', { avroSchema: v1 }))
    for (let i = 0; i < 100; i++) {
      w.setCurrentKey(i)
      p1.update({ x: i, old: `o${i}` })
    }
    const snap1 = w.snapshot()
    await w.close()

    const b = await RocksDbKeyedStateBackend.open(options({ cacheEntries: 16 }))
    b.restore([snap1])
    const p2 = b.getValueState(new ValueStateDescriptor<object>('p', { avroSchema: v2 }))
    for (let i = 0; i < 100; i += 2) {
      b.setCurrentKey(i)
      p2.update({ x: 2 ** 40 + i, y: `y${i}` })
    }
    const full = b.snapshot()
    expect(new Set(full.states.p.avroSchemas)).toEqual(new Set([canonical(v1), canonical(v2)]))
    expect(fingerprintsOf(full).size).toBe(2) // odd keys were never rewritten: still v1 bytes
    b.setCurrentKey(3)
    expect(p2.value()).toEqual({ x: 3, y: null })
    p2.update({ x: 3, y: 'three' })
    const delta = b.snapshotIncremental()
    expect(delta.states.p.avroSchemas).toEqual([canonical(v2)])
    await b.close()

    const r = await RocksDbKeyedStateBackend.open(options({ cacheEntries: 16 }))
    r.restore([full, delta])
    const p3 = r.getValueState(new ValueStateDescriptor<object>('p', { avroSchema: v2 }))
    for (let i = 0; i < 100; i++) {
      r.setCurrentKey(i)
      expect(p3.value()).toEqual(i % 2 === 0 ? { x: 2 ** 40 + i, y: `y${i}` } : { x: i, y: i === 3 ? 'three' : null })
    }
    await r.close()
  })
})
