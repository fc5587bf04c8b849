/**
 * The RocksDB backend's cache against the memory backend as the reference: known-absent
 * namespaces (no read for a new window), no tombstones for entries that never reached RocksDB,
 * deltas of entries that left the cache, restore into a used backend, and the namespace limit.
 * The property test runs the same random operations (window-like namespaces, every kind of state,
 * incremental and full snapshots, restores) on both backends with caches far smaller than the
 * state; the other tests count what reaches RocksDB (`ioStats`).
 */
import fc from 'fast-check'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ManualClock } from '../../engine/time.ts'
import { AggregatingStateDescriptor, ValueStateDescriptor } from '../api.ts'
import type { KeyedStateBackend, KeyedStateSnapshot, Namespace } from '../backend.ts'
import { MemoryKeyedStateBackend } from '../memory/memory-backend.ts'
import { contents, descriptors } from '../testing/contract-model.ts'
import { RocksDbKeyedStateBackend, type RocksDbBackendOptions } from './rocksdb-backend.ts'

const root = mkdtempSync(join(tmpdir(), 'fluxion-rocksdb-cache-spec-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let n = 0
const MAX_P = 128
const ALL = { start: 0, end: MAX_P - 1 }
const openRocks = (extra: Partial<RocksDbBackendOptions> = {}) =>
  RocksDbKeyedStateBackend.open({ dir: join(root, `db-${n++}`), maxParallelism: MAX_P, keyGroupRange: ALL, clock: new ManualClock(0), ...extra })
const memory = () => new MemoryKeyedStateBackend(MAX_P, ALL, { trackChanges: true, clock: new ManualClock(0) })

type Kind = 'value' | 'list' | 'map' | 'reducing' | 'aggregating'
type Key = number | string
type Op =
  | { t: 'write'; kind: Kind; key: Key; ns: Namespace; v: number | undefined }
  | { t: 'read'; kind: Kind; key: Key; ns: Namespace }
  | { t: 'merge'; kind: 'list' | 'reducing' | 'aggregating'; key: Key; target: Namespace; sources: Namespace[] }
  | { t: 'incremental' | 'full' | 'restore' }

const kindArb = fc.constantFrom<Kind>('value', 'list', 'map', 'reducing', 'aggregating')
// Few keys and namespaces, so that operations meet the same entries often (in and out of the cache).
const KEYS: readonly Key[] = [0, 1, 2, 3, 'a', '\u0000x']
const NAMESPACES: readonly Namespace[] = [0, 1000, 2000, 3000, 4000, '', 'w']
const keyArb = fc.constantFrom(...KEYS)
/** Window starts (numbers) and string namespaces. */
const nsArb: fc.Arbitrary<Namespace> = fc.constantFrom(...NAMESPACES)
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ t: fc.constant('write' as const), kind: kindArb, key: keyArb, ns: nsArb, v: fc.option(fc.integer({ min: -9, max: 9 }), { nil: undefined, freq: 3 }) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('read' as const), kind: kindArb, key: keyArb, ns: nsArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('merge' as const),
      kind: fc.constantFrom('list' as const, 'reducing' as const, 'aggregating' as const),
      key: keyArb,
      target: nsArb,
      sources: fc.array(nsArb, { maxLength: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom<Op>({ t: 'incremental' }, { t: 'full' }, { t: 'restore' }) },
)

function handlesOf(b: KeyedStateBackend) {
  return {
    value: b.getValueState(descriptors.value),
    list: b.getListState(descriptors.list),
    map: b.getMapState(descriptors.map),
    reducing: b.getReducingState(descriptors.reducing),
    aggregating: b.getAggregatingState(descriptors.aggregating),
  }
}

/** One backend under test: its handles and its checkpoint chain (a full snapshot, then deltas). */
class Subject {
  readonly h: ReturnType<typeof handlesOf>
  chain: KeyedStateSnapshot[]

  constructor(readonly b: KeyedStateBackend) {
    this.h = handlesOf(b)
    this.chain = [b.snapshot()]
  }

  write(kind: Kind, key: Key, ns: Namespace, v: number | undefined): void {
    this.b.setCurrentKey(key)
    const h = this.h[kind]
    h.setCurrentNamespace(ns)
    if (kind === 'map') {
      if (v === undefined) this.h.map.remove('x')
      else this.h.map.put(v % 2 === 0 ? 'x' : 'y', v)
    } else if (v === undefined) h.clear()
    else if (kind === 'value') this.h.value.update(v)
    else (h as { add(v: number): void }).add(v)
  }

  read(kind: Kind, key: Key, ns: Namespace): unknown {
    this.b.setCurrentKey(key)
    const h = this.h[kind]
    h.setCurrentNamespace(ns)
    if (kind === 'map') return [...this.h.map.entries()]
    return kind === 'value' ? this.h.value.value() : (h as { get(): unknown }).get()
  }

  merge(kind: 'list' | 'reducing' | 'aggregating', key: Key, target: Namespace, sources: Namespace[]): void {
    this.b.setCurrentKey(key)
    this.h[kind].mergeNamespaces(target, sources)
  }

  apply(op: Op): unknown {
    switch (op.t) {
      case 'write':
        return this.write(op.kind, op.key, op.ns, op.v)
      case 'read':
        return this.read(op.kind, op.key, op.ns)
      case 'merge':
        return this.merge(op.kind, op.key, op.target, op.sources)
      case 'incremental':
        this.chain.push(this.b.snapshotIncremental())
        return undefined
      case 'full':
        this.chain = [this.b.snapshot()]
        return contents(this.chain)
      case 'restore':
        this.b.restore(this.chain) // into the used backend: back to the last snapshot
        return undefined
    }
  }
}

describe('RocksDB cache vs the memory backend', () => {
  it('property: same reads, snapshots and restored chains as the memory backend, with caches far smaller than the state', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 150, size: 'max' }),
        fc.constantFrom(1, 3, 8, 100_000),
        fc.constantFrom(0, 2, 65_536),
        async (ops, cacheEntries, diskNamespacesLimit) => {
          const rocks = new Subject(await openRocks({ cacheEntries, diskNamespacesLimit }))
          const mem = new Subject(memory())
          const fresh: RocksDbKeyedStateBackend[] = []
          try {
            for (const op of ops) expect(rocks.apply(op), JSON.stringify(op)).toEqual(mem.apply(op))
            // Every entry reads the same (most of them through misses of the small cache).
            for (const kind of ['value', 'list', 'map', 'reducing', 'aggregating'] as const) {
              for (const key of KEYS) for (const ns of NAMESPACES) expect(rocks.read(kind, key, ns)).toEqual(mem.read(kind, key, ns))
            }
            rocks.apply({ t: 'incremental' })
            mem.apply({ t: 'incremental' })
            const expected = contents([mem.b.snapshot()])
            // Each chain restores, into either backend, to the reference's state.
            for (const chain of [rocks.chain, mem.chain]) {
              const m = memory()
              m.restore(chain)
              expect(contents([m.snapshot()])).toEqual(expected)
              const r = await openRocks({ cacheEntries: 4 })
              fresh.push(r)
              r.restore(chain)
              expect(contents([r.snapshot()])).toEqual(expected)
            }
            expect(contents([rocks.b.snapshot()])).toEqual(expected)
            expect(rocks.b.size()).toBe(mem.b.size())
          } finally {
            await (rocks.b as RocksDbKeyedStateBackend).close()
            for (const r of fresh) await r.close()
          }
        },
      ),
      // Each run opens three RocksDBs; a failure is reported unshrunk (rerun with its seed to shrink).
      { numRuns: 30, endOnFailure: true },
    )
  }, 90_000)
})

const count = new AggregatingStateDescriptor<number, number, number>('count', {
  createAccumulator: () => 0,
  add: (v, acc) => acc + v,
  getResult: (acc) => acc,
  merge: (a, b) => a + b,
})

/**
 * A tumbling count window as the window operator drives it: per record get + set in the window's
 * namespace; at the window's end a get and a clear per key. Returns the counts it fired.
 */
function tumbling(b: RocksDbKeyedStateBackend, windows: number, keys: number, perKey: number, onWindowEnd: (w: number) => void = () => {}): number[] {
  const state = b.getAggregatingState(count)
  const fired: number[] = []
  for (let w = 0; w < windows; w++) {
    state.setCurrentNamespace(w * 10_000)
    for (let r = 0; r < keys * perKey; r++) {
      b.setCurrentKey(r % keys)
      state.add(1)
    }
    for (let k = 0; k < keys; k++) {
      b.setCurrentKey(k)
      fired.push(state.get()!)
      state.clear()
    }
    onWindowEnd(w)
  }
  return fired
}

describe('RocksDB backend: what reaches RocksDB', () => {
  it('a window state that fits the cache never reads or writes RocksDB, and its cleared entries leave the cache', async () => {
    const b = await openRocks({ cacheEntries: 2_000 })
    const chain: KeyedStateSnapshot[] = [b.snapshot()]
    const deltaRows: number[] = []
    const fired = tumbling(b, 20, 500, 3, () => {
      const d = b.snapshotIncremental()
      deltaRows.push(d.states.count?.rows.length ?? 0)
      chain.push(d)
    })
    expect(fired).toEqual(new Array(20 * 500).fill(3))
    expect(b.ioStats()).toEqual({ keysRead: 0, puts: 0, deletes: 0 })
    expect(b.cachedEntries()).toBe(0)
    // Created and cleared within one epoch: each key of the window is a deletion row.
    expect(deltaRows).toEqual(new Array(20).fill(500))
    const m = memory()
    m.restore(chain)
    expect(m.size()).toBe(0)
    await b.close()
  })

  it('a full snapshot writes nothing: it overlays the dirty cached entries on the scan of RocksDB', async () => {
    const b = await openRocks({ cacheEntries: 500 })
    const state = b.getAggregatingState(count)
    const add = (ns: number, from: number, to: number) => {
      state.setCurrentNamespace(ns)
      for (let k = from; k < to; k++) {
        b.setCurrentKey(k)
        state.add(k)
      }
    }
    add(0, 0, 900) // overflows: window 0 is partly flushed
    add(0, 0, 900) // read back, then newer in the cache than on disk
    state.setCurrentNamespace(0)
    for (let k = 0; k < 100; k++) {
      b.setCurrentKey(k)
      state.clear() // deletions, some over rows on disk
    }
    add(1, 0, 300) // overflows: everything so far is flushed
    add(0, 100, 150) // dirty, newer than their rows on disk
    state.setCurrentNamespace(0)
    for (let k = 150; k < 160; k++) {
      b.setCurrentKey(k)
      state.clear() // dirty deletions of rows on disk
    }
    const before = b.ioStats()
    expect(before.puts).toBeGreaterThan(0)
    const full = b.snapshot()
    expect(b.ioStats()).toEqual(before)
    expect(full.states.count.rows).toHaveLength(900 - 100 - 10 + 300)
    add(1, 0, 10)
    const delta = b.snapshotIncremental()
    expect(delta.states.count.rows).toHaveLength(10)
    const r = memory()
    r.restore([full, delta])
    const rs = r.getAggregatingState(count)
    for (let k = 0; k < 900; k++) {
      r.setCurrentKey(k)
      rs.setCurrentNamespace(0)
      expect(rs.get()).toBe(k < 100 || (k >= 150 && k < 160) ? undefined : k < 150 ? 3 * k : 2 * k)
      rs.setCurrentNamespace(1)
      expect(rs.get()).toBe(k < 10 ? 2 * k : k < 300 ? k : undefined)
    }
    await b.close()
  })

  it('windows larger than the cache: correct counts; reads only in flushed namespaces; tombstones only for flushed entries', async () => {
    const b = await openRocks({ cacheEntries: 300 })
    const fired = tumbling(b, 6, 1_000, 2)
    expect(fired).toEqual(new Array(6 * 1_000).fill(2))
    const io = b.ioStats()
    // Every put was flushed once per overflow; a flushed entry is deleted at most once.
    expect(io.puts).toBeGreaterThan(0)
    expect(io.deletes).toBeLessThanOrEqual(io.puts)
    expect(b.size()).toBe(0)
    // A new window: its first accesses read nothing, whatever older windows left on disk.
    const before = b.ioStats().keysRead
    const state = b.getAggregatingState(count)
    state.setCurrentNamespace(999_000)
    for (let k = 0; k < 200; k++) {
      b.setCurrentKey(k)
      expect(state.get()).toBeUndefined()
      state.add(1)
    }
    expect(b.ioStats().keysRead).toBe(before)
    await b.close()
  })

  it('deleting entries that never reached RocksDB writes no tombstone; deleting flushed ones does', async () => {
    const b = await openRocks({ cacheEntries: 64 })
    const v = b.getValueState(new ValueStateDescriptor<number>('v'))
    for (let k = 0; k < 1_000; k++) {
      b.setCurrentKey(k)
      v.update(k)
    }
    const full = b.snapshot()
    expect(b.size()).toBe(1_000) // flushes the entries the snapshot left dirty in the cache
    const afterFull = b.ioStats()
    expect(afterFull.puts).toBeGreaterThanOrEqual(1_000)
    for (let k = 1_000; k < 1_050; k++) {
      b.setCurrentKey(k)
      expect(v.value()).toBeUndefined() // a read: the key is known absent from now on
      v.update(k)
      v.clear() // never flushed (clean entries leave the cache first): no tombstone
    }
    for (let k = 0; k < 10; k++) {
      b.setCurrentKey(k)
      v.clear() // blind, on disk: a tombstone
    }
    const delta = b.snapshotIncremental()
    expect(delta.states.v.rows.filter((r) => r[3] === null)).toHaveLength(60)
    expect(b.size()).toBe(990)
    const io = b.ioStats()
    expect(io.deletes - afterFull.deletes).toBe(10)
    expect(io.puts - afterFull.puts).toBe(0)
    // A namespace that was never written: reads of it do not reach RocksDB.
    v.setCurrentNamespace('never')
    for (let k = 0; k < 100; k++) {
      b.setCurrentKey(k)
      expect(v.value()).toBeUndefined()
    }
    expect(b.ioStats().keysRead).toBe(io.keysRead)
    const r = await openRocks({ cacheEntries: 8 })
    r.restore([full, delta])
    const rv = r.getValueState(new ValueStateDescriptor<number>('v'))
    for (let k = 0; k < 1_050; k++) {
      r.setCurrentKey(k)
      expect(rv.value()).toBe(k >= 10 && k < 1_000 ? k : undefined)
    }
    await b.close()
    await r.close()
  })

  it('beyond diskNamespacesLimit every miss reads, until a full snapshot finds few namespaces again', async () => {
    const b = await openRocks({ cacheEntries: 8, diskNamespacesLimit: 3 })
    const v = b.getValueState(new ValueStateDescriptor<number>('v'))
    const write = (ns: number, value: number | undefined) => {
      v.setCurrentNamespace(ns)
      for (let k = 0; k < 20; k++) {
        b.setCurrentKey(k)
        if (value === undefined) v.clear()
        else v.update(value)
      }
    }
    const readsOfNewNamespace = (ns: number) => {
      const before = b.ioStats().keysRead
      v.setCurrentNamespace(ns)
      for (let k = 0; k < 20; k++) {
        b.setCurrentKey(k)
        expect(v.value()).toBeUndefined()
      }
      return b.ioStats().keysRead - before
    }
    for (let ns = 0; ns < 5; ns++) write(ns, ns + 1)
    expect(b.size()).toBe(100)
    expect(readsOfNewNamespace(100)).toBe(20) // 5 namespaces on disk, 3 tracked at most: unknown
    for (let ns = 1; ns < 5; ns++) write(ns, undefined)
    b.snapshot() // the scan finds one namespace: known again
    expect(readsOfNewNamespace(101)).toBe(0)
    v.setCurrentNamespace(0)
    for (let k = 0; k < 20; k++) {
      b.setCurrentKey(k)
      expect(v.value()).toBe(1)
    }
    await b.close()
    expect(() => new RocksDbKeyedStateBackend({ dir: join(root, 'x'), maxParallelism: MAX_P, keyGroupRange: ALL, diskNamespacesLimit: -1 })).toThrow(/diskNamespacesLimit/)
  })
})
