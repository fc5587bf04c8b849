/**
 * Glue between the generated scenarios and the engine's public API (index.ts only).
 */
import { expect } from 'vitest'
import { EventTimeSessionWindows, OutputTag, StreamExecutionEnvironment, WatermarkStrategy } from '../../index.ts'
import {
  canonical,
  countSumAgg,
  modelSessions,
  modelWindows,
  reduceAgg,
  reduceEv,
  reduceResult,
  watermarksBefore,
  type CountSum,
  type Ev,
  type Win,
  type WindowModelResult,
  type WmSpec,
} from './reference.ts'
import type { EnvSettings } from './generators.ts'

/** Runs per property: enough to find bugs, small enough for the folder to run in < 60 s. */
export const RUNS = Number(process.env.FLUXION_PROP_RUNS ?? 50)

export function makeEnv(s: EnvSettings) {
  return StreamExecutionEnvironment.create({ parallelism: s.parallelism, batchSize: s.batchSize })
}

/** The engine strategy described by a WmSpec (timestamps from `e.ts`). */
export function strategyFor(spec: WmSpec) {
  if (spec.kind === 'periodic') {
    return WatermarkStrategy.forBoundedOutOfOrderness<Ev>(spec.bound).withTimestampAssigner((e) => e.ts)
  }
  const bound = spec.bound
  return WatermarkStrategy.forGenerator<Ev>(() => {
    let max = Number.NEGATIVE_INFINITY
    return {
      onEvent(_e: Ev, ts: number, out: { emitWatermark(ts: number): void }) {
        max = Math.max(max, ts)
        out.emitWatermark(max - bound - 1)
      },
      onPeriodicEmit() {},
    }
  }).withTimestampAssigner((e) => e.ts)
}

/** Plain copies, so results compare by value whatever the engine attaches to objects. */
export function plain<T>(rows: readonly T[]): T[] {
  return rows.map((r) => JSON.parse(JSON.stringify(r)) as T)
}

export interface Row<R> {
  key: string
  start: number
  end: number
  result: R
}

/**
 * keyBy(key) -> window(assigner) -> allowedLateness -> sideOutputLateData -> aggregate(count+sum)
 * or reduce(reduceEv); returns [firings, late records].
 */
export async function runWindowed(
  env: EnvSettings,
  wm: WmSpec,
  events: readonly Ev[],
  assigner: any,
  lateness: number,
  fn: 'aggregate' | 'reduce',
): Promise<[Row<unknown>[], Ev[]]> {
  const e = makeEnv(env)
  const late = new OutputTag<Ev>('late')
  const windowed = e
    .fromCollection([...events], strategyFor(wm))
    .keyBy((x: Ev) => x.key)
    .window(assigner)
    .allowedLateness(lateness)
    .sideOutputLateData(late)
  const main =
    fn === 'aggregate'
      ? windowed.aggregate(
          {
            createAccumulator: (): CountSum => ({ count: 0, sum: 0 }),
            add: (x: Ev, acc: CountSum): CountSum => ({ count: acc.count + 1, sum: acc.sum + x.v }),
            getResult: (acc: CountSum): CountSum => ({ count: acc.count, sum: acc.sum }),
            merge: (a: CountSum, b: CountSum): CountSum => ({ count: a.count + b.count, sum: a.sum + b.sum }),
          },
          (key: string, w: { start: number; end: number }, result: CountSum): Row<unknown> => ({ key, start: w.start, end: w.end, result }),
        )
      : windowed.reduce(reduceEv, (key: string, w: { start: number; end: number }, r: Ev): Row<unknown> => ({
          key,
          start: w.start,
          end: w.end,
          result: reduceResult(r),
        }))
  const [rows, lateRows] = await e.executeAndCollect(main, main.getSideOutput(late))
  return [plain(rows as Row<unknown>[]), plain(lateRows as Ev[])]
}

/**
 * Runs the engine and the non-merging window model on one scenario and compares the multisets of
 * firings and of late records.
 */
export async function checkNonMerging(
  sc: { env: EnvSettings; wm: WmSpec; events: Ev[]; lateness: number },
  assigner: any,
  assign: (ts: number) => Win[],
  fn: 'aggregate' | 'reduce',
): Promise<void> {
  const [rows, lateRows] = await runWindowed(sc.env, sc.wm, sc.events, assigner, sc.lateness, fn)
  const wmBefore = watermarksBefore(
    sc.events.map((e) => e.ts),
    sc.wm,
  )
  const model: WindowModelResult<unknown> =
    fn === 'aggregate'
      ? modelWindows(sc.events, wmBefore, assign, sc.lateness, countSumAgg)
      : modelWindows(sc.events, wmBefore, assign, sc.lateness, reduceAgg)
  expect(canonical(rows)).toEqual(canonical(model.fired))
  expect(canonical(lateRows)).toEqual(canonical(model.late))
}

/** Same for session windows (merging). */
export async function checkSessions(
  sc: { env: EnvSettings; wm: WmSpec; events: Ev[]; lateness: number },
  gap: number,
  fn: 'aggregate' | 'reduce',
): Promise<void> {
  const [rows, lateRows] = await runWindowed(sc.env, sc.wm, sc.events, EventTimeSessionWindows.withGap(gap), sc.lateness, fn)
  const wmBefore = watermarksBefore(
    sc.events.map((e) => e.ts),
    sc.wm,
  )
  const model: WindowModelResult<unknown> =
    fn === 'aggregate'
      ? modelSessions(sc.events, wmBefore, gap, sc.lateness, countSumAgg)
      : modelSessions(sc.events, wmBefore, gap, sc.lateness, reduceAgg)
  expect(canonical(rows)).toEqual(canonical(model.fired))
  expect(canonical(lateRows)).toEqual(canonical(model.late))
}
