/**
 * The flagship pipeline's feature stage, on an embedded generator (no Kafka needed):
 * bank transactions → per-user features over a sliding event-time week (count, total, average,
 * min, max, distinct vendors), refreshed every day (sliced: one accumulator per user and day) →
 * JSON Lines file and a console sample.
 * Transactions too late for every window go to a side output and are counted, never lost.
 *
 *   npm start                                   # 200k transactions, as fast as possible
 *   npm start -- --events 1000000 --parallelism 2 --out .fluxion/features.jsonl
 */
import {
  defineJob,
  OutputTag,
  SlidingEventTimeWindows,
  WatermarkStrategy,
  type AggregateFunction,
} from '../index.ts'

export interface Transaction {
  txId: number
  userId: string
  vendor: string
  amount: number
  /** Event time, epoch ms. */
  ts: number
}

export interface UserFeatures {
  userId: string
  windowStart: string
  windowEnd: string
  count: number
  total: number
  average: number
  min: number
  max: number
  distinctVendors: number
}

interface FeatureAccumulator {
  count: number
  total: number
  min: number
  max: number
  vendors: Set<string>
}

const DAY = 86_400_000
const WEEK = 7 * DAY
const START = Date.UTC(2026, 0, 1)

/** Deterministic pseudo-random transaction i: 500 users, 300 vendors, up to 2 h of disorder. */
export function transaction(i: number): Transaction {
  const r = mix(i)
  return {
    txId: i,
    userId: `user-${r % 500}`,
    vendor: `vendor-${(r >>> 13) % 300}`,
    amount: Math.round(((r >>> 7) % 50_000) + 100) / 100,
    ts: START + i * 60_000 - ((r >>> 3) % 7_200_000),
  }
}

function mix(i: number): number {
  let h = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

export const userFeatures: AggregateFunction<Transaction, FeatureAccumulator, Omit<UserFeatures, 'userId' | 'windowStart' | 'windowEnd'>> = {
  createAccumulator: () => ({ count: 0, total: 0, min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY, vendors: new Set() }),
  add(tx, acc) {
    acc.count++
    acc.total += tx.amount
    if (tx.amount < acc.min) acc.min = tx.amount
    if (tx.amount > acc.max) acc.max = tx.amount
    acc.vendors.add(tx.vendor)
    return acc
  },
  getResult: (acc) => ({
    count: acc.count,
    total: Math.round(acc.total * 100) / 100,
    average: Math.round((acc.total / acc.count) * 100) / 100,
    min: acc.min,
    max: acc.max,
    distinctVendors: acc.vendors.size,
  }),
  merge(a, b) {
    for (const v of b.vendors) a.vendors.add(v)
    return { count: a.count + b.count, total: a.total + b.total, min: Math.min(a.min, b.min), max: Math.max(a.max, b.max), vendors: a.vendors }
  },
}

export const LATE_TRANSACTIONS = new OutputTag<Transaction>('late-transactions')

export default defineJob(
  (env, params) => {
    const events = Number(params.events ?? 200_000)
    const out = params.out ?? '.fluxion/features.jsonl'
    const transactions = env.fromGenerator(
      transaction,
      { count: events, eventsPerSecond: params.rate ? Number(params.rate) : undefined, name: 'transactions' },
      WatermarkStrategy.forBoundedOutOfOrderness<Transaction>(2 * 3_600_000).withTimestampAssigner((tx) => tx.ts),
    )
    const features = transactions
      .filter((tx) => tx.amount > 0, 'valid-amount')
      .keyBy((tx) => tx.userId)
      .window(SlidingEventTimeWindows.of(WEEK, DAY))
      .sideOutputLateData(LATE_TRANSACTIONS)
      // One accumulator per user and day, each week merged from its 7 days when it fires
      // (userFeatures.merge leaves its second argument alone, as sliced() requires).
      .sliced()
      .aggregate(userFeatures, (userId, window, f): UserFeatures => ({
        userId,
        windowStart: new Date(window.start).toISOString(),
        windowEnd: new Date(window.end).toISOString(),
        ...f,
      }))
      .name('weekly-user-features')
    features.writeAsJsonLines(out)
    features.filter((f) => f.userId === 'user-42', 'sample-user').print('features')
    features.getSideOutput(LATE_TRANSACTIONS).print('late')
  },
  { name: 'fraud-features', options: { parallelism: 2 } },
)
