/**
 * The plain model the contract suite compares backends with: random operations on every kind of
 * state, applied both to a backend and to a Map of expected entries, and a reader that turns
 * snapshots back into such a Map.
 */
import fc from 'fast-check'
import { expect } from 'vitest'
import { stateKeyOf } from '../../engine/keys.ts'
import type { Clock } from '../../engine/time.ts'
import {
  AggregatingStateDescriptor,
  ListStateDescriptor,
  MapStateDescriptor,
  ReducingStateDescriptor,
  V8_SERIALIZER,
  ValueStateDescriptor,
  type AggregateFunction,
  type StateKind,
} from '../api.ts'
import type { KeyedStateBackend, KeyedStateSnapshot, KeyGroupRange, Namespace } from '../backend.ts'
import { StateCodec } from '../internal/codec.ts'

/** How the contract suite makes backends; `destroy` releases one (closing files, removing directories). */
export interface BackendFactory {
  create(options: { maxParallelism: number; keyGroupRange: KeyGroupRange; clock: Clock }): KeyedStateBackend | Promise<KeyedStateBackend>
  destroy(backend: KeyedStateBackend): void | Promise<void>
  /** Scales the number of runs of property tests (default 1); slow backends use less. */
  runs?: number
}

export type Key = number | string
export type Op =
  | { t: 'value' | 'list' | 'reducing' | 'aggregating'; key: Key; ns: Namespace; v?: number }
  | { t: 'map'; key: Key; ns: Namespace; mk: string; v?: number }
  | { t: 'merge'; kind: 'list' | 'reducing' | 'aggregating'; key: Key; target: Namespace; sources: Namespace[] }
  | { t: 'snapshot' }

export const keyArb: fc.Arbitrary<Key> = fc.oneof(fc.integer({ min: -3, max: 40 }), fc.string({ maxLength: 3 }))
const nsArb: fc.Arbitrary<Namespace> = fc.constantFrom<Namespace>('', 0, 1, 'w')
const vArb = fc.option(fc.integer({ min: -50, max: 50 }), { nil: undefined, freq: 4 })

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constantFrom('value' as const, 'list' as const, 'reducing' as const, 'aggregating' as const), key: keyArb, ns: nsArb, v: vArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('map' as const), key: keyArb, ns: nsArb, mk: fc.constantFrom('x', 'y'), v: vArb }) },
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
)

/** Ops with incremental snapshots at random points. */
export const opsWithSnapshotsArb: fc.Arbitrary<Op[]> = fc.array(fc.oneof({ weight: 12, arbitrary: opArb }, { weight: 1, arbitrary: fc.constant<Op>({ t: 'snapshot' }) }), {
  maxLength: 120,
})

export interface Acc {
  sum: number
  count: number
}

export const average: AggregateFunction<number, Acc, number> = {
  createAccumulator: () => ({ sum: 0, count: 0 }),
  add: (v, acc) => ({ sum: acc.sum + v, count: acc.count + 1 }),
  getResult: (acc) => acc.sum / acc.count,
  merge: (a, b) => ({ sum: a.sum + b.sum, count: a.count + b.count }),
}

export const descriptors = {
  value: new ValueStateDescriptor<number>('value'),
  list: new ListStateDescriptor<number>('list'),
  map: new MapStateDescriptor<string, number>('map'),
  reducing: new ReducingStateDescriptor<number>('reducing', (a, b) => a + b),
  aggregating: new AggregatingStateDescriptor<number, Acc, number>('aggregating', average),
}

/** Expected entries by `${state}|${stateKey}|${namespace}` → stored form. */
export type Model = Map<string, unknown>

const idOf = (state: string, key: Key, ns: Namespace) => `${state}|${stateKeyOf(key)}|${typeof ns}:${ns}`

/**
 * Applies `ops` to `backend` (or, per op, to `route(op.key)`) and to `model`. A 'snapshot' op calls
 * `onSnapshot`.
 */
export function applyOps(ops: readonly Op[], model: Model, route: (key: Key) => KeyedStateBackend, onSnapshot: () => void = () => {}): void {
  const handles = new Map<KeyedStateBackend, ReturnType<typeof handlesOf>>()
  for (const op of ops) {
    if (op.t === 'snapshot') {
      onSnapshot()
      continue
    }
    const backend = route(op.key)
    let h = handles.get(backend)
    if (!h) handles.set(backend, (h = handlesOf(backend)))
    backend.setCurrentKey(op.key)
    if (op.t === 'merge') {
      h[op.kind].mergeNamespaces(op.target, op.sources)
      mergeModel(model, op)
      continue
    }
    const id = idOf(op.t, op.key, op.ns)
    const handle = h[op.t]
    handle.setCurrentNamespace(op.ns)
    if (op.v === undefined && op.t !== 'map') {
      handle.clear()
      model.delete(id)
      continue
    }
    const v = op.v as number
    switch (op.t) {
      case 'value':
        h.value.update(v)
        model.set(id, v)
        break
      case 'list':
        h.list.add(v)
        model.set(id, [...((model.get(id) as number[] | undefined) ?? []), v])
        break
      case 'reducing':
        h.reducing.add(v)
        model.set(id, ((model.get(id) as number | undefined) ?? 0) + v)
        break
      case 'aggregating':
        h.aggregating.add(v)
        model.set(id, average.add(v, (model.get(id) as Acc | undefined) ?? average.createAccumulator()))
        break
      case 'map': {
        const m = new Map((model.get(id) as Map<string, number> | undefined) ?? [])
        if (op.v === undefined) {
          h.map.remove(op.mk)
          m.delete(op.mk)
        } else {
          h.map.put(op.mk, op.v)
          m.set(op.mk, op.v)
        }
        if (m.size === 0) model.delete(id)
        else model.set(id, m)
        break
      }
    }
  }
}

function handlesOf(b: KeyedStateBackend) {
  return {
    value: b.getValueState(descriptors.value),
    list: b.getListState(descriptors.list),
    map: b.getMapState(descriptors.map),
    reducing: b.getReducingState(descriptors.reducing),
    aggregating: b.getAggregatingState(descriptors.aggregating),
  }
}

function mergeModel(model: Model, op: Extract<Op, { t: 'merge' }>): void {
  const combine = (a: unknown, b: unknown): unknown =>
    op.kind === 'list' ? [...(a as number[]), ...(b as number[])] : op.kind === 'reducing' ? (a as number) + (b as number) : average.merge(a as Acc, b as Acc)
  let merged: unknown
  for (const ns of op.sources) {
    if (ns === op.target) continue
    const id = idOf(op.kind, op.key, ns)
    const v = model.get(id)
    if (v === undefined) continue
    merged = merged === undefined ? v : combine(merged, v)
    model.delete(id)
  }
  if (merged === undefined) return
  const target = idOf(op.kind, op.key, op.target)
  const current = model.get(target)
  model.set(target, current === undefined ? merged : combine(current, merged))
}

/** Decodes the entries of full snapshots into a model; fails if an entry appears twice. */
export function contents(snapshots: readonly KeyedStateSnapshot[]): Model {
  const out: Model = new Map()
  for (const snap of snapshots) {
    expect(snap.type).toBe('full')
    for (const [name, { kind, rows }] of Object.entries(snap.states)) {
      const codec = new StateCodec(kind as StateKind, V8_SERIALIZER, V8_SERIALIZER, false)
      for (const [, sk, ns, bytes] of rows) {
        const id = `${name}|${sk}|${typeof ns}:${ns}`
        expect(out.has(id), `${id} appears twice`).toBe(false)
        expect(bytes).not.toBeNull()
        out.set(id, codec.decode(bytes!, 0))
      }
    }
  }
  return out
}

/** Fails unless `value` is made only of numbers, strings, null, arrays, plain objects and Uint8Arrays. */
export function expectPlainData(value: unknown, path = 'snapshot'): void {
  if (value === null || typeof value === 'number' || typeof value === 'string') return
  if (value instanceof Uint8Array) return
  if (Array.isArray(value)) {
    value.forEach((v, i) => expectPlainData(v, `${path}[${i}]`))
    return
  }
  expect(typeof value, path).toBe('object')
  expect(Object.getPrototypeOf(value), `${path} is a plain object`).toBe(Object.prototype)
  for (const [k, v] of Object.entries(value as object)) expectPlainData(v, `${path}.${k}`)
}
