/**
 * Property 4: a tumbling-window join `a.join(b).where(ka).equalTo(kb).window(...).apply(fn)`
 * emits, for each key and window, exactly the cross product of both sides (each pair once), at any
 * parallelism 1..8 and batch size. Watermark bounds cover each side's disorder, so nothing is late.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SlidingEventTimeWindows, TumblingEventTimeWindows } from '../../index.ts'
import { joinScenarioArb, lengthArb } from './generators.ts'
import { makeEnv, plain, RUNS, strategyFor } from './harness.ts'
import { canonical, modelWindowJoin, modelWindowJoinWith, slidingWindows, type Ev, type JoinRow } from './reference.ts'

describe('tumbling window join', () => {
  it('equals the per-key, per-window cross product', async () => {
    await fc.assert(
      fc.asyncProperty(
        joinScenarioArb((unit) => lengthArb(unit, 30)),
        async (sc) => {
          const env = makeEnv(sc.env)
          const a = env.fromCollection([...sc.left], strategyFor(sc.leftWm))
          const b = env.fromCollection([...sc.right], strategyFor(sc.rightWm))
          const joined = a
            .join(b)
            .where((x: Ev) => x.key)
            .equalTo((y: Ev) => y.key)
            .window(TumblingEventTimeWindows.of(sc.params))
            .apply((x: Ev, y: Ev): JoinRow => ({ key: x.key, a: x.id, b: y.id }))
          const [rows] = await env.executeAndCollect(joined)
          expect(canonical(plain(rows as JoinRow[]))).toEqual(canonical(modelWindowJoin(sc.left, sc.right, sc.params)))
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('sliding windows: each pair is emitted once per window holding both records', async () => {
    const params = (unit: number) =>
      fc
        .tuple(lengthArb(unit, 10), fc.integer({ min: 100, max: 400 }))
        .map(([slide, pct]) => ({ size: Math.floor((slide * pct) / 100), slide }))
    await fc.assert(
      fc.asyncProperty(joinScenarioArb(params), async (sc) => {
        const { size, slide } = sc.params
        const env = makeEnv(sc.env)
        const a = env.fromCollection([...sc.left], strategyFor(sc.leftWm))
        const b = env.fromCollection([...sc.right], strategyFor(sc.rightWm))
        const joined = a
          .join(b)
          .where((x: Ev) => x.key)
          .equalTo((y: Ev) => y.key)
          .window(SlidingEventTimeWindows.of(size, slide))
          .apply((x: Ev, y: Ev): JoinRow => ({ key: x.key, a: x.id, b: y.id }))
        const [rows] = await env.executeAndCollect(joined)
        expect(canonical(plain(rows))).toEqual(canonical(modelWindowJoinWith(sc.left, sc.right, slidingWindows(size, slide))))
      }),
      { numRuns: RUNS },
    )
  })
})
