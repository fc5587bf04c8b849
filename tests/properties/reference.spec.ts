/**
 * Sanity checks of the reference models themselves, on small hand-worked examples (Flink
 * semantics worked out by hand). They do not touch the engine.
 */
import { describe, expect, it } from 'vitest'
import {
  canonical,
  countSumAgg,
  maxDisorder,
  modelIntervalJoin,
  modelSessions,
  modelWindowJoin,
  modelWindows,
  slidingWindows,
  tumblingWindows,
  watermarksBefore,
  type Ev,
} from './reference.ts'

const ev = (key: string, ts: number, v = 1, id = ts): Ev => ({ key, ts, v, id })

describe('reference models', () => {
  it('watermarks: punctuated after each record, periodic after every b records, never backwards', () => {
    const tss = [5, 12, 3, 20, 7]
    expect(watermarksBefore(tss, { kind: 'punctuated', bound: 0 })).toEqual([-Infinity, 4, 11, 11, 19])
    expect(watermarksBefore(tss, { kind: 'periodic', bound: 2, batchSize: 2 })).toEqual([-Infinity, -Infinity, 9, 9, 17])
    expect(maxDisorder(tss)).toBe(13)
  })

  it('assigners follow TimeWindow.getWindowStartWithOffset', () => {
    expect(tumblingWindows(10)(19)).toEqual([{ start: 10, end: 20 }])
    expect(tumblingWindows(10, 3)(2)).toEqual([{ start: -7, end: 3 }])
    expect(tumblingWindows(10, -3)(7)).toEqual([{ start: 7, end: 17 }])
    expect(slidingWindows(10, 5, 2)(3)).toEqual([
      { start: 2, end: 12 },
      { start: -3, end: 7 },
    ])
    expect(slidingWindows(7, 3)(10)).toEqual([
      { start: 9, end: 16 },
      { start: 6, end: 13 },
    ])
    expect(slidingWindows(10, 5)(3)).toEqual([
      { start: 0, end: 10 },
      { start: -5, end: 5 },
    ])
    // size < slide: some timestamps fall in no window
    expect(slidingWindows(2, 5)(3)).toEqual([])
  })

  it('tumbling: on-time firing, late side output, late firings within allowed lateness', () => {
    const events = [ev('a', 5, 1), ev('a', 12, 2), ev('a', 3, 4), ev('a', 9, 8)]
    const wm = watermarksBefore(
      events.map((e) => e.ts),
      { kind: 'punctuated', bound: 0 },
    )
    const strict = modelWindows(events, wm, tumblingWindows(10), 0, countSumAgg)
    expect(canonical(strict.fired)).toEqual(
      canonical([
        { key: 'a', start: 0, end: 10, result: { count: 1, sum: 1 } },
        { key: 'a', start: 10, end: 20, result: { count: 1, sum: 2 } },
      ]),
    )
    expect(strict.late.map((e) => e.ts)).toEqual([3, 9])

    const lax = modelWindows(events, wm, tumblingWindows(10), 5, countSumAgg)
    expect(canonical(lax.fired)).toEqual(
      canonical([
        { key: 'a', start: 0, end: 10, result: { count: 1, sum: 1 } },
        { key: 'a', start: 0, end: 10, result: { count: 2, sum: 5 } },
        { key: 'a', start: 0, end: 10, result: { count: 3, sum: 13 } },
        { key: 'a', start: 10, end: 20, result: { count: 1, sum: 2 } },
      ]),
    )
    expect(lax.late).toEqual([])
  })

  it('sliding: an element goes to its non-late windows only', () => {
    // size 10 slide 5; W = 11 when ts 7 arrives: [0,10) is late (9 <= 11), [5,15) is not.
    const events = [ev('a', 12), ev('a', 7)]
    const wm = watermarksBefore([12, 7], { kind: 'punctuated', bound: 0 })
    const r = modelWindows(events, wm, slidingWindows(10, 5), 0, countSumAgg)
    expect(canonical(r.fired)).toEqual(
      canonical([
        { key: 'a', start: 5, end: 15, result: { count: 2, sum: 2 } },
        { key: 'a', start: 10, end: 20, result: { count: 1, sum: 1 } },
      ]),
    )
    expect(r.late).toEqual([])
  })

  it('sessions: touching windows merge; a late element may join a live session', () => {
    // gap 10: a@15 -> [15,25); a@20 -> [15,30). W reaches 22 (b@25, bound 2).
    // a@10 alone would be [10,20), late, but it touches [15,30): merged into [10,30).
    const events = [ev('a', 15), ev('a', 20), ev('b', 25), ev('a', 10), ev('b', 0)]
    const wm = watermarksBefore(
      events.map((e) => e.ts),
      { kind: 'punctuated', bound: 2 },
    )
    const r = modelSessions(events, wm, 10, 0, countSumAgg)
    expect(canonical(r.fired)).toEqual(
      canonical([
        { key: 'a', start: 10, end: 30, result: { count: 3, sum: 3 } },
        { key: 'b', start: 25, end: 35, result: { count: 1, sum: 1 } },
      ]),
    )
    expect(r.late.map((e) => e.ts)).toEqual([0])
  })

  it('sessions: late firing of a merged window within allowed lateness', () => {
    // gap 5, L 30: a@0 -> [0,5) fires at W=19; a@3 -> [3,8) merges into [0,8), maxTs 7 <= W:
    // fires at once; a@4 -> [4,9) extends it to [0,9): fires at once again.
    const events = [ev('a', 0), ev('b', 20), ev('a', 3), ev('a', 4)]
    const wm = watermarksBefore(
      events.map((e) => e.ts),
      { kind: 'punctuated', bound: 0 },
    )
    const r = modelSessions(events, wm, 5, 30, countSumAgg)
    expect(canonical(r.fired)).toEqual(
      canonical([
        { key: 'a', start: 0, end: 5, result: { count: 1, sum: 1 } },
        { key: 'a', start: 0, end: 8, result: { count: 2, sum: 2 } },
        { key: 'a', start: 0, end: 9, result: { count: 3, sum: 3 } },
        { key: 'b', start: 20, end: 25, result: { count: 1, sum: 1 } },
      ]),
    )
  })

  it('joins: window join is the per-window cross product; interval bounds are inclusive', () => {
    const as = [ev('a', 1, 0, 1), ev('a', 9, 0, 2), ev('b', 3, 0, 3)]
    const bs = [ev('a', 5, 0, 10), ev('a', 10, 0, 11), ev('b', 12, 0, 12)]
    expect(canonical(modelWindowJoin(as, bs, 10))).toEqual(
      canonical([
        { key: 'a', a: 1, b: 10 },
        { key: 'a', a: 2, b: 10 },
      ]),
    )
    expect(canonical(modelIntervalJoin(as, bs, -4, 1))).toEqual(
      canonical([
        { key: 'a', a: 2, b: 10 }, // a@9 with b@5 (9-4=5) and b@10 (9+1=10)
        { key: 'a', a: 2, b: 11 },
      ]),
    )
  })
})
