/**
 * Every Nexmark query as a Fluxion job vs the plain reference computation (reference.ts) over the
 * same 20k generated events, at parallelism 1 and 2: the result multisets must be equal.
 */
import { describe, expect, it } from 'vitest'
import { StreamExecutionEnvironment, WatermarkStrategy } from '../../index.ts'
import { createGenerator, nexmarkSource, type NexmarkConfig } from './generator.ts'
import type { Bid, NexmarkEvent } from './model.ts'
import { QUERIES, queryByName } from './queries/index.ts'
import * as ref from './reference.ts'

/** 200 events/s of event time: 20k events span 100 s (10 tumbling windows, 50 hops, closing sessions). */
const CONFIG: Partial<NexmarkConfig> = { seed: 7, eventsPerSecond: 200, outOfOrderGroupSize: 250 }
const COUNT = 20_000

const REFERENCES: Record<string, (events: readonly NexmarkEvent[]) => unknown[]> = {
  q0: ref.refQ0,
  q1: ref.refQ1,
  q2: ref.refQ2,
  q3: ref.refQ3,
  q4: ref.refQ4,
  q5: ref.refQ5,
  q7: ref.refQ7,
  q8: ref.refQ8,
  q11: ref.refQ11,
  q12: ref.refQ12EventTime,
}

const events: NexmarkEvent[] = (() => {
  const g = createGenerator(CONFIG)
  return Array.from({ length: COUNT }, (_, i) => g(i))
})()

/** A multiset as a sorted list of JSON strings. */
const multiset = (rows: readonly unknown[]): string[] => rows.map((r) => JSON.stringify(r)).sort()

async function runQuery(name: string, parallelism: number): Promise<unknown[]> {
  const env = StreamExecutionEnvironment.create({ parallelism, batchSize: 256 })
  const source = nexmarkSource(env, { count: COUNT, config: CONFIG })
  const [rows] = await env.executeAndCollect(queryByName(name).build(env, source, { q12TimeDomain: 'event' }))
  return rows
}

describe('Nexmark queries vs reference computations (20k events)', () => {
  it('covers every query', () => {
    expect(QUERIES.map((q) => q.name).sort()).toEqual(Object.keys(REFERENCES).sort())
  })

  for (const q of QUERIES) {
    it(`${q.name} matches the reference at parallelism 1 and 2`, async () => {
      const expected = multiset(REFERENCES[q.name](events))
      expect(expected.length).toBeGreaterThan(0)
      for (const p of [1, 2]) {
        const actual = multiset(await runQuery(q.name, p))
        expect(actual.length, `${q.name} p=${p}: number of rows`).toBe(expected.length)
        expect(actual, `${q.name} p=${p}`).toEqual(expected)
      }
    })
  }

  it('q7 joins a bid at exactly window_end to the window that ends there (BETWEEN is inclusive)', async () => {
    const t0 = Date.UTC(2025, 0, 1) // a multiple of 10 s
    const bid = (dateTime: number, price: number, bidder: number): Bid => ({ kind: 'bid', auction: 1000 + bidder, bidder, price, dateTime, extra: '' })
    const input: NexmarkEvent[] = [
      bid(t0 + 1_000, 50, 1),
      bid(t0 + 2_000, 70, 2), // max of [t0, t0 + 10 s)
      bid(t0 + 9_999, 70, 3), // tie
      bid(t0 + 10_000, 70, 4), // at window_end: joins the first window and is in the second
      bid(t0 + 10_000, 20, 5),
      bid(t0 + 15_000, 90, 6), // max of the second window
      bid(t0 + 30_000, 90, 7), // window 3 is empty, so this start bid joins nothing before it
    ]
    const expected = multiset(ref.refQ7(input))
    expect(expected.map((s) => JSON.parse(s).bidder)).toEqual([2, 3, 4, 6, 7])
    for (const p of [1, 2]) {
      const env = StreamExecutionEnvironment.create({ parallelism: p })
      const source = env.fromCollection(input, WatermarkStrategy.forBoundedOutOfOrderness<NexmarkEvent>(4000).withTimestampAssigner((e) => e.dateTime))
      const [rows] = await env.executeAndCollect(queryByName('q7').build(env, source))
      expect(multiset(rows)).toEqual(expected)
    }
  })
})
