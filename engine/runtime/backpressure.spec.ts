/**
 * Backpressure (DESIGN.md §3): channels are bounded; a full channel pauses its producer and
 * sources stop polling, so memory stays bounded however slow the sink. A producer checks for
 * capacity before it starts a slice, so a channel may exceed its capacity by at most what one
 * slice emits: with one record out per record in, at most one batch.
 */
import { describe, expect, it } from 'vitest'
import { FluxionError, StreamExecutionEnvironment, WatermarkStrategy, type Sink, type TaskReport } from '../../index.ts'

/** Busy-waits `us` microseconds: a sink that does heavy work per record. */
function busy(us: number): void {
  const end = performance.now() + us / 1000
  while (performance.now() < end) {
    // spin
  }
}

const rssMb = () => process.memoryUsage().rss / 1e6

function slowSink<T>(us: number, onWrite: (n: number) => void = () => {}): Sink<T> & { written: number; closed: boolean } {
  const sink = {
    name: 'slow-sink',
    written: 0,
    closed: false,
    createWriter: () => ({
      write: () => {
        busy(us)
        onWrite(++sink.written)
      },
      close: () => {
        sink.closed = true
      },
    }),
  }
  return sink
}

function expectBounded(tasks: readonly TaskReport[], capacity: number, batchSize: number): void {
  for (const t of tasks) expect(t.peakQueuedRecords, `${t.name}#${t.subtask}`).toBeLessThanOrEqual(capacity + batchSize)
}

describe('backpressure', () => {
  it('a sink ~100x slower than its source keeps every queue within capacity + batchSize', async () => {
    const batchSize = 256
    const channelCapacity = 1024
    const count = 200_000
    // Generating a record costs ~0.1 µs; the sink spends 8 µs on each one.
    const env = StreamExecutionEnvironment.create({ parallelism: 8, batchSize, channelCapacity })
    const sink = slowSink<number>(8)
    env
      .fromGenerator((i) => i, { count })
      .keyBy((i) => i % 64)
      .map((i) => i + 1)
      .sinkTo(sink)
      .setParallelism(1)
    const result = await env.execute()
    expect(sink.written).toBe(count)
    expectBounded(result.tasks, channelCapacity, batchSize)
    const sources = result.tasks.filter((t) => t.name === 'generator-source')
    expect(sources).toHaveLength(8)
    expect(sources.reduce((n, t) => n + t.recordsOut, 0)).toBe(count)
    // The eight producers did run ahead of the single slow consumer: its queues filled up.
    const consumer = result.tasks.filter((t) => t.name === 'slow-sink')
    expect(consumer).toHaveLength(1)
    expect(consumer[0].recordsIn).toBe(count)
    expect(consumer[0].peakQueuedRecords).toBeGreaterThan(batchSize)
  })

  it('RSS stays bounded when 200k records of 2 KB each pass a slow sink (400 MB if all were queued)', async () => {
    const count = 200_000
    const env = StreamExecutionEnvironment.create({ parallelism: 8, batchSize: 256, channelCapacity: 1024 })
    const before = rssMb()
    let peak = before
    const sink = slowSink<{ i: number; payload: Float64Array }>(1, (n) => {
      if (n % 5_000 === 0) peak = Math.max(peak, rssMb())
    })
    env
      .fromGenerator((i) => ({ i, payload: new Float64Array(256).fill(i) }), { count })
      .keyBy((e) => e.i % 16)
      .sinkTo(sink)
      .setParallelism(1)
    const result = await env.execute()
    expect(sink.written).toBe(count)
    expectBounded(result.tasks, 1024, 256)
    // 8 channels × 1280 records × 2 KB ≈ 20 MB may be queued; the rest is garbage awaiting GC.
    expect(peak - before).toBeLessThan(200)
  })

  it('an unbounded source with a slow sink stays bounded until cancelled; the result rejects with FLX_JOB_CANCELLED', async () => {
    const batchSize = 128
    const channelCapacity = 512
    const env = StreamExecutionEnvironment.create({ parallelism: 4, batchSize, channelCapacity })
    const sink = slowSink<number>(20)
    env
      .fromGenerator((i) => i, { name: 'endless' })
      .keyBy((i) => i % 10)
      .sinkTo(sink)
      .setParallelism(1)
    const client = env.executeAsync('endless-job')
    expect(client.jobName).toBe('endless-job')
    let maxInFlight = 0
    let samples = 0
    const sample = () => {
      const tasks = client.tasks()
      const produced = tasks.filter((t) => t.name === 'endless').reduce((n, t) => n + t.recordsOut, 0)
      const consumed = tasks.filter((t) => t.name === 'slow-sink').reduce((n, t) => n + t.recordsIn, 0)
      maxInFlight = Math.max(maxInFlight, produced - consumed)
      samples++
    }
    const timer = setInterval(sample, 10)
    await new Promise((resolve) => setTimeout(resolve, 400))
    clearInterval(timer)
    sample()
    client.cancel()
    let error: unknown
    try {
      await client.result
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(FluxionError)
    expect((error as FluxionError).code).toBe('FLX_JOB_CANCELLED')

    expect(samples).toBeGreaterThan(5) // the job yields to the event loop while it runs
    expect(sink.written).toBeGreaterThan(1_000)
    expect(sink.closed).toBe(true) // operators are closed on cancel
    const final = client.tasks()
    expectBounded(final, channelCapacity, batchSize)
    // Records produced but not yet consumed: at most 4 channels of capacity + one batch each.
    expect(maxInFlight).toBeLessThanOrEqual(4 * (channelCapacity + batchSize))
    const written = sink.written
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(sink.written).toBe(written) // nothing runs after the cancellation
  })

  it('a flatMap that emits many records per input record still respects capacity + batchSize', async () => {
    const batchSize = 256
    const channelCapacity = 1024
    const env = StreamExecutionEnvironment.create({ batchSize, channelCapacity })
    const sink = slowSink<number>(0)
    env
      .fromGenerator((i) => i, { count: 2_000 })
      .flatMap<number>((i, out) => {
        for (let j = 0; j < 50; j++) out.collect(i * 50 + j)
      })
      .rebalance()
      .map((x) => x)
      .sinkTo(sink)
    const result = await env.execute()
    expect(sink.written).toBe(100_000)
    // One input batch of 256 records becomes 12,800 queued records unless the producer pauses
    // inside the batch (Flink blocks in collect() when the output buffers are full).
    expectBounded(result.tasks, channelCapacity, batchSize)
  })

  it('cancelling a job whose sources wait for data (nothing to poll) rejects with FLX_JOB_CANCELLED', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    let polls = 0
    const sink = slowSink<number>(0)
    env
      .fromSource<number>(
        {
          name: 'never',
          bounded: false,
          createReader: () => ({
            pollNext: () => {
              polls++
              return 'nothing'
            },
            isAvailable: () => new Promise<void>(() => {}),
          }),
        },
        WatermarkStrategy.noWatermarks(),
      )
      .map((x) => x)
      .sinkTo(sink)
    const client = env.executeAsync()
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(polls).toBe(2) // one poll per subtask, then it waits without spinning
    client.cancel()
    await expect(client.result).rejects.toMatchObject({ code: 'FLX_JOB_CANCELLED' })
    expect(sink.closed).toBe(true)
  })
})
