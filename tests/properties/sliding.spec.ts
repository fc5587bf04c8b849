/**
 * Property 2: sliding event-time windows (size a multiple of the slide, and not), aggregate and
 * reduce, under disorder, allowed lateness and a late side output, equal the reference model at
 * any parallelism 1..8 and batch size.
 */
import fc from 'fast-check'
import { describe, it } from 'vitest'
import { SlidingEventTimeWindows } from '../../index.ts'
import { lengthArb, windowScenarioArb } from './generators.ts'
import { checkNonMerging, RUNS } from './harness.ts'
import { slidingWindows } from './reference.ts'

/** size = k * slide */
const multiple = windowScenarioArb((unit) =>
  fc.tuple(lengthArb(unit, 10), fc.integer({ min: 1, max: 5 })).map(([slide, k]) => ({ size: slide * k, slide })),
)
/** slide < size, size not a multiple of slide (at most ~8 windows per record) */
const notMultiple = windowScenarioArb((unit) =>
  lengthArb(unit, 30)
    .filter((size) => size >= 3)
    .chain((size) =>
      fc
        .integer({ min: Math.ceil(size / 8), max: size - 1 })
        .filter((slide) => size % slide !== 0)
        .map((slide) => ({ size, slide })),
    ),
)
/** size < slide ("sampling"): some records fall in no window (dropped, or late if late) */
const sampling = windowScenarioArb((unit) =>
  fc
    .tuple(lengthArb(unit, 10), lengthArb(unit, 10))
    .map(([a, b]) => ({ size: Math.min(a, b), slide: Math.max(a, b) + 1 })),
)

/** any size >= slide, with an offset, -slide < offset < slide */
const withOffset = windowScenarioArb((unit) =>
  fc
    .tuple(lengthArb(unit, 10), fc.integer({ min: 100, max: 500 }))
    .chain(([slide, pct]) =>
      fc.integer({ min: -(slide - 1), max: slide - 1 }).map((offset) => ({ size: Math.floor((slide * pct) / 100), slide, offset })),
    ),
)

describe('sliding event-time windows', () => {
  it('size a multiple of slide: aggregate matches the model', async () => {
    await fc.assert(
      fc.asyncProperty(multiple, async (sc) => {
        const { size, slide } = sc.params
        await checkNonMerging(sc, SlidingEventTimeWindows.of(size, slide), slidingWindows(size, slide), 'aggregate')
      }),
      { numRuns: RUNS },
    )
  })

  it('size not a multiple of slide: aggregate matches the model', async () => {
    await fc.assert(
      fc.asyncProperty(notMultiple, async (sc) => {
        const { size, slide } = sc.params
        await checkNonMerging(sc, SlidingEventTimeWindows.of(size, slide), slidingWindows(size, slide), 'aggregate')
      }),
      { numRuns: RUNS },
    )
  })

  it('reduce (any size/slide with size >= slide) matches the model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(multiple, notMultiple), async (sc) => {
        const { size, slide } = sc.params
        await checkNonMerging(sc, SlidingEventTimeWindows.of(size, slide), slidingWindows(size, slide), 'reduce')
      }),
      { numRuns: RUNS },
    )
  })

  it('with a window offset: aggregate matches the model', async () => {
    await fc.assert(
      fc.asyncProperty(withOffset, async (sc) => {
        const { size, slide, offset } = sc.params
        await checkNonMerging(sc, SlidingEventTimeWindows.of(size, slide, offset), slidingWindows(size, slide, offset), 'aggregate')
      }),
      { numRuns: RUNS },
    )
  })

  it('size < slide: records between windows are dropped, late ones side-output, as in Flink', async () => {
    await fc.assert(
      fc.asyncProperty(sampling, async (sc) => {
        const { size, slide } = sc.params
        await checkNonMerging(sc, SlidingEventTimeWindows.of(size, slide), slidingWindows(size, slide), 'aggregate')
      }),
      { numRuns: RUNS },
    )
  })
})
