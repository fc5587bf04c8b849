/**
 * The timer queue behind InternalTimerService against a plain reference: a list of distinct
 * timers (key, namespace, timestamp) in registration order, fired by taking the earliest
 * (timestamp, registration) one at a time. Random sequences of registrations, deletions,
 * watermark / processing-time advances whose fired timers register and delete timers themselves,
 * snapshot-restores and rescales (split into key-group ranges, merged back); many timers share a
 * key and a timestamp so that namespaces collide; namespaces are windows told apart by equality
 * (the window operator's identity) or by a name function only.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { keyGroupOf, keyGroupRangeOf } from './keys.ts'
import { TimerQueue, type NamespaceIdentity } from './timer-queue.ts'
import { InternalTimerService, type Timer } from './timers.ts'
import { MemoryKeyedStateBackend } from '../state/memory/memory-backend.ts'
import type { KeyGroupRange } from '../state/backend.ts'

const MAX_P = 128
const ALL: KeyGroupRange = { start: 0, end: MAX_P - 1 }

interface Win {
  start: number
  end: number
}
type Domain = 'event' | 'processing'
type Key = string | number

/** What a fired timer does: register or delete one timer (of any key), relative to its own time. */
interface Reaction {
  kind: 'reg' | 'del'
  domain: Domain
  key: Key
  ns: number
  dt: number
}

type Op =
  | { kind: 'reg' | 'del'; domain: Domain; key: Key; ns: number; t: number }
  | { kind: 'advance'; domain: Domain; by: number; reactions: Reaction[] }
  | { kind: 'restore' }
  | { kind: 'rescale'; parts: number }

const WINDOWS: Win[] = [
  { start: 0, end: 10 },
  { start: 0, end: 12 },
  { start: 5, end: 12 },
  { start: -3, end: 10 },
]
const keyArb: fc.Arbitrary<Key> = fc.constantFrom<Key>('a', 'b', 0, 1)
const domainArb = fc.constantFrom<Domain>('event', 'event', 'processing')
const nsArb = fc.integer({ min: 0, max: WINDOWS.length - 1 })

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constantFrom('reg' as const, 'reg' as const, 'del' as const), domain: domainArb, key: keyArb, ns: nsArb, t: fc.integer({ min: -3, max: 8 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      domain: domainArb,
      by: fc.integer({ min: 0, max: 4 }),
      reactions: fc.array(fc.record({ kind: fc.constantFrom('reg' as const, 'del' as const), domain: domainArb, key: keyArb, ns: nsArb, dt: fc.integer({ min: -2, max: 3 }) }), { maxLength: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'restore' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rescale' as const), parts: fc.integer({ min: 2, max: 3 }) }) },
)

interface ModelTimer {
  domain: Domain
  key: Key
  ns: number
  t: number
  seq: number
}

const label = (d: Domain, key: Key, ns: number, t: number) => `${d}:${typeof key}:${String(key)}/${ns}@${t}`

class Model {
  timers: ModelTimer[] = []
  private seq = 0

  find(d: Domain, key: Key, ns: number, t: number): number {
    return this.timers.findIndex((x) => x.domain === d && x.key === key && x.ns === ns && x.t === t)
  }

  reg(d: Domain, key: Key, ns: number, t: number): void {
    if (this.find(d, key, ns, t) < 0) this.timers.push({ domain: d, key, ns, t, seq: this.seq++ })
  }

  del(d: Domain, key: Key, ns: number, t: number): void {
    const i = this.find(d, key, ns, t)
    if (i >= 0) this.timers.splice(i, 1)
  }

  /** Removes and returns the earliest due timer of the domain (by time, then registration). */
  poll(d: Domain, upTo: number): ModelTimer | undefined {
    let best: ModelTimer | undefined
    for (const x of this.timers) if (x.domain === d && x.t <= upTo && (!best || x.t < best.t || (x.t === best.t && x.seq < best.seq))) best = x
    if (best) this.timers.splice(this.timers.indexOf(best), 1)
    return best
  }

  /** A rescale restores the parts one after another: equal times then fire part by part. */
  reorder(partOf: (key: Key) => number): void {
    this.timers.sort((a, b) => partOf(a.key) - partOf(b.key) || a.seq - b.seq)
    for (const x of this.timers) x.seq = this.seq++
  }

  count(d: Domain): number {
    return this.timers.filter((x) => x.domain === d).length
  }

  next(d: Domain): number {
    return Math.min(Number.POSITIVE_INFINITY, ...this.timers.filter((x) => x.domain === d).map((x) => x.t))
  }
}

/** The service under test; fired timers apply the reactions of the current advance, one per timer. */
class Subject {
  readonly backend: MemoryKeyedStateBackend
  readonly svc: InternalTimerService<Win>
  reactions: Reaction[] = []
  readonly fired: string[] = []

  constructor(
    range: KeyGroupRange,
    identity: NamespaceIdentity<Win> | ((w: Win) => string),
  ) {
    this.backend = new MemoryKeyedStateBackend(MAX_P, range)
    const onTimer = (d: Domain) => (t: Timer<Win>) => {
      expect(this.backend.getCurrentKey()).toBe(t.key)
      const ns = WINDOWS.findIndex((w) => w.start === t.namespace.start && w.end === t.namespace.end)
      this.fired.push(label(d, t.key as Key, ns, t.timestamp))
      const r = this.reactions.shift()
      if (r) this.apply(r.kind, r.domain, r.key, r.ns, t.timestamp + r.dt)
    }
    this.svc = new InternalTimerService<Win>(this.backend, { onEventTime: onTimer('event'), onProcessingTime: onTimer('processing') }, identity)
  }

  apply(kind: 'reg' | 'del', d: Domain, key: Key, ns: number, t: number): void {
    this.backend.setCurrentKey(key)
    // A fresh copy: the queue must compare windows by value, not by identity.
    const w = { ...WINDOWS[ns] }
    if (kind === 'reg') {
      if (d === 'event') this.svc.registerEventTimeTimer(w, t)
      else this.svc.registerProcessingTimeTimer(w, t)
    } else if (d === 'event') this.svc.deleteEventTimeTimer(w, t)
    else this.svc.deleteProcessingTimeTimer(w, t)
  }
}

function check(ops: Op[], byEquality: boolean): void {
  const identity: NamespaceIdentity<Win> | ((w: Win) => string) = byEquality
    ? { key: (w) => `${w.start}:${w.end}`, equals: (a, b) => a.start === b.start && a.end === b.end }
    : (w) => `${w.start}:${w.end}`
  const model = new Model()
  const expected: string[] = []
  const fired: string[] = []
  let s = new Subject(ALL, identity)
  const time = { event: -5, processing: -5 }
  for (const op of ops) {
    if (op.kind === 'reg' || op.kind === 'del') {
      if (op.kind === 'reg') model.reg(op.domain, op.key, op.ns, op.t)
      else model.del(op.domain, op.key, op.ns, op.t)
      s.apply(op.kind, op.domain, op.key, op.ns, op.t)
    } else if (op.kind === 'advance') {
      const upTo = (time[op.domain] += op.by)
      const reactions = [...op.reactions]
      for (let m = model.poll(op.domain, upTo); m; m = model.poll(op.domain, upTo)) {
        expected.push(label(m.domain, m.key, m.ns, m.t))
        const r = reactions.shift()
        if (r) {
          if (r.kind === 'reg') model.reg(r.domain, r.key, r.ns, m.t + r.dt)
          else model.del(r.domain, r.key, r.ns, m.t + r.dt)
        }
      }
      s.reactions = [...op.reactions]
      if (op.domain === 'event') s.svc.advanceWatermark(upTo)
      else s.svc.advanceProcessingTime(upTo)
      fired.push(...s.fired.splice(0))
    } else if (op.kind === 'restore') {
      const snap = s.svc.snapshot(MAX_P)
      s = new Subject(ALL, identity)
      s.svc.restore([snap], ALL)
    } else if (op.kind === 'rescale') {
      // Rescale out to `parts` subtasks and back to one: each part restores its key groups, and
      // the merged restore takes the parts' snapshots in subtask order.
      const snap = s.svc.snapshot(MAX_P)
      const ranges = Array.from({ length: op.parts }, (_, i) => keyGroupRangeOf(i, op.parts, MAX_P))
      const snaps = ranges.map((range) => {
        const part = new Subject(range, identity)
        part.svc.restore([snap], range)
        return part.svc.snapshot(MAX_P)
      })
      s = new Subject(ALL, identity)
      s.svc.restore(snaps, ALL)
      model.reorder((key) => ranges.findIndex((r) => keyGroupOf(key, MAX_P) >= r.start && keyGroupOf(key, MAX_P) <= r.end))
    }
    expect(s.svc.numEventTimeTimers()).toBe(model.count('event'))
    expect(s.svc.numProcessingTimeTimers()).toBe(model.count('processing'))
    expect(s.svc.nextProcessingTime()).toBe(model.next('processing'))
  }
  expect(fired).toEqual(expected)
}

describe('TimerQueue (through InternalTimerService) against a sorted list of distinct timers', () => {
  it('fires the same timers in the same order: namespaces told apart by equality', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 100 }), (ops) => check(ops, true)),
      { numRuns: 1500 },
    )
  })

  it('fires the same timers in the same order: namespaces told apart by their names only', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 100 }), (ops) => check(ops, false)),
      { numRuns: 1500 },
    )
  })

  it('keeps its heap ordered through many deletions from the middle', () => {
    const s = new Subject(ALL, (w) => `${w.start}:${w.end}`)
    const times = Array.from({ length: 2000 }, (_, i) => (i * 7919) % 1000)
    times.forEach((t, i) => s.apply('reg', 'event', i % 13, i % WINDOWS.length, t))
    times.forEach((t, i) => {
      if (i % 3 === 0) s.apply('del', 'event', i % 13, i % WINDOWS.length, t)
    })
    const left = s.svc.numEventTimeTimers()
    s.svc.advanceWatermark(Number.POSITIVE_INFINITY)
    const at = s.fired.map((f) => Number(f.slice(f.lastIndexOf('@') + 1)))
    expect(at).toHaveLength(left)
    expect(at).toEqual([...at].sort((a, b) => a - b))
    expect(s.svc.numEventTimeTimers()).toBe(0)
  })
})

describe('TimerQueue: re-registration', () => {
  it('queues a timer again that was deleted or fired right after it was registered', () => {
    const s = new Subject(ALL, { key: (w) => `${w.start}:${w.end}`, equals: (a, b) => a.start === b.start && a.end === b.end })
    s.apply('reg', 'event', 'a', 0, 5)
    s.apply('del', 'event', 'a', 0, 5)
    s.apply('reg', 'event', 'a', 0, 5)
    expect(s.svc.numEventTimeTimers()).toBe(1)
    s.svc.advanceWatermark(5)
    s.apply('reg', 'event', 'a', 0, 5)
    expect(s.svc.numEventTimeTimers()).toBe(1)
    s.svc.advanceWatermark(6)
    expect(s.fired).toEqual(['event:string:a/0@5', 'event:string:a/0@5'])
  })
})

describe('TimerQueue: many timers at a few timestamps (buckets with many deletions)', () => {
  it('fires the live timers by timestamp, then in registration order, whatever was deleted in between', () => {
    const op = fc.record({ kind: fc.constantFrom('reg' as const, 'reg' as const, 'del' as const), key: fc.integer({ min: 0, max: 299 }), t: fc.integer({ min: 0, max: 2 }) })
    // Runs of operations on consecutive keys, so that one timestamp gets many deletions in a row.
    const run = fc.record({ first: op, length: fc.integer({ min: 1, max: 60 }) })
    fc.assert(
      fc.property(fc.array(run, { maxLength: 40 }), fc.integer({ min: 0, max: 3 }), (runs, firstWatermark) => {
        const queue = new TimerQueue<number>({ key: (ns) => ns })
        const model: { key: number; t: number }[] = []
        for (const { first, length } of runs) {
          for (let i = 0; i < length; i++) {
            const key = (first.key + i) % 300
            const at = model.findIndex((m) => m.key === key && m.t === first.t)
            if (first.kind === 'reg') {
              queue.add(first.t, key, 0, key)
              if (at < 0) model.push({ key, t: first.t })
            } else {
              queue.delete(first.t, key, 0)
              if (at >= 0) model.splice(at, 1)
            }
          }
          expect(queue.size).toBe(model.length)
          expect(queue.peek()).toBe(model.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...model.map((m) => m.t)))
        }
        const expected = [...model].sort((a, b) => a.t - b.t)
        expect(queue.all().map((t) => [t.key, t.timestamp])).toEqual(expected.map((m) => [m.key, m.t]))
        const fired: [unknown, number][] = []
        for (const upTo of [firstWatermark, Number.POSITIVE_INFINITY]) {
          for (let t = queue.pollDue(upTo); t !== undefined; t = queue.pollDue(upTo)) fired.push([t.key, t.timestamp])
        }
        expect(fired).toEqual(expected.map((m) => [m.key, m.t]))
        expect(queue.size).toBe(0)
      }),
      { numRuns: 300 },
    )
  })
})
