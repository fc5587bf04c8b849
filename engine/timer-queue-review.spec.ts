/**
 * Review of the bucketed TimerQueue against a plain list of distinct timers (by timestamp, then
 * registration), at sizes where its internal mechanisms kick in: bucket compaction (more than 16
 * holes), the sweep of null index entries (more than 4096 emptied keys), and firing callbacks that
 * delete / register timers of the bucket being fired (before and after the current position),
 * with peek(), size and all() checked from inside callbacks, -0 / 0 / +Infinity timestamps and
 * restores (re-adding all() in order) at random points.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TimerQueue } from './timer-queue.ts'
import { InternalTimerService, type Timer } from './timers.ts'
import { MemoryKeyedStateBackend } from '../state/memory/memory-backend.ts'

interface MT {
  key: number
  ns: number
  t: number
  seq: number
}

const fmt = (t: number) => (Object.is(t, -0) ? '-0' : String(t))
const label = (key: unknown, ns: unknown, t: number) => `${String(key)}/${String(ns)}@${fmt(t)}`

class Model {
  timers: MT[] = []
  private seq = 0
  find(key: number, ns: number, t: number): number {
    return this.timers.findIndex((x) => x.key === key && x.ns === ns && x.t === t)
  }
  reg(key: number, ns: number, t: number): void {
    if (this.find(key, ns, t) < 0) this.timers.push({ key, ns, t, seq: this.seq++ })
  }
  del(key: number, ns: number, t: number): void {
    const i = this.find(key, ns, t)
    if (i >= 0) this.timers.splice(i, 1)
  }
  ordered(): MT[] {
    return [...this.timers].sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : a.seq - b.seq))
  }
  poll(upTo: number): MT | undefined {
    let best: MT | undefined
    for (const x of this.timers) if (x.t <= upTo && (!best || x.t < best.t || (x.t === best.t && x.seq < best.seq))) best = x
    if (best) this.timers.splice(this.timers.indexOf(best), 1)
    return best
  }
  peek(): number {
    let m = Number.POSITIVE_INFINITY
    for (const x of this.timers) if (x.t < m) m = x.t
    return m
  }
  /** Rebuilds the sequence numbers in firing order (what a restore does). */
  renumber(): void {
    this.timers = this.ordered()
    for (const x of this.timers) x.seq = this.seq++
  }
}

interface Reaction {
  kind: 'reg' | 'del'
  /** Key relative to the fired timer's key (0: the same key). */
  dk: number
  ns: number
  /** Time relative to the fired timer's time (0: the bucket being fired). */
  dt: number
}

/** Reactions apply to the first fired timers of an advance only (a timer re-registering itself at its own time would fire forever). */
const MAX_REACTIONS = 400

const newQueue = () => new TimerQueue<number>({ key: (ns) => ns })

function checkAll(q: TimerQueue<number>, m: Model): void {
  expect(q.size).toBe(m.timers.length)
  const p = q.peek()
  expect(fmt(p === 0 ? Math.abs(p) : p)).toBe(fmt(m.peek() === 0 ? 0 : m.peek()))
  expect(q.all().map((t) => label(t.key, t.namespace, t.timestamp))).toEqual(m.ordered().map((x) => label(x.key, x.ns, x.t)))
}

/** Fires every due timer; each fired timer applies the next reaction (cycling) and then checks everything. */
function fire(q: TimerQueue<number>, m: Model, upTo: number, reactions: readonly Reaction[], keys: number, checkEvery: number): [string, string] {
  const expected: string[] = []
  // The model first (reactions are deterministic), then the queue.
  let i = 0
  for (let x = m.poll(upTo); x; x = m.poll(upTo), i++) {
    expected.push(label(x.key, x.ns, x.t))
    const r = reactions.length > 0 && i < MAX_REACTIONS ? reactions[i % reactions.length] : undefined
    if (r) {
      const key = (x.key + r.dk + keys) % keys
      if (r.kind === 'reg') m.reg(key, r.ns, x.t + r.dt)
      else m.del(key, r.ns, x.t + r.dt)
    }
  }
  return [expected.join(','), fireQueue(q, upTo, reactions, keys, checkEvery).join(',')]
}

function fireQueue(q: TimerQueue<number>, upTo: number, reactions: readonly Reaction[], keys: number, checkEvery: number): string[] {
  const fired: string[] = []
  let i = 0
  for (let t: Timer<number> | undefined = q.pollDue(upTo); t; t = q.pollDue(upTo), i++) {
    fired.push(label(t.key, t.namespace, t.timestamp))
    const r = reactions.length > 0 && i < MAX_REACTIONS ? reactions[i % reactions.length] : undefined
    if (r) {
      const key = ((t.key as number) + r.dk + keys) % keys
      if (r.kind === 'reg') q.add(t.timestamp + r.dt, key, r.ns, key)
      else q.delete(t.timestamp + r.dt, key, r.ns)
    }
    if (checkEvery > 0 && i % checkEvery === 0) {
      // peek() and all() while a bucket is being fired must not disturb the firing.
      q.peek()
      q.all()
    }
  }
  return fired
}

describe('TimerQueue review: buckets, holes, compaction and the null-entry sweep', () => {
  it('fires like a sorted list of distinct timers with reactions inside the firing bucket (many keys, few timestamps)', () => {
    const reactionArb = fc.record({
      kind: fc.constantFrom('reg' as const, 'del' as const, 'del' as const),
      dk: fc.integer({ min: -40, max: 40 }),
      ns: fc.integer({ min: 0, max: 1 }),
      dt: fc.constantFrom(0, 0, 0, -1, 1),
    })
    const phaseArb = fc.record({
      /** Register keys [from, from + n) at time t (namespace ns), then delete every `delEvery`-th. */
      from: fc.integer({ min: 0, max: 199 }),
      n: fc.integer({ min: 1, max: 150 }),
      t: fc.constantFrom(-1, 0, -0, 1, 2, Number.POSITIVE_INFINITY),
      ns: fc.integer({ min: 0, max: 1 }),
      delEvery: fc.integer({ min: 1, max: 4 }),
      advance: fc.option(fc.constantFrom(-1, 0, 1, 2), { nil: undefined }),
      reactions: fc.array(reactionArb, { maxLength: 5 }),
      restore: fc.boolean(),
    })
    const KEYS = 200
    fc.assert(
      fc.property(fc.array(phaseArb, { maxLength: 12 }), fc.integer({ min: 0, max: 3 }), (phases, checkEvery) => {
        let q = newQueue()
        const m = new Model()
        for (const ph of phases) {
          for (let i = 0; i < ph.n; i++) {
            const key = (ph.from + i) % KEYS
            q.add(ph.t, key, ph.ns, key)
            m.reg(key, ph.ns, ph.t)
          }
          for (let i = 0; i < ph.n; i += ph.delEvery) {
            const key = (ph.from + i) % KEYS
            q.delete(ph.t, key, ph.ns)
            m.del(key, ph.ns, ph.t)
          }
          checkAll(q, m)
          if (ph.advance !== undefined) {
            const [expected, got] = fire(q, m, ph.advance, ph.reactions, KEYS, checkEvery)
            expect(got).toBe(expected)
            checkAll(q, m)
          }
          if (ph.restore) {
            const r = newQueue()
            for (const t of q.all()) r.add(t.timestamp, t.key, t.namespace, t.key as number)
            q = r
            m.renumber()
            checkAll(q, m)
          }
        }
        const [expected, got] = fire(q, m, Number.POSITIVE_INFINITY, [], KEYS, 0)
        expect(got).toBe(expected)
        expect(q.size).toBe(0)
        expect(q.peek()).toBe(Number.POSITIVE_INFINITY)
      }),
      { numRuns: 400 },
    )
  })

  it('the null-entry sweep (> 4096 emptied keys) while keys are re-added from firing callbacks', () => {
    const KEYS = 12_000
    const q = newQueue()
    const m = new Model()
    for (let k = 0; k < KEYS; k++) {
      q.add(1, k, 0, k)
      m.reg(k, 0, 1)
    }
    // Every fired timer re-registers a timer of a key 5000 below it at the same time (already
    // fired, so new: fires in this advance) or deletes one 3 above it (not yet fired).
    const reactions: Reaction[] = [
      { kind: 'reg', dk: -5000, ns: 1, dt: 0 },
      { kind: 'del', dk: 3, ns: 0, dt: 0 },
      { kind: 'reg', dk: 0, ns: 0, dt: 1 },
    ]
    const [expected, got] = fire(q, m, 1, reactions, KEYS, 0)
    expect(got).toBe(expected)
    checkAll(q, m)
    // Keys emptied by the sweep get timers again: deduplication must still work.
    for (let k = 0; k < KEYS; k += 2) {
      q.add(1, k, 0, k)
      q.add(1, k, 0, k)
      q.add(2, k, 0, k)
      m.reg(k, 0, 1)
      m.reg(k, 0, 2)
    }
    checkAll(q, m)
    for (let k = 0; k < KEYS; k += 4) {
      q.delete(2, k, 0)
      m.del(k, 0, 2)
    }
    checkAll(q, m)
    const [e2, g2] = fire(q, m, Number.POSITIVE_INFINITY, [], KEYS, 0)
    expect(g2).toBe(e2)
    expect(q.size).toBe(0)
  })

  it('peek() skips a bucket whose timers were all deleted, also the head one, and processing time follows', () => {
    const backend = new MemoryKeyedStateBackend(128, { start: 0, end: 127 })
    const fired: string[] = []
    const svc = new InternalTimerService<number>(backend, { onEventTime: () => {}, onProcessingTime: (t) => fired.push(label(t.key, t.namespace, t.timestamp)) }, (ns) => ns)
    for (let k = 0; k < 50; k++) {
      backend.setCurrentKey(k)
      svc.registerProcessingTimeTimer(0, 10)
      svc.registerProcessingTimeTimer(0, 20)
    }
    for (let k = 0; k < 50; k++) {
      backend.setCurrentKey(k)
      svc.deleteProcessingTimeTimer(0, 10)
    }
    expect(svc.nextProcessingTime()).toBe(20)
    expect(svc.numProcessingTimeTimers()).toBe(50)
    backend.setCurrentKey(7)
    svc.registerProcessingTimeTimer(0, 10)
    expect(svc.nextProcessingTime()).toBe(10)
    svc.deleteProcessingTimeTimer(0, 10)
    expect(svc.nextProcessingTime()).toBe(20)
    svc.advanceProcessingTime(19)
    expect(fired).toEqual([])
    svc.advanceProcessingTime(20)
    expect(fired).toHaveLength(50)
    expect(svc.nextProcessingTime()).toBe(Number.POSITIVE_INFINITY)
  })

  it('snapshot / restore mid-stream keeps firing order after holes and compaction', () => {
    const backend = new MemoryKeyedStateBackend(128, { start: 0, end: 127 })
    const firedA: string[] = []
    const mk = (out: string[]) => new InternalTimerService<number>(backend, { onEventTime: (t) => out.push(label(t.key, t.namespace, t.timestamp)), onProcessingTime: () => {} }, (ns) => ns)
    const a = mk(firedA)
    for (let k = 0; k < 200; k++) {
      backend.setCurrentKey(k % 37)
      a.registerEventTimeTimer(k, (k * 13) % 3)
    }
    for (let k = 0; k < 200; k += 3) {
      backend.setCurrentKey(k % 37)
      a.deleteEventTimeTimer(k, (k * 13) % 3)
    }
    const snap = a.snapshot(128)
    const firedB: string[] = []
    const b = mk(firedB)
    b.restore([JSON.parse(JSON.stringify(snap))], { start: 0, end: 127 })
    a.advanceWatermark(Number.POSITIVE_INFINITY)
    b.advanceWatermark(Number.POSITIVE_INFINITY)
    expect(firedB).toEqual(firedA)
    expect(firedA).toHaveLength(200 - 67)
  })
})
