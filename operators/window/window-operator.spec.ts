/**
 * WindowOperator unit tests (after Flink's WindowOperatorTest), on the OperatorTestHarness.
 *
 * Every scenario runs twice — straight through, and with snapshot → close → restore after every
 * step — and both runs must give the same output, late records, drop count and state size. The
 * watermark is not part of a snapshot (as in Flink); the runner re-sends the last watermark after
 * a restore, as upstream does after recovery.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FluxionError } from '../../engine/errors.ts'
import { OutputTag } from '../../engine/output-tag.ts'
import { OperatorTestHarness } from '../../engine/testing/operator-harness.ts'
import { ValueStateDescriptor } from '../../state/api.ts'
import { VOID_NAMESPACE, type KeyedStateBackend } from '../../state/backend.ts'
import {
  EventTimeSessionWindows,
  GlobalWindows,
  SlidingEventTimeWindows,
  TumblingEventTimeWindows,
  TumblingProcessingTimeWindows,
  type WindowAssigner,
} from './assigners.ts'
import { CountTrigger, EventTimeTrigger, ProcessingTimeTrigger, PurgingTrigger, type Trigger, type TriggerContext, type TriggerResult } from './triggers.ts'
import { AggregatingContents, BufferingContents, ReducingContents, type AggregateFunction, type WindowContents } from './window-functions.ts'
import { WindowOperator } from './window-operator.ts'
import { maxTimestamp, type TimeWindow } from './window.ts'
import {
  byContent,
  concretise,
  countSumAgg,
  emitRow,
  fixedWindowConfig,
  fixedWindowsOf,
  modelFixedWindows,
  rawSteps,
  runSteps,
  type CountSum,
  type Ev,
  type ModelOutcome,
  type ModelWindow,
  type Outcome,
  type Row,
  type Step,
} from './testing/window-model.ts'

const countAgg: AggregateFunction<Ev, number, number> = {
  createAccumulator: () => 0,
  add: (_e, acc) => acc + 1,
  getResult: (acc) => acc,
  merge: (a, b) => a + b,
}

interface Setup<R> {
  assigner: WindowAssigner<Ev>
  trigger?: Trigger<Ev>
  allowedLateness?: number
  lateDataTag?: OutputTag<Ev>
  /** Called once per operator instance (contents hold state handles). */
  contents: () => WindowContents<Ev, R>
  name?: string
}

type Op<R> = WindowOperator<string, Ev, R, Row<R>>

function harness<R>(s: Setup<R>): OperatorTestHarness<Ev, Row<R>> {
  return new OperatorTestHarness<Ev, Row<R>>(
    () =>
      new WindowOperator<string, Ev, R, Row<R>>({
        assigner: s.assigner,
        trigger: s.trigger ?? s.assigner.defaultTrigger(),
        allowedLateness: s.allowedLateness ?? 0,
        lateDataTag: s.lateDataTag,
        contents: s.contents(),
        emit: (key, window, result, out) => out.collect({ key, start: window.start, end: window.end, result }),
      }),
    { keySelector: (e) => e.key, name: s.name },
  )
}

const counting = (): WindowContents<Ev, number> => new AggregatingContents(countAgg)

/** Runs `steps`; with `restoreEverywhere`, snapshot → close → restore after every step. */
function run<R>(s: Setup<R>, steps: readonly Step[], restoreEverywhere = false): Outcome<R> {
  return runSteps(() => harness(s), steps, { lateDataTag: s.lateDataTag, restoreEverywhere })
}

/** Runs with and without restores; both must agree. Returns the outcome. */
function runChecked<R>(s: Setup<R>, steps: readonly Step[]): Outcome<R> {
  const plain = run(s, steps.filter((st) => !('restore' in st)))
  const restored = run(s, steps, true)
  expect(restored).toEqual(plain)
  return plain
}

const el = (key: string, ts: number | undefined, v = 1, id?: number): Step => ({ el: id === undefined ? { key, v } : { key, v, id }, ts })
const wm = (w: number): Step => ({ wm: w })
const pt = (t: number): Step => ({ pt: t })
const row = <R>(key: string, start: number, end: number, result: R, timestamp = end - 1) => ({ value: { key, start, end, result }, timestamp })

function thrown(fn: () => unknown): FluxionError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(FluxionError)
    return e as FluxionError
  }
  throw new Error('expected a FluxionError, nothing was thrown')
}

describe('WindowOperator: tumbling event-time windows', () => {
  it('fires each key and window once the watermark passes maxTimestamp, then clears its state', () => {
    const s: Setup<number> = { assigner: TumblingEventTimeWindows.of(10), contents: counting }
    const steps = [el('a', 1), el('b', 3), el('a', 9), el('a', 10), wm(8)]
    const before = runChecked(s, steps)
    expect(before.out).toEqual([])
    expect(before.stateSize).toBeGreaterThan(0)

    const after = runChecked(s, [...steps, wm(9)])
    expect(after.out).toEqual([row('a', 0, 10, 2), row('b', 0, 10, 1)])
    const done = runChecked(s, [...steps, wm(9), wm(19)])
    expect(done.out).toEqual([row('a', 0, 10, 2), row('b', 0, 10, 1), row('a', 10, 20, 1)])
    expect(done.stateSize).toBe(0)
  })

  it('forwards watermarks after firing', () => {
    let h = harness({ assigner: TumblingEventTimeWindows.of(10), contents: counting })
    h.processElement({ key: 'a', v: 1 }, 5).processWatermark(3)
    h = h.snapshotAndRestore()
    h.processWatermark(12)
    expect(h.getWatermarks()).toEqual([3, 12])
    expect(h.extractOutputValues()).toEqual([{ key: 'a', start: 0, end: 10, result: 1 }])
  })

  it('handles negative timestamps and offsets', () => {
    const r = runChecked({ assigner: TumblingEventTimeWindows.of(10, 3), contents: counting }, [el('a', -8), el('a', 2), el('a', 3), el('a', -7), wm(Number.POSITIVE_INFINITY)])
    expect(r.out).toEqual([row('a', -17, -7, 1), row('a', -7, 3, 2), row('a', 3, 13, 1)])
    expect(r.stateSize).toBe(0)
  })

  it('gives the window function its window, the watermark and side outputs', () => {
    const summaries = new OutputTag<string>('summaries')
    const make = () =>
      new OperatorTestHarness<Ev, number>(
        () =>
          new WindowOperator<string, Ev, readonly Ev[], number>({
            assigner: TumblingEventTimeWindows.of(10),
            trigger: EventTimeTrigger.create(),
            allowedLateness: 0,
            lateDataTag: undefined,
            contents: new BufferingContents<Ev>(),
            emit: (key, window, elements, out, ctx) => {
              ctx.output(summaries, `${key}[${ctx.window.start},${window.end}) n=${elements.length} wm=${ctx.currentWatermark()}`)
              for (const e of elements) out.collect(e.v)
            },
          }),
        { keySelector: (e) => e.key },
      )
    let h = make()
    h.processElement({ key: 'a', v: 1 }, 1).processElement({ key: 'a', v: 2 }, 4)
    h = h.snapshotAndRestore()
    h.processElement({ key: 'a', v: 3 }, 2).processWatermark(15)
    expect(h.getOutput()).toEqual([
      { value: 1, timestamp: 9 },
      { value: 2, timestamp: 9 },
      { value: 3, timestamp: 9 },
    ])
    expect(h.getSideOutput(summaries)).toEqual(['a[0,10) n=3 wm=15'])
  })

  it('keeps a reduce result per key and window', () => {
    const s: Setup<Ev> = { assigner: TumblingEventTimeWindows.of(10), contents: () => new ReducingContents<Ev>((a, b) => (b.v > a.v ? b : a)) }
    const r = runChecked(s, [el('a', 1, 4), el('a', 2, 9), el('a', 3, 7), el('b', 4, 1), wm(9)])
    expect(r.out.map((o) => [o.value.key, o.value.result.v])).toEqual([
      ['a', 9],
      ['b', 1],
    ])
    expect(r.stateSize).toBe(0)
  })
})

describe('WindowOperator: sliding event-time windows', () => {
  it('puts a record into size/slide windows and fires each one', () => {
    const r = runChecked({ assigner: SlidingEventTimeWindows.of(10, 5), contents: counting }, [el('a', 7), el('a', 12), wm(9), wm(14), wm(19)])
    expect(r.out).toEqual([row('a', 0, 10, 1), row('a', 5, 15, 2), row('a', 10, 20, 1)])
    expect(r.stateSize).toBe(0)
  })

  it('counts a record only in windows that contain it when size is not a multiple of slide', () => {
    // Flink allows SlidingEventTimeWindows.of(10, 4): a record at 3 is in [0,10) and [-4,6), not [-8,2).
    const r = runChecked({ assigner: SlidingEventTimeWindows.of(10, 4), contents: counting }, [el('a', 0), el('a', 3), wm(Number.POSITIVE_INFINITY)])
    expect(r.out).toEqual([row('a', -8, 2, 1), row('a', -4, 6, 2), row('a', 0, 10, 2)])
  })

  it('adds a record whose older windows are late only to its live windows, and does not call it late', () => {
    const late = new OutputTag<Ev>('late')
    const r = runChecked({ assigner: SlidingEventTimeWindows.of(10, 5), lateDataTag: late, contents: counting }, [wm(10), el('a', 8), wm(14)])
    expect(r.out).toEqual([row('a', 5, 15, 1)])
    expect(r.late).toEqual([])
    expect(r.dropped).toBe(0)
  })
})

describe('WindowOperator: event-time session windows', () => {
  const values = (): WindowContents<Ev, readonly Ev[]> => new BufferingContents<Ev>()
  const sorted = (r: Outcome<readonly Ev[]>) => r.out.map((o) => ({ ...o, value: { ...o.value, result: o.value.result.map((e) => e.v).sort((a, b) => a - b) } }))

  it('merges records closer than the gap and fires at the end of the session', () => {
    const r = runChecked({ assigner: EventTimeSessionWindows.withGap(10), contents: values }, [
      el('a', 0, 1),
      el('a', 5, 2), // extends [0,10) to [0,15)
      el('a', 7, 3), // extends to [0,17)
      el('a', -4, 4), // extends to the left: [-4,17)
      el('b', 3, 5),
      wm(12),
      wm(16),
    ])
    expect(sorted(r)).toEqual([row('b', 3, 13, [5]), row('a', -4, 17, [1, 2, 3, 4])])
    expect(r.stateSize).toBe(0)
  })

  it('merges a record that bridges two sessions into one', () => {
    const s: Setup<readonly Ev[]> = { assigner: EventTimeSessionWindows.withGap(10), contents: values }
    const steps = [el('a', 0, 1), el('a', 20, 2), wm(5), el('a', 10, 3), wm(28)]
    const r = runChecked(s, steps)
    expect(r.out).toEqual([])
    expect(r.stateSize).toBeGreaterThan(0)
    const fired = runChecked(s, [...steps, wm(29)])
    expect(sorted(fired)).toEqual([row('a', 0, 30, [1, 2, 3])])
    expect(fired.stateSize).toBe(0)
  })

  it('merges accumulators (AggregateFunction.merge) of bridged sessions', () => {
    const r = runChecked({ assigner: EventTimeSessionWindows.withGap(10), contents: () => new AggregatingContents(countSumAgg) }, [
      el('a', 0, 1),
      el('a', 20, 10),
      el('a', 40, 100),
      el('a', 10, 1000), // bridges [0,10) and [20,30)
      el('a', 30, 10000), // bridges [0,30) and [40,50)
      wm(Number.POSITIVE_INFINITY),
    ])
    expect(r.out).toEqual([row('a', 0, 50, { n: 5, sum: 11111 })])
    expect(r.stateSize).toBe(0)
  })

  it('fires a merged session again for a late record within allowed lateness', () => {
    const r = runChecked({ assigner: EventTimeSessionWindows.withGap(10), allowedLateness: 20, contents: () => new AggregatingContents(countSumAgg) }, [
      el('a', 0, 1),
      wm(12), // fires [0,10)
      el('a', 2, 2), // late but allowed: merges to [0,12), max 11 <= 12 → fires at once
      el('a', 8, 4), // merges to [0,18), max 17 > 12 → fires when the watermark passes 17
      wm(17),
      wm(37), // cleanup at 17 + 20
    ])
    expect(r.out).toEqual([row('a', 0, 10, { n: 1, sum: 1 }), row('a', 0, 12, { n: 2, sum: 3 }), row('a', 0, 18, { n: 3, sum: 7 })])
    expect(r.stateSize).toBe(0)
  })

  it('reads sessions stored as plain windows by earlier versions (contents under "start:end") and merges into them', () => {
    const h = harness({ assigner: EventTimeSessionWindows.withGap(10), contents: () => new AggregatingContents(countSumAgg) }).open()
    // What an earlier version left in state for key a: one session [0, 10) holding one record of value 1.
    const backend = (h as unknown as { backend: KeyedStateBackend }).backend
    backend.setCurrentKey('a')
    const sessions = backend.getValueState(new ValueStateDescriptor<TimeWindow[]>('session-windows'))
    sessions.setCurrentNamespace(VOID_NAMESPACE)
    sessions.update([{ start: 0, end: 10 }])
    const contents = backend.getValueState(new ValueStateDescriptor<CountSum>('window-contents'))
    contents.setCurrentNamespace('0:10')
    contents.update({ n: 1, sum: 1 })
    h.processElement({ key: 'a', v: 10 }, 5) // extends the stored session to [0, 15)
    h.processWatermark(14)
    expect(h.getOutput().map((o) => o.value)).toEqual([{ key: 'a', start: 0, end: 15, result: { n: 2, sum: 11 } }])
    expect(backend.size()).toBe(0)
  })

  it('keeps the CountTrigger count when a session grows (trigger state of merged windows is merged, not lost)', () => {
    // Flink: CountTrigger.onMerge merges the counts; the third record of the session fires it.
    const s: Setup<number> = { assigner: EventTimeSessionWindows.withGap(10), trigger: CountTrigger.of(3), contents: counting }
    const r = runChecked(s, [el('a', 0), el('a', 5), el('a', 7)])
    expect(r.out.map((o) => o.value)).toEqual([{ key: 'a', start: 0, end: 17, result: 3 }])
  })

  it('keeps the CountTrigger count when a record bridges two sessions', () => {
    const s: Setup<number> = { assigner: EventTimeSessionWindows.withGap(10), trigger: CountTrigger.of(3), contents: counting }
    const r = runChecked(s, [el('a', 0), el('a', 20), el('a', 10)])
    expect(r.out.map((o) => o.value)).toEqual([{ key: 'a', start: 0, end: 30, result: 3 }])
  })
})

describe('WindowOperator: global windows with CountTrigger', () => {
  it('fires every maxCount records per key and keeps the contents (no purge)', () => {
    const s: Setup<number> = { assigner: GlobalWindows.create(), trigger: CountTrigger.of(3), contents: counting }
    const steps = [...Array.from({ length: 7 }, (_, i) => el('a', i)), el('b', 1), el('b', 2), el('b', 3), wm(Number.POSITIVE_INFINITY)]
    const r = runChecked(s, steps)
    const inf = Number.POSITIVE_INFINITY
    expect(r.out).toEqual([row('a', -inf, inf, 3, inf), row('a', -inf, inf, 6, inf), row('b', -inf, inf, 3, inf)])
    expect(r.stateSize).toBeGreaterThan(0) // global windows are never cleaned up
  })

  it('with PurgingTrigger starts every count from zero and leaves no state behind on a full count', () => {
    const s: Setup<number> = { assigner: GlobalWindows.create(), trigger: PurgingTrigger.of(CountTrigger.of(3)), contents: counting }
    const r = runChecked(s, [...Array.from({ length: 6 }, (_, i) => el('a', undefined, i)), el('b', undefined), el('b', undefined), el('b', undefined)])
    expect(r.out.map((o) => [o.value.key, o.value.result])).toEqual([
      ['a', 3],
      ['a', 3],
      ['b', 3],
    ])
    expect(r.stateSize).toBe(0)
  })

  it('never fires with its default trigger', () => {
    const r = runChecked({ assigner: GlobalWindows.create(), contents: counting }, [el('a', 1), el('a', 2), wm(Number.POSITIVE_INFINITY)])
    expect(r.out).toEqual([])
  })
})

describe('WindowOperator: processing-time tumbling windows', () => {
  it('assigns by the processing-time clock and fires when the clock passes the window end', () => {
    const s: Setup<number> = { assigner: TumblingProcessingTimeWindows.of(10), trigger: ProcessingTimeTrigger.create(), contents: counting }
    const steps = [pt(3), el('a', undefined), el('b', undefined), el('a', 500), pt(8)]
    expect(runChecked(s, steps).out).toEqual([])
    const r = runChecked(s, [...steps, pt(9), pt(12), el('a', undefined), pt(15), pt(19)])
    expect(r.out).toEqual([row('a', 0, 10, 2), row('b', 0, 10, 1), row('a', 10, 20, 1)])
    expect(r.stateSize).toBe(0)
  })

  it('ignores watermarks', () => {
    const s: Setup<number> = { assigner: TumblingProcessingTimeWindows.of(10), contents: counting }
    const r = runChecked(s, [el('a', undefined), wm(Number.POSITIVE_INFINITY), pt(5)])
    expect(r.out).toEqual([])
    expect(runChecked(s, [el('a', undefined), wm(Number.POSITIVE_INFINITY), pt(9)]).out).toEqual([row('a', 0, 10, 1)])
  })
})

describe('WindowOperator: triggers', () => {
  it('PurgingTrigger clears the contents on every firing, so late firings only see new records', () => {
    const steps = [el('a', 1), el('a', 2), wm(9), el('a', 3), wm(12), el('a', 4), wm(20)]
    const purging = runChecked(
      { assigner: TumblingEventTimeWindows.of(10), trigger: PurgingTrigger.of(EventTimeTrigger.create()), allowedLateness: 10, contents: counting },
      steps,
    )
    expect(purging.out.map((o) => o.value.result)).toEqual([2, 1, 1])
    expect(purging.stateSize).toBe(0)
    const accumulating = runChecked({ assigner: TumblingEventTimeWindows.of(10), allowedLateness: 10, contents: counting }, steps)
    expect(accumulating.out.map((o) => o.value.result)).toEqual([2, 3, 4])
    expect(accumulating.stateSize).toBe(0)
  })

  /** Fires early on each record with v >= 100, and at the end of the window. */
  class EarlyOnBigTrigger implements Trigger<Ev> {
    onElement(e: Ev, _ts: number, w: TimeWindow, ctx: TriggerContext): TriggerResult {
      ctx.registerEventTimeTimer(maxTimestamp(w))
      return e.v >= 100 ? 'FIRE' : 'CONTINUE'
    }
    onEventTime(time: number, w: TimeWindow): TriggerResult {
      return time === maxTimestamp(w) ? 'FIRE' : 'CONTINUE'
    }
    onProcessingTime(): TriggerResult {
      return 'CONTINUE'
    }
    clear(w: TimeWindow, ctx: TriggerContext): void {
      ctx.deleteEventTimeTimer(maxTimestamp(w))
    }
  }

  it('runs a custom trigger: early firings and the final firing', () => {
    const r = runChecked({ assigner: TumblingEventTimeWindows.of(10), trigger: new EarlyOnBigTrigger(), contents: counting }, [
      el('a', 1, 5),
      el('a', 2, 100),
      el('a', 3, 1),
      el('b', 4, 200),
      wm(9),
    ])
    expect(r.out).toEqual([row('a', 0, 10, 2), row('b', 0, 10, 1), row('a', 0, 10, 3), row('b', 0, 10, 1)])
    expect(r.stateSize).toBe(0)
  })

  /** Registers the end-of-window timer only once the window holds `min` records. */
  class MinCountTrigger implements Trigger<Ev> {
    private readonly count = new ValueStateDescriptor<number>('min-count')
    constructor(private readonly min: number) {}
    onElement(_e: Ev, _ts: number, w: TimeWindow, ctx: TriggerContext): TriggerResult {
      const state = ctx.getPartitionedState(this.count)
      const n = (state.value() ?? 0) + 1
      state.update(n)
      if (n === this.min) ctx.registerEventTimeTimer(maxTimestamp(w))
      return 'CONTINUE'
    }
    onEventTime(time: number, w: TimeWindow): TriggerResult {
      return time === maxTimestamp(w) ? 'FIRE' : 'CONTINUE'
    }
    onProcessingTime(): TriggerResult {
      return 'CONTINUE'
    }
    clear(w: TimeWindow, ctx: TriggerContext): void {
      ctx.getPartitionedState(this.count).clear()
      ctx.deleteEventTimeTimer(maxTimestamp(w))
    }
  }

  it('honours a timer a custom trigger registers on a later record of the window', () => {
    // Flink's TriggerContext.registerEventTimeTimer always registers; the window fires at 9 with 2.
    const r = runChecked({ assigner: TumblingEventTimeWindows.of(10), trigger: new MinCountTrigger(2), allowedLateness: 5, contents: counting }, [
      el('a', 1),
      el('b', 1),
      el('a', 2),
      wm(20),
    ])
    expect(r.out).toEqual([row('a', 0, 10, 2)])
    expect(r.stateSize).toBe(0)
  })

  /** Fires (final) on a record with v < 0 and cancels its end-of-window timer. */
  class CancelOnNegativeTrigger implements Trigger<Ev> {
    onElement(e: Ev, _ts: number, w: TimeWindow, ctx: TriggerContext): TriggerResult {
      if (e.v < 0) {
        ctx.deleteEventTimeTimer(maxTimestamp(w))
        return 'FIRE'
      }
      ctx.registerEventTimeTimer(maxTimestamp(w))
      return 'CONTINUE'
    }
    onEventTime(): TriggerResult {
      return 'CONTINUE'
    }
    onProcessingTime(): TriggerResult {
      return 'CONTINUE'
    }
    clear(w: TimeWindow, ctx: TriggerContext): void {
      ctx.deleteEventTimeTimer(maxTimestamp(w))
    }
  }

  it('still cleans a window up after its trigger deleted a timer at the cleanup time', () => {
    // Flink re-registers the cleanup timer after every onElement, so the state goes at maxTimestamp.
    const r = runChecked({ assigner: TumblingEventTimeWindows.of(10), trigger: new CancelOnNegativeTrigger(), contents: counting }, [
      el('a', 1, 1),
      el('a', 2, -1),
      wm(20),
    ])
    expect(r.out).toEqual([row('a', 0, 10, 2)])
    expect(r.stateSize).toBe(0)
  })

  it('refuses a trigger that cannot merge on session windows', () => {
    const h = harness({ assigner: EventTimeSessionWindows.withGap(10), trigger: new CancelOnNegativeTrigger(), contents: counting })
    expect(thrown(() => h.open()).code).toBe('FLX_INVALID_WINDOW')
  })
})

describe('WindowOperator: allowed lateness, late data, cleanup', () => {
  const late = new OutputTag<Ev>('late')

  it('fires again for each late record within allowed lateness and cleans up at maxTimestamp + lateness', () => {
    const s: Setup<number> = { assigner: TumblingEventTimeWindows.of(10), allowedLateness: 5, lateDataTag: late, contents: counting }
    const steps = [el('a', 1), el('a', 2), wm(9), el('a', 5), wm(12), el('a', 8), wm(13)]
    const r = runChecked(s, steps)
    expect(r.out).toEqual([row('a', 0, 10, 2), row('a', 0, 10, 3), row('a', 0, 10, 4)])
    expect(r.stateSize).toBeGreaterThan(0) // 13 < 9 + 5
    const cleaned = runChecked(s, [...steps, wm(14), el('a', 7, 1, 70)])
    expect(cleaned.out).toHaveLength(3)
    expect(cleaned.stateSize).toBe(0)
    expect(cleaned.late).toEqual([{ key: 'a', v: 1, id: 70 }])
  })

  it('creates and fires at once a window whose first record is late but within allowed lateness', () => {
    const r = runChecked({ assigner: TumblingEventTimeWindows.of(10), allowedLateness: 5, contents: counting }, [wm(12), el('a', 4), wm(13), wm(14)])
    expect(r.out).toEqual([row('a', 0, 10, 1)])
    expect(r.stateSize).toBe(0)
  })

  it('sends records behind the watermark (timestamp + lateness <= watermark) to the late side output with their timestamp', () => {
    const h = harness({ assigner: TumblingEventTimeWindows.of(10), lateDataTag: late, contents: counting })
    h.processElement({ key: 'a', v: 1 }, 1).processWatermark(10)
    const h2 = h.snapshotAndRestore().processWatermark(10)
    h2.processElement({ key: 'a', v: 2 }, 5).processElement({ key: 'a', v: 3 }, 10)
    expect(h2.getSideOutput(late)).toEqual([{ key: 'a', v: 2 }])
    expect((h2.operator as Op<number>).numLateRecordsDropped).toBe(0)
    h2.processWatermark(19)
    expect(h2.extractOutputValues()).toEqual([
      { key: 'a', start: 0, end: 10, result: 1 },
      { key: 'a', start: 10, end: 20, result: 1 },
    ])
    expect(h2.stateSize()).toBe(0)
  })

  it('drops late records without a late-data tag and counts them in numLateRecordsDropped', () => {
    const r = runChecked({ assigner: TumblingEventTimeWindows.of(10), allowedLateness: 3, contents: counting }, [
      el('a', 1),
      wm(12),
      el('a', 9), // 9 + 3 <= 12: late
      el('a', 9), // late again
      el('b', 10), // window [10,20) is open
      el('b', -100), // late
      wm(19),
    ])
    expect(r.dropped).toBe(3)
    expect(r.out).toEqual([row('a', 0, 10, 1), row('b', 10, 20, 1)])
  })

  it('drops records of a late session window as late', () => {
    const r = runChecked({ assigner: EventTimeSessionWindows.withGap(5), lateDataTag: late, contents: counting }, [
      el('a', 20),
      wm(30),
      el('a', 1, 1, 1), // [1,6) is late
      el('a', 26, 1, 2), // [26,31): cleanup time 30 <= 30, late too
      el('a', 27, 1, 3), // [27,32) is live
      wm(40),
    ])
    expect(r.late).toEqual([
      { key: 'a', v: 1, id: 1 },
      { key: 'a', v: 1, id: 2 },
    ])
    expect(r.out).toEqual([row('a', 20, 25, 1), row('a', 27, 32, 1)])
    expect(r.stateSize).toBe(0)
  })
})

describe('WindowOperator: errors', () => {
  it('fails with FLX_MISSING_TIMESTAMP on a record without timestamp under an event-time assigner', () => {
    for (const assigner of [TumblingEventTimeWindows.of(10), SlidingEventTimeWindows.of(10, 5), EventTimeSessionWindows.withGap(5)]) {
      const h = harness({ assigner, contents: counting, name: 'win' })
      const e = thrown(() => h.processElement({ key: 'k', v: 1 }))
      expect(e.code).toBe('FLX_MISSING_TIMESTAMP')
      expect(e.operator).toBe('win')
      expect(e.message).toMatch(/withTimestampAssigner/)
    }
  })

  it('wraps a throwing window function in FLX_USER_FUNCTION_FAILED naming the operator and the key', () => {
    let h = new OperatorTestHarness<Ev, number>(
      () =>
        new WindowOperator<string, Ev, number, number>({
          assigner: TumblingEventTimeWindows.of(10),
          trigger: EventTimeTrigger.create(),
          allowedLateness: 0,
          lateDataTag: undefined,
          contents: new AggregatingContents(countAgg),
          emit: (key, _w, r, out) => {
            if (key === 'bad') throw new Error('boom')
            out.collect(r)
          },
        }),
      { keySelector: (e) => e.key, name: 'per-user-counts' },
    )
    h.processElement({ key: 'good', v: 1 }, 1).processElement({ key: 'bad', v: 1 }, 2)
    h = h.snapshotAndRestore()
    const e = thrown(() => h.processWatermark(10))
    expect(e.code).toBe('FLX_USER_FUNCTION_FAILED')
    expect(e.domain).toBe('user')
    expect(e.operator).toBe('per-user-counts')
    expect(e.key).toBe('bad')
    expect(e.message).toContain('per-user-counts')
    expect(e.message).toContain('"bad"')
    expect((e.cause as Error).message).toBe('boom')
    expect(h.extractOutputValues()).toEqual([1])
  })

  it('wraps a throwing AggregateFunction.add with the key of the record', () => {
    const agg: AggregateFunction<Ev, number, number> = { ...countAgg, add: (e, acc) => (e.v < 0 ? JSON.parse('{') : acc + 1) }
    let h = harness({ assigner: TumblingEventTimeWindows.of(10), contents: () => new AggregatingContents(agg), name: 'agg' })
    h.processElement({ key: 'x', v: 1 }, 1)
    h = h.snapshotAndRestore()
    const e = thrown(() => h.processElement({ key: 'y', v: -1 }, 1))
    expect(e.code).toBe('FLX_USER_FUNCTION_FAILED')
    expect(e.key).toBe('y')
    expect(e.operator).toBe('agg')
    expect(e.cause).toBeInstanceOf(SyntaxError)
  })
})

// --- properties against a reference model ---------------------------------------------------

/** Flink's semantics for event-time session windows with EventTimeTrigger, written plainly. */
function modelSessions(steps: readonly Step[], gap: number, lateness: number, withTag: boolean): ModelOutcome {
  let watermark = Number.NEGATIVE_INFINITY
  let sessions: ModelWindow[] = []
  const res: ModelOutcome = { out: [], late: [], dropped: 0 }
  for (const step of steps) {
    if ('el' in step) {
      const ts = step.ts!
      const { key, v } = step.el
      const touching = sessions.filter((s) => s.key === key && s.start <= ts + gap && s.end >= ts)
      if (touching.length === 0 && ts + gap - 1 + lateness <= watermark) {
        if (withTag) res.late.push(step.el)
        else res.dropped++
        continue
      }
      const merged: ModelWindow = {
        key,
        start: Math.min(ts, ...touching.map((s) => s.start)),
        end: Math.max(ts + gap, ...touching.map((s) => s.end)),
        n: 1 + touching.reduce((a, s) => a + s.n, 0),
        sum: v + touching.reduce((a, s) => a + s.sum, 0),
      }
      sessions = [...sessions.filter((s) => !touching.includes(s)), merged]
      if (merged.end - 1 <= watermark) res.out.push(emitRow(merged))
    } else if ('wm' in step) {
      for (const s of sessions) if (s.end - 1 > watermark && s.end - 1 <= step.wm) res.out.push(emitRow(s))
      sessions = sessions.filter((s) => s.end - 1 + lateness > step.wm)
      watermark = step.wm
    }
  }
  return res
}

function checkAgainstModel(s: Setup<CountSum>, steps: Step[], model: ModelOutcome): void {
  const plain = run(s, steps.filter((st) => !('restore' in st)))
  const restored = run(s, steps)
  for (const got of [plain, restored]) {
    expect([...got.out].sort(byContent)).toEqual([...model.out].sort(byContent))
    expect(got.late).toEqual(model.late)
    expect(got.dropped).toBe(model.dropped)
    expect(got.stateSize).toBe(0)
  }
  expect(restored.out).toEqual(plain.out)
}

describe('WindowOperator: properties', () => {
  it('tumbling and sliding (size a multiple of slide) windows equal the model, with and without restores at random points', () => {
    fc.assert(
      fc.property(fixedWindowConfig, rawSteps, (c, raw) => {
        const offset = Math.trunc(c.offsetFrac * c.slide)
        const size = c.slide * c.k
        const assigner = c.k === 1 ? TumblingEventTimeWindows.of(size, offset) : SlidingEventTimeWindows.of(size, c.slide, offset)
        const windowsOf = fixedWindowsOf(size, c.slide, offset)
        const tag = c.withTag ? new OutputTag<Ev>('late') : undefined
        const steps = concretise(raw)
        const s: Setup<CountSum> = { assigner, allowedLateness: c.lateness, lateDataTag: tag, contents: () => new AggregatingContents(countSumAgg) }
        checkAgainstModel(s, steps, modelFixedWindows(steps, windowsOf, c.lateness, c.withTag))
      }),
      { numRuns: 150 },
    )
  })

  it('session windows (merging, bridging, late firings) equal the model, with and without restores at random points', () => {
    const config = fc.record({ gap: fc.integer({ min: 1, max: 20 }), lateness: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 30 })), withTag: fc.boolean() })
    fc.assert(
      fc.property(config, rawSteps, (c, raw) => {
        const tag = c.withTag ? new OutputTag<Ev>('late') : undefined
        const steps = concretise(raw)
        const s: Setup<CountSum> = {
          assigner: EventTimeSessionWindows.withGap(c.gap),
          allowedLateness: c.lateness,
          lateDataTag: tag,
          contents: () => new AggregatingContents(countSumAgg),
        }
        checkAgainstModel(s, steps, modelSessions(steps, c.gap, c.lateness, c.withTag))
      }),
      { numRuns: 150 },
    )
  })

  it('global windows with PurgingTrigger(CountTrigger) emit one result per full count, with and without restores', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), rawSteps, (count, raw) => {
        const steps = concretise(raw)
        const s: Setup<CountSum> = { assigner: GlobalWindows.create(), trigger: PurgingTrigger.of(CountTrigger.of(count)), contents: () => new AggregatingContents(countSumAgg) }
        const plain = run(s, steps.filter((st) => !('restore' in st)))
        const restored = run(s, steps)
        expect(restored).toEqual(plain)
        // Model: per key, consecutive groups of `count` records.
        const pending = new Map<string, Ev[]>()
        const expected: [string, number, number][] = []
        for (const st of steps) {
          if (!('el' in st)) continue
          const list = pending.get(st.el.key) ?? []
          list.push(st.el)
          if (list.length === count) {
            expected.push([st.el.key, count, list.reduce((a, e) => a + e.v, 0)])
            pending.delete(st.el.key)
          } else pending.set(st.el.key, list)
        }
        expect(plain.out.map((o) => [o.value.key, o.value.result.n, o.value.result.sum])).toEqual(expected)
      }),
      { numRuns: 100 },
    )
  })
})
