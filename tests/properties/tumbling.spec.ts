/**
 * Property 1: tumbling event-time windows (aggregate and reduce) under disorder, allowed lateness
 * and a late side output equal the reference model, at any parallelism 1..8 and batch size.
 */
import fc from 'fast-check'
import { describe, it } from 'vitest'
import { TumblingEventTimeWindows } from '../../index.ts'
import { lengthArb, windowScenarioArb } from './generators.ts'
import { checkNonMerging, RUNS } from './harness.ts'
import { tumblingWindows } from './reference.ts'

const scenarios = windowScenarioArb((unit) => lengthArb(unit, 30))
/** longer streams: more late firings, more keys per subtask, more backpressure at small batches */
const longScenarios = windowScenarioArb((unit) => lengthArb(unit, 30), 200)
/** with an offset, -size < offset < size */
const offsetScenarios = windowScenarioArb((unit) =>
  lengthArb(unit, 30).chain((size) => fc.integer({ min: -(size - 1), max: size - 1 }).map((offset) => ({ size, offset }))),
)

describe('tumbling event-time windows', () => {
  it('aggregate (count, sum): every firing and every late record match the model', async () => {
    await fc.assert(
      fc.asyncProperty(scenarios, async (sc) => {
        await checkNonMerging(sc, TumblingEventTimeWindows.of(sc.params), tumblingWindows(sc.params), 'aggregate')
      }),
      { numRuns: RUNS },
    )
  })

  it('reduce (sum, max ts, min id): every firing and every late record match the model', async () => {
    await fc.assert(
      fc.asyncProperty(scenarios, async (sc) => {
        await checkNonMerging(sc, TumblingEventTimeWindows.of(sc.params), tumblingWindows(sc.params), 'reduce')
      }),
      { numRuns: RUNS },
    )
  })

  it('aggregate with a window offset matches the model', async () => {
    await fc.assert(
      fc.asyncProperty(offsetScenarios, async (sc) => {
        const { size, offset } = sc.params
        await checkNonMerging(sc, TumblingEventTimeWindows.of(size, offset), tumblingWindows(size, offset), 'aggregate')
      }),
      { numRuns: RUNS },
    )
  })

  it('long streams (up to 200 records): aggregate matches the model', async () => {
    await fc.assert(
      fc.asyncProperty(longScenarios, async (sc) => {
        await checkNonMerging(sc, TumblingEventTimeWindows.of(sc.params), tumblingWindows(sc.params), 'aggregate')
      }),
      { numRuns: Math.ceil(RUNS * 0.75) },
    )
  })
})
