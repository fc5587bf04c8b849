/**
 * KeyedReduceOperator (KeyedStream.reduce, Flink's StreamGroupedReduceOperator): emits the running
 * reduce of each key after every record, with the record's timestamp.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FluxionError } from '../engine/errors.ts'
import { keyGroupOf, subtaskForKeyGroup } from '../engine/keys.ts'
import { OperatorTestHarness } from '../engine/testing/operator-harness.ts'
import { KeyedReduceOperator } from './keyed-reduce.ts'

interface Ev {
  key: string | number
  v: number
}

const sum = (a: Ev, b: Ev): Ev => ({ key: a.key, v: a.v + b.v })
const factory = () => new KeyedReduceOperator<Ev>(sum)
const options = { keySelector: (e: Ev) => e.key }

function thrown(fn: () => unknown): FluxionError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(FluxionError)
    return e as FluxionError
  }
  throw new Error('expected a FluxionError, nothing was thrown')
}

describe('KeyedReduceOperator', () => {
  it('emits the running reduce per key with the timestamp of each record, across restores', () => {
    let h = new OperatorTestHarness(factory, options)
    h.processElement({ key: 'a', v: 1 }, 10).processElement({ key: 'b', v: 5 }, 11)
    h = h.snapshotAndRestore()
    h.processElement({ key: 'a', v: 2 }, 12)
    h = h.snapshotAndRestore()
    h.processElement({ key: 'a', v: 3 }).processElement({ key: 'b', v: -5 }, 13)
    expect(h.getOutput()).toEqual([
      { value: { key: 'a', v: 1 }, timestamp: 10 },
      { value: { key: 'b', v: 5 }, timestamp: 11 },
      { value: { key: 'a', v: 3 }, timestamp: 12 },
      { value: { key: 'a', v: 6 }, timestamp: undefined },
      { value: { key: 'b', v: 0 }, timestamp: 13 },
    ])
    expect(h.stateSize()).toBe(2)
  })

  it('passes watermarks through', () => {
    let h = new OperatorTestHarness(factory, options)
    h.processWatermark(5).processElement({ key: 'a', v: 1 }, 1)
    h = h.snapshotAndRestore()
    h.processWatermark(7).processElement({ key: 'a', v: 1 }, 8)
    expect(h.getWatermarks()).toEqual([5, 7])
    expect(h.extractOutputValues()).toEqual([
      { key: 'a', v: 1 },
      { key: 'a', v: 2 },
    ])
  })

  it('wraps a throwing reducer in FLX_USER_FUNCTION_FAILED with the key, and keeps the previous value', () => {
    let h = new OperatorTestHarness(
      () =>
        new KeyedReduceOperator<Ev>((a, b) => {
          if (b.v < 0) throw new Error('negative amount')
          return sum(a, b)
        }),
      { ...options, name: 'balance' },
    )
    h.processElement({ key: 'acct', v: 5 }, 1).processElement({ key: 'acct', v: 1 }, 1)
    h = h.snapshotAndRestore()
    const e = thrown(() => h.processElement({ key: 'acct', v: -1 }, 2))
    expect(e.code).toBe('FLX_USER_FUNCTION_FAILED')
    expect(e.operator).toBe('balance')
    expect(e.key).toBe('acct')
    expect(e.message).toContain('negative amount')
    h.processElement({ key: 'acct', v: 4 }, 3)
    expect(h.extractOutputValues().at(-1)).toEqual({ key: 'acct', v: 10 })
  })

  it('fails with FLX_STATE_NOT_KEYED on a non-keyed input', () => {
    const h = new OperatorTestHarness(factory, { name: 'r' })
    expect(thrown(() => h.open()).code).toBe('FLX_STATE_NOT_KEYED')
  })

  const records = fc.array(fc.record({ key: fc.oneof(fc.constantFrom('a', 'b', 'c', 'd', 'e'), fc.integer({ min: 0, max: 4 })), v: fc.integer({ min: -100, max: 100 }) }), { maxLength: 60 })

  /** Model: the prefix sums of each key. */
  const model = (evs: readonly Ev[]) => {
    const totals = new Map<string | number, number>()
    return evs.map((e) => {
      const t = (totals.get(e.key) ?? 0) + e.v
      totals.set(e.key, t)
      return { key: e.key, v: t }
    })
  }

  it('property: equals per-key prefix sums, with and without restores at random points', () => {
    fc.assert(
      fc.property(records, fc.array(fc.boolean(), { maxLength: 60 }), (evs, restoreAfter) => {
        const go = (withRestores: boolean) => {
          let h = new OperatorTestHarness(factory, options)
          evs.forEach((e, i) => {
            h.processElement(e, i)
            if (withRestores && restoreAfter[i]) h = h.snapshotAndRestore()
          })
          return h
        }
        const plain = go(false)
        const restored = go(true)
        expect(plain.extractOutputValues()).toEqual(model(evs))
        expect(restored.getOutput()).toEqual(plain.getOutput())
        expect(restored.stateSize()).toBe(new Set(evs.map((e) => e.key)).size)
      }),
      { numRuns: 200 },
    )
  })

  it('property: rescales from 2 subtasks to p′ and continues each key where it stopped', () => {
    fc.assert(
      fc.property(records, records, fc.integer({ min: 1, max: 5 }), fc.constantFrom(8, 16, 128), (before, after, p2, maxParallelism) => {
        const route = (k: unknown, p: number) => subtaskForKeyGroup(keyGroupOf(k, maxParallelism), p, maxParallelism)
        const first = [0, 1].map((i) => new OperatorTestHarness(factory, { ...options, maxParallelism, parallelism: 2, subtaskIndex: i }).open())
        for (const e of before) first[route(e.key, 2)].processElement(e, 0)
        const snaps = first.map((h) => h.snapshot())
        const second = Array.from({ length: p2 }, (_, i) => OperatorTestHarness.restore(factory, { ...options, maxParallelism, parallelism: p2, subtaskIndex: i }, snaps))
        const got: Ev[] = []
        for (const e of after) {
          const h = second[route(e.key, p2)]
          h.processElement(e, 0)
          got.push(h.extractOutputValues().at(-1)!)
        }
        expect(got).toEqual(model([...before, ...after]).slice(before.length))
        const keys = new Set(before.map((e) => e.key))
        expect(second.reduce((n, h) => n + h.stateSize(), 0)).toBe(new Set([...keys, ...after.map((e) => e.key)]).size)
      }),
      { numRuns: 150 },
    )
  })
})
