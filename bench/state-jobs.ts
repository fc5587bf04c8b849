/**
 * The jobs of the state and checkpoint benchmarks (bench/state.ts), built on the public API
 * (index.ts). bench/state-child.ts runs one of them per child process.
 *
 *  - keyed-tumbling-count and hop-window: window throughput, with checkpoints, on either backend;
 *  - a keyed process function that keeps one ValueState per key, fed by three purpose-made
 *    sources: a fast loader of N keys, a paced stream that updates distinct keys at a fixed rate,
 *    and a probe that reads a few keys back after a restore.
 */
import {
  SlidingEventTimeWindows,
  StreamExecutionEnvironment,
  TumblingEventTimeWindows,
  ValueStateDescriptor,
  WatermarkStrategy,
  type EnvironmentOptions,
  type KeyedProcessFunction,
  type ReaderOutput,
  type RuntimeContext,
  type Sink,
  type Source,
  type SourceReader,
  type SourceReaderContext,
  type ValueState,
} from '../index.ts'

export type Backend = 'memory' | 'rocksdb'

// ---------------------------------------------------------------------------------------------
// Nexmark-like bids (the generator of bench/pipelines.ts, with the number of auctions and bidders
// as parameters; that file does not export it)

export interface Bid {
  auction: number
  bidder: number
  price: number
  channel: string
  url: string
  dateTime: number
  extra: string
}

/** Event time of record 0 (a multiple of every window size used here). */
export const BASE_TIME = 1_700_000_000_000
/** Nexmark's watermark: event time − 4 s. */
export const OUT_OF_ORDERNESS_MS = 4_000

const CHANNELS = ['Google', 'Facebook', 'Baidu', 'Apple']
const URLS = Array.from({ length: 64 }, (_, i) => `https://www.nexmark.com/abcd/efgh/ijkl/item.htm?query=1&channel_id=${(i * 7919) % 10_000}`)

/** lowbias32, 31 bits (see bench/pipelines.ts). */
function mix(i: number): number {
  let x = i ^ (i >>> 16)
  x = Math.imul(x, 0x7feb352d)
  x ^= x >>> 15
  x = Math.imul(x, 0x846ca68b)
  return (x ^ (x >>> 16)) & 0x7fffffff
}

/** Bid number i: `auctions` auctions and `bidders` bidders drawn uniformly; event time advances 1 ms per record. */
function makeBid(i: number, auctions: number, bidders: number): Bid {
  const h = mix(i)
  const g = mix(h ^ 0x5bd1e995)
  return {
    auction: 1000 + (g % auctions),
    bidder: h % bidders,
    price: 100 + ((h >>> 8) % 10_000),
    channel: CHANNELS[h & 3],
    url: URLS[(h >>> 2) & 63],
    dateTime: BASE_TIME + i,
    extra: '',
  }
}

const bidTimestamps = (): WatermarkStrategy<Bid> =>
  WatermarkStrategy.forBoundedOutOfOrderness<Bid>(OUT_OF_ORDERNESS_MS).withTimestampAssigner((b) => b.dateTime)

/** A sink that counts what it receives. */
export function countingSink<T>(counter: { count: number }): Sink<T> {
  return {
    name: 'counting-sink',
    createWriter: () => ({
      write(): void {
        counter.count++
      },
    }),
  }
}

const count = {
  createAccumulator: () => 0,
  add: (_b: Bid, acc: number) => acc + 1,
  getResult: (acc: number) => acc,
  merge: (a: number, b: number) => a + b,
}

// ---------------------------------------------------------------------------------------------
// (1) window throughput

export interface WindowPipeline {
  readonly name: string
  readonly description: string
  readonly defaultEvents: number
  /** Defines the job on `env`; records reaching the sink are counted in `counter`. */
  build(env: StreamExecutionEnvironment, events: number, counter: { count: number }): void
}

export const TUMBLING_KEYS = 10_000
export const HOP_AUCTIONS = 10_000

export const WINDOW_PIPELINES: readonly WindowPipeline[] = [
  {
    name: 'keyed-tumbling-count',
    description:
      `bid generator (1 ms of event time per record, watermark dateTime − 4 s) → keyBy(bidder, ${TUMBLING_KEYS} keys) → ` +
      'TumblingEventTimeWindows.of(10 s) → aggregate count → counting sink (as bench/pipelines.ts)',
    defaultEvents: 2_000_000,
    build(env, events, counter) {
      env
        .fromGenerator((i) => makeBid(i, HOP_AUCTIONS, TUMBLING_KEYS), { count: events, name: 'bids' }, bidTimestamps())
        .uid('bids')
        .keyBy((b) => b.bidder)
        .window(TumblingEventTimeWindows.of(10_000))
        .aggregate(count, (bidder: number, window, n: number) => ({ bidder, windowEnd: window.end, count: n }))
        .uid('tumbling-count')
        .sinkTo(countingSink(counter))
    },
  },
  {
    name: 'hop-window',
    description:
      `Nexmark-q5-like: bid generator (1 ms of event time per record, watermark dateTime − 4 s, ${HOP_AUCTIONS} auctions) → keyBy(auction) → ` +
      'SlidingEventTimeWindows.of(10 s, 2 s) → aggregate count per auction → counting sink (each bid counts in 5 windows)',
    defaultEvents: 400_000,
    build(env, events, counter) {
      env
        .fromGenerator((i) => makeBid(i, HOP_AUCTIONS, 1000), { count: events, name: 'bids' }, bidTimestamps())
        .uid('bids')
        .keyBy((b) => b.auction)
        .window(SlidingEventTimeWindows.of(10_000, 2_000))
        .aggregate(count, (auction: number, window, n: number) => ({ auction, windowEnd: window.end, count: n }))
        .uid('hop-count')
        .sinkTo(countingSink(counter))
    },
  },
]

export function windowPipeline(name: string): WindowPipeline {
  const p = WINDOW_PIPELINES.find((q) => q.name === name)
  if (!p) throw new Error(`unknown pipeline "${name}"; known: ${WINDOW_PIPELINES.map((q) => q.name).join(', ')}`)
  return p
}

// ---------------------------------------------------------------------------------------------
// (2), (3) a keyed process function with one ValueState per key

/** A record of the value-state job: set `key`'s state to `payload` (or increment it when absent); `t` = scheduled time (performance.now()), 0 when not timed. */
export interface KeyUpdate {
  key: number
  t: number
  payload?: string
}

/** What the value-state job reports while it runs (same process). */
export interface ValueJobProbe {
  /** Records processed by the keyed function. */
  processed: number
  /** performance.now() when the first record reached the keyed function (NaN before). */
  firstRecordAt: number
  /** Latency (processing time − scheduled time, ms) of every timed record, in arrival order. */
  latencies: number[]
  /** Scheduled time (performance.now()) of the same records. */
  scheduled: number[]
  /** Probe records whose key had no state (a restore that lost state). */
  missing: number
  /** Probe records whose state did not have the expected shape. */
  wrong: number
}

export function newProbe(): ValueJobProbe {
  return { processed: 0, firstRecordAt: Number.NaN, latencies: [], scheduled: [], missing: 0, wrong: 0 }
}

/**
 * The keyed function: a record with a payload stores it; one without increments a counter. With
 * `check`, every record also verifies that its key already had state (after a restore).
 */
export function valueStateFunction(probe: ValueJobProbe, check?: (value: unknown, key: number) => boolean): KeyedProcessFunction<number, KeyUpdate, never> {
  let state!: ValueState<unknown>
  return {
    open(ctx: RuntimeContext) {
      state = ctx.getState(new ValueStateDescriptor<unknown>('value'))
    },
    processElement(r: KeyUpdate) {
      if (probe.processed++ === 0) probe.firstRecordAt = performance.now()
      if (check) {
        const v = state.value()
        if (v === undefined) probe.missing++
        else if (!check(v, r.key)) probe.wrong++
        return
      }
      if (r.payload !== undefined) state.update(r.payload)
      else state.update(((state.value() as number | undefined) ?? 0) + 1)
      if (r.t !== 0) {
        probe.latencies.push(performance.now() - r.t)
        probe.scheduled.push(r.t)
      }
    },
  }
}

/** keyBy(key) → the value-state function → a discarding sink. Operators have uids, so savepoints restore into the same job. */
export function buildValueJob(env: StreamExecutionEnvironment, source: Source<KeyUpdate>, fn: KeyedProcessFunction<number, KeyUpdate, never>): void {
  env
    .fromSource(source, WatermarkStrategy.noWatermarks<KeyUpdate>(), 'updates')
    .uid('updates')
    .setParallelism(1)
    .keyBy((r) => r.key)
    .process(fn, 'value-state')
    .uid('value-state')
    .sinkTo(countingSink({ count: 0 }))
}

/** A setTimeout promise (the engine's sources must not block; they say when to poll again). */
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Emits `keys` records as fast as the job takes them (key i, with `payload(i)` when given), then
 * stays open and idle (never ends), so the job can still be savepointed. Checkpointable.
 */
export class KeyLoadSource implements Source<KeyUpdate> {
  readonly name = 'key-loader'
  readonly bounded = false
  readonly maxParallelism = 1

  constructor(
    private readonly keys: number,
    private readonly payload?: (key: number) => string,
  ) {}

  createReader(_ctx: SourceReaderContext, restoredSplits?: unknown[]): SourceReader<KeyUpdate> {
    let next = (restoredSplits?.[0] as { next?: number } | undefined)?.next ?? 0
    const { keys, payload } = this
    return {
      pollNext(output: ReaderOutput<KeyUpdate>, budget: number) {
        if (next >= keys) return 'nothing'
        const end = Math.min(keys, next + budget)
        if (payload) for (; next < end; next++) output.collect({ key: next, t: 0, payload: payload(next) })
        else for (; next < end; next++) output.collect({ key: next, t: 0 })
        return next < keys ? 'more' : 'nothing'
      },
      isAvailable: () => sleep(10),
      snapshotState: () => [{ next }],
    }
  }
}

/**
 * An unbounded paced stream of updates: `eventsPerSecond` records, record j updating key
 * (j × stride) mod keys — with a stride coprime to `keys`, any `keys` consecutive records touch
 * distinct keys. Each record carries its *scheduled* time (performance.now() clock), so a stall
 * anywhere (source, barrier, serialization, compaction, GC) shows as latency of the records that
 * were due during it.
 */
export class PacedUpdateSource implements Source<KeyUpdate> {
  readonly name = 'paced-updates'
  readonly bounded = false
  readonly maxParallelism = 1

  constructor(
    private readonly keys: number,
    private readonly eventsPerSecond: number,
    private readonly stride = 7_919,
  ) {}

  createReader(): SourceReader<KeyUpdate> {
    // Restored positions are ignored: this source always starts a fresh paced stream.
    const { keys, eventsPerSecond, stride } = this
    const periodMs = 1000 / eventsPerSecond
    const startedAt = performance.now()
    let emitted = 0
    let key = 0
    return {
      pollNext(output: ReaderOutput<KeyUpdate>, budget: number) {
        const due = Math.floor((performance.now() - startedAt) / periodMs) + 1 - emitted
        const n = Math.min(budget, due)
        for (let j = 0; j < n; j++) {
          output.collect({ key, t: startedAt + emitted * periodMs })
          emitted++
          key += stride
          if (key >= keys) key -= keys
        }
        return n < due ? 'more' : 'nothing'
      },
      isAvailable: () => sleep(Math.max(0, startedAt + emitted * periodMs - performance.now())),
      snapshotState: () => [{ emitted }],
    }
  }
}

/** Emits `count` records for keys spread over [0, keys), then ends. */
export class ProbeSource implements Source<KeyUpdate> {
  readonly name = 'probe'
  readonly bounded = true
  readonly maxParallelism = 1

  constructor(
    private readonly keys: number,
    private readonly count: number,
  ) {}

  createReader(): SourceReader<KeyUpdate> {
    const { keys, count } = this
    let i = 0
    return {
      pollNext(output: ReaderOutput<KeyUpdate>, budget: number) {
        for (let n = 0; n < budget && i < count; n++, i++) output.collect({ key: Math.floor((i * keys) / count), t: 0 })
        return i < count ? 'more' : 'end'
      },
      isAvailable: () => Promise.resolve(),
      snapshotState: () => [{ i }],
    }
  }
}

/** A distinct payload of `bytes` one-byte characters for each key (its key, then filler). */
export function payloadOf(bytes: number): (key: number) => string {
  const filler = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(Math.ceil(bytes / 36) + 1)
  return (key: number) => {
    const head = `${key}:`
    // A flat copy: `head + filler.slice()` would be a rope over the shared filler, and the memory
    // backend would then hold a few dozen bytes per key instead of `bytes`.
    return Buffer.from(head + filler.slice(0, Math.max(0, bytes - head.length)), 'latin1').toString('latin1')
  }
}

/** Environment options shared by every job here. */
export function envOptions(backend: Backend, stateDir: string, checkpoint?: EnvironmentOptions['checkpoint']): EnvironmentOptions {
  return { parallelism: 1, batchSize: 1024, stateBackend: backend, stateDir, ...(checkpoint ? { checkpoint } : {}) }
}
