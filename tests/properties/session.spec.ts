/**
 * Property 3: event-time session windows (merging) with aggregate and reduce, under disorder,
 * allowed lateness (incl. late firings of merged windows) and a late side output, equal the
 * reference model at any parallelism 1..8 and batch size.
 */
import fc from 'fast-check'
import { describe, it } from 'vitest'
import { lengthArb, windowScenarioArb } from './generators.ts'
import { checkSessions, RUNS } from './harness.ts'

const scenarios = windowScenarioArb((unit) => lengthArb(unit, 12))
const longScenarios = windowScenarioArb((unit) => lengthArb(unit, 12), 200)

describe('event-time session windows', () => {
  it('aggregate (count, sum) with allowed lateness 0: firings and late records match the model', async () => {
    await fc.assert(
      fc.asyncProperty(scenarios, async (sc) => {
        await checkSessions({ ...sc, lateness: 0 }, sc.params, 'aggregate')
      }),
      { numRuns: RUNS },
    )
  })

  it('aggregate (count, sum) with random allowed lateness: incl. late firings of merged sessions', async () => {
    await fc.assert(
      fc.asyncProperty(scenarios, async (sc) => {
        await checkSessions(sc, sc.params, 'aggregate')
      }),
      { numRuns: RUNS },
    )
  })

  it('reduce with random allowed lateness matches the model', async () => {
    await fc.assert(
      fc.asyncProperty(scenarios, async (sc) => {
        await checkSessions(sc, sc.params, 'reduce')
      }),
      { numRuns: RUNS },
    )
  })

  it('long streams (up to 200 records) with random allowed lateness: aggregate matches the model', async () => {
    await fc.assert(
      fc.asyncProperty(longScenarios, async (sc) => {
        await checkSessions(sc, sc.params, 'aggregate')
      }),
      { numRuns: Math.ceil(RUNS * 0.75) },
    )
  })
})
