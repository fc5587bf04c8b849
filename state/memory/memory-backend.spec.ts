/**
 * MemoryKeyedStateBackend: value/list/map state per (key, namespace), snapshots that are deep
 * copies, and restore filtered by key-group range — which is what rescaling relies on.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DEFAULT_MAX_PARALLELISM, keyGroupOf, keyGroupOfStateKey, keyGroupRangeOf, stateKeyOf, subtaskForKeyGroup } from '../../engine/keys.ts'
import { ListStateDescriptor, MapStateDescriptor, V8_SERIALIZER, ValueStateDescriptor } from '../api.ts'
import { StateCodec } from '../internal/codec.ts'
import type { KeyedStateSnapshot, KeyGroupRange } from '../backend.ts'
import { MemoryKeyedStateBackend } from './memory-backend.ts'

const ALL: KeyGroupRange = { start: 0, end: DEFAULT_MAX_PARALLELISM - 1 }
const backend = (range: KeyGroupRange = ALL, maxParallelism = DEFAULT_MAX_PARALLELISM) => new MemoryKeyedStateBackend(maxParallelism, range)

/** Snapshot → fresh backend with the same range → restore (what a restart does). */
function roundTrip(b: MemoryKeyedStateBackend): MemoryKeyedStateBackend {
  const fresh = backend(b.keyGroupRange, b.maxParallelism)
  fresh.restore([b.snapshot()])
  return fresh
}

describe('MemoryKeyedStateBackend: value state', () => {
  it('keeps one value per key, returns the default when empty, and clears', () => {
    let b = backend()
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

    b = roundTrip(b)
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

  it('tells keys of different types apart (1 vs "1") and treats equal structured keys as one', () => {
    let b = backend()
    const s0 = b.getValueState(new ValueStateDescriptor<string>('s'))
    for (const k of [1, '1', true, 'true', [1, 'a'], { x: 1, y: 2 }, 1n]) {
      b.setCurrentKey(k)
      s0.update(typeof k + JSON.stringify(k, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)))
    }
    b = roundTrip(b)
    const s = b.getValueState(new ValueStateDescriptor<string>('s'))
    expect(b.size()).toBe(7)
    b.setCurrentKey({ y: 2, x: 1 })
    expect(s.value()).toBe('object{"x":1,"y":2}')
    b.setCurrentKey([1, 'a'])
    expect(s.value()).toBe('object[1,"a"]')
    b.setCurrentKey('1')
    expect(s.value()).toBe('string"1"')
    b.setCurrentKey(-0)
    expect(s.value()).toBeUndefined()
    b.setCurrentKey(0)
    s.update('zero')
    b.setCurrentKey(-0)
    expect(s.value()).toBe('zero') // -0 and 0 are one key, as their canonical bytes are
  })

  it('keeps namespaces apart', () => {
    let b = backend()
    const v = b.getValueState(new ValueStateDescriptor<number>('w'))
    b.setCurrentKey('k')
    v.setCurrentNamespace(0)
    v.update(1)
    v.setCurrentNamespace(10)
    v.update(2)
    v.setCurrentNamespace('0')
    expect(v.value()).toBeUndefined()
    b = roundTrip(b)
    const v2 = b.getValueState(new ValueStateDescriptor<number>('w'))
    b.setCurrentKey('k')
    v2.setCurrentNamespace(0)
    expect(v2.value()).toBe(1)
    v2.clear()
    v2.setCurrentNamespace(10)
    expect(v2.value()).toBe(2)
    expect(b.size()).toBe(1)
  })

  it('refuses to use one state name as two kinds of state', () => {
    const b = backend()
    b.getValueState(new ValueStateDescriptor<number>('s'))
    expect(() => b.getListState(new ListStateDescriptor<number>('s'))).toThrow(/registered as value state/)
  })
})

describe('MemoryKeyedStateBackend: list state', () => {
  it('adds, updates, clears and merges namespaces', () => {
    let b = backend()
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
    b = roundTrip(b)
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

  it('merges into an empty target and leaves other keys alone', () => {
    let b = backend()
    const first = b.getListState(new ListStateDescriptor<string>('l'))
    first.setCurrentNamespace(1)
    b.setCurrentKey('other')
    first.add('o')
    b.setCurrentKey('k')
    first.add('k1')
    b = roundTrip(b)
    const l = b.getListState(new ListStateDescriptor<string>('l'))
    b.setCurrentKey('k')
    l.mergeNamespaces(5, [1])
    l.setCurrentNamespace(5)
    expect(l.get()).toEqual(['k1'])
    b.setCurrentKey('other')
    l.setCurrentNamespace(1)
    expect(l.get()).toEqual(['o'])
  })
})

describe('MemoryKeyedStateBackend: map state', () => {
  it('puts, gets, removes and iterates; an empty map takes no entry', () => {
    let b = backend()
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
    b = roundTrip(b)
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

describe('MemoryKeyedStateBackend: snapshots', () => {
  it('snapshots deep copies: later writes change neither the snapshot nor a restored backend', () => {
    const b = backend()
    const v = b.getValueState(new ValueStateDescriptor<{ n: number }>('obj'))
    const l = b.getListState(new ListStateDescriptor<number>('l'))
    b.setCurrentKey('k')
    v.update({ n: 1 })
    l.add(1)
    const snap = b.snapshot()
    v.value()!.n = 99
    l.add(2)
    const r1 = backend()
    r1.restore([snap])
    const v1 = r1.getValueState(new ValueStateDescriptor<{ n: number }>('obj'))
    const l1 = r1.getListState(new ListStateDescriptor<number>('l'))
    r1.setCurrentKey('k')
    expect(v1.value()).toEqual({ n: 1 })
    expect(l1.get()).toEqual([1])
    l1.add(3)
    const r2 = backend()
    r2.restore([snap])
    const l2 = r2.getListState(new ListStateDescriptor<number>('l'))
    r2.setCurrentKey('k')
    expect(l2.get()).toEqual([1])
  })

  it('refuses a snapshot taken with another maxParallelism', () => {
    const b = backend(ALL, 128)
    b.getValueState(new ValueStateDescriptor<number>('v'))
    const other = new MemoryKeyedStateBackend(64, { start: 0, end: 63 })
    expect(() => other.restore([b.snapshot()])).toThrow(/maxParallelism/)
  })

  it('restores only the key groups of its range', () => {
    const b = backend()
    const v = b.getValueState(new ValueStateDescriptor<string>('v'))
    const keys = Array.from({ length: 50 }, (_, i) => `user-${i}`)
    for (const k of keys) {
      b.setCurrentKey(k)
      v.update(k.toUpperCase())
    }
    const range = { start: 10, end: 40 }
    const part = backend(range)
    part.restore([b.snapshot()])
    const pv = part.getValueState(new ValueStateDescriptor<string>('v'))
    const inRange = keys.filter((k) => keyGroupOf(k, 128) >= 10 && keyGroupOf(k, 128) <= 40)
    expect(inRange.length).toBeGreaterThan(0)
    expect(inRange.length).toBeLessThan(keys.length)
    expect(part.size()).toBe(inRange.length)
    for (const k of keys) {
      part.setCurrentKey(k)
      expect(pv.value()).toBe(inRange.includes(k) ? k.toUpperCase() : undefined)
    }
  })
})

// --- properties ---------------------------------------------------------------------------------

type Op =
  | { kind: 'value'; key: number | string; ns: number; v?: number }
  | { kind: 'list'; key: number | string; ns: number; v?: number }
  | { kind: 'map'; key: number | string; ns: number; mk: string; v?: number }

const keyArb = fc.oneof(fc.integer({ min: -3, max: 40 }), fc.string({ maxLength: 3 }))
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('value' as const), key: keyArb, ns: fc.integer({ min: 0, max: 2 }), v: fc.option(fc.integer(), { nil: undefined }) }),
  fc.record({ kind: fc.constant('list' as const), key: keyArb, ns: fc.integer({ min: 0, max: 2 }), v: fc.option(fc.integer(), { nil: undefined }) }),
  fc.record({ kind: fc.constant('map' as const), key: keyArb, ns: fc.integer({ min: 0, max: 2 }), mk: fc.constantFrom('x', 'y'), v: fc.option(fc.integer(), { nil: undefined }) }),
)

/** Applies ops (v undefined = clear/remove) to a backend and to a plain model; returns the model. */
function apply(b: MemoryKeyedStateBackend, ops: readonly Op[], model: Map<string, unknown>): void {
  const value = b.getValueState(new ValueStateDescriptor<number>('value'))
  const list = b.getListState(new ListStateDescriptor<number>('list'))
  const map = b.getMapState(new MapStateDescriptor<string, number>('map'))
  for (const op of ops) {
    b.setCurrentKey(op.key)
    const id = `${op.kind}|${stateKeyOf(op.key)}|${op.ns}`
    if (op.kind === 'value') {
      value.setCurrentNamespace(op.ns)
      if (op.v === undefined) {
        value.clear()
        model.delete(id)
      } else {
        value.update(op.v)
        model.set(id, op.v)
      }
    } else if (op.kind === 'list') {
      list.setCurrentNamespace(op.ns)
      if (op.v === undefined) {
        list.clear()
        model.delete(id)
      } else {
        list.add(op.v)
        model.set(id, [...((model.get(id) as number[] | undefined) ?? []), op.v])
      }
    } else {
      map.setCurrentNamespace(op.ns)
      const m = new Map((model.get(id) as Map<string, number> | undefined) ?? [])
      if (op.v === undefined) {
        map.remove(op.mk)
        m.delete(op.mk)
      } else {
        map.put(op.mk, op.v)
        m.set(op.mk, op.v)
      }
      if (m.size === 0) model.delete(id)
      else model.set(id, m)
    }
  }
}

/** Reads every (kind, key, ns) entry of a backend through its snapshot, as the model's ids. */
function contents(snaps: readonly KeyedStateSnapshot[]): Map<string, unknown> {
  const out = new Map<string, unknown>()
  for (const snap of snaps) {
    for (const [name, { kind, rows }] of Object.entries(snap.states)) {
      const codec = new StateCodec(kind, V8_SERIALIZER, V8_SERIALIZER, false)
      for (const [, sk, ns, bytes] of rows) {
        const id = `${name}|${sk}|${ns}`
        const value = bytes === null ? undefined : codec.decode(bytes, 0)
        expect(out.has(id)).toBe(false) // every entry lands exactly once
        out.set(id, value)
      }
    }
  }
  return out
}

describe('MemoryKeyedStateBackend: properties', () => {
  it('equals a plain map model under random operations, before and after snapshot/restore', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), fc.array(opArb, { maxLength: 40 }), (ops1, ops2) => {
        const model = new Map<string, unknown>()
        let b = backend()
        apply(b, ops1, model)
        expect(contents([b.snapshot()])).toEqual(model)
        expect(b.size()).toBe(model.size)
        b = roundTrip(b)
        apply(b, ops2, model)
        expect(contents([b.snapshot()])).toEqual(model)
        expect(b.size()).toBe(model.size)
      }),
      { numRuns: 200 },
    )
  })

  it('rescales: the snapshots of p subtasks restored at p′ put every entry in exactly one subtask, the one owning its key group', () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 100 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 5 }),
        fc.constantFrom(4, 8, 128),
        (ops, p, p2, maxParallelism) => {
          const old = Array.from({ length: p }, (_, i) => backend(keyGroupRangeOf(i, p, maxParallelism), maxParallelism))
          const model = new Map<string, unknown>()
          for (const op of ops) apply(old[subtaskForKeyGroup(keyGroupOf(op.key, maxParallelism), p, maxParallelism)], [op], model)
          const snaps = old.map((b) => b.snapshot())
          for (const target of [1, 3, p2]) {
            const restored = Array.from({ length: target }, (_, i) => {
              const b = backend(keyGroupRangeOf(i, target, maxParallelism), maxParallelism)
              b.restore(snaps)
              return b
            })
            expect(contents(restored.map((b) => b.snapshot()))).toEqual(model)
            restored.forEach((b, i) => {
              for (const [, { rows }] of Object.entries(b.snapshot().states)) {
                for (const [group, sk] of rows) {
                  expect(group).toBe(keyGroupOfStateKey(sk, maxParallelism))
                  expect(subtaskForKeyGroup(group, target, maxParallelism)).toBe(i)
                }
              }
            })
            expect(restored.reduce((n, b) => n + b.size(), 0)).toBe(model.size)
          }
        },
      ),
      { numRuns: 150 },
    )
  })

  it('rescaled state reads back through the state API on the owning subtask', () => {
    fc.assert(
      fc.property(fc.uniqueArray(keyArb, { maxLength: 40 }), fc.constantFrom(2, 3), (keys, target) => {
        const old = [0, 1].map((i) => backend(keyGroupRangeOf(i, 2, 128)))
        for (const k of keys) {
          const b = old[subtaskForKeyGroup(keyGroupOf(k, 128), 2, 128)]
          b.setCurrentKey(k)
          b.getValueState(new ValueStateDescriptor<string>('v')).update(`v:${String(k)}`)
        }
        const snaps = old.map((b) => b.snapshot())
        for (const p2 of [1, target]) {
          const restored = Array.from({ length: p2 }, (_, i) => {
            const b = backend(keyGroupRangeOf(i, p2, 128))
            b.restore(snaps)
            return b
          })
          for (const k of keys) {
            const owner = subtaskForKeyGroup(keyGroupOf(k, 128), p2, 128)
            restored.forEach((b, i) => {
              b.setCurrentKey(k)
              expect(b.getValueState(new ValueStateDescriptor<string>('v')).value()).toBe(i === owner ? `v:${String(k)}` : undefined)
            })
          }
        }
      }),
      { numRuns: 100 },
    )
  })
})
