/**
 * The benchmark pipelines. Each one builds an in-process job on the public API (index.ts), runs
 * it to the end of its bounded input and reports what the sink saw plus latency samples.
 *
 * Everything here runs on one thread: the environment has no workers in this version, so a
 * parallelism of 2 means two interleaved subtasks on the same thread, not two cores.
 */
import { StreamExecutionEnvironment, TumblingEventTimeWindows, WatermarkStrategy, type Sink, type SinkWriter } from '../index.ts'

export interface PipelineConfig {
  /** Records the source generates in total (over all subtasks). */
  events: number
  parallelism: number
  batchSize: number
}

export interface PipelineOutcome {
  /** Wall time of env.execute(), from job start to the end of the last task. */
  elapsedMs: number
  /** Records that reached the sink. */
  sinkRecords: number
  /** Latency samples in milliseconds (see the pipeline's latencyDefinition). */
  latenciesMs: number[]
}

export interface Pipeline {
  readonly name: string
  readonly description: string
  readonly latencyDefinition: string
  /** Events per run by default: about 1-3 s per run on the 2-core development machine. */
  readonly defaultEvents: number
  run(config: PipelineConfig): Promise<PipelineOutcome>
}

// ---------------------------------------------------------------------------------------------
// Nexmark-like bids

/** A Nexmark bid (nexmark/nexmark Bid.java), plus `t0`: performance.now() at generation for sampled records, else 0. */
export interface Bid {
  auction: number
  bidder: number
  price: number
  channel: string
  url: string
  dateTime: number
  extra: string
  t0: number
}

/** Nexmark q1's output row: the price converted from dollars to euros. */
export interface EuroBid {
  auction: number
  bidder: number
  price: number
  dateTime: number
  extra: string
  t0: number
}

/** Event time of record 0 (a multiple of every window size used here). */
export const BASE_TIME = 1_700_000_000_000
/** Nexmark's watermark: event time − 4 s. */
export const OUT_OF_ORDERNESS_MS = 4_000
/**
 * One latency sample every SAMPLE_EVERY records. A prime, so that with p interleaved source
 * subtasks (subtask s generates indices s, s+p, …) every subtask gets sampled.
 */
export const SAMPLE_EVERY = 997

const CHANNELS = ['Google', 'Facebook', 'Baidu', 'Apple']
const URLS = Array.from({ length: 64 }, (_, i) => `https://www.nexmark.com/abcd/efgh/ijkl/item.htm?query=1&channel_id=${(i * 7919) % 10_000}`)

/**
 * A cheap integer mix (lowbias32), so generated fields look random but are deterministic. Returns
 * 31 bits, so the result stays a small integer for V8 (a uint32 above 2^31 becomes a double, and
 * `%` on doubles is a slow C call).
 */
function mix(i: number): number {
  let x = i ^ (i >>> 16)
  x = Math.imul(x, 0x7feb352d)
  x ^= x >>> 15
  x = Math.imul(x, 0x846ca68b)
  return (x ^ (x >>> 16)) & 0x7fffffff
}

/**
 * Bid number i: 100 auctions in flight and 1000 active bidders as in Nexmark's generator (the
 * windowed pipeline overrides the bidder to get 10k keys), event time advancing 1 ms per record.
 */
export function makeBid(i: number, bidders: number, t0: number): Bid {
  const h = mix(i)
  return {
    auction: 1000 + (i >>> 6) + (h % 100),
    bidder: h % bidders,
    price: 100 + (h >>> 8) % 10_000,
    channel: CHANNELS[h & 3],
    url: URLS[(h >>> 2) & 63],
    dateTime: BASE_TIME + i,
    extra: '',
    t0,
  }
}

export const bidTimestamps = (): WatermarkStrategy<Bid> =>
  WatermarkStrategy.forBoundedOutOfOrderness<Bid>(OUT_OF_ORDERNESS_MS).withTimestampAssigner((b) => b.dateTime)

/** A sink that counts records and calls `observe` on each (all subtasks share `state`). */
function countingSink<T>(state: { count: number }, observe: (value: T) => void): Sink<T> {
  return {
    name: 'counting-sink',
    createWriter(): SinkWriter<T> {
      return {
        write(value: T): void {
          state.count++
          observe(value)
        },
      }
    },
  }
}

async function timed(env: StreamExecutionEnvironment, name: string): Promise<number> {
  const started = performance.now()
  await env.execute(name)
  return performance.now() - started
}

// ---------------------------------------------------------------------------------------------
// (1) stateless: generator → filter → map (Nexmark q1 currency conversion) → counting sink

const stateless: Pipeline = {
  name: 'stateless',
  description: 'bid generator (watermark dateTime − 4 s) → filter (drops ~1/10 of auctions) → map (Nexmark q1: price × 0.908) → counting sink',
  latencyDefinition:
    `source-to-sink time of 1 in ${SAMPLE_EVERY} records: performance.now() stamped into the record when the generator creates it, ` +
    'subtracted from performance.now() when the sink writes it',
  defaultEvents: 20_000_000,
  async run({ events, parallelism, batchSize }: PipelineConfig): Promise<PipelineOutcome> {
    const env = StreamExecutionEnvironment.create({ parallelism, batchSize })
    const latenciesMs: number[] = []
    const state = { count: 0 }
    env
      .fromGenerator((i) => makeBid(i, 1000, i % SAMPLE_EVERY === 0 ? performance.now() : 0), { count: events, name: 'bids' }, bidTimestamps())
      .filter((b) => b.auction % 10 !== 0, 'filter')
      .map(
        (b): EuroBid => ({ auction: b.auction, bidder: b.bidder, price: b.price * 0.908, dateTime: b.dateTime, extra: b.extra, t0: b.t0 }),
        'q1-map',
      )
      .sinkTo(
        countingSink<EuroBid>(state, (e) => {
          if (e.t0 !== 0) latenciesMs.push(performance.now() - e.t0)
        }),
      )
    const elapsedMs = await timed(env, 'bench-stateless')
    return { elapsedMs, sinkRecords: state.count, latenciesMs }
  },
}

// ---------------------------------------------------------------------------------------------
// (1b) stateless-rebalance: the same, with a rebalance() between the source and the filter, so every
// record crosses a channel in batches (in (1) the whole pipeline is one chain of direct calls).

const statelessRebalance: Pipeline = {
  name: 'stateless-rebalance',
  description: 'as stateless, with rebalance() between the source and the filter: every record crosses a batched channel between two tasks (same thread)',
  latencyDefinition: stateless.latencyDefinition,
  defaultEvents: 10_000_000,
  async run({ events, parallelism, batchSize }: PipelineConfig): Promise<PipelineOutcome> {
    const env = StreamExecutionEnvironment.create({ parallelism, batchSize })
    const latenciesMs: number[] = []
    const state = { count: 0 }
    env
      .fromGenerator((i) => makeBid(i, 1000, i % SAMPLE_EVERY === 0 ? performance.now() : 0), { count: events, name: 'bids' }, bidTimestamps())
      .rebalance()
      .filter((b) => b.auction % 10 !== 0, 'filter')
      .map(
        (b): EuroBid => ({ auction: b.auction, bidder: b.bidder, price: b.price * 0.908, dateTime: b.dateTime, extra: b.extra, t0: b.t0 }),
        'q1-map',
      )
      .sinkTo(
        countingSink<EuroBid>(state, (e) => {
          if (e.t0 !== 0) latenciesMs.push(performance.now() - e.t0)
        }),
      )
    const elapsedMs = await timed(env, 'bench-stateless-rebalance')
    return { elapsedMs, sinkRecords: state.count, latenciesMs }
  },
}

// ---------------------------------------------------------------------------------------------
// (2) keyed-tumbling-count: 10k bidders, 10 s event-time tumbling count per bidder

export const WINDOW_KEYS = 10_000
export const WINDOW_SIZE_MS = 10_000
/** Window results whose key is a multiple of this are latency samples (100 of the 10k keys). */
const WINDOW_SAMPLE_KEY_MODULO = 100

interface WindowCount {
  bidder: number
  windowEnd: number
  count: number
}

const keyedTumblingCount: Pipeline = {
  name: 'keyed-tumbling-count',
  description:
    'bid generator (1 ms of event time per record, watermark dateTime − 4 s) → keyBy(bidder, 10k keys) → ' +
    '10 s tumbling event-time window → aggregate count → counting sink',
  latencyDefinition:
    'window firing latency: for each window end E, the time from when the generator created the record whose timestamp lets ' +
    `the watermark pass E − 1 (the first record with dateTime >= E + ${OUT_OF_ORDERNESS_MS} ms, the latest of them over the source subtasks) ` +
    `to when a window result for E reached the sink; sampled on the results of keys ≡ 0 mod ${WINDOW_SAMPLE_KEY_MODULO}. ` +
    'Excludes the window wait and the out-of-orderness wait (event-time semantics, not engine cost); includes the source batch ' +
    'that must finish before the periodic watermark goes out, the watermark hop, and emitting the whole window burst. ' +
    'Windows fired only by the final watermark at the end of input are not sampled.',
  defaultEvents: 400_000,
  async run({ events, parallelism, batchSize }: PipelineConfig): Promise<PipelineOutcome> {
    const env = StreamExecutionEnvironment.create({ parallelism, batchSize })
    const latenciesMs: number[] = []
    const state = { count: 0 }
    /** Window end → performance.now() when the last source subtask created its first record at or past end + out-of-orderness. */
    const fireRecordAt = new Map<number, number>()
    const W = WINDOW_SIZE_MS
    const D = OUT_OF_ORDERNESS_MS
    const generate = (i: number): Bid => {
      const phase = (i - D) % W
      if (phase < parallelism && i - D >= W) {
        const end = BASE_TIME + i - phase - D
        const now = performance.now()
        const prev = fireRecordAt.get(end)
        if (prev === undefined || now > prev) fireRecordAt.set(end, now)
      }
      return makeBid(i, WINDOW_KEYS, 0)
    }
    env
      .fromGenerator(generate, { count: events, name: 'bids' }, bidTimestamps())
      .keyBy((b) => b.bidder)
      .window(TumblingEventTimeWindows.of(W))
      .aggregate(
        { createAccumulator: () => 0, add: (_b: Bid, acc: number) => acc + 1, getResult: (acc: number) => acc, merge: (a: number, b: number) => a + b },
        (bidder: number, window, count: number): WindowCount => ({ bidder, windowEnd: window.end, count }),
      )
      .sinkTo(
        countingSink<WindowCount>(state, (r) => {
          if (r.bidder % WINDOW_SAMPLE_KEY_MODULO !== 0) return
          const at = fireRecordAt.get(r.windowEnd)
          if (at !== undefined) latenciesMs.push(performance.now() - at)
        }),
      )
    const elapsedMs = await timed(env, 'bench-keyed-tumbling-count')
    return { elapsedMs, sinkRecords: state.count, latenciesMs }
  },
}

export const PIPELINES: readonly Pipeline[] = [stateless, statelessRebalance, keyedTumblingCount]

export function pipelineByName(name: string): Pipeline | undefined {
  return PIPELINES.find((p) => p.name === name)
}
