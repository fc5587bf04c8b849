/**
 * Contract: state TTL (Flink's StateTtlConfig semantics) on the backend's processing-time clock.
 * An entry written at t with ttlMs expires at t + ttlMs (visible until then, exclusive).
 */
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../engine/time.ts'
import {
  AggregatingStateDescriptor,
  ListStateDescriptor,
  MapStateDescriptor,
  ReducingStateDescriptor,
  ValueStateDescriptor,
  type StateTtlConfig,
} from '../api.ts'
import type { Backends } from './backend-contract.ts'
import { average, type Acc } from './contract-model.ts'

const TTL: StateTtlConfig = { ttlMs: 100 }

export function ttlContract(name: string, backends: Backends): void {
  describe(`${name}: TTL`, () => {
    it('a value expires ttlMs after its last write; reads do not extend it (onCreateAndWrite)', async () => {
      const clock = new ManualClock(1000)
      const b = await backends.create({ clock })
      const v = b.getValueState(new ValueStateDescriptor<number>('v', { ttl: TTL, defaultValue: -1 }))
      b.setCurrentKey('k')
      v.update(1)
      clock.setTime(1099)
      expect(v.value()).toBe(1)
      clock.setTime(1100)
      expect(v.value()).toBe(-1)
      v.update(2)
      clock.setTime(1150)
      expect(v.value()).toBe(2)
      clock.setTime(1199)
      expect(v.value()).toBe(2)
      clock.setTime(1200)
      expect(v.value()).toBe(-1)
      expect(b.size()).toBe(0) // cleaned up by the read
    })

    it('onReadAndWrite: reads extend the TTL too', async () => {
      const clock = new ManualClock(1000)
      const b = await backends.create({ clock })
      const v = b.getValueState(new ValueStateDescriptor<number>('v', { ttl: { ...TTL, updateType: 'onReadAndWrite' } }))
      b.setCurrentKey('k')
      v.update(1)
      for (const t of [1050, 1149, 1248]) {
        clock.setTime(t)
        expect(v.value()).toBe(1)
      }
      clock.setTime(1348)
      expect(v.value()).toBeUndefined()
    })

    it('returnExpiredIfNotCleanedUp: an expired value is returned by the read that cleans it up', async () => {
      const clock = new ManualClock(1000)
      const b = await backends.create({ clock })
      const v = b.getValueState(new ValueStateDescriptor<number>('v', { ttl: { ...TTL, visibility: 'returnExpiredIfNotCleanedUp' } }))
      b.setCurrentKey('k')
      v.update(1)
      clock.setTime(1500)
      expect(v.value()).toBe(1)
      expect(v.value()).toBeUndefined()
      expect(b.size()).toBe(0)
    })

    it('list elements and map entries expire one by one', async () => {
      const clock = new ManualClock(1000)
      const b = await backends.create({ clock })
      const l = b.getListState(new ListStateDescriptor<string>('l', { ttl: TTL }))
      const m = b.getMapState(new MapStateDescriptor<string, number>('m', { ttl: TTL }))
      const mr = b.getMapState(new MapStateDescriptor<string, number>('m-read', { ttl: { ...TTL, updateType: 'onReadAndWrite' } }))
      b.setCurrentKey('k')
      l.add('a')
      m.put('x', 1)
      mr.put('x', 1)
      clock.setTime(1050)
      l.add('b')
      m.put('y', 2)
      mr.put('y', 2)
      clock.setTime(1099)
      expect(mr.get('x')).toBe(1) // extends x to 1199
      clock.setTime(1100)
      expect(l.get()).toEqual(['b'])
      expect(m.get('x')).toBeUndefined()
      expect(m.contains('y')).toBe(true)
      expect([...m.keys()]).toEqual(['y'])
      expect(m.isEmpty()).toBe(false)
      expect([...mr.keys()]).toEqual(['x', 'y']) // a read: extends both to 1200
      clock.setTime(1150)
      expect(l.get()).toEqual([])
      expect(m.isEmpty()).toBe(true)
      expect([...mr.entries()]).toEqual([
        ['x', 1],
        ['y', 2],
      ])
      clock.setTime(1250)
      expect([...mr.values()]).toEqual([])
      expect(b.size()).toBe(0)
    })

    it('reducing and aggregating state expire; adding after expiry starts over', async () => {
      const clock = new ManualClock(1000)
      const b = await backends.create({ clock })
      const r = b.getReducingState(new ReducingStateDescriptor<number>('sum', (x, y) => x + y, { ttl: TTL }))
      const a = b.getAggregatingState(new AggregatingStateDescriptor<number, Acc, number>('avg', average, { ttl: TTL }))
      b.setCurrentKey('k')
      r.add(1)
      a.add(1)
      clock.setTime(1050)
      r.add(2)
      a.add(3)
      clock.setTime(1149)
      expect(r.get()).toBe(3)
      expect(a.get()).toBe(2)
      clock.setTime(1150)
      expect(r.get()).toBeUndefined()
      r.add(5)
      a.add(5)
      expect(r.get()).toBe(5)
      expect(a.get()).toBe(5)
    })

    it('snapshots leave expired entries out; a changed entry that expired is a deletion in the delta', async () => {
      const clock = new ManualClock(1000)
      const b = await backends.create({ clock })
      const vd = new ValueStateDescriptor<number>('v', { ttl: TTL })
      const ld = new ListStateDescriptor<number>('l', { ttl: TTL })
      const v = b.getValueState(vd)
      const l = b.getListState(ld)
      for (let i = 0; i < 40; i++) {
        clock.setTime(1000 + i * 2) // key i written at 1000 + 2i, expires at 1100 + 2i
        b.setCurrentKey(i)
        v.update(i)
        l.add(i)
      }
      clock.setTime(1130) // keys 0..15 expired
      b.setCurrentKey(39)
      l.add(-1)
      const full = b.snapshot()
      expect(full.states.v.rows.map((r) => r[1]).sort()).toEqual(Array.from({ length: 24 }, (_, i) => `\u0000n${i + 16}`).sort())
      b.setCurrentKey(20)
      v.update(200)
      b.setCurrentKey(38)
      l.add(-2)
      clock.setTime(1250) // everything written so far has expired
      const delta = b.snapshotIncremental()
      expect(delta.states.v.rows).toEqual([[expect.any(Number), '\u0000n20', '', null]])
      expect(delta.states.l.rows).toEqual([[expect.any(Number), '\u0000n38', '', null]])
      const r = await backends.restored([full], { clock: new ManualClock(1130) })
      r.setCurrentKey(39)
      expect(r.getListState(ld).get()).toEqual([39, -1])
      r.setCurrentKey(15)
      expect(r.getValueState(vd).value()).toBeUndefined()
      r.setCurrentKey(16)
      expect(r.getValueState(vd).value()).toBe(16)
    })

    it('restored entries keep their timestamps; TTL can be switched on or off between snapshot and restore', async () => {
      const clock = new ManualClock(1000)
      const b = await backends.create({ clock })
      b.setCurrentKey('k')
      b.getValueState(new ValueStateDescriptor<number>('with', { ttl: TTL })).update(1)
      b.getValueState(new ValueStateDescriptor<number>('without')).update(2)
      b.getMapState(new MapStateDescriptor<string, number>('map-without')).put('x', 3)
      const snap = b.snapshot()

      const later = new ManualClock(1050)
      const r = await backends.restored([snap], { clock: later })
      const withTtl = r.getValueState(new ValueStateDescriptor<number>('with', { ttl: TTL }))
      const gainsTtl = r.getValueState(new ValueStateDescriptor<number>('without', { ttl: TTL }))
      const mapGainsTtl = r.getMapState(new MapStateDescriptor<string, number>('map-without', { ttl: TTL }))
      r.setCurrentKey('k')
      expect([withTtl.value(), gainsTtl.value(), mapGainsTtl.get('x')]).toEqual([1, 2, 3])
      later.setTime(1100)
      expect([withTtl.value(), gainsTtl.value(), mapGainsTtl.get('x')]).toEqual([undefined, 2, 3]) // TTL started at restore (1050)
      later.setTime(1150)
      expect([gainsTtl.value(), mapGainsTtl.get('x')]).toEqual([undefined, undefined])

      const r2 = await backends.restored([snap], { clock: new ManualClock(5000) })
      r2.setCurrentKey('k')
      expect(r2.getValueState(new ValueStateDescriptor<number>('with')).value()).toBe(1) // TTL switched off: kept
    })

    it('refuses two descriptors of one state that disagree on having a TTL', async () => {
      const b = await backends.create()
      b.getValueState(new ValueStateDescriptor<number>('v', { ttl: TTL }))
      expect(() => b.getValueState(new ValueStateDescriptor<number>('v'))).toThrow(/TTL/)
    })
  })
}
