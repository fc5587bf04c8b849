/**
 * Window assigners (Flink's TumblingEventTimeWindows, SlidingEventTimeWindows,
 * EventTimeSessionWindows, GlobalWindows, TumblingProcessingTimeWindows): which windows a record
 * belongs to, incl. negative timestamps and offsets, and validation of sizes.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FluxionError } from '../../engine/errors.ts'
import {
  EventTimeSessionWindows,
  GlobalWindows,
  SlidingEventTimeWindows,
  TumblingEventTimeWindows,
  TumblingProcessingTimeWindows,
  type WindowAssignerContext,
} from './assigners.ts'
import { EventTimeTrigger, NeverTrigger, ProcessingTimeTrigger } from './triggers.ts'
import { GLOBAL_WINDOW, windowStart, type TimeWindow } from './window.ts'

const noCtx: WindowAssignerContext = {
  getCurrentProcessingTime: () => {
    throw new Error('an event-time assigner must not read processing time')
  },
}

const assign = (a: { assignWindows(e: unknown, ts: number, ctx: WindowAssignerContext): readonly TimeWindow[] }, ts: number) => [...a.assignWindows(null, ts, noCtx)].map((w) => ({ ...w }))

/** True modulo (the result has the sign of the divisor). */
const mod = (a: number, m: number) => ((a % m) + m) % m

/** Every window {start ≡ offset (mod slide), start <= ts < start + size}, latest start first (Flink's order). */
function bruteForceSliding(ts: number, size: number, slide: number, offset: number): TimeWindow[] {
  const out: TimeWindow[] = []
  const latest = ts - mod(ts - offset, slide)
  for (let start = latest; start > ts - size; start -= slide) out.push({ start, end: start + size })
  return out
}

function invalid(fn: () => unknown): FluxionError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(FluxionError)
    expect((e as FluxionError).code).toBe('FLX_INVALID_WINDOW')
    expect((e as FluxionError).domain).toBe('config')
    return e as FluxionError
  }
  throw new Error('expected FLX_INVALID_WINDOW, nothing was thrown')
}

describe('windowStart (Flink TimeWindow.getWindowStartWithOffset)', () => {
  it('rounds down towards -∞, also for negative timestamps', () => {
    expect(windowStart(0, 0, 10)).toBe(0)
    expect(windowStart(9, 0, 10)).toBe(0)
    expect(windowStart(10, 0, 10)).toBe(10)
    expect(windowStart(-1, 0, 10)).toBe(-10)
    expect(windowStart(-10, 0, 10)).toBe(-10)
    expect(windowStart(-11, 0, 10)).toBe(-20)
    expect(windowStart(2, 3, 10)).toBe(-7)
    expect(windowStart(3, 3, 10)).toBe(3)
    expect(windowStart(0, -3, 10)).toBe(-3)
    expect(windowStart(-4, -3, 10)).toBe(-13)
  })

  it('equals the remainder formula for integer and fractional timestamps, sizes and offsets (property)', () => {
    const byRemainder = (t: number, offset: number, size: number): number => {
      const r = (t - offset) % size
      return r < 0 ? t - (r + size) : t - r
    }
    const timestamp = fc.oneof(fc.integer({ min: -(2 ** 45), max: 2 ** 45 }), fc.maxSafeInteger(), fc.double({ min: -1e13, max: 1e13, noNaN: true }))
    const size = fc.oneof(fc.integer({ min: 1, max: 10 ** 9 }), fc.double({ min: 0.001, max: 1e6, noNaN: true }))
    fc.assert(
      fc.property(timestamp, size, fc.double({ min: -0.999, max: 0.999, noNaN: true }), fc.boolean(), (t, s, f, integerOffset) => {
        const offset = integerOffset ? Math.trunc(f * s) : f * s
        // === rather than toBe: the two may differ in the sign of a zero start.
        const [fast, reference] = [windowStart(t, offset, s), byRemainder(t, offset, s)]
        expect(fast === reference, `windowStart(${t}, ${offset}, ${s}) = ${fast}, expected ${reference}`).toBe(true)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('TumblingEventTimeWindows', () => {
  it('assigns one window [start, start + size)', () => {
    const a = TumblingEventTimeWindows.of(10)
    expect(assign(a, 0)).toEqual([{ start: 0, end: 10 }])
    expect(assign(a, 9)).toEqual([{ start: 0, end: 10 }])
    expect(assign(a, 10)).toEqual([{ start: 10, end: 20 }])
    expect(assign(a, -1)).toEqual([{ start: -10, end: 0 }])
    expect(assign(a, -10)).toEqual([{ start: -10, end: 0 }])
    expect(assign(a, -11)).toEqual([{ start: -20, end: -10 }])
  })

  it('shifts windows by a positive or negative offset', () => {
    expect(assign(TumblingEventTimeWindows.of(10, 3), 2)).toEqual([{ start: -7, end: 3 }])
    expect(assign(TumblingEventTimeWindows.of(10, 3), 3)).toEqual([{ start: 3, end: 13 }])
    expect(assign(TumblingEventTimeWindows.of(10, -3), 0)).toEqual([{ start: -3, end: 7 }])
    expect(assign(TumblingEventTimeWindows.of(10, -3), -4)).toEqual([{ start: -13, end: -3 }])
    // A day in UTC+8, as in Flink's docs: of(1 day, -8 hours).
    const day = 86_400_000
    const hour = 3_600_000
    expect(assign(TumblingEventTimeWindows.of(day, -8 * hour), 0)).toEqual([{ start: -8 * hour, end: 16 * hour }])
  })

  it('describes itself, uses the event-time trigger and tells windows apart by start', () => {
    const a = TumblingEventTimeWindows.of(60_000)
    expect(a.isEventTime).toBe(true)
    expect(a.merging).toBe(false)
    expect(a.defaultTrigger()).toBeInstanceOf(EventTimeTrigger)
    expect(a.describe()).toBe('TumblingEventTimeWindows(60000)')
    expect(a.namespaceOf({ start: 0, end: 60_000 })).not.toEqual(a.namespaceOf({ start: 60_000, end: 120_000 }))
  })

  it('property: exactly one aligned window containing the timestamp, whatever the call sequence', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.double({ min: -0.999, max: 0.999, noNaN: true }),
        fc.array(fc.integer({ min: -1_000_000, max: 1_000_000 }), { minLength: 1, maxLength: 30 }),
        (size, frac, stamps) => {
          const offset = Math.trunc(frac * size)
          const a = TumblingEventTimeWindows.of(size, offset)
          for (const ts of stamps) {
            const ws = assign(a, ts)
            expect(ws).toHaveLength(1)
            const [w] = ws
            expect(w.end - w.start).toBe(size)
            expect(w.start <= ts && ts < w.end).toBe(true)
            expect(mod(w.start - offset, size)).toBe(0)
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('SlidingEventTimeWindows', () => {
  it('assigns size/slide overlapping windows, latest first', () => {
    const a = SlidingEventTimeWindows.of(10, 5)
    expect(assign(a, 7)).toEqual([
      { start: 5, end: 15 },
      { start: 0, end: 10 },
    ])
    expect(assign(a, -1)).toEqual([
      { start: -5, end: 5 },
      { start: -10, end: 0 },
    ])
    expect(assign(a, 5)).toEqual([
      { start: 5, end: 15 },
      { start: 0, end: 10 },
    ])
  })

  it('assigns only windows that contain the timestamp when size is not a multiple of slide', () => {
    const a = SlidingEventTimeWindows.of(10, 4)
    expect(assign(a, 0)).toEqual([
      { start: 0, end: 10 },
      { start: -4, end: 6 },
      { start: -8, end: 2 },
    ])
    // Same latest start (0) as the previous call, but [-8, 2) does not contain 3.
    expect(assign(a, 3)).toEqual([
      { start: 0, end: 10 },
      { start: -4, end: 6 },
    ])
    expect(assign(a, 1)).toEqual([
      { start: 0, end: 10 },
      { start: -4, end: 6 },
      { start: -8, end: 2 },
    ])
  })

  it('leaves gaps when slide > size (hopping windows)', () => {
    const a = SlidingEventTimeWindows.of(5, 10)
    expect(assign(a, 3)).toEqual([{ start: 0, end: 5 }])
    expect(assign(a, 7)).toEqual([])
    expect(assign(a, 4)).toEqual([{ start: 0, end: 5 }])
  })

  it('shifts windows by an offset', () => {
    expect(assign(SlidingEventTimeWindows.of(10, 5, 2), 1)).toEqual([
      { start: -3, end: 7 },
      { start: -8, end: 2 },
    ])
    expect(assign(SlidingEventTimeWindows.of(10, 5, -2), -3)).toEqual([
      { start: -7, end: 3 },
      { start: -12, end: -2 },
    ])
  })

  it('property: equals every window containing the timestamp, on one assigner called with any sequence', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 30 }),
        fc.double({ min: -0.999, max: 0.999, noNaN: true }),
        fc.array(fc.integer({ min: -500, max: 500 }), { minLength: 1, maxLength: 30 }),
        (size, slide, frac, stamps) => {
          const offset = Math.trunc(frac * slide)
          const a = SlidingEventTimeWindows.of(size, slide, offset)
          for (const ts of stamps) expect(assign(a, ts)).toEqual(bruteForceSliding(ts, size, slide, offset))
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('EventTimeSessionWindows', () => {
  it('assigns [ts, ts + gap) and merges', () => {
    const a = EventTimeSessionWindows.withGap(30)
    expect(assign(a, 5)).toEqual([{ start: 5, end: 35 }])
    expect(assign(a, -5)).toEqual([{ start: -5, end: 25 }])
    expect(a.merging).toBe(true)
    expect(a.isEventTime).toBe(true)
    expect(a.defaultTrigger()).toBeInstanceOf(EventTimeTrigger)
  })
})

describe('GlobalWindows', () => {
  it('assigns every record to the one global window, never fires by default', () => {
    const a = GlobalWindows.create()
    expect(a.assignWindows()).toEqual([GLOBAL_WINDOW])
    expect(GLOBAL_WINDOW).toEqual({ start: Number.NEGATIVE_INFINITY, end: Number.POSITIVE_INFINITY })
    expect(a.isEventTime).toBe(false)
    expect(a.merging).toBe(false)
    expect(a.defaultTrigger()).toBeInstanceOf(NeverTrigger)
  })
})

describe('TumblingProcessingTimeWindows', () => {
  it('assigns by the processing-time clock, not the record timestamp', () => {
    let now = 0
    const ctx: WindowAssignerContext = { getCurrentProcessingTime: () => now }
    const a = TumblingProcessingTimeWindows.of(10)
    now = 13
    expect([...a.assignWindows(null, 1_000, ctx)]).toEqual([{ start: 10, end: 20 }])
    now = 20
    expect([...a.assignWindows(null, 13, ctx)]).toEqual([{ start: 20, end: 30 }])
    expect(a.isEventTime).toBe(false)
    expect(a.defaultTrigger()).toBeInstanceOf(ProcessingTimeTrigger)
    expect(a.describe()).toBe('TumblingProcessingTimeWindows(10)')
    expect([...TumblingProcessingTimeWindows.of(10, 4).assignWindows(null, 0, ctx)]).toEqual([{ start: 14, end: 24 }])
  })
})

describe('assigner validation', () => {
  it('rejects sizes that are not finite numbers > 0 with FLX_INVALID_WINDOW, naming the option and value', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(invalid(() => TumblingEventTimeWindows.of(bad)).message).toMatch(new RegExp(`TumblingEventTimeWindows\\.of: size .* got ${String(bad)}`))
      expect(invalid(() => TumblingProcessingTimeWindows.of(bad)).message).toContain('size')
      expect(invalid(() => SlidingEventTimeWindows.of(bad, 10)).message).toContain('size')
      expect(invalid(() => SlidingEventTimeWindows.of(10, bad)).message).toContain('slide')
      expect(invalid(() => EventTimeSessionWindows.withGap(bad)).message).toContain('gap')
    }
    invalid(() => TumblingEventTimeWindows.of('10' as unknown as number))
  })

  it('rejects |offset| >= size (tumbling) or >= slide (sliding)', () => {
    invalid(() => TumblingEventTimeWindows.of(10, 10))
    invalid(() => TumblingEventTimeWindows.of(10, -10))
    invalid(() => SlidingEventTimeWindows.of(10, 5, 5))
    invalid(() => SlidingEventTimeWindows.of(10, 5, -7))
    expect(() => TumblingEventTimeWindows.of(10, 9)).not.toThrow()
    expect(() => SlidingEventTimeWindows.of(10, 5, -4)).not.toThrow()
  })

  it('rejects |offset| >= size for processing-time tumbling windows too (as Flink does)', () => {
    invalid(() => TumblingProcessingTimeWindows.of(10, 10))
    invalid(() => TumblingProcessingTimeWindows.of(10, -25))
  })

  it('rejects a NaN offset instead of assigning NaN windows', () => {
    invalid(() => TumblingEventTimeWindows.of(10, Number.NaN))
    invalid(() => TumblingProcessingTimeWindows.of(10, Number.NaN))
    invalid(() => SlidingEventTimeWindows.of(10, 5, Number.NaN))
  })
})
