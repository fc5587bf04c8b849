/**
 * Records in batches through a source's chain (SourceOperator's chainBatchSize, MapOperator and
 * FilterOperator processBatch): whatever the batch size, every operator of the chain sees the same
 * records, timestamps and watermarks in the same order as one record at a time, and a failing user
 * function fails the job after the same records reached the sink.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { StreamExecutionEnvironment, WatermarkStrategy, type Sink } from '../../index.ts'
import { StreamOperator } from '../operator.ts'
import { MAX_WATERMARK } from '../time.ts'

interface Ev {
  v: number
  ts: number
}

type Seen = { kind: 'record'; v: unknown; ts: number } | { kind: 'watermark'; wm: number }

/** Logs every record and watermark it receives, and forwards them (a non-batch chained operator). */
class Recorder<T> extends StreamOperator<T, T> {
  constructor(private readonly log: Seen[]) {
    super()
  }
  processElement(value: T, timestamp: number): void {
    this.log.push({ kind: 'record', v: value, ts: timestamp })
    this.output.collect(value, timestamp)
  }
  override processWatermark(watermark: number): void {
    this.log.push({ kind: 'watermark', wm: watermark })
    super.processWatermark(watermark)
  }
}

const arraySink = <T>(target: T[]): Sink<T> => ({ name: 'array-sink', createWriter: () => ({ write: (v) => void target.push(v) }) })

/** Watermarks from the records (ts − 1 after every 3rd record) and periodically (bounded by 5). */
const watermarks = (perRecord: boolean): WatermarkStrategy<Ev> =>
  perRecord
    ? WatermarkStrategy.forGenerator<Ev>(() => {
        let n = 0
        return {
          onEvent(_e, ts, out) {
            if (++n % 3 === 0) out.emitWatermark(ts - 1)
          },
          onPeriodicEmit() {},
        }
      }).withTimestampAssigner((e) => e.ts)
    : WatermarkStrategy.forBoundedOutOfOrderness<Ev>(5).withTimestampAssigner((e) => e.ts)

async function run(events: readonly Ev[], batchSize: number, perRecord: boolean, threshold: number, failAt?: number): Promise<{ log: Seen[]; sunk: number[]; error?: string }> {
  const env = StreamExecutionEnvironment.create({ parallelism: 1, batchSize })
  const log: Seen[] = []
  const sunk: number[] = []
  env
    .fromGenerator((i) => events[i], { count: events.length }, watermarks(perRecord))
    .filter((e) => e.v >= threshold)
    .map((e) => {
      if (e.v === failAt) throw new Error(`bad value ${e.v}`)
      return e.v * 2
    })
    .filter((v) => v % 3 !== 0)
    .transform('recorder', () => new Recorder<number>(log))
    .sinkTo(arraySink(sunk))
  try {
    await env.execute('chain-batches')
    return { log, sunk }
  } catch (e) {
    return { log, sunk, error: e instanceof Error ? e.message : String(e) }
  }
}

/**
 * What the recorder sees when the source hands over one record at a time: each record (if it
 * passes the chain), then the watermark its generator emits, then the periodic watermark after
 * every batchSize records; a watermark only when it advances; MAX_WATERMARK at the end.
 */
function oneByOne(events: readonly Ev[], batchSize: number, perRecord: boolean, threshold: number): Seen[] {
  const log: Seen[] = []
  let last = Number.NEGATIVE_INFINITY
  const forward = (wm: number): void => {
    if (wm > last) log.push({ kind: 'watermark', wm: (last = wm) })
  }
  let max = Number.NEGATIVE_INFINITY
  let n = 0
  let since = 0
  for (const e of events) {
    if (e.v >= threshold && (e.v * 2) % 3 !== 0) log.push({ kind: 'record', v: e.v * 2, ts: e.ts })
    if (perRecord) {
      if (++n % 3 === 0) forward(e.ts - 1)
    } else max = Math.max(max, e.ts)
    if (++since >= batchSize) {
      since = 0
      if (!perRecord) forward(max - 5 - 1)
    }
  }
  forward(MAX_WATERMARK)
  return log
}

const eventsArb = fc.array(
  fc.record({ v: fc.integer({ min: 0, max: 50 }), ts: fc.integer({ min: 0, max: 10_000 }) }),
  { maxLength: 700 },
)

describe('records in batches through a source chain', () => {
  it('every batch size gives the sequence of records and watermarks of one record at a time', async () => {
    await fc.assert(
      fc.asyncProperty(eventsArb, fc.integer({ min: 2, max: 300 }), fc.boolean(), fc.integer({ min: 0, max: 50 }), async (events, batchSize, perRecord, threshold) => {
        const one = await run(events, 1, perRecord, threshold)
        const batched = await run(events, batchSize, perRecord, threshold)
        expect(one.error).toBeUndefined()
        // The periodic watermark follows every batchSize records, so it depends on the batch size:
        // compare with the run at the same batchSize with chain batches of 1 (below) for those.
        if (perRecord) expect(batched.log.filter((s) => s.kind === 'record')).toEqual(one.log.filter((s) => s.kind === 'record'))
        expect(batched.sunk).toEqual(one.sunk)
        // The reference: filter, map, filter in record order.
        expect(one.sunk).toEqual(events.filter((e) => e.v >= threshold).map((e) => e.v * 2).filter((v) => v % 3 !== 0))
      }),
      { numRuns: 40 },
    )
  })

  it('records and watermarks reach the operators in the order of a one-by-one model of the source', async () => {
    await fc.assert(
      fc.asyncProperty(eventsArb, fc.integer({ min: 1, max: 300 }), fc.boolean(), fc.integer({ min: 0, max: 50 }), async (events, batchSize, perRecord, threshold) => {
        const { log } = await run(events, batchSize, perRecord, threshold)
        expect(log).toEqual(oneByOne(events, batchSize, perRecord, threshold))
      }),
      { numRuns: 60 },
    )
  })

  it('a map that throws fails the job after the same records reached the sink as one by one', async () => {
    await fc.assert(
      fc.asyncProperty(eventsArb, fc.integer({ min: 2, max: 300 }), fc.integer({ min: 0, max: 50 }), async (events, batchSize, failAt) => {
        const one = await run(events, 1, false, 0, failAt)
        const batched = await run(events, batchSize, false, 0, failAt)
        expect(batched.sunk).toEqual(one.sunk)
        expect(batched.error).toEqual(one.error)
        if (events.some((e) => e.v === failAt)) expect(batched.error).toContain(`bad value ${failAt}`)
        else expect(batched.error).toBeUndefined()
      }),
      { numRuns: 30 },
    )
  })
})
