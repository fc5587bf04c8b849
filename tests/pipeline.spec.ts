/**
 * End-to-end pipelines through the public API (executeAndCollect), compared with plain reference
 * computations written for the test: stateless operators and side outputs, keyed reduce and keyed
 * process functions with state and timers (event time, and processing time on a ManualClock),
 * independence from parallelism and batch size, the generator's parallel split, global and
 * all-windows, window and interval joins, and idle sources.
 */
import fc from 'fast-check'
import { setImmediate as tick } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import {
  CountTrigger,
  GlobalWindows,
  ManualClock,
  OutputTag,
  PurgingTrigger,
  StreamExecutionEnvironment,
  TumblingEventTimeWindows,
  TumblingProcessingTimeWindows,
  ValueStateDescriptor,
  WatermarkStrategy,
  type JobClient,
  type KeyedProcessFunction,
  type ProcessFunction,
  type Sink,
  type Source,
  type SourceReader,
  type SourceReaderContext,
  type ValueState,
} from '../index.ts'

interface Ev {
  key: string
  ts: number
  v: number
}

const byNumber = (a: number, b: number) => a - b
const sortedJson = <T>(rows: readonly T[]): string[] => rows.map((r) => JSON.stringify(r)).sort()

/** Groups rows by a key, keeping their order. */
function groupBy<T, K>(rows: readonly T[], key: (r: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>()
  for (const r of rows) {
    const k = key(r)
    let list = m.get(k)
    if (!list) m.set(k, (list = []))
    list.push(r)
  }
  return m
}

/** A sink into an array shared by all subtasks. */
const arraySink = <T>(target: T[], name = 'array-sink'): Sink<T> => ({ name, createWriter: () => ({ write: (v) => void target.push(v) }) })

/** Timestamps from `ts`; nothing is ever late (the bound is larger than any timestamp). */
const noLateness = () => WatermarkStrategy.forBoundedOutOfOrderness<Ev>(1e12).withTimestampAssigner((e) => e.ts)

/** Watermark ts - 1 right after every record (it follows the record downstream). */
const perRecordWatermarks = () =>
  WatermarkStrategy.forGenerator<Ev>(() => ({
    onEvent(_e, ts, out) {
      out.emitWatermark(ts - 1)
    },
    onPeriodicEmit() {},
  })).withTimestampAssigner((e) => e.ts)

describe('stateless operators, union and side outputs', () => {
  it('map / filter / flatMap / union / process with two side outputs equal the reference', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 3 })
    const small = new OutputTag<string>('small')
    const negative = new OutputTag<number>('negative')
    const a = env.fromCollection(Array.from({ length: 60 }, (_, i) => i))
    const b = env.fromGenerator((i) => 1000 + i, { count: 45 })
    const fn: ProcessFunction<number, number> = {
      sideOutputs: [small, negative],
      processElement(x, ctx, out) {
        if (x < 0) ctx.output(negative, x)
        else if (x < 50) ctx.output(small, `s${x}`)
        else out.collect(x)
      },
    }
    const main = a
      .union(b)
      .map((x) => x * 2)
      .filter((x) => x % 3 !== 0)
      .flatMap<number>((x, out) => {
        out.collect(x)
        if (x % 5 === 0) out.collect(-x)
      })
      .process(fn)
    const [rows, smalls, negatives] = await env.executeAndCollect(main, main.getSideOutput(small), main.getSideOutput(negative))

    const input = [...Array.from({ length: 60 }, (_, i) => i), ...Array.from({ length: 45 }, (_, i) => 1000 + i)]
    const flat = input
      .map((x) => x * 2)
      .filter((x) => x % 3 !== 0)
      .flatMap((x) => (x % 5 === 0 ? [x, -x] : [x]))
    expect(rows.sort(byNumber)).toEqual(flat.filter((x) => x >= 50).sort(byNumber))
    expect(smalls.sort()).toEqual(flat.filter((x) => x >= 0 && x < 50).map((x) => `s${x}`).sort())
    expect(negatives.sort(byNumber)).toEqual(flat.filter((x) => x < 0).sort(byNumber))
  })

  it('filter with a type guard narrows the stream type and keeps exactly the matching records', async () => {
    type Shape = { kind: 'circle'; r: number } | { kind: 'square'; side: number }
    const isCircle = (s: Shape): s is Extract<Shape, { kind: 'circle' }> => s.kind === 'circle'
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const shapes: Shape[] = Array.from({ length: 50 }, (_, i) => (i % 3 === 0 ? { kind: 'circle', r: i } : { kind: 'square', side: i }))
    // No cast: `.r` only type-checks because filter(isCircle) is a DataStream of circles.
    const radii = env.fromCollection(shapes).filter(isCircle, 'circles').map((c) => c.r)
    const [rows] = await env.executeAndCollect(radii)
    expect(rows.sort(byNumber)).toEqual(shapes.filter(isCircle).map((c) => c.r))
  })

  it('records keep their order through a chain and a forward edge of one subtask', async () => {
    const env = StreamExecutionEnvironment.create({ batchSize: 7 })
    const out = env
      .fromCollection(Array.from({ length: 500 }, (_, i) => i))
      .map((x) => x + 1)
      .rebalance()
      .map((x) => x * 3)
    const [rows] = await env.executeAndCollect(out)
    expect(rows).toEqual(Array.from({ length: 500 }, (_, i) => (i + 1) * 3))
  })

  // Flink: ProcessWindowFunction.Context#output and ProcessJoinFunction.Context#output emit to any
  // side output, which getSideOutput(tag) then reads. Fluxion offers ctx.output in both contexts.
  it('a side output emitted by a ProcessWindowFunction can be consumed with getSideOutput', async () => {
    const env = StreamExecutionEnvironment.create()
    const big = new OutputTag<{ key: string; n: number }>('big-window')
    const events: Ev[] = [
      { key: 'a', ts: 1, v: 1 },
      { key: 'a', ts: 2, v: 1 },
      { key: 'a', ts: 3, v: 1 },
      { key: 'b', ts: 4, v: 1 },
    ]
    const counts = env
      .fromCollection(events, noLateness())
      .keyBy((e) => e.key)
      .window(TumblingEventTimeWindows.of(100))
      .process<number>((key, ctx, elements, out) => {
        if (elements.length > 2) ctx.output(big, { key, n: elements.length })
        out.collect(elements.length)
      })
    const [main, side] = await env.executeAndCollect(counts, counts.getSideOutput(big))
    expect(main.sort(byNumber)).toEqual([1, 3])
    expect(side).toEqual([{ key: 'a', n: 3 }])
  })

  it('a side output emitted by an interval join function can be consumed with getSideOutput', async () => {
    const env = StreamExecutionEnvironment.create()
    const odd = new OutputTag<string>('odd-pairs')
    const left = env.fromCollection<Ev>([{ key: 'k', ts: 10, v: 1 }], noLateness(), 'left')
    const right = env.fromCollection<Ev>(
      [
        { key: 'k', ts: 11, v: 2 },
        { key: 'k', ts: 12, v: 3 },
      ],
      noLateness(),
      'right',
    )
    const joined = left
      .keyBy((e) => e.key)
      .intervalJoin(right.keyBy((e) => e.key))
      .between(0, 5)
      .process<string>((l, r, ctx, out) => {
        if (r.v % 2 === 1) ctx.output(odd, `${l.v}-${r.v}`)
        else out.collect(`${l.v}+${r.v}`)
      })
    const [main, side] = await env.executeAndCollect(joined, joined.getSideOutput(odd))
    expect(main).toEqual(['1+2'])
    expect(side).toEqual(['1-3'])
  })
})

describe('keyed state', () => {
  const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']

  function events(n: number, seed = 7): Ev[] {
    let x = seed
    const rnd = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648
    return Array.from({ length: n }, (_, i) => ({ key: keys[Math.floor(rnd() * keys.length)], ts: i * 10 + Math.floor(rnd() * 5), v: Math.floor(rnd() * 200) - 100 }))
  }

  it('keyBy().reduce emits the running sum of each key, in the key’s arrival order, at any parallelism', async () => {
    const input = events(400)
    const expected = new Map<string, number[]>()
    const sums = new Map<string, number>()
    for (const e of input) {
      const s = (sums.get(e.key) ?? 0) + e.v
      sums.set(e.key, s)
      expected.set(e.key, [...(expected.get(e.key) ?? []), s])
    }
    for (const parallelism of [1, 3, 8]) {
      const env = StreamExecutionEnvironment.create({ parallelism, batchSize: 16 })
      const reduced = env
        .fromCollection(input)
        .keyBy((e) => e.key)
        .reduce((a, b) => ({ key: a.key, ts: b.ts, v: a.v + b.v }))
      const [rows] = await env.executeAndCollect(reduced)
      const got = new Map([...groupBy(rows, (r) => r.key)].map(([k, rs]) => [k, rs.map((r) => r.v)]))
      expect(got, `parallelism ${parallelism}`).toEqual(expected)
    }
  })

  interface Burst {
    key: string
    count: number
    end: number
  }

  /**
   * Flink's CountWithTimeoutFunction: counts a key's records and emits the count once the key has
   * been quiet for `timeout` ms of event time (an event-time timer at lastTs + timeout).
   */
  const countWithTimeout = (timeout: number): KeyedProcessFunction<string, Ev, Burst> & { state?: ValueState<{ count: number; last: number }> } => ({
    open(ctx) {
      this.state = ctx.getState(new ValueStateDescriptor<{ count: number; last: number }>('count-with-timeout'))
    },
    processElement(e, ctx) {
      const s = this.state!.value() ?? { count: 0, last: 0 }
      this.state!.update({ count: s.count + 1, last: ctx.timestamp()! })
      ctx.timerService().registerEventTimeTimer(ctx.timestamp()! + timeout)
    },
    onTimer(t, ctx, out) {
      const s = this.state!.value()
      if (s && t === s.last + timeout) {
        out.collect({ key: ctx.getCurrentKey(), count: s.count, end: t })
        this.state!.clear()
      }
    },
  })

  /** Reference: the same function, run on one thread with the watermark ts - 1 after each record. */
  function referenceBursts(input: readonly Ev[], timeout: number): Burst[] {
    const state = new Map<string, { count: number; last: number }>()
    let timers: { t: number; key: string }[] = []
    const out: Burst[] = []
    const advance = (wm: number) => {
      const due = timers.filter((x) => x.t <= wm).sort((x, y) => x.t - y.t)
      timers = timers.filter((x) => x.t > wm)
      for (const { t, key } of due) {
        const s = state.get(key)
        if (s && t === s.last + timeout) {
          out.push({ key, count: s.count, end: t })
          state.delete(key)
        }
      }
    }
    let wm = Number.NEGATIVE_INFINITY
    for (const e of input) {
      const s = state.get(e.key) ?? { count: 0, last: 0 }
      state.set(e.key, { count: s.count + 1, last: e.ts })
      if (!timers.some((x) => x.key === e.key && x.t === e.ts + timeout)) timers.push({ t: e.ts + timeout, key: e.key })
      if (e.ts - 1 > wm) advance((wm = e.ts - 1))
    }
    advance(Number.POSITIVE_INFINITY)
    return out
  }

  it('keyed process with ValueState and event-time timers: per-key counts emitted when a key goes quiet', async () => {
    // bursts per key: timestamps with gaps of 0..80 ms, timeout 50 ms
    let x = 3
    const rnd = () => (x = (x * 69069 + 1) % 4294967296) / 4294967296
    let ts = 0
    const input: Ev[] = Array.from({ length: 600 }, () => ({ key: keys[Math.floor(rnd() * 3)], ts: (ts += Math.floor(rnd() * 30)), v: 1 }))
    const expected = referenceBursts(input, 50)
    expect(expected.length).toBeGreaterThan(20) // the scenario has many bursts
    expect(expected.reduce((n, b) => n + b.count, 0)).toBe(600)
    for (const parallelism of [1, 2, 4]) {
      const env = StreamExecutionEnvironment.create({ parallelism, batchSize: 32 })
      const bursts = env
        .fromCollection(input, perRecordWatermarks())
        .keyBy((e) => e.key)
        .process(countWithTimeout(50))
      const [rows] = await env.executeAndCollect(bursts)
      expect(sortedJson(rows), `parallelism ${parallelism}`).toEqual(sortedJson(expected))
    }
  })

  it('keyed results are independent of parallelism (1..8) and batch size (property)', async () => {
    const evArb = fc.record({ key: fc.constantFrom(...keys), ts: fc.integer({ min: 0, max: 2_000 }), v: fc.integer({ min: -100, max: 100 }) })
    await fc.assert(
      fc.asyncProperty(
        fc.array(evArb, { maxLength: 150 }),
        fc.integer({ min: 1, max: 8 }),
        fc.constantFrom(1, 2, 5, 64, 1024),
        async (input, parallelism, batchSize) => {
          const env = StreamExecutionEnvironment.create({ parallelism, batchSize })
          const src = env.fromCollection(input, noLateness())
          const reduced = src.keyBy((e) => e.key).reduce((a, b) => ({ key: a.key, ts: Math.max(a.ts, b.ts), v: a.v + b.v }))
          const windows = src
            .keyBy((e) => e.key)
            .window(TumblingEventTimeWindows.of(250))
            .aggregate(
              {
                createAccumulator: () => ({ n: 0, sum: 0 }),
                add: (e, acc) => ({ n: acc.n + 1, sum: acc.sum + e.v }),
                getResult: (acc) => acc,
                merge: (p, q) => ({ n: p.n + q.n, sum: p.sum + q.sum }),
              },
              (key, w, r) => ({ key, start: w.start, n: r.n, sum: r.sum }),
            )
          const [running, perWindow] = await env.executeAndCollect(reduced, windows)

          // reference: running sums per key in arrival order, and per (key, window) totals
          const expectedRunning = new Map<string, number[]>()
          const totals = new Map<string, number>()
          const win = new Map<string, { key: string; start: number; n: number; sum: number }>()
          for (const e of input) {
            const s = (totals.get(e.key) ?? 0) + e.v
            totals.set(e.key, s)
            expectedRunning.set(e.key, [...(expectedRunning.get(e.key) ?? []), s])
            const start = Math.floor(e.ts / 250) * 250
            const id = `${e.key}@${start}`
            const w = win.get(id) ?? { key: e.key, start, n: 0, sum: 0 }
            win.set(id, { ...w, n: w.n + 1, sum: w.sum + e.v })
          }
          const gotRunning = new Map([...groupBy(running, (r) => r.key)].map(([k, rs]) => [k, rs.map((r) => r.v)]))
          expect(gotRunning).toEqual(expectedRunning)
          expect(sortedJson(perWindow)).toEqual(sortedJson([...win.values()]))
        },
      ),
      { numRuns: 40 },
    )
  })

  it('the same job at batchSize 1 and 1024 gives the same keyed results (and the reference)', async () => {
    const count = 3_000
    const run = async (batchSize: number) => {
      const env = StreamExecutionEnvironment.create({ parallelism: 3, batchSize })
      const src = env
        .fromGenerator((i): Ev => ({ key: keys[(i * 7) % 5], ts: i, v: i % 11 }), { count }, WatermarkStrategy.forMonotonousTimestamps<Ev>().withTimestampAssigner((e) => e.ts))
        .setParallelism(4)
      type Bucket = { key: string; bucket: number; sum: number }
      const sumsPerBucket: KeyedProcessFunction<string, Ev, Bucket> & { sums?: ValueState<Record<number, number>> } = {
        open(ctx) {
          this.sums = ctx.getState(new ValueStateDescriptor<Record<number, number>>('sums'))
        },
        processElement(e, ctx) {
          const bucket = Math.floor(e.ts / 500)
          const m = { ...(this.sums!.value() ?? {}) }
          m[bucket] = (m[bucket] ?? 0) + e.v
          this.sums!.update(m)
          ctx.timerService().registerEventTimeTimer(bucket * 500 + 499)
        },
        onTimer(t, ctx, out) {
          const bucket = (t - 499) / 500
          const m = { ...(this.sums!.value() ?? {}) }
          out.collect({ key: ctx.getCurrentKey(), bucket, sum: m[bucket] })
          delete m[bucket]
          this.sums!.update(m)
        },
      }
      const perBucket = src.keyBy((e) => e.key).process(sumsPerBucket)
      const windowCounts = src
        .keyBy((e) => e.key)
        .window(TumblingEventTimeWindows.of(500))
        .aggregate({ createAccumulator: () => 0, add: (_e, n) => n + 1, getResult: (n) => n, merge: (p, q) => p + q }, (key, w, n) => ({ key, start: w.start, n }))
      const [a, b] = await env.executeAndCollect(perBucket, windowCounts)
      return { perBucket: sortedJson(a), windows: sortedJson(b) }
    }
    const small = await run(1)
    const large = await run(1024)
    expect(small).toEqual(large)
    const expectedBuckets = new Map<string, { key: string; bucket: number; sum: number }>()
    const expectedWindows = new Map<string, { key: string; start: number; n: number }>()
    for (let i = 0; i < count; i++) {
      const key = keys[(i * 7) % 5]
      const bucket = Math.floor(i / 500)
      const b = expectedBuckets.get(`${key}/${bucket}`) ?? { key, bucket, sum: 0 }
      expectedBuckets.set(`${key}/${bucket}`, { ...b, sum: b.sum + (i % 11) })
      const w = expectedWindows.get(`${key}/${bucket}`) ?? { key, start: bucket * 500, n: 0 }
      expectedWindows.set(`${key}/${bucket}`, { ...w, n: w.n + 1 })
    }
    expect(large.perBucket).toEqual(sortedJson([...expectedBuckets.values()]))
    expect(large.windows).toEqual(sortedJson([...expectedWindows.values()]))
  })
})

describe('processing time on a ManualClock', () => {
  /** Waits (yielding to the event loop) until `done()` holds. */
  async function until(done: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 10_000; i++) {
      if (done()) return
      await tick()
    }
    throw new Error(`timed out waiting for ${what}`)
  }

  it('processing-time timers and processing-time windows fire by the clock, deterministically', async () => {
    const clock = new ManualClock(0)
    const env = StreamExecutionEnvironment.create({ clock, parallelism: 2 })
    const count = 50
    // 10 records per second: record i is emitted when the clock reaches i * 100 ms
    const src = env
      .fromGenerator((i) => ({ key: `k${i % 3}`, i }), { count, eventsPerSecond: 10, name: 'paced' })
      .setParallelism(1)
    type Row = { key: string; n: number; at: number }
    const timerRows: Row[] = []
    const windowRows: Row[] = []
    const counter: KeyedProcessFunction<string, { key: string; i: number }, Row> & { n?: ValueState<number> } = {
      open(ctx) {
        this.n = ctx.getState(new ValueStateDescriptor<number>('n'))
      },
      processElement(_e, ctx) {
        this.n!.update((this.n!.value() ?? 0) + 1)
        const now = ctx.timerService().currentProcessingTime()
        ctx.timerService().registerProcessingTimeTimer(Math.floor(now / 1000) * 1000 + 999)
      },
      onTimer(t, ctx, out) {
        expect(ctx.timeDomain()).toBe('processing-time')
        out.collect({ key: ctx.getCurrentKey(), n: this.n!.value() ?? 0, at: t })
        this.n!.clear()
      },
    }
    src
      .keyBy((e) => e.key)
      .process(
        counter,
        'counter',
      )
      .sinkTo(arraySink(timerRows))
    src
      .keyBy((e) => e.key)
      .window(TumblingProcessingTimeWindows.of(1000))
      .aggregate({ createAccumulator: () => 0, add: (_e, n) => n + 1, getResult: (n) => n, merge: (p, q) => p + q }, (key, w, n) => ({ key, n, at: w.end - 1 }))
      .sinkTo(arraySink(windowRows))

    const client: JobClient = env.executeAsync('paced')
    let settled = false
    client.result.then(
      () => (settled = true),
      () => (settled = true),
    )
    const consumed = () =>
      client
        .tasks()
        .filter((t) => t.name.startsWith('counter'))
        .reduce((n, t) => n + t.recordsIn, 0)
    for (let now = 0; !settled; now += 100) {
      if (now > 0) clock.setTime(now)
      const due = Math.min(count, Math.floor(now / 100) + 1)
      await until(() => settled || consumed() === due, `record ${due - 1} at ${now} ms`)
      expect(now).toBeLessThan(10_000)
    }
    await client.result

    // Record i arrives at i * 100 ms, so the second s holds records 10s .. 10s + 9. The timers and
    // windows of seconds 0..3 fire; those of second 4 are still pending when the input ends, and
    // (as in Flink) pending processing-time timers do not fire at the end of input.
    const expected: Row[] = []
    for (let s = 0; s < 4; s++) {
      for (const key of ['k0', 'k1', 'k2']) {
        const n = Array.from({ length: 10 }, (_, j) => 10 * s + j).filter((i) => `k${i % 3}` === key).length
        expected.push({ key, n, at: s * 1000 + 999 })
      }
    }
    expect(sortedJson(timerRows)).toEqual(sortedJson(expected))
    expect(sortedJson(windowRows)).toEqual(sortedJson(expected))
  })
})

describe('sources', () => {
  it.each([1, 2, 3, 5, 8])('the generator at parallelism %i emits every index exactly once, index i on subtask i mod p', async (p) => {
    const env = StreamExecutionEnvironment.create({ parallelism: p })
    const count = 10_007
    const tag: ProcessFunction<number, [number, number]> & { subtask?: number } = {
      open(ctx) {
        this.subtask = ctx.subtaskIndex
      },
      processElement(i, _ctx, out) {
        out.collect([i, this.subtask!])
      },
    }
    const tagged = env.fromGenerator((i) => i, { count }).process(tag)
    const [rows] = await env.executeAndCollect(tagged)
    expect(rows).toHaveLength(count)
    expect(rows.map(([i]) => i).sort(byNumber)).toEqual(Array.from({ length: count }, (_, i) => i))
    for (const [i, subtask] of rows) if (i % p !== subtask) expect.fail(`index ${i} came from subtask ${subtask}, expected ${i % p}`)
  })

  it('a generator with count 0 ends at once', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 3 })
    const [rows] = await env.executeAndCollect(env.fromGenerator((i) => i, { count: 0 }))
    expect(rows).toEqual([])
  })
})

describe('windows', () => {
  const input: Ev[] = [
    { key: 'a', ts: 1, v: 1 },
    { key: 'b', ts: 2, v: 10 },
    { key: 'a', ts: 3, v: 2 },
    { key: 'a', ts: 4, v: 3 },
    { key: 'b', ts: 5, v: 20 },
    { key: 'a', ts: 6, v: 4 },
    { key: 'a', ts: 7, v: 5 },
    { key: 'b', ts: 8, v: 30 },
    { key: 'a', ts: 9, v: 6 },
    { key: 'a', ts: 10, v: 7 },
    { key: 'b', ts: 11, v: 40 },
  ]

  it('GlobalWindows + CountTrigger.of(3) fires every third element with the whole window so far', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const sums = env
      .fromCollection(input)
      .keyBy((e) => e.key)
      .window(GlobalWindows.create())
      .trigger(CountTrigger.of(3))
      .reduce((x, y) => ({ key: x.key, ts: y.ts, v: x.v + y.v }))
    const [rows] = await env.executeAndCollect(sums)
    // a: 1,2,3 | 4,5,6 | 7 → fires 6 and 21 (FIRE does not purge); b: 10,20,30 | 40 → fires 60
    const byKey = groupBy(rows, (r) => r.key)
    expect(byKey.get('a')?.map((r) => r.v)).toEqual([6, 21])
    expect(byKey.get('b')?.map((r) => r.v)).toEqual([60])
    expect(byKey.size).toBe(2)
  })

  it('GlobalWindows + PurgingTrigger.of(CountTrigger.of(3)) emits consecutive groups of three', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const groups = env
      .fromCollection(input)
      .keyBy((e) => e.key)
      .window(GlobalWindows.create())
      .trigger(PurgingTrigger.of(CountTrigger.of(3)))
      .process<string>((key, _ctx, elements, out) => out.collect(`${key}:${elements.map((e) => e.v).join(',')}`))
    const [rows] = await env.executeAndCollect(groups)
    expect(rows.sort()).toEqual(['a:1,2,3', 'a:4,5,6', 'b:10,20,30'])
  })

  it('windowAll computes one result per window over all keys, in one subtask', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 4 })
    const count = 2_000
    const totals = env
      .fromGenerator((i): Ev => ({ key: `k${i % 9}`, ts: i * 3, v: i % 7 }), { count }, WatermarkStrategy.forMonotonousTimestamps<Ev>().withTimestampAssigner((e) => e.ts))
      .windowAll(TumblingEventTimeWindows.of(1_000))
      .process<{ start: number; n: number; sum: number }>((_key, ctx, elements, out) =>
        out.collect({ start: ctx.window.start, n: elements.length, sum: elements.reduce((s, e) => s + e.v, 0) }),
      )
    const [rows] = await env.executeAndCollect(totals)
    const expected = new Map<number, { start: number; n: number; sum: number }>()
    for (let i = 0; i < count; i++) {
      const start = Math.floor((i * 3) / 1000) * 1000
      const w = expected.get(start) ?? { start, n: 0, sum: 0 }
      expected.set(start, { ...w, n: w.n + 1, sum: w.sum + (i % 7) })
    }
    expect(rows.sort((p, q) => p.start - q.start)).toEqual([...expected.values()])
  })

  it('windowAll runs at parallelism 1 whatever the environment default', () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 4 })
    env
      .fromGenerator((i): Ev => ({ key: 'k', ts: i, v: 1 }), { count: 10 }, noLateness())
      .windowAll(TumblingEventTimeWindows.of(10))
      .reduce((a, b) => ({ ...a, v: a.v + b.v }))
      .name('all')
      .sinkTo({ name: 'discard', createWriter: () => ({ write() {} }) })
    const plan = JSON.parse(env.getExecutionPlan()) as { vertices: { name: string; parallelism: number }[] }
    expect(plan.vertices.find((v) => v.name === 'all')?.parallelism).toBe(1)
  })

  it('a window join pairs every left with every right record of the same key and window', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 3 })
    const left: Ev[] = [
      { key: 'x', ts: 1, v: 1 },
      { key: 'x', ts: 4, v: 2 },
      { key: 'y', ts: 5, v: 3 },
      { key: 'x', ts: 12, v: 4 },
      { key: 'z', ts: 13, v: 5 },
    ]
    const right: Ev[] = [
      { key: 'x', ts: 2, v: 10 },
      { key: 'x', ts: 9, v: 20 },
      { key: 'y', ts: 11, v: 30 },
      { key: 'x', ts: 15, v: 40 },
      { key: 'x', ts: 19, v: 50 },
    ]
    const joined = env
      .fromCollection(left, noLateness(), 'left')
      .join(env.fromCollection(right, noLateness(), 'right'))
      .where((l) => l.key)
      .equalTo((r) => r.key)
      .window(TumblingEventTimeWindows.of(10))
      .apply((l, r) => `${l.key}:${l.v}x${r.v}`)
    const [rows] = await env.executeAndCollect(joined)
    const expected = left.flatMap((l) =>
      right.filter((r) => r.key === l.key && Math.floor(r.ts / 10) === Math.floor(l.ts / 10)).map((r) => `${l.key}:${l.v}x${r.v}`),
    )
    expect(expected).toHaveLength(6)
    expect(rows.sort()).toEqual(expected.sort())
  })

  it('an interval join pairs records with l.ts + lo <= r.ts <= l.ts + hi (bounds inclusive)', async () => {
    const left: Ev[] = Array.from({ length: 40 }, (_, i) => ({ key: `k${i % 3}`, ts: i * 5, v: i }))
    const right: Ev[] = Array.from({ length: 60 }, (_, i) => ({ key: `k${i % 4}`, ts: i * 3, v: 100 + i }))
    const expected = left.flatMap((l) => right.filter((r) => r.key === l.key && l.ts - 4 <= r.ts && r.ts <= l.ts + 6).map((r) => `${l.v}-${r.v}`))
    expect(expected.length).toBeGreaterThan(10)
    for (const parallelism of [1, 3]) {
      const env = StreamExecutionEnvironment.create({ parallelism })
      const joined = env
        .fromCollection(left, WatermarkStrategy.forMonotonousTimestamps<Ev>().withTimestampAssigner((e) => e.ts), 'left')
        .keyBy((e) => e.key)
        .intervalJoin(env.fromCollection(right, WatermarkStrategy.forMonotonousTimestamps<Ev>().withTimestampAssigner((e) => e.ts), 'right').keyBy((e) => e.key))
        .between(-4, 6)
        .process<string>((l, r, ctx, out) => {
          expect(ctx.timestamp()).toBe(Math.max(l.ts, r.ts))
          out.collect(`${l.v}-${r.v}`)
        })
      const [rows] = await env.executeAndCollect(joined)
      expect(rows.sort(), `parallelism ${parallelism}`).toEqual([...expected].sort())
    }
  })
})

describe('idle sources', () => {
  /**
   * A parallel source whose subtasks read nothing until the clock reaches `end`, then end. With
   * `resumeAt`, each subtask reads one old record (event time 100) at that time in between.
   */
  class SilentSource implements Source<Ev> {
    readonly name = 'silent'
    readonly bounded = true
    constructor(
      private readonly end: number,
      private readonly resumeAt?: number,
    ) {}
    createReader(ctx: SourceReaderContext): SourceReader<Ev> {
      const { end, resumeAt } = this
      let resumed = resumeAt === undefined
      return {
        pollNext(output) {
          const now = ctx.clock.now()
          if (now >= end) return 'end'
          if (!resumed && now >= resumeAt!) {
            resumed = true
            output.collect({ key: 'k', ts: 100, v: 1 })
          }
          return 'nothing'
        },
        isAvailable: () => ctx.clock.sleepUntil(resumed ? end : resumeAt!),
      }
    }
  }

  type Fired = { start: number; n: number; at: number }

  async function runUnion(options: { idlenessMs?: number; resumeAt?: number }): Promise<Fired[]> {
    const clock = new ManualClock(0)
    const env = StreamExecutionEnvironment.create({ clock, parallelism: 2, autoWatermarkIntervalMs: 50 })
    const ordered = WatermarkStrategy.forMonotonousTimestamps<Ev>().withTimestampAssigner((e) => e.ts)
    // main: record i at processing time i * 100 ms with event time i * 100 ms
    const main = env.fromGenerator((i): Ev => ({ key: 'k', ts: i * 100, v: 1 }), { count: 40, eventsPerSecond: 10, name: 'main' }, ordered).setParallelism(1)
    const sideStrategy = options.idlenessMs === undefined ? ordered : ordered.withIdleness(options.idlenessMs)
    const side = env.fromSource(new SilentSource(6_000, options.resumeAt), sideStrategy, 'silent').setParallelism(2)
    const fired: Fired[] = []
    main
      .union(side)
      .keyBy((e) => e.key)
      .window(TumblingEventTimeWindows.of(500))
      .aggregate({ createAccumulator: () => 0, add: (_e, n) => n + 1, getResult: (n) => n, merge: (p, q) => p + q }, (_k, w, n) => ({ start: w.start, n, at: clock.now() }))
      .sinkTo(arraySink(fired))
    const client = env.executeAsync()
    let settled = false
    client.result.then(
      () => (settled = true),
      () => (settled = true),
    )
    while (!settled && clock.now() < 20_000) {
      clock.advance(10)
      for (let i = 0; i < 5; i++) await tick()
    }
    await client.result
    return fired.sort((p, q) => p.start - q.start)
  }

  const eightWindowsOfFive = [0, 500, 1000, 1500, 2000, 2500, 3000, 3500].map((start) => [start, 5])

  it('with withIdleness, silent parallel subtasks stop holding back windows of the main source', async () => {
    const fired = await runUnion({ idlenessMs: 300 })
    expect(fired.map((f) => [f.start, f.n])).toEqual(eightWindowsOfFive)
    // window [s, s + 500) can fire once the main source has read the record at s + 500 (processing
    // time s + 500): idleness (300 ms, checked every 50 ms) must not delay it by much.
    for (const f of fired.slice(0, -1)) expect(f.at, `window ${f.start}`).toBeLessThanOrEqual(f.start + 500 + 100)
  })

  it('without withIdleness, the silent subtasks hold every window back until they end', async () => {
    const fired = await runUnion({})
    expect(fired.map((f) => [f.start, f.n])).toEqual(eightWindowsOfFive)
    for (const f of fired) expect(f.at).toBeGreaterThanOrEqual(6_000)
  })

  it('a subtask that becomes active again with old data does not stall the others (Flink aligns channels)', async () => {
    // idle from 800 ms; at 1200 ms each silent subtask reads a record with event time 100 (late:
    // dropped) and is active, behind the window operator's watermark, until idle again ~800 ms later.
    const fired = await runUnion({ idlenessMs: 800, resumeAt: 1_200 })
    expect(fired.map((f) => [f.start, f.n])).toEqual(eightWindowsOfFive)
    for (const f of fired.slice(0, -1)) expect(f.at, `window ${f.start}`).toBeLessThanOrEqual(Math.max(f.start + 500, 800) + 100)
  })
})
