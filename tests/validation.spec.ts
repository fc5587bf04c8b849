/**
 * Invalid jobs fail early, when the job is built, with a FluxionError whose code is stable and whose
 * message says what is wrong and how to fix it; failures of user functions at run time name the
 * operator and the key and keep the original error as `cause`.
 */
import { describe, expect, it } from 'vitest'
import {
  CountTrigger,
  EventTimeSessionWindows,
  FluxionError,
  GlobalWindows,
  OutputTag,
  SlidingEventTimeWindows,
  StreamExecutionEnvironment,
  TumblingEventTimeWindows,
  TumblingProcessingTimeWindows,
  ValueStateDescriptor,
  WatermarkStrategy,
  type EnvironmentOptions,
  type FluxionErrorCode,
  type KeyedProcessContext,
  type KeyedProcessFunction,
  type OnTimerContext,
  type ValueState,
} from '../index.ts'

/** Runs `fn` and returns the FluxionError it throws (fails the test if it does not throw one). */
function thrown(fn: () => unknown): FluxionError {
  let error: unknown
  try {
    fn()
  } catch (e) {
    error = e
  }
  expect(error, 'expected a FluxionError to be thrown').toBeInstanceOf(FluxionError)
  return error as FluxionError
}

async function rejected(run: () => Promise<unknown>): Promise<FluxionError> {
  let error: unknown
  try {
    await run()
  } catch (e) {
    error = e
  }
  expect(error, 'expected the job to fail with a FluxionError').toBeInstanceOf(FluxionError)
  return error as FluxionError
}

function expectCode(e: FluxionError, code: FluxionErrorCode, ...fragments: (string | RegExp)[]): void {
  expect(e.code).toBe(code)
  expect(e.message.startsWith(`${code}: `)).toBe(true)
  for (const f of fragments) expect(e.message).toMatch(f)
}

interface Ev {
  user: string
  ts: number
  v: number
}
const events: Ev[] = [
  { user: 'ann', ts: 1_000, v: 1 },
  { user: 'bob', ts: 2_000, v: 2 },
  { user: 'ann', ts: 3_000, v: 3 },
]
const timed = () => WatermarkStrategy.forMonotonousTimestamps<Ev>().withTimestampAssigner((e) => e.ts)

describe('topology validation at build time', () => {
  it('window() without keyBy: FLX_WINDOW_WITHOUT_KEYBY, pointing to keyBy and windowAll', () => {
    const env = StreamExecutionEnvironment.create()
    const e = thrown(() => env.fromCollection(events, timed()).window(TumblingEventTimeWindows.of(1_000)))
    expectCode(e, 'FLX_WINDOW_WITHOUT_KEYBY', /keyBy/, /windowAll/)
    expect(e.domain).toBe('config')
    expect(e.retriable).toBe(false)
  })

  it.each([
    ['TumblingEventTimeWindows.of(0)', () => TumblingEventTimeWindows.of(0)],
    ['TumblingEventTimeWindows.of(-5)', () => TumblingEventTimeWindows.of(-5)],
    ['TumblingEventTimeWindows.of(NaN)', () => TumblingEventTimeWindows.of(Number.NaN)],
    ['TumblingProcessingTimeWindows.of(0)', () => TumblingProcessingTimeWindows.of(0)],
    ['SlidingEventTimeWindows.of(0, 10)', () => SlidingEventTimeWindows.of(0, 10)],
    ['SlidingEventTimeWindows.of(10, 0)', () => SlidingEventTimeWindows.of(10, 0)],
    ['SlidingEventTimeWindows.of(10, -1)', () => SlidingEventTimeWindows.of(10, -1)],
    ['EventTimeSessionWindows.withGap(0)', () => EventTimeSessionWindows.withGap(0)],
    ['EventTimeSessionWindows.withGap(-1)', () => EventTimeSessionWindows.withGap(-1)],
  ])('%s: FLX_INVALID_WINDOW naming the bad value', (_label, make) => {
    const e = thrown(make)
    expectCode(e, 'FLX_INVALID_WINDOW', /must be a finite number of milliseconds > 0/)
  })

  it('a negative allowedLateness is FLX_INVALID_WINDOW', () => {
    const env = StreamExecutionEnvironment.create()
    const w = env
      .fromCollection(events, timed())
      .keyBy((e) => e.user)
      .window(TumblingEventTimeWindows.of(1_000))
    expectCode(thrown(() => w.allowedLateness(-1)), 'FLX_INVALID_WINDOW', /allowedLateness/)
  })

  it('parallelism above maxParallelism in the environment options: FLX_PARALLELISM_TOO_HIGH', () => {
    const e1 = thrown(() => StreamExecutionEnvironment.create({ parallelism: 129 }))
    expectCode(e1, 'FLX_PARALLELISM_TOO_HIGH', /129/, /maxParallelism 128/)
    const e2 = thrown(() => StreamExecutionEnvironment.create({ parallelism: 5, maxParallelism: 4 }))
    expectCode(e2, 'FLX_PARALLELISM_TOO_HIGH', /parallelism 5/, /maxParallelism 4/, /raise maxParallelism/)
  })

  it('setParallelism above maxParallelism, on an operator or a sink: FLX_PARALLELISM_TOO_HIGH naming the operator', () => {
    const env = StreamExecutionEnvironment.create({ maxParallelism: 8 })
    const mapped = env.fromCollection(events).map((e) => e.v, 'my-map')
    expectCode(thrown(() => mapped.setParallelism(9)), 'FLX_PARALLELISM_TOO_HIGH', /my-map/, /9/, /maxParallelism 8/)
    const sink = mapped.sinkTo({ name: 'my-sink', createWriter: () => ({ write() {} }) })
    expectCode(thrown(() => sink.setParallelism(64)), 'FLX_PARALLELISM_TOO_HIGH', /my-sink/, /64/)
    // at the limit is fine
    mapped.setParallelism(8)
    sink.setParallelism(8)
  })

  it('a non-integer or zero parallelism is FLX_INVALID_CONFIG', () => {
    expectCode(thrown(() => StreamExecutionEnvironment.create({ parallelism: 0 })), 'FLX_INVALID_CONFIG', /parallelism/)
    const env = StreamExecutionEnvironment.create()
    const s = env.fromCollection(events).map((e) => e.v)
    expectCode(thrown(() => s.setParallelism(1.5)), 'FLX_INVALID_CONFIG', /1\.5/)
  })

  it('a source above its own maximum parallelism (fromCollection is non-parallel) is FLX_INVALID_CONFIG', () => {
    const env = StreamExecutionEnvironment.create()
    expectCode(thrown(() => env.fromCollection(events).setParallelism(2)), 'FLX_INVALID_CONFIG', /at most parallelism 1/)
  })

  it('getSideOutput of a tag the operator never produces: FLX_UNKNOWN_SIDE_OUTPUT naming operator and tag', () => {
    const env = StreamExecutionEnvironment.create()
    const late = new OutputTag<Ev>('late')
    const other = new OutputTag<Ev>('other')
    const windowed = env
      .fromCollection(events, timed())
      .keyBy((e) => e.user)
      .window(TumblingEventTimeWindows.of(1_000))
      .sideOutputLateData(late)
      .reduce((a, b) => ({ ...a, v: a.v + b.v }))
      .name('sums')
    windowed.getSideOutput(late) // declared: fine
    expectCode(thrown(() => windowed.getSideOutput(other)), 'FLX_UNKNOWN_SIDE_OUTPUT', /"sums"/, /"other"/, /it produces: late/)

    const mapped = env.fromCollection(events).map((e) => e.v, 'plain-map')
    expectCode(thrown(() => mapped.getSideOutput(other)), 'FLX_UNKNOWN_SIDE_OUTPUT', /"plain-map"/, /produces no side outputs/)

    const declared = env.fromCollection(events).process<Ev>({ sideOutputs: [late], processElement: (e, _c, out) => out.collect(e) }, 'declared')
    declared.getSideOutput(late)
    expectCode(thrown(() => declared.getSideOutput(other)), 'FLX_UNKNOWN_SIDE_OUTPUT', /"declared"/)
  })

  it.each<[string, EnvironmentOptions]>([
    ['an unknown option', { paralelism: 2 } as unknown as EnvironmentOptions],
    ['batchSize 0', { batchSize: 0 }],
    ['channelCapacity below batchSize', { batchSize: 64, channelCapacity: 10 }],
    ['maxParallelism 0', { maxParallelism: 0 }],
    ['autoWatermarkIntervalMs 0', { autoWatermarkIntervalMs: 0 }],
    ['stateBackend that does not exist', { stateBackend: 'leveldb' as 'rocksdb' }],
    ['workers 0', { workers: 0 }],
    ['workers 1.5', { workers: 1.5 }],
  ])('StreamExecutionEnvironment.create with %s: FLX_INVALID_CONFIG', (_label, options) => {
    const e = thrown(() => StreamExecutionEnvironment.create(options))
    expectCode(e, 'FLX_INVALID_CONFIG')
    expect(e.domain).toBe('config')
  })

  it('the unknown-option error names the option and lists the known ones', () => {
    const e = thrown(() => StreamExecutionEnvironment.create({ paralelism: 2 } as unknown as EnvironmentOptions))
    expectCode(e, 'FLX_INVALID_CONFIG', /"paralelism"/, /parallelism/, /maxParallelism/)
  })

  it('a job with no sinks: FLX_INVALID_TOPOLOGY telling how to add one', async () => {
    const env = StreamExecutionEnvironment.create()
    env.fromCollection(events).map((e) => e.v)
    // execute() may throw synchronously or reject: either way the job must not start
    const e = await rejected(async () => env.execute())
    expectCode(e, 'FLX_INVALID_TOPOLOGY', /no sinks/, /sinkTo/)
    expectCode(thrown(() => env.getExecutionPlan()), 'FLX_INVALID_TOPOLOGY')
  })

  it('executeAndCollect with a stream of another environment is FLX_INVALID_TOPOLOGY', async () => {
    const env = StreamExecutionEnvironment.create()
    const other = StreamExecutionEnvironment.create().fromCollection([1])
    const e = await rejected(() => env.executeAndCollect(other))
    expectCode(e, 'FLX_INVALID_TOPOLOGY')
  })

  it('union across environments is FLX_INVALID_TOPOLOGY', () => {
    const a = StreamExecutionEnvironment.create().fromCollection([1])
    const b = StreamExecutionEnvironment.create().fromCollection([2])
    expectCode(thrown(() => a.union(b)), 'FLX_INVALID_TOPOLOGY', /same StreamExecutionEnvironment/)
  })

  // errors.ts: "Every error the engine raises is a FluxionError with a stable code". These
  // builders validate their arguments, but throw plain RangeErrors.
  it.each([
    ['CountTrigger.of(0)', () => CountTrigger.of(0)],
    ['WatermarkStrategy.forBoundedOutOfOrderness(-1)', () => WatermarkStrategy.forBoundedOutOfOrderness(-1)],
    ['WatermarkStrategy.withIdleness(0)', () => WatermarkStrategy.forMonotonousTimestamps().withIdleness(0)],
  ])('%s is rejected with a FluxionError (FLX_INVALID_CONFIG or FLX_INVALID_WINDOW)', (_label, make) => {
    const e = thrown(make)
    expect(['FLX_INVALID_CONFIG', 'FLX_INVALID_WINDOW']).toContain(e.code)
  })
})

describe('user function failures at run time', () => {
  interface Count {
    user: string
    n: number
  }

  it('a keyed process function that throws: FLX_USER_FUNCTION_FAILED naming operator and key, with the original cause', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const boom = new Error('cannot score bob')
    const fn: KeyedProcessFunction<string, Ev, Ev> = {
      processElement(e, _ctx, out) {
        if (e.user === 'bob') throw boom
        out.collect(e)
      },
    }
    const scored = env
      .fromCollection(events)
      .keyBy((e) => e.user)
      .process(fn)
      .name('fraud-scorer')
    const e = await rejected(() => env.executeAndCollect(scored))
    expectCode(e, 'FLX_USER_FUNCTION_FAILED', /operator "fraud-scorer"/, /key "bob"/, /cannot score bob/)
    expect(e.cause).toBe(boom)
    expect(e.operator).toBe('fraud-scorer')
    expect(e.key).toBe('bob')
    expect(e.domain).toBe('user')
  })

  it('a non-keyed map that throws names the operator and no key', async () => {
    const env = StreamExecutionEnvironment.create()
    const boom = new TypeError('bad value 3')
    const mapped = env
      .fromCollection([1, 2, 3, 4])
      .map((x) => {
        if (x === 3) throw boom
        return x
      })
      .name('parse-amount')
    const e = await rejected(() => env.executeAndCollect(mapped))
    expectCode(e, 'FLX_USER_FUNCTION_FAILED', /operator "parse-amount"/, /bad value 3/)
    expect(e.message).not.toMatch(/key/)
    expect(e.cause).toBe(boom)
    expect(e.key).toBeUndefined()
  })

  it('a keyed reduce that throws names the operator and a numeric key', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 3 })
    const boom = new RangeError('overflow')
    const reduced = env
      .fromGenerator((i) => ({ k: i % 5, v: i }), { count: 50 })
      .keyBy((e) => e.k)
      .reduce((a, b) => {
        if (b.k === 4 && b.v > 20) throw boom
        return { k: a.k, v: a.v + b.v }
      })
      .name('running-sum')
    const e = await rejected(() => env.executeAndCollect(reduced))
    expectCode(e, 'FLX_USER_FUNCTION_FAILED', /operator "running-sum"/, /key 4\b/, /overflow/)
    expect(e.key).toBe(4)
    expect(e.cause).toBe(boom)
  })

  it('an event-time timer callback that throws names the operator and the timer’s key', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const boom = new Error('timer failed')
    const counts = env
      .fromCollection(events, timed())
      .keyBy((e) => e.user)
      .process<Count>(
        {
          processElement(e: Ev, ctx: KeyedProcessContext<string>) {
            ctx.timerService().registerEventTimeTimer(e.ts + 10)
          },
          onTimer(_t: number, ctx: OnTimerContext<string>) {
            if (ctx.getCurrentKey() === 'ann') throw boom
          },
        },
        'timer-op',
      )
    const e = await rejected(() => env.executeAndCollect(counts))
    expectCode(e, 'FLX_USER_FUNCTION_FAILED', /operator "timer-op"/, /key "ann"/, /timer failed/)
    expect(e.cause).toBe(boom)
  })

  it('a window aggregate whose add() throws names the window operator (renamed) and the key', async () => {
    const env = StreamExecutionEnvironment.create()
    const boom = new Error('acc broke')
    const out = env
      .fromCollection(events, timed())
      .keyBy((e) => e.user)
      .window(TumblingEventTimeWindows.of(10_000))
      .aggregate({
        createAccumulator: () => 0,
        add: (e, acc) => {
          if (e.v === 2) throw boom
          return acc + e.v
        },
        getResult: (acc) => acc,
        merge: (a, b) => a + b,
      })
      .name('per-user-sum')
    const e = await rejected(() => env.executeAndCollect(out))
    expectCode(e, 'FLX_USER_FUNCTION_FAILED', /operator "per-user-sum"/, /key "bob"/, /acc broke/)
    expect(e.cause).toBe(boom)
  })

  it('a key selector that throws fails the job with FLX_USER_FUNCTION_FAILED and the cause', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const boom = new Error('no user field')
    const keyed = env
      .fromCollection(events)
      .keyBy((e) => {
        if (e.v === 3) throw boom
        return e.user
      }, 'by-user')
      .reduce((a, b) => ({ ...a, v: a.v + b.v }))
    const e = await rejected(() => env.executeAndCollect(keyed))
    expectCode(e, 'FLX_USER_FUNCTION_FAILED', /"by-user"/, /no user field/)
    expect(e.cause).toBe(boom)
  })

  it('an error in a chained downstream operator keeps that operator’s name (not the upstream one)', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const boom = new Error('downstream broke')
    const fn: KeyedProcessFunction<string, Ev, Ev> & { seen?: ValueState<number> } = {
      open(ctx) {
        this.seen = ctx.getState(new ValueStateDescriptor<number>('seen'))
      },
      processElement(e, _ctx, out) {
        this.seen!.update((this.seen!.value() ?? 0) + 1)
        out.collect(e)
      },
    }
    const out = env
      .fromCollection(events)
      .keyBy((e) => e.user)
      .process(fn)
      .name('upstream')
      .map((e) => {
        if (e.user === 'ann' && e.v === 3) throw boom
        return e
      })
      .name('downstream')
    const e = await rejected(() => env.executeAndCollect(out))
    expectCode(e, 'FLX_USER_FUNCTION_FAILED', /operator "downstream"/, /downstream broke/)
    expect(e.cause).toBe(boom)
  })

  it('a throwing window process function on global windows fails with the key of the fired window', async () => {
    const env = StreamExecutionEnvironment.create()
    const boom = new Error('emit failed')
    const out = env
      .fromCollection(events)
      .keyBy((e) => e.user)
      .window(GlobalWindows.create())
      .trigger(CountTrigger.of(2))
      .process((key, _ctx, elements, collector) => {
        if (key === 'ann') throw boom
        collector.collect(elements.length)
      })
      .name('every-two')
    const e = await rejected(() => env.executeAndCollect(out))
    expectCode(e, 'FLX_USER_FUNCTION_FAILED', /operator "every-two"/, /key "ann"/)
    expect(e.cause).toBe(boom)
  })

  it('a failed job closes every operator (a sink can release its resources)', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    let opened = 0
    let closed = 0
    env
      .fromGenerator((i) => i, { count: 10_000 })
      .map((i) => {
        if (i === 5_000) throw new Error('stop')
        return i
      })
      .rebalance()
      .sinkTo({
        name: 'closable',
        createWriter: () => {
          opened++
          return { write() {}, close: () => void closed++ }
        },
      })
    const e = await rejected(() => env.execute())
    expectCode(e, 'FLX_USER_FUNCTION_FAILED')
    expect(opened).toBe(2)
    expect(closed).toBe(2)
  })
})
