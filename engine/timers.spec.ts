/**
 * InternalTimerService (Flink's InternalTimerServiceImpl): timers per (key, namespace, time),
 * deduplicated, fired in time order (registration order for equal times) with the timer's key set
 * on the backend, deletable, and snapshotted/restored by key group.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { keyGroupOf, keyGroupRangeOf } from './keys.ts'
import { InternalTimerService, type Timer, type TimerServiceSnapshot } from './timers.ts'
import { MemoryKeyedStateBackend } from '../state/memory/memory-backend.ts'
import type { KeyGroupRange } from '../state/backend.ts'

interface Fired {
  domain: 'event' | 'processing'
  key: unknown
  ns: string
  at: number
  currentKey: unknown
}

const ALL: KeyGroupRange = { start: 0, end: 127 }

function service(range: KeyGroupRange = ALL, onFire?: (t: Timer<string>, svc: InternalTimerService<string>, b: MemoryKeyedStateBackend) => void) {
  const backend = new MemoryKeyedStateBackend(128, range)
  const fired: Fired[] = []
  const svc: InternalTimerService<string> = new InternalTimerService<string>(
    backend,
    {
      onEventTime: (t) => {
        fired.push({ domain: 'event', key: t.key, ns: t.namespace, at: t.timestamp, currentKey: backend.getCurrentKey() })
        onFire?.(t, svc, backend)
      },
      onProcessingTime: (t) => {
        fired.push({ domain: 'processing', key: t.key, ns: t.namespace, at: t.timestamp, currentKey: backend.getCurrentKey() })
        onFire?.(t, svc, backend)
      },
    },
    (ns) => ns,
  )
  const at = (key: unknown) => {
    backend.setCurrentKey(key)
    return svc
  }
  return { backend, svc, fired, at }
}

type Svc = ReturnType<typeof service>

/** Snapshot → a fresh service on a fresh backend → restore (what a restart does). Fired timers carry over. */
function reopen(s: Svc, onFire?: Parameters<typeof service>[1]): Svc {
  const snap = s.svc.snapshot(128)
  const next = service(s.backend.keyGroupRange, onFire)
  next.svc.restore([snap], s.backend.keyGroupRange)
  next.fired.push(...s.fired)
  return next
}

const short = (f: Fired[]) => f.map((x) => `${String(x.key)}/${x.ns}@${x.at}`)

describe('InternalTimerService: event time', () => {
  it('fires timers up to the watermark in time order, in registration order for equal times (also across a restore), with the key set', () => {
    const before = service()
    before.at('b').registerEventTimeTimer('n', 20)
    before.at('a').registerEventTimeTimer('n', 10)
    before.at('c').registerEventTimeTimer('n', 10)
    const { at, svc, fired } = reopen(before)
    at('a').registerEventTimeTimer('m', 10)
    at('a').registerEventTimeTimer('n', 30)
    svc.advanceWatermark(9)
    expect(fired).toEqual([])
    svc.advanceWatermark(20)
    expect(short(fired)).toEqual(['a/n@10', 'c/n@10', 'a/m@10', 'b/n@20'])
    expect(fired.every((f) => f.currentKey === f.key)).toBe(true)
    expect(svc.currentWatermark()).toBe(20)
    expect(svc.numEventTimeTimers()).toBe(1)
    svc.advanceWatermark(Number.POSITIVE_INFINITY)
    expect(short(fired).at(-1)).toBe('a/n@30')
    expect(svc.numEventTimeTimers()).toBe(0)
  })

  it('deduplicates (key, namespace, time) and keeps distinct keys, namespaces and times apart', () => {
    const before = service()
    before.at('a').registerEventTimeTimer('n', 5)
    before.at('a').registerEventTimeTimer('n', 5)
    before.at(1).registerEventTimeTimer('n', 5)
    const { at, svc, fired } = reopen(before)
    at('1').registerEventTimeTimer('n', 5)
    at('a').registerEventTimeTimer('n', 5)
    at('a').registerEventTimeTimer('m', 5)
    at('a').registerEventTimeTimer('n', 6)
    expect(svc.numEventTimeTimers()).toBe(5)
    svc.advanceWatermark(10)
    expect(short(fired)).toEqual(['a/n@5', '1/n@5', '1/n@5', 'a/m@5', 'a/n@6'])
    expect(fired.map((f) => typeof f.key)).toEqual(['string', 'number', 'string', 'string', 'string'])
  })

  it('deletes timers; deleting an absent timer is a no-op; a timer can be registered again', () => {
    const before = service()
    before.at('a').registerEventTimeTimer('n', 5)
    before.at('b').registerEventTimeTimer('n', 5)
    const { at, svc, fired } = reopen(before)
    at('a').deleteEventTimeTimer('n', 5)
    at('a').deleteEventTimeTimer('n', 99)
    at('c').deleteEventTimeTimer('n', 5)
    at('b').deleteProcessingTimeTimer('n', 5) // other domain: no effect
    expect(svc.numEventTimeTimers()).toBe(1)
    svc.advanceWatermark(5)
    expect(short(fired)).toEqual(['b/n@5'])
    at('a').registerEventTimeTimer('n', 5)
    at('a').deleteEventTimeTimer('n', 5)
    at('a').registerEventTimeTimer('n', 7)
    svc.advanceWatermark(10)
    expect(short(fired)).toEqual(['b/n@5', 'a/n@7'])
  })

  it('fires timers that timers register, when due in the same advance', () => {
    const onFire = (t: Timer<string>, s: InternalTimerService<string>) => {
      if (t.timestamp < 3) s.registerEventTimeTimer(t.namespace, t.timestamp + 1)
    }
    const before = service(ALL, onFire)
    before.at('a').registerEventTimeTimer('n', 1)
    const { svc, fired } = reopen(before, onFire)
    svc.advanceWatermark(2)
    expect(short(fired)).toEqual(['a/n@1', 'a/n@2'])
    svc.advanceWatermark(3)
    expect(short(fired)).toEqual(['a/n@1', 'a/n@2', 'a/n@3'])
  })

  it('does not fire a timer that a timer firing at the same time deleted (as Flink polls one at a time)', () => {
    const onFire = (t: Timer<string>, s: InternalTimerService<string>, b: MemoryKeyedStateBackend) => {
      if (t.key === 'a') {
        b.setCurrentKey('b')
        s.deleteEventTimeTimer('n', 5)
      }
    }
    const before = service(ALL, onFire)
    before.at('a').registerEventTimeTimer('n', 5)
    before.at('b').registerEventTimeTimer('n', 5)
    const { svc, fired } = reopen(before, onFire)
    svc.advanceWatermark(10)
    expect(short(fired)).toEqual(['a/n@5'])
  })
})

describe('InternalTimerService: processing time', () => {
  it('fires processing-time timers up to the given time and reports the next one', () => {
    const before = service()
    expect(before.svc.nextProcessingTime()).toBe(Number.POSITIVE_INFINITY)
    before.at('a').registerProcessingTimeTimer('n', 100)
    const { at, svc, fired } = reopen(before)
    at('b').registerProcessingTimeTimer('n', 50)
    at('b').registerProcessingTimeTimer('n', 50)
    at('c').registerProcessingTimeTimer('n', 70)
    at('c').deleteProcessingTimeTimer('n', 70)
    expect(svc.nextProcessingTime()).toBe(50)
    expect(svc.numProcessingTimeTimers()).toBe(2)
    svc.advanceWatermark(Number.POSITIVE_INFINITY)
    expect(fired).toEqual([])
    svc.advanceProcessingTime(60)
    expect(svc.nextProcessingTime()).toBe(100)
    svc.advanceProcessingTime(100)
    expect(fired.map((f) => [f.domain, f.key, f.at])).toEqual([
      ['processing', 'b', 50],
      ['processing', 'a', 100],
    ])
    expect(svc.nextProcessingTime()).toBe(Number.POSITIVE_INFINITY)
  })
})

describe('InternalTimerService: snapshot and restore', () => {
  function populated() {
    const s = service()
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`)
    keys.forEach((k, i) => {
      s.at(k).registerEventTimeTimer(i % 2 ? 'x' : 'y', 100 + (i % 5))
      s.at(k).registerProcessingTimeTimer('p', 1000 + i)
    })
    return { ...s, keys }
  }

  it('restores every timer and fires them in the same order', () => {
    const a = populated()
    const snap = a.svc.snapshot(128)
    const b = service()
    b.svc.restore([snap], ALL)
    a.svc.advanceWatermark(1000)
    b.svc.advanceWatermark(1000)
    a.svc.advanceProcessingTime(5000)
    b.svc.advanceProcessingTime(5000)
    expect(b.fired).toEqual(a.fired)
    expect(b.fired).toHaveLength(80)
  })

  it('snapshots are copies: later registrations do not change them', () => {
    const a = populated()
    const snap: TimerServiceSnapshot = a.svc.snapshot(128)
    a.at('late').registerEventTimeTimer('x', 1)
    expect(snap.eventTime).toHaveLength(40)
    expect(snap.eventTime.every(([g, , key]) => g === keyGroupOf(key, 128))).toBe(true)
  })

  it('restores only the timers of its key-group range; ranges of a new parallelism partition the timers', () => {
    const a = populated()
    const snap = a.svc.snapshot(128)
    for (const p of [1, 2, 3, 7]) {
      const parts = Array.from({ length: p }, (_, i) => {
        const s = service(keyGroupRangeOf(i, p, 128))
        s.svc.restore([snap], keyGroupRangeOf(i, p, 128))
        s.svc.advanceWatermark(Number.POSITIVE_INFINITY)
        s.svc.advanceProcessingTime(Number.POSITIVE_INFINITY)
        return { range: keyGroupRangeOf(i, p, 128), fired: s.fired }
      })
      const all = parts.flatMap((x) => x.fired.map((f) => `${f.domain}:${String(f.key)}/${f.ns}@${f.at}`)).sort()
      expect(all).toHaveLength(80)
      expect(new Set(all).size).toBe(80)
      for (const part of parts) {
        for (const f of part.fired) {
          const g = keyGroupOf(f.key, 128)
          expect(g >= part.range.start && g <= part.range.end).toBe(true)
        }
      }
    }
  })

  it('merges the snapshots of several former subtasks and deduplicates repeated timers', () => {
    const left = service()
    const right = service()
    left.at('a').registerEventTimeTimer('n', 1)
    right.at('b').registerEventTimeTimer('n', 2)
    right.at('a').registerEventTimeTimer('n', 1) // same timer in both (cannot happen for real, must not double-fire)
    const merged = service()
    merged.svc.restore([left.svc.snapshot(128), right.svc.snapshot(128)], ALL)
    expect(merged.svc.numEventTimeTimers()).toBe(2)
    merged.svc.advanceWatermark(5)
    expect(short(merged.fired)).toEqual(['a/n@1', 'b/n@2'])
  })
})

// --- property against a reference model --------------------------------------------------------

type TOp =
  | { kind: 'reg' | 'del'; domain: 'event' | 'processing'; key: string | number; ns: string; t: number }
  | { kind: 'wm' | 'pt'; adv: number }
  | { kind: 'restore' }

const tOp: fc.Arbitrary<TOp> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constantFrom('reg' as const, 'reg' as const, 'del' as const),
      domain: fc.constantFrom('event' as const, 'processing' as const),
      key: fc.oneof(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 0, max: 2 })),
      ns: fc.constantFrom('x', 'y'),
      t: fc.integer({ min: -5, max: 40 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('wm' as const, 'pt' as const), adv: fc.integer({ min: 0, max: 10 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restore' as const }) },
)

describe('InternalTimerService: property', () => {
  it('fires exactly what a sorted, deduplicated timer list fires, across snapshots and restores', () => {
    fc.assert(
      fc.property(fc.array(tOp, { maxLength: 60 }), (ops) => {
        type M = { key: string | number; ns: string; t: number }
        const model = { event: [] as M[], processing: [] as M[] }
        const expected: string[] = []
        const same = (a: M, b: M) => a.key === b.key && a.ns === b.ns && a.t === b.t
        let s = service()
        const fired: string[] = []
        const drain = () => {
          for (const f of s.fired.splice(0)) fired.push(`${f.domain}:${typeof f.key}:${String(f.key)}/${f.ns}@${f.at}`)
        }
        let wm = -10
        let pt = -10
        for (const op of ops) {
          if (op.kind === 'reg' || op.kind === 'del') {
            const m = { key: op.key, ns: op.ns, t: op.t }
            const list = model[op.domain]
            const svc = s.at(op.key)
            if (op.kind === 'reg') {
              if (!list.some((x) => same(x, m))) list.push(m)
              if (op.domain === 'event') svc.registerEventTimeTimer(op.ns, op.t)
              else svc.registerProcessingTimeTimer(op.ns, op.t)
            } else {
              model[op.domain] = list.filter((x) => !same(x, m))
              if (op.domain === 'event') svc.deleteEventTimeTimer(op.ns, op.t)
              else svc.deleteProcessingTimeTimer(op.ns, op.t)
            }
          } else if (op.kind === 'wm' || op.kind === 'pt') {
            const domain = op.kind === 'wm' ? 'event' : 'processing'
            const upTo = op.kind === 'wm' ? (wm += op.adv) : (pt += op.adv)
            const due = model[domain].filter((x) => x.t <= upTo).sort((a, b) => a.t - b.t) // stable: registration order
            model[domain] = model[domain].filter((x) => x.t > upTo)
            for (const d of due) expected.push(`${domain}:${typeof d.key}:${String(d.key)}/${d.ns}@${d.t}`)
            if (op.kind === 'wm') s.svc.advanceWatermark(upTo)
            else s.svc.advanceProcessingTime(upTo)
            drain()
          } else {
            const snap = s.svc.snapshot(128)
            s = service()
            s.svc.restore([snap], ALL)
          }
          expect(s.svc.numEventTimeTimers()).toBe(model.event.length)
          expect(s.svc.numProcessingTimeTimers()).toBe(model.processing.length)
          expect(s.svc.nextProcessingTime()).toBe(Math.min(Number.POSITIVE_INFINITY, ...model.processing.map((x) => x.t)))
        }
        expect(fired).toEqual(expected)
      }),
      { numRuns: 300 },
    )
  })
})
