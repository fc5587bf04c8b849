import { describe, expect, it } from 'vitest'
import { StreamExecutionEnvironment, WatermarkStrategy } from '../index.ts'
import job, { transaction, userFeatures, type Transaction } from './fraud-features.ts'
import { SlidingEventTimeWindows } from '../index.ts'

const DAY = 86_400_000

/** Plain reference: every (user, window) of a sliding week/day over all transactions. */
function reference(txs: Transaction[]): Map<string, { count: number; total: number; min: number; max: number; vendors: number }> {
  const out = new Map<string, { count: number; total: number; min: number; max: number; vendors: Set<string> }>()
  for (const tx of txs) {
    const lastStart = tx.ts - (((tx.ts % DAY) + DAY) % DAY)
    for (let start = lastStart; start > tx.ts - 7 * DAY; start -= DAY) {
      const id = `${tx.userId}|${start}`
      const f = out.get(id) ?? { count: 0, total: 0, min: Infinity, max: -Infinity, vendors: new Set<string>() }
      f.count++
      f.total += tx.amount
      f.min = Math.min(f.min, tx.amount)
      f.max = Math.max(f.max, tx.amount)
      f.vendors.add(tx.vendor)
      out.set(id, f)
    }
  }
  return new Map([...out].map(([k, f]) => [k, { count: f.count, total: Math.round(f.total * 100) / 100, min: f.min, max: f.max, vendors: f.vendors.size }]))
}

describe('fraud-features job', () => {
  it.each([
    ['window operator', false],
    ['sliced windows', true],
  ])('computes the weekly per-user features of every transaction (none are late): %s', async (_name, sliced) => {
    const txs = Array.from({ length: 3_000 }, (_, i) => transaction(i))
    const env = StreamExecutionEnvironment.create({ parallelism: 3 })
    const windowed = env
      .fromCollection(txs, WatermarkStrategy.forBoundedOutOfOrderness<Transaction>(2 * 3_600_000).withTimestampAssigner((t) => t.ts))
      .keyBy((t) => t.userId)
      .window(SlidingEventTimeWindows.of(7 * DAY, DAY))
    const features = (sliced ? windowed.sliced() : windowed).aggregate(userFeatures, (userId, w, f) => ({ id: `${userId}|${w.start}`, ...f }))
    const [rows] = await env.executeAndCollect(features)
    const expected = reference(txs)
    expect(rows.length).toBe(expected.size)
    for (const r of rows) {
      const e = expected.get(r.id)!
      expect({ count: r.count, total: r.total, min: r.min, max: r.max, vendors: r.distinctVendors }).toEqual(e)
      expect(r.average).toBeCloseTo(e.total / e.count, 1)
    }
  })

  it('runs as a job file through defineJob and writes its output', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 1 })
    const { mkdtempSync, readFileSync } = await import('node:fs')
    const { join } = await import('node:path')
    const { tmpdir } = await import('node:os')
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-job-'))
    const out = join(dir, 'features.jsonl')
    const log = console.log
    const write = process.stdout.write.bind(process.stdout)
    process.stdout.write = (() => true) as typeof process.stdout.write
    try {
      await job.build(env, { events: '2000', out })
      await env.execute(job.name)
    } finally {
      process.stdout.write = write
      console.log = log
    }
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    expect(lines.length).toBe(reference(Array.from({ length: 2_000 }, (_, i) => transaction(i))).size)
    expect(lines[0]).toHaveProperty('distinctVendors')
  })
})
