/**
 * Review: WindowedStream.sliced() through the public API with parallelism 2, on worker threads,
 * against the plain window operator on the current thread (offsets, lateness, epoch-ms and
 * negative timestamps). The watermark bound covers the disorder, so no record is late and the
 * result does not depend on how inputs interleave.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { loadJob } from '../../index.ts'
import { seededEvents } from './fixtures/events.ts'
import type { SlicedJobSpec } from './fixtures/sliced-window-job.ts'

const JOB = new URL('./fixtures/sliced-window-job.ts', import.meta.url)

const specArb: fc.Arbitrary<SlicedJobSpec> = fc
  .record({
    n: fc.integer({ min: 1, max: 300 }),
    keys: fc.integer({ min: 1, max: 9 }),
    disorder: fc.integer({ min: 0, max: 40 }),
    seed: fc.integer(),
    slide: fc.integer({ min: 1, max: 30 }),
    k: fc.integer({ min: 1, max: 4 }),
    offsetFrac: fc.double({ min: -0.9, max: 0.9, noNaN: true }),
    lateness: fc.constantFrom(0, 7, 100),
    base: fc.constantFrom(0, -5_000, 1_700_000_000_000),
  })
  .map(({ n, keys, disorder, seed, slide, k, offsetFrac, lateness, base }) => {
    const events = seededEvents({ n, keys, disorder, seed, firstTs: base })
    return { events, size: slide * k, slide, offset: Math.trunc(offsetFrac * slide), lateness, outOfOrderness: disorder + 1 }
  })

type JobOptions = Parameters<typeof loadJob>[2]

/** The rows of the job with the plain window operator under `plainOptions`, and with `.sliced()` under `slicedOptions`. */
async function rowsOfBoth(spec: SlicedJobSpec, plainOptions: JobOptions, slicedOptions: JobOptions): Promise<{ expected: string[]; actual: string[] }> {
  const rows = async (sliced: boolean, options: JobOptions): Promise<string[]> => {
    const job = await loadJob(JOB, { spec: JSON.stringify(spec), sliced: String(sliced) }, options)
    const [out] = (await job.env.executeAndCollect(...job.outputs)) as [string[]]
    return [...out].sort()
  }
  return { expected: await rows(false, plainOptions), actual: await rows(true, slicedOptions) }
}

describe('sliced() on workers (review)', () => {
  it('gives the rows of the plain window operator: parallelism 2, workers 2', async () => {
    await fc.assert(
      fc.asyncProperty(specArb, async (spec) => {
        const { expected, actual } = await rowsOfBoth(spec, { parallelism: 1 }, { parallelism: 2, workers: 2, batchSize: 4, channelCapacity: 8 })
        expect(expected.length).toBeGreaterThan(0)
        expect(actual).toEqual(expected)
      }),
      { numRuns: 3 },
    )
  }, 180_000)

  it('gives the rows of the plain window operator: parallelism 2, current thread', async () => {
    await fc.assert(
      fc.asyncProperty(specArb, async (spec) => {
        const { expected, actual } = await rowsOfBoth(spec, { parallelism: 2 }, { parallelism: 2, batchSize: 4, channelCapacity: 8 })
        expect(actual).toEqual(expected)
      }),
      { numRuns: 30 },
    )
  }, 180_000)
})
