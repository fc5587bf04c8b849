/**
 * Contract: full and incremental snapshots, restore, deletions in deltas, and rescaling.
 */
import fc from 'fast-check'
import { deserialize, serialize } from 'node:v8'
import { describe, expect, it } from 'vitest'
import { keyGroupOf, keyGroupOfStateKey, keyGroupRangeOf, subtaskForKeyGroup } from '../../engine/keys.ts'
import { ListStateDescriptor, MapStateDescriptor, ValueStateDescriptor } from '../api.ts'
import type { KeyedStateBackend, KeyedStateSnapshot } from '../backend.ts'
import type { Backends } from './backend-contract.ts'
import { applyOps, contents, expectPlainData, keyArb, opArb, opsWithSnapshotsArb, type Key, type Model } from './contract-model.ts'

const runs = (backends: Backends, n: number) => ({ numRuns: Math.max(5, Math.round(n * (backends.factory.runs ?? 1))) })

export function snapshotContract(name: string, backends: Backends): void {
  describe(`${name}: snapshots and restore`, () => {
    it('snapshots are plain data, survive v8.serialize, and are deep copies', async () => {
      const b = await backends.create()
      const v = b.getValueState(new ValueStateDescriptor<{ n: number }>('obj'))
      const l = b.getListState(new ListStateDescriptor<number>('l'))
      const m = b.getMapState(new MapStateDescriptor<string, number[]>('m'))
      b.setCurrentKey('k')
      v.update({ n: 1 })
      l.add(1)
      m.put('a', [1])
      const snap = b.snapshot()
      expectPlainData(snap)
      expect(snap).toMatchObject({ version: 1, type: 'full', maxParallelism: 128, keyGroupRange: { start: 0, end: 127 } })
      v.value()!.n = 99
      l.add(2)
      m.get('a')!.push(2)
      for (const s of [snap, deserialize(serialize(snap)) as KeyedStateSnapshot]) {
        const r = await backends.restored([s])
        r.setCurrentKey('k')
        expect(r.getValueState(new ValueStateDescriptor<{ n: number }>('obj')).value()).toEqual({ n: 1 })
        expect(r.getListState(new ListStateDescriptor<number>('l')).get()).toEqual([1])
        expect(r.getMapState(new MapStateDescriptor<string, number[]>('m')).get('a')).toEqual([1])
        r.getListState(new ListStateDescriptor<number>('l')).add(3)
      }
      const d = b.snapshotIncremental()
      expectPlainData(d)
      expect(d.type).toBe('incremental')
    })

    it('refuses a snapshot taken with another maxParallelism, and one that is not a snapshot', async () => {
      const b = await backends.create({ maxParallelism: 128 })
      b.getValueState(new ValueStateDescriptor<number>('v'))
      const other = await backends.create({ maxParallelism: 64 })
      expect(() => other.restore([b.snapshot()])).toThrow(/maxParallelism/)
      expect(() => other.restore([{ nonsense: true } as unknown as KeyedStateSnapshot])).toThrow(/not a version 1/)
    })

    it('restores only the key groups of its range', async () => {
      const b = await backends.create()
      const v = b.getValueState(new ValueStateDescriptor<string>('v'))
      const keys = Array.from({ length: 50 }, (_, i) => `user-${i}`)
      for (const k of keys) {
        b.setCurrentKey(k)
        v.update(k.toUpperCase())
      }
      const part = await backends.restored([b.snapshot()], { keyGroupRange: { start: 10, end: 40 } })
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

    it('keeps restored states that nobody registers, and a full snapshot replaces its key groups', async () => {
      const b = await backends.create()
      b.setCurrentKey('k')
      b.getValueState(new ValueStateDescriptor<number>('kept')).update(1)
      b.getValueState(new ValueStateDescriptor<number>('changed')).update(1)
      const first = b.snapshot()
      b.getValueState(new ValueStateDescriptor<number>('changed')).update(2)
      b.getValueState(new ValueStateDescriptor<number>('kept')).clear()
      const second = b.snapshot()
      const r = await backends.restored([first])
      const again = await backends.restored([r.snapshot()]) // 'kept' and 'changed' were never registered on r
      again.setCurrentKey('k')
      expect(again.getValueState(new ValueStateDescriptor<number>('kept')).value()).toBe(1)
      const replaced = await backends.create()
      replaced.setCurrentKey('stale')
      replaced.getValueState(new ValueStateDescriptor<number>('kept')).update(7)
      replaced.restore([second]) // into a used backend: the full snapshot replaces its key groups
      expect(replaced.size()).toBe(1)
      replaced.setCurrentKey('stale')
      expect(replaced.getValueState(new ValueStateDescriptor<number>('kept')).value()).toBeUndefined()
      replaced.setCurrentKey('k')
      expect(replaced.getValueState(new ValueStateDescriptor<number>('kept')).value()).toBeUndefined()
      expect(replaced.getValueState(new ValueStateDescriptor<number>('changed')).value()).toBe(2)
    })

    it('equals a plain model under random operations, before and after snapshot/restore', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { maxLength: 80 }), fc.array(opArb, { maxLength: 40 }), async (ops1, ops2) => {
          const model: Model = new Map()
          let b = await backends.create()
          try {
            applyOps(ops1, model, () => b)
            expect(contents([b.snapshot()])).toEqual(model)
            expect(b.size()).toBe(model.size)
            b = await backends.roundTrip(b)
            applyOps(ops2, model, () => b)
            expect(contents([b.snapshot()])).toEqual(model)
            expect(b.size()).toBe(model.size)
          } finally {
            await backends.releaseAll()
          }
        }),
        runs(backends, 100),
      )
    })
  })

  describe(`${name}: incremental snapshots`, () => {
    it('holds only what changed since the previous snapshot, with deletions as null rows', async () => {
      const b = await backends.create()
      const v = b.getValueState(new ValueStateDescriptor<number>('v'))
      const m = b.getMapState(new MapStateDescriptor<string, number>('m'))
      for (let i = 0; i < 500; i++) {
        b.setCurrentKey(i)
        v.update(i)
        m.put('a', i)
      }
      const full = b.snapshot()
      for (const i of [1, 2, 3]) {
        b.setCurrentKey(i)
        v.update(-i)
      }
      b.setCurrentKey(4)
      v.clear()
      m.remove('a')
      b.setCurrentKey(5)
      m.put('b', 5)
      b.setCurrentKey('new')
      v.update(7)
      v.clear() // created and deleted in one epoch: at most a deletion row
      const delta = b.snapshotIncremental()
      expect(delta.type).toBe('incremental')
      const rows = (s: string) => delta.states[s]?.rows ?? []
      const live = (s: string) => rows(s).filter((r) => r[3] !== null)
      expect(live('v').map((r) => r[1]).sort()).toEqual(['\u0000n1', '\u0000n2', '\u0000n3'])
      expect(rows('v').filter((r) => r[3] === null).map((r) => r[1])).toContain('\u0000n4')
      expect(rows('v').length).toBeLessThanOrEqual(5)
      expect(rows('m').map((r) => [r[1], r[3] === null])).toEqual(expect.arrayContaining([['\u0000n4', true], ['\u0000n5', false]]))
      expect(rows('m')).toHaveLength(2)
      for (const r of [...rows('v'), ...rows('m')]) expect(r[0]).toBe(keyGroupOfStateKey(r[1], 128))
      expect(Object.values(b.snapshotIncremental().states).flatMap((s) => s.rows)).toEqual([]) // nothing changed since

      const r = await backends.restored([full, delta])
      const rv = r.getValueState(new ValueStateDescriptor<number>('v'))
      const rm = r.getMapState(new MapStateDescriptor<string, number>('m'))
      const expected: [Key, number | undefined, [string, number][]][] = [
        [1, -1, [['a', 1]]],
        [4, undefined, []],
        [5, 5, [['a', 5], ['b', 5]]],
        [6, 6, [['a', 6]]],
        ['new', undefined, []],
      ]
      for (const [k, value, entries] of expected) {
        r.setCurrentKey(k)
        expect([k, rv.value(), [...rm.entries()]]).toEqual([k, value, entries])
      }
      expect(r.size()).toBe(2 * 500 - 2)
    })

    it('deltas chain: deletions in later deltas remove entries of the base and of earlier deltas', async () => {
      const b = await backends.create()
      const l = b.getListState(new ListStateDescriptor<string>('l'))
      b.setCurrentKey('base')
      l.add('b')
      const full = b.snapshot()
      b.setCurrentKey('d1')
      l.add('x')
      const d1 = b.snapshotIncremental()
      b.setCurrentKey('base')
      l.clear()
      b.setCurrentKey('d1')
      l.update([])
      b.setCurrentKey('d2')
      l.add('y')
      const d2 = b.snapshotIncremental()
      const r = await backends.restored([full, d1, d2])
      expect(r.size()).toBe(1)
      const rl = r.getListState(new ListStateDescriptor<string>('l'))
      r.setCurrentKey('d2')
      expect(rl.get()).toEqual(['y'])
      const partial = await backends.restored([full, d1])
      partial.setCurrentKey('d1')
      expect(partial.getListState(new ListStateDescriptor<string>('l')).get()).toEqual(['x'])
    })

    it('property: full snapshot + every delta restores to the model at the last snapshot', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { maxLength: 40 }), opsWithSnapshotsArb, async (before, ops) => {
          const model: Model = new Map()
          const b = await backends.create()
          try {
            applyOps(before, model, () => b)
            const chain: KeyedStateSnapshot[] = [b.snapshot()]
            const models: Model[] = [structuredClone(model)]
            const takeDelta = () => {
              chain.push(b.snapshotIncremental())
              models.push(structuredClone(model))
            }
            applyOps(ops, model, () => b, takeDelta)
            takeDelta()
            for (const s of chain) expectPlainData(s)
            // The whole chain, and a prefix of it (a restore from an earlier checkpoint).
            for (const n of new Set([chain.length, Math.ceil(chain.length / 2)])) {
              const r = await backends.restored(chain.slice(0, n))
              expect(contents([r.snapshot()])).toEqual(models[n - 1])
              expect(r.size()).toBe(models[n - 1].size)
              await backends.release(r)
            }
          } finally {
            await backends.releaseAll()
          }
        }),
        runs(backends, 100),
      )
    })
  })

  describe(`${name}: rescaling`, () => {
    it('the full and incremental snapshots of p subtasks restored at p′ put every entry in exactly one subtask, the owner of its key group', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(opArb, { maxLength: 60 }),
          fc.array(opArb, { maxLength: 40 }),
          fc.integer({ min: 1, max: 4 }),
          fc.integer({ min: 1, max: 5 }),
          fc.constantFrom(4, 8, 128),
          async (ops1, ops2, p, p2, maxParallelism) => {
            try {
              const old = await Promise.all(Array.from({ length: p }, (_, i) => backends.create({ maxParallelism, keyGroupRange: keyGroupRangeOf(i, p, maxParallelism) })))
              const route = (k: Key) => old[subtaskForKeyGroup(keyGroupOf(k, maxParallelism), p, maxParallelism)]
              const model: Model = new Map()
              applyOps(ops1, model, route)
              const fulls = old.map((b) => b.snapshot())
              applyOps(ops2, model, route)
              const deltas = old.map((b) => b.snapshotIncremental())
              for (const target of new Set([1, p2])) {
                const restored: KeyedStateBackend[] = []
                for (let i = 0; i < target; i++) {
                  restored.push(await backends.restored([...fulls, ...deltas], { maxParallelism, keyGroupRange: keyGroupRangeOf(i, target, maxParallelism) }))
                }
                const snaps = restored.map((b) => b.snapshot())
                expect(contents(snaps)).toEqual(model)
                snaps.forEach((s, i) => {
                  for (const { rows } of Object.values(s.states)) {
                    for (const [group, sk] of rows) {
                      expect(group).toBe(keyGroupOfStateKey(sk, maxParallelism))
                      expect(subtaskForKeyGroup(group, target, maxParallelism)).toBe(i)
                    }
                  }
                })
                expect(restored.reduce((n, b) => n + b.size(), 0)).toBe(model.size)
                for (const b of restored) await backends.release(b)
              }
            } finally {
              await backends.releaseAll()
            }
          },
        ),
        runs(backends, 60),
      )
    })

    it('rescaled state reads back through the state API on the owning subtask', async () => {
      await fc.assert(
        fc.asyncProperty(fc.uniqueArray(keyArb, { maxLength: 40 }), fc.constantFrom(2, 3), async (keys, target) => {
          try {
            const old = await Promise.all([0, 1].map((i) => backends.create({ keyGroupRange: keyGroupRangeOf(i, 2, 128) })))
            for (const k of keys) {
              const b = old[subtaskForKeyGroup(keyGroupOf(k, 128), 2, 128)]
              b.setCurrentKey(k)
              b.getValueState(new ValueStateDescriptor<string>('v')).update(`v:${String(k)}`)
            }
            const snaps = old.map((b) => b.snapshot())
            for (const p2 of [1, target]) {
              const restored: KeyedStateBackend[] = []
              for (let i = 0; i < p2; i++) restored.push(await backends.restored(snaps, { keyGroupRange: keyGroupRangeOf(i, p2, 128) }))
              for (const k of keys) {
                const owner = subtaskForKeyGroup(keyGroupOf(k, 128), p2, 128)
                restored.forEach((b, i) => {
                  b.setCurrentKey(k)
                  expect(b.getValueState(new ValueStateDescriptor<string>('v')).value()).toBe(i === owner ? `v:${String(k)}` : undefined)
                })
              }
            }
          } finally {
            await backends.releaseAll()
          }
        }),
        runs(backends, 40),
      )
    })
  })
}
