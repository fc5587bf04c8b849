/**
 * Property 6: inputs that finish early (or never have data) do not hold back the watermark.
 *
 * A union of the main stream (fromCollection) with a parallel `fromGenerator` source of 2..8
 * subtasks, some of which get no record at all and finish at once (a finished subtask emits the
 * final +Infinity watermark), feeds keyed tumbling windows at parallelism 1..8.
 *
 * (a) No record is late (bounds cover each source's disorder): the result must be exactly the
 *     model: every (key, window) fires once with all its records, and the late output is empty.
 *     The generator source also uses `withIdleness` on a ManualClock that never moves, so the
 *     idleness wrapper is exercised deterministically.
 * (b) With lateness-prone bounds, which records are late depends on how the sources interleave,
 *     so the check is an invariant instead: every record is accounted for exactly once (counted
 *     in the single firing of its window, or in the late output), and a main-stream record is
 *     late only if it is late against the main stream's own watermarks (the union's watermark is
 *     the minimum over its inputs, so it can never be ahead of the main stream's). Here the
 *     generator sometimes uses `withIdleness` on the system clock, so a subtask may really go idle.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ManualClock, OutputTag, StreamExecutionEnvironment, TumblingEventTimeWindows } from '../../index.ts'
import { envArb, eventsArb, lengthArb, unitArb, wmSpecArb } from './generators.ts'
import { plain, RUNS, strategyFor, type Row } from './harness.ts'
import {
  canonical,
  countSumAgg,
  maxDisorder,
  modelWindows,
  tumblingWindows,
  watermarksBefore,
  windowStart,
  type CountSum,
  type Ev,
  type WmSpec,
} from './reference.ts'

interface Scenario {
  env: { parallelism: number; batchSize: number }
  main: Ev[]
  gen: Ev[]
  genParallelism: number
  mainWm: WmSpec
  genWm: WmSpec
  size: number
  idleMs: number
}

function scenarioArb(noLate: boolean): fc.Arbitrary<Scenario> {
  return fc.tuple(unitArb, envArb).chain(([unit, env]) =>
    fc
      .record({
        main: eventsArb({ unit, maxEvents: 40 }),
        // fewer records than subtasks half of the time, so some subtasks get none
        gen: eventsArb({ unit, maxEvents: 12, idBase: 10_000 }),
        genParallelism: fc.integer({ min: 2, max: 8 }),
        size: lengthArb(unit, 30),
        idleMs: fc.integer({ min: 1, max: 50 }),
        wmA: wmSpecArb(unit, env.batchSize),
        wmB: wmSpecArb(unit, env.batchSize),
        extra: fc.integer({ min: 0, max: 3 * unit }),
      })
      .map(({ main, gen, genParallelism, size, idleMs, wmA, wmB, extra }) => {
        const cover = (spec: WmSpec, evs: Ev[]): WmSpec => ({ ...spec, bound: maxDisorder(evs.map((e) => e.ts)) + extra })
        return {
          env,
          main,
          gen,
          genParallelism,
          size,
          idleMs,
          mainWm: noLate ? cover(wmA, main) : wmA,
          // a generator subtask sees a subsequence of `gen`: its disorder is at most gen's
          genWm: noLate ? cover(wmB, gen) : wmB,
        }
      }),
  )
}

/** `manualClock`: a ManualClock that never moves (idleness never triggers); else the system clock. */
async function run(sc: Scenario, withIdleness: boolean, manualClock: boolean): Promise<[Row<CountSum>[], Ev[]]> {
  const env = StreamExecutionEnvironment.create({
    parallelism: sc.env.parallelism,
    batchSize: sc.env.batchSize,
    ...(manualClock ? { clock: new ManualClock(0) } : {}),
  })
  const late = new OutputTag<Ev>('late')
  const genStrategy = withIdleness ? strategyFor(sc.genWm).withIdleness(sc.idleMs) : strategyFor(sc.genWm)
  const gen = env.fromGenerator((i) => sc.gen[i]!, { count: sc.gen.length }, genStrategy).setParallelism(sc.genParallelism)
  const main = env
    .fromCollection([...sc.main], strategyFor(sc.mainWm))
    .union(gen)
    .keyBy((e) => e.key)
    .window(TumblingEventTimeWindows.of(sc.size))
    .allowedLateness(0)
    .sideOutputLateData(late)
    .aggregate(
      {
        createAccumulator: (): CountSum => ({ count: 0, sum: 0 }),
        add: (e: Ev, acc: CountSum): CountSum => ({ count: acc.count + 1, sum: acc.sum + e.v }),
        getResult: (acc: CountSum): CountSum => ({ count: acc.count, sum: acc.sum }),
        merge: (a: CountSum, b: CountSum): CountSum => ({ count: a.count + b.count, sum: a.sum + b.sum }),
      },
      (key: string, w: { start: number; end: number }, result: CountSum): Row<CountSum> => ({ key, start: w.start, end: w.end, result }),
    )
  const [rows, lateRows] = await env.executeAndCollect(main, main.getSideOutput(late))
  return [plain(rows), plain(lateRows)]
}

describe('finished and empty source subtasks', () => {
  it('(a) no late data: the union with a partly empty parallel generator equals the model', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb(true), async (sc) => {
        const [rows, lateRows] = await run(sc, true, true)
        const all = [...sc.main, ...sc.gen]
        // nothing is late, so arrival order does not matter: evaluate with watermark -Infinity
        const model = modelWindows(
          all,
          all.map(() => Number.NEGATIVE_INFINITY),
          tumblingWindows(sc.size),
          0,
          countSumAgg,
        )
        expect(canonical(rows)).toEqual(canonical(model.fired))
        expect(lateRows).toEqual([])
      }),
      { numRuns: RUNS },
    )
  })

  it('(b) lateness-prone bounds: every record is counted once or late, never more, never lost', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb(false), fc.boolean(), async (sc, idle) => {
        const [rows, lateRows] = await run(sc, idle, false)
        const all = [...sc.main, ...sc.gen]
        const winId = (key: string, ts: number) => `${key}|${windowStart(ts, sc.size)}`

        // late records are distinct input records
        const lateIds = lateRows.map((e) => e.id)
        expect(new Set(lateIds).size).toBe(lateIds.length)
        const byId = new Map(all.map((e) => [e.id, e]))
        for (const e of lateRows) expect(byId.get(e.id)).toEqual(e)

        // each (key, window) fires at most once (allowed lateness 0) ...
        const firings = new Map<string, Row<CountSum>>()
        for (const r of rows) {
          expect(r.end - r.start).toBe(sc.size)
          const id = `${r.key}|${r.start}`
          expect(firings.has(id), `window ${id} fired twice`).toBe(false)
          firings.set(id, r)
        }
        // ... with exactly the records of that window that were not late
        const expected = new Map<string, CountSum>()
        const lateSet = new Set(lateIds)
        for (const e of all) {
          if (lateSet.has(e.id)) continue
          const id = winId(e.key, e.ts)
          const acc = expected.get(id) ?? { count: 0, sum: 0 }
          expected.set(id, { count: acc.count + 1, sum: acc.sum + e.v })
        }
        expect(new Map([...firings].map(([id, r]) => [id, r.result]))).toEqual(expected)

        // the union's watermark is never ahead of the main stream's own
        const mainModel = modelWindows(
          sc.main,
          watermarksBefore(
            sc.main.map((e) => e.ts),
            sc.mainWm,
          ),
          tumblingWindows(sc.size),
          0,
          countSumAgg,
        )
        const mainLateOwn = new Set(mainModel.late.map((e) => e.id))
        for (const e of lateRows) if (e.id < 10_000) expect(mainLateOwn.has(e.id), `main record ${e.id} late too early`).toBe(true)
      }),
      { numRuns: RUNS },
    )
  })
})
