/**
 * The KeyedStateBackend contract suite. `backendContract(name, factory)` registers the same tests
 * for any backend: the memory backend and the RocksDB backend (with a normal and a tiny cache)
 * run it from their *.contract.spec.ts files.
 *
 * Covered: value, list, map, reducing and aggregating state; namespaces and mergeNamespaces;
 * current-key switching and key types; serializers; full snapshots and restore; incremental
 * snapshots with deletions (property test against a plain model); rescaling to other
 * parallelisms; TTL with a ManualClock; Avro state and schema evolution.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { DEFAULT_MAX_PARALLELISM } from '../../engine/keys.ts'
import { ManualClock, type Clock } from '../../engine/time.ts'
import {
  AggregatingStateDescriptor,
  ListStateDescriptor,
  MapStateDescriptor,
  ReducingStateDescriptor,
  ValueStateDescriptor,
  type StateSerializer,
} from '../api.ts'
import type { KeyedStateBackend, KeyedStateSnapshot, KeyGroupRange } from '../backend.ts'
import { average, type Acc, type BackendFactory } from './contract-model.ts'
import { avroContract } from './contract-avro.ts'
import { snapshotContract } from './contract-snapshots.ts'
import { ttlContract } from './contract-ttl.ts'

export type { BackendFactory } from './contract-model.ts'

export interface CreateOptions {
  maxParallelism?: number
  keyGroupRange?: KeyGroupRange
  clock?: Clock
}

/** Creates backends through a factory and releases them after each test. */
export class Backends {
  private readonly live = new Set<KeyedStateBackend>()

  constructor(readonly factory: BackendFactory) {}

  async create(options: CreateOptions = {}): Promise<KeyedStateBackend> {
    const maxParallelism = options.maxParallelism ?? DEFAULT_MAX_PARALLELISM
    const backend = await this.factory.create({
      maxParallelism,
      keyGroupRange: options.keyGroupRange ?? { start: 0, end: maxParallelism - 1 },
      clock: options.clock ?? new ManualClock(0),
    })
    this.live.add(backend)
    return backend
  }

  /** A fresh backend (same options as `like` unless overridden) restored from `snapshots`. */
  async restored(snapshots: readonly KeyedStateSnapshot[], options: CreateOptions = {}): Promise<KeyedStateBackend> {
    const backend = await this.create(options)
    backend.restore(snapshots)
    return backend
  }

  /** Snapshot → fresh backend with the same range → restore (what a restart does). */
  async roundTrip(b: KeyedStateBackend, clock?: Clock): Promise<KeyedStateBackend> {
    const snap = b.snapshot()
    await this.release(b)
    return this.restored([snap], { maxParallelism: b.maxParallelism, keyGroupRange: b.keyGroupRange, clock })
  }

  async release(backend: KeyedStateBackend): Promise<void> {
    if (!this.live.delete(backend)) return
    await this.factory.destroy(backend)
  }

  async releaseAll(): Promise<void> {
    for (const b of [...this.live]) await this.release(b)
  }
}

/** A serializer that records its calls: JSON text. */
export function jsonSerializer<T>(calls: { serialize: number; deserialize: number }): StateSerializer<T> {
  return {
    serialize(v: T) {
      calls.serialize++
      return Buffer.from(JSON.stringify(v))
    },
    deserialize(b: Uint8Array) {
      calls.deserialize++
      return JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString()) as T
    },
  }
}

export function backendContract(name: string, factory: BackendFactory): void {
  const backends = new Backends(factory)
  afterEach(() => backends.releaseAll())

  describe(`${name}: value state`, () => {
    it('keeps one value per key, returns the default when empty, and clears', async () => {
      let b = await backends.create()
      const count = b.getValueState(new ValueStateDescriptor<number>('count', { defaultValue: 0 }))
      const label = b.getValueState(new ValueStateDescriptor<string>('label'))
      b.setCurrentKey('a')
      expect(count.value()).toBe(0)
      expect(label.value()).toBeUndefined()
      count.update(3)
      label.update('x')
      b.setCurrentKey(7)
      count.update(1)
      expect(b.size()).toBe(3)

      b = await backends.roundTrip(b)
      const count2 = b.getValueState(new ValueStateDescriptor<number>('count', { defaultValue: 0 }))
      const label2 = b.getValueState(new ValueStateDescriptor<string>('label'))
      b.setCurrentKey('a')
      expect(count2.value()).toBe(3)
      expect(label2.value()).toBe('x')
      b.setCurrentKey(7)
      expect(count2.value()).toBe(1)
      expect(label2.value()).toBeUndefined()
      count2.clear()
      expect(count2.value()).toBe(0)
      b.setCurrentKey('a')
      label2.update(undefined as unknown as string) // update(undefined) clears, as in Flink
      expect(label2.value()).toBeUndefined()
      expect(b.size()).toBe(1)
    })

    it('tells keys of different types apart (1 vs "1") and treats equal structured keys as one', async () => {
      let b = await backends.create()
      const keys: unknown[] = [1, '1', true, 'true', [1, 'a'], { x: 1, y: 2 }, 1n, '\u0000n1', '', 'ü€😀', -2.5, null]
      const s0 = b.getValueState(new ValueStateDescriptor<number>('s'))
      keys.forEach((k, i) => {
        b.setCurrentKey(k)
        s0.update(i)
      })
      b = await backends.roundTrip(b)
      const s = b.getValueState(new ValueStateDescriptor<number>('s'))
      expect(b.size()).toBe(keys.length)
      keys.forEach((k, i) => {
        b.setCurrentKey(structuredClone(k))
        expect(s.value(), String(k)).toBe(i)
      })
      b.setCurrentKey({ y: 2, x: 1 })
      expect(s.value()).toBe(5)
      b.setCurrentKey(-0)
      expect(s.value()).toBeUndefined()
      b.setCurrentKey(0)
      s.update(99)
      b.setCurrentKey(-0)
      expect(s.value()).toBe(99) // -0 and 0 are one key, as their canonical bytes are
    })

    it('keeps namespaces apart (0, 10 and "0" are three namespaces)', async () => {
      let b = await backends.create()
      const v = b.getValueState(new ValueStateDescriptor<number>('w'))
      b.setCurrentKey('k')
      v.setCurrentNamespace(0)
      v.update(1)
      v.setCurrentNamespace(10)
      v.update(2)
      v.setCurrentNamespace('0')
      expect(v.value()).toBeUndefined()
      v.update(3)
      b = await backends.roundTrip(b)
      const v2 = b.getValueState(new ValueStateDescriptor<number>('w'))
      b.setCurrentKey('k')
      v2.setCurrentNamespace(0)
      expect(v2.value()).toBe(1)
      v2.clear()
      v2.setCurrentNamespace(10)
      expect(v2.value()).toBe(2)
      v2.setCurrentNamespace('0')
      expect(v2.value()).toBe(3)
      expect(b.size()).toBe(2)
    })

    it('refuses to use one state name as two kinds of state', async () => {
      const b = await backends.create()
      b.getValueState(new ValueStateDescriptor<number>('s'))
      expect(() => b.getListState(new ListStateDescriptor<number>('s'))).toThrow(/registered as value state/)
      expect(() => b.getReducingState(new ReducingStateDescriptor<number>('s', (x, y) => x + y))).toThrow(/registered as value state/)
    })
  })

  describe(`${name}: list state`, () => {
    it('adds, updates, clears and merges namespaces (target first)', async () => {
      let b = await backends.create()
      const l = b.getListState(new ListStateDescriptor<number>('l'))
      b.setCurrentKey('k')
      expect(l.get()).toEqual([])
      l.add(1)
      l.addAll([2, 3])
      l.addAll([])
      expect(l.get()).toEqual([1, 2, 3])
      l.setCurrentNamespace('w1')
      l.update([10])
      l.setCurrentNamespace('w2')
      l.add(20)
      b = await backends.roundTrip(b)
      const l2 = b.getListState(new ListStateDescriptor<number>('l'))
      b.setCurrentKey('k')
      l2.mergeNamespaces('w1', ['w2', ''])
      l2.setCurrentNamespace('w1')
      expect(l2.get()).toEqual([10, 20, 1, 2, 3])
      l2.setCurrentNamespace('w2')
      expect(l2.get()).toEqual([])
      expect(b.size()).toBe(1)
      l2.setCurrentNamespace('w1')
      l2.update([])
      expect(b.size()).toBe(0)
    })

    it('merges into an empty target and leaves other keys alone', async () => {
      let b = await backends.create()
      const first = b.getListState(new ListStateDescriptor<string>('l'))
      first.setCurrentNamespace(1)
      b.setCurrentKey('other')
      first.add('o')
      b.setCurrentKey('k')
      first.add('k1')
      b = await backends.roundTrip(b)
      const l = b.getListState(new ListStateDescriptor<string>('l'))
      b.setCurrentKey('k')
      l.mergeNamespaces(5, [1, 7])
      l.setCurrentNamespace(5)
      expect(l.get()).toEqual(['k1'])
      b.setCurrentKey('other')
      l.setCurrentNamespace(1)
      expect(l.get()).toEqual(['o'])
    })
  })

  describe(`${name}: map state`, () => {
    it('puts, gets, removes and iterates; an empty map takes no entry', async () => {
      let b = await backends.create()
      const m = b.getMapState(new MapStateDescriptor<string, number>('m'))
      b.setCurrentKey('k')
      expect(m.isEmpty()).toBe(true)
      expect([...m.entries()]).toEqual([])
      m.put('a', 1)
      m.putAll([
        ['b', 2],
        ['c', 3],
      ])
      m.remove('zzz')
      b = await backends.roundTrip(b)
      const m2 = b.getMapState(new MapStateDescriptor<string, number>('m'))
      b.setCurrentKey('k')
      expect(m2.get('b')).toBe(2)
      expect(m2.contains('c')).toBe(true)
      expect(m2.contains('d')).toBe(false)
      expect([...m2.keys()]).toEqual(['a', 'b', 'c'])
      expect([...m2.values()]).toEqual([1, 2, 3])
      m2.remove('a')
      m2.remove('b')
      expect([...m2.entries()]).toEqual([['c', 3]])
      m2.remove('c')
      expect(m2.isEmpty()).toBe(true)
      expect(b.size()).toBe(0)
      m2.put('x', 1)
      m2.clear()
      expect(b.size()).toBe(0)
    })
  })

  describe(`${name}: reducing and aggregating state`, () => {
    it('reduces added values per key and namespace, merges namespaces, and clears', async () => {
      let b = await backends.create()
      const d = new ReducingStateDescriptor<number>('max', (x, y) => Math.max(x, y))
      const r = b.getReducingState(d)
      b.setCurrentKey('k')
      expect(r.get()).toBeUndefined()
      for (const v of [3, 9, 4]) r.add(v)
      r.setCurrentNamespace('w2')
      r.add(12)
      r.setCurrentNamespace('w3')
      r.add(1)
      b.setCurrentKey('other')
      r.add(100)
      b = await backends.roundTrip(b)
      const r2 = b.getReducingState(d)
      b.setCurrentKey('k')
      r2.setCurrentNamespace('')
      expect(r2.get()).toBe(9)
      r2.mergeNamespaces('w3', ['', 'w2'])
      r2.setCurrentNamespace('w3')
      expect(r2.get()).toBe(12)
      expect(r2.getInternal()).toBe(12)
      r2.setCurrentNamespace('')
      expect(r2.get()).toBeUndefined()
      r2.setCurrentNamespace('w3')
      r2.updateInternal(5)
      expect(r2.get()).toBe(5)
      r2.clear()
      expect(r2.get()).toBeUndefined()
      b.setCurrentKey('other')
      expect(r2.get()).toBe(100)
      expect(b.size()).toBe(1)
    })

    it('aggregates with the aggregate function, also when add mutates the accumulator in place', async () => {
      let b = await backends.create()
      const mutating = {
        createAccumulator: (): Acc => ({ sum: 0, count: 0 }),
        add: (v: number, acc: Acc) => {
          acc.sum += v
          acc.count++
          return acc
        },
        getResult: (acc: Acc) => acc.sum / acc.count,
        merge: (x: Acc, y: Acc) => ({ sum: x.sum + y.sum, count: x.count + y.count }),
      }
      const d1 = new AggregatingStateDescriptor<number, Acc, number>('avg', average)
      const d2 = new AggregatingStateDescriptor<number, Acc, number>('avg-in-place', mutating)
      for (const [i, k] of ['a', 'b', 'c'].entries()) {
        b.setCurrentKey(k)
        for (const d of [d1, d2]) {
          const a = b.getAggregatingState(d)
          a.setCurrentNamespace(1)
          a.add(i)
          a.add(i + 2)
          a.setCurrentNamespace(2)
          a.add(10)
        }
      }
      b = await backends.roundTrip(b)
      for (const d of [d1, d2]) {
        const a = b.getAggregatingState(d)
        b.setCurrentKey('b')
        a.setCurrentNamespace(1)
        expect(a.get()).toBe(2)
        expect(a.getInternal()).toEqual({ sum: 4, count: 2 })
        a.mergeNamespaces(1, [2])
        expect(a.get()).toBe(14 / 3)
        a.setCurrentNamespace(2)
        expect(a.get()).toBeUndefined()
        b.setCurrentKey('c')
        a.setCurrentNamespace(1)
        expect(a.get()).toBe(3)
      }
    })
  })

  describe(`${name}: current key`, () => {
    it('switches keys between records: handles read and write the current key, namespaces are per handle', async () => {
      const b = await backends.create()
      const v1 = b.getValueState(new ValueStateDescriptor<string>('v'))
      const v2 = b.getValueState(new ValueStateDescriptor<string>('v')) // a second handle on the same state
      const l = b.getListState(new ListStateDescriptor<number>('l'))
      const n = 300
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < n; i++) {
          b.setCurrentKey(i % 2 === 0 ? i : `k${i}`)
          expect(b.getCurrentKey()).toEqual(i % 2 === 0 ? i : `k${i}`)
          if (round === 0) v1.update(`v${i}`)
          l.add(round)
        }
      }
      v2.setCurrentNamespace('other')
      for (let i = n - 1; i >= 0; i--) {
        b.setCurrentKey(i % 2 === 0 ? i : `k${i}`)
        expect(v1.value()).toBe(`v${i}`)
        expect(v2.value()).toBeUndefined()
        expect(l.get()).toEqual([0, 1, 2])
      }
      expect(b.size()).toBe(2 * n)
    })
  })

  describe(`${name}: serializers`, () => {
    it("encodes values with the descriptor's serializers, in snapshots and back", async () => {
      const calls = { serialize: 0, deserialize: 0 }
      let b = await backends.create()
      const vd = new ValueStateDescriptor<{ n: number }>('v', { serializer: jsonSerializer(calls) })
      const ld = new ListStateDescriptor<string>('l', { serializer: jsonSerializer(calls) })
      const md = new MapStateDescriptor<number, string[]>('m', { serializer: jsonSerializer(calls), keySerializer: jsonSerializer(calls) })
      const ad = new AggregatingStateDescriptor<number, Acc, number>('a', average, { serializer: jsonSerializer(calls) })
      b.setCurrentKey('k')
      b.getValueState(vd).update({ n: 1 })
      b.getListState(ld).addAll(['x', 'y'])
      b.getMapState(md).put(7, ['s'])
      b.getAggregatingState(ad).add(4)
      const snap = b.snapshot()
      expect(calls.serialize).toBeGreaterThanOrEqual(6)
      const [row] = snap.states.v.rows
      expect(row[3]![0]).toBe(0) // header: no TTL
      expect(Buffer.from(row[3]!.subarray(1)).toString()).toBe('{"n":1}')
      await backends.release(b)
      b = await backends.restored([snap])
      b.setCurrentKey('k')
      expect(b.getValueState(vd).value()).toEqual({ n: 1 })
      expect(b.getListState(ld).get()).toEqual(['x', 'y'])
      expect([...b.getMapState(md).entries()]).toEqual([[7, ['s']]])
      expect(b.getAggregatingState(ad).get()).toBe(4)
      expect(calls.deserialize).toBeGreaterThanOrEqual(6)
    })
  })

  describe(`${name}: serialization failures`, () => {
    it('names the state whose value cannot be serialized', async () => {
      const b = await backends.create()
      b.setCurrentKey('k')
      b.getValueState(new ValueStateDescriptor<unknown>('fn')).update(() => 1)
      expect(() => b.snapshot()).toThrow(/cannot serialize a value of state "fn"/)
    })
  })

  describe(`${name}: many keys`, () => {
    it('keeps every entry of a state much larger than a small cache', async () => {
      let b = await backends.create()
      const v = b.getValueState(new ValueStateDescriptor<number>('v'))
      const l = b.getListState(new ListStateDescriptor<number>('l'))
      const n = 3000
      for (let i = 0; i < n; i++) {
        b.setCurrentKey(`key-${i}`)
        v.update(i)
        l.add(i)
      }
      for (let i = 0; i < n; i += 2) {
        b.setCurrentKey(`key-${i}`)
        v.update((v.value() ?? 0) + 1)
        l.add(-i)
      }
      b = await backends.roundTrip(b)
      const v2 = b.getValueState(new ValueStateDescriptor<number>('v'))
      const l2 = b.getListState(new ListStateDescriptor<number>('l'))
      for (let i = n - 1; i >= 0; i--) {
        b.setCurrentKey(`key-${i}`)
        expect(v2.value()).toBe(i % 2 === 0 ? i + 1 : i)
        expect(l2.get()).toEqual(i % 2 === 0 ? [i, -i] : [i])
      }
      expect(b.size()).toBe(2 * n)
    })
  })

  snapshotContract(name, backends)
  ttlContract(name, backends)
  avroContract(name, backends)
}
