/**
 * SlicedWindowOperator: the same outputs as Flink's window operator semantics (the plain model in
 * testing/window-model.ts, which WindowOperator is tested against too), with snapshot → restore at
 * random points, one accumulator per key and slice, and the build-time checks of
 * WindowedStream.sliced().
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { StreamExecutionEnvironment } from '../../engine/api/environment.ts'
import { FluxionError } from '../../engine/errors.ts'
import { OutputTag } from '../../engine/output-tag.ts'
import { OperatorTestHarness } from '../../engine/testing/operator-harness.ts'
import { WatermarkStrategy } from '../../engine/watermarks.ts'
import { EventTimeSessionWindows, SlidingEventTimeWindows, TumblingEventTimeWindows, TumblingProcessingTimeWindows } from './assigners.ts'
import { CountTrigger } from './triggers.ts'
import { SlicedWindowOperator } from './sliced-window-operator.ts'
import type { AggregateFunction } from './window-functions.ts'
import {
  byContent,
  concretise,
  countSumAgg,
  fixedWindowConfig,
  fixedWindowsOf,
  modelFixedWindows,
  rawSteps,
  runSteps,
  type CountSum,
  type Ev,
  type Row,
  type Step,
} from './testing/window-model.ts'

/** merge(a, b) modifies and returns a, leaves b alone: allowed by sliced()'s contract. */
const countSumInPlace: AggregateFunction<Ev, CountSum, CountSum> = {
  createAccumulator: () => ({ n: 0, sum: 0 }),
  add: (e, acc) => {
    acc.n++
    acc.sum += e.v
    return acc
  },
  getResult: (acc) => ({ n: acc.n, sum: acc.sum }),
  merge: (a, b) => {
    a.n += b.n
    a.sum += b.sum
    return a
  },
}

interface SlicedSetup {
  size: number
  slide: number
  offset: number
  allowedLateness: number
  lateDataTag?: OutputTag<Ev>
  aggregate: AggregateFunction<Ev, CountSum, CountSum>
}

function harness(s: SlicedSetup): OperatorTestHarness<Ev, Row<CountSum>> {
  return new OperatorTestHarness<Ev, Row<CountSum>>(
    () =>
      new SlicedWindowOperator<string, Ev, CountSum, CountSum, Row<CountSum>>({
        size: s.size,
        slide: s.slide,
        offset: s.offset,
        allowedLateness: s.allowedLateness,
        lateDataTag: s.lateDataTag,
        aggregate: s.aggregate,
        emit: (key, window, result, out) => out.collect({ key, start: window.start, end: window.end, result }),
        describe: `SlidingEventTimeWindows(${s.size}, ${s.slide})`,
      }),
    { keySelector: (e) => e.key },
  )
}

function run(s: SlicedSetup, steps: readonly Step[], restoreEverywhere = false) {
  return runSteps(() => harness(s), steps, { lateDataTag: s.lateDataTag, restoreEverywhere })
}

describe('SlicedWindowOperator', () => {
  it('equals the window model (sliding and tumbling, offsets, lateness, late side output), with and without restores at random points', () => {
    fc.assert(
      fc.property(fixedWindowConfig, fc.boolean(), rawSteps, (c, inPlace, raw) => {
        const offset = Math.trunc(c.offsetFrac * c.slide)
        const size = c.slide * c.k
        const tag = c.withTag ? new OutputTag<Ev>('late') : undefined
        const steps = concretise(raw)
        const setup: SlicedSetup = { size, slide: c.slide, offset, allowedLateness: c.lateness, lateDataTag: tag, aggregate: inPlace ? countSumInPlace : countSumAgg }
        const model = modelFixedWindows(steps, fixedWindowsOf(size, c.slide, offset), c.lateness, c.withTag)
        const plain = run(setup, steps.filter((st) => !('restore' in st)))
        const restored = run(setup, steps, true)
        for (const got of [plain, restored]) {
          expect([...got.out].sort(byContent)).toEqual([...model.out].sort(byContent))
          expect(got.late).toEqual(model.late)
          expect(got.dropped).toBe(model.dropped)
          expect(got.stateSize).toBe(0)
        }
        expect(restored.out).toEqual(plain.out)
      }),
      { numRuns: 200 },
    )
  })

  it('keeps one accumulator per key and slice, not per window', () => {
    const h = harness({ size: 10, slide: 2, offset: 0, allowedLateness: 0, aggregate: countSumAgg })
    for (let ts = 0; ts < 10; ts++) h.processElement({ key: 'a', v: ts }, ts)
    h.processElement({ key: 'b', v: 1 }, 3)
    // 'a': slices 0, 2, 4, 6, 8; 'b': slice 2 — where per-window state would hold 5 + 5 + … accumulators.
    expect(h.stateSize()).toBe(6)
    h.processWatermark(11)
    // The windows ending at 2, 4, …, 12 have fired (end − 1 ≤ 11). Slices 0 and 2 were last needed by
    // the windows ending at 10 and 12, so they are gone: 'a' keeps slices 4, 6 and 8, 'b' none.
    expect(h.getOutput().filter((r) => r.value.key === 'a').map((r) => [r.value.start, r.value.end, r.value.result.n])).toEqual([
      [-8, 2, 2],
      [-6, 4, 4],
      [-4, 6, 6],
      [-2, 8, 8],
      [0, 10, 10],
      [2, 12, 8],
    ])
    expect(h.stateSize()).toBe(3)
    h.processWatermark(Number.POSITIVE_INFINITY)
    expect(h.stateSize()).toBe(0)
  })
})

describe('WindowedStream.sliced()', () => {
  const keyed = () => {
    const env = StreamExecutionEnvironment.create()
    return env.fromCollection([{ key: 'a', v: 1, t: 5 }], WatermarkStrategy.forMonotonousTimestamps<{ key: string; v: number; t: number }>().withTimestampAssigner((e) => e.t)).keyBy((e) => e.key)
  }
  const count = { createAccumulator: () => 0, add: (_e: unknown, a: number) => a + 1, getResult: (a: number) => a, merge: (a: number, b: number) => a + b }
  const refusal = (build: () => unknown): string => {
    try {
      build()
    } catch (e) {
      expect(e).toBeInstanceOf(FluxionError)
      expect((e as FluxionError).code).toBe('FLX_INVALID_WINDOW')
      return (e as FluxionError).message
    }
    throw new Error('expected FLX_INVALID_WINDOW')
  }

  it('refuses what it cannot slice when the job is built', () => {
    expect(() => keyed().window(TumblingEventTimeWindows.of(10)).sliced().aggregate(count)).not.toThrow()
    expect(() => keyed().window(SlidingEventTimeWindows.of(12, 4, 1)).allowedLateness(5).sliced().aggregate(count)).not.toThrow()
    expect(refusal(() => keyed().window(SlidingEventTimeWindows.of(10, 4)).sliced().aggregate(count))).toMatch(/multiple of the slide/)
    expect(refusal(() => keyed().window(EventTimeSessionWindows.withGap(10)).sliced().aggregate(count))).toMatch(/SlidingEventTimeWindows or TumblingEventTimeWindows/)
    expect(refusal(() => keyed().window(TumblingProcessingTimeWindows.of(10)).sliced().aggregate(count))).toMatch(/SlidingEventTimeWindows or TumblingEventTimeWindows/)
    expect(refusal(() => keyed().window(SlidingEventTimeWindows.of(10, 2)).trigger(CountTrigger.of(3)).sliced().aggregate(count))).toMatch(/default event-time trigger/)
    expect(refusal(() => keyed().window(SlidingEventTimeWindows.of(10, 2)).sliced().reduce((a) => a))).toMatch(/aggregate\(\.\.\.\) only/)
    expect(refusal(() => keyed().window(SlidingEventTimeWindows.of(10, 2)).sliced().process(() => {}))).toMatch(/aggregate\(\.\.\.\) only/)
  })

  it('gives the same job results as the window operator', async () => {
    const records = Array.from({ length: 400 }, (_, i) => ({ key: `k${(i * 7) % 5}`, v: i % 13, t: i * 3 + ((i * 17) % 11) }))
    const results = async (slicing: boolean) => {
      const env = StreamExecutionEnvironment.create({ parallelism: 2 })
      const windowed = env
        .fromCollection(records, WatermarkStrategy.forBoundedOutOfOrderness<(typeof records)[number]>(20).withTimestampAssigner((e) => e.t))
        .keyBy((e) => e.key)
        .window(SlidingEventTimeWindows.of(60, 15, 5))
      const sums = (slicing ? windowed.sliced() : windowed).aggregate(
        { createAccumulator: () => 0, add: (e: { v: number }, a: number) => a + e.v, getResult: (a: number) => a, merge: (a: number, b: number) => a + b },
        (key, w, sum) => `${key} ${w.start} ${w.end} ${sum}`,
      )
      const [out] = await env.executeAndCollect(sums)
      return [...out].sort()
    }
    const plain = await results(false)
    expect(plain.length).toBeGreaterThan(50)
    expect(await results(true)).toEqual(plain)
  })
})
