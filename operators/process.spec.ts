/**
 * ProcessOperator unit tests (after Flink's KeyedProcessOperatorTest): keyed state, event-time and
 * processing-time timers, side outputs, and the non-keyed ProcessFunction. Every stateful test
 * snapshots, closes, restores and continues mid-way.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FluxionError } from '../engine/errors.ts'
import type { Collector } from '../engine/output.ts'
import { OutputTag } from '../engine/output-tag.ts'
import { OperatorTestHarness } from '../engine/testing/operator-harness.ts'
import { ListStateDescriptor, MapStateDescriptor, ValueStateDescriptor, type ListState, type MapState, type ValueState } from '../state/api.ts'
import type { KeyedProcessContext, KeyedProcessFunction, OnTimerContext, ProcessFunction, RuntimeContext } from './process-function.ts'

interface Ev {
  key: string
  v: number
}

const key = (e: Ev) => e.key

function thrown(fn: () => unknown): FluxionError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(FluxionError)
    return e as FluxionError
  }
  throw new Error('expected a FluxionError, nothing was thrown')
}

describe('KeyedProcessFunction: keyed state', () => {
  /** Running count and sum per key in ValueState. */
  class RunningTotals implements KeyedProcessFunction<string, Ev, string> {
    private count!: ValueState<number>
    private sum!: ValueState<number>
    open(ctx: RuntimeContext): void {
      this.count = ctx.getState(new ValueStateDescriptor<number>('count', { defaultValue: 0 }))
      this.sum = ctx.getState(new ValueStateDescriptor<number>('sum'))
    }
    processElement(e: Ev, ctx: KeyedProcessContext<string>, out: Collector<string>): void {
      this.count.update(this.count.value()! + 1)
      this.sum.update((this.sum.value() ?? 0) + e.v)
      if (e.v < 0) {
        this.count.clear()
        this.sum.clear()
      }
      out.collect(`${ctx.getCurrentKey()}:${this.count.value()}:${this.sum.value()}`)
    }
  }

  it('keeps ValueState per key across snapshot and restore', () => {
    let h = OperatorTestHarness.forKeyedProcessFunction(new RunningTotals(), key)
    h.processElement({ key: 'a', v: 1 }, 1).processElement({ key: 'b', v: 10 }, 2)
    expect(h.stateSize()).toBe(4)
    h = h.snapshotAndRestore()
    h.processElement({ key: 'a', v: 2 }, 3)
    h = h.snapshotAndRestore()
    h.processElement({ key: 'b', v: 20 }, 4).processElement({ key: 'a', v: -100 }, 5)
    expect(h.extractOutputValues()).toEqual(['a:1:1', 'b:1:10', 'a:2:3', 'b:2:30', 'a:0:undefined'])
    expect(h.getOutput().map((r) => r.timestamp)).toEqual([1, 2, 3, 4, 5])
    expect(h.stateSize()).toBe(2) // only b's entries are left
  })

  /** Keeps every value (ListState) and a count per distinct value (MapState). */
  class Histogram implements KeyedProcessFunction<string, Ev, { all: number[]; counts: [number, number][] }> {
    private all!: ListState<number>
    private counts!: MapState<number, number>
    open(ctx: RuntimeContext): void {
      this.all = ctx.getListState(new ListStateDescriptor<number>('all'))
      this.counts = ctx.getMapState(new MapStateDescriptor<number, number>('counts'))
    }
    processElement(e: Ev, _ctx: KeyedProcessContext<string>, out: Collector<{ all: number[]; counts: [number, number][] }>): void {
      if (e.v === 0) {
        this.all.clear()
        this.counts.clear()
      } else if (e.v < 0) {
        // Forget one occurrence of -v.
        const n = this.counts.get(-e.v) ?? 0
        if (n <= 1) this.counts.remove(-e.v)
        else this.counts.put(-e.v, n - 1)
        this.all.update(this.all.get().filter((x, i, arr) => x !== -e.v || arr.indexOf(x) !== i))
      } else {
        this.all.add(e.v)
        this.counts.put(e.v, (this.counts.get(e.v) ?? 0) + 1)
      }
      out.collect({ all: [...this.all.get()], counts: [...this.counts.entries()].sort((a, b) => a[0] - b[0]) })
    }
  }

  it('keeps ListState and MapState per key across snapshot and restore', () => {
    let h = OperatorTestHarness.forKeyedProcessFunction(new Histogram(), key)
    h.processElement({ key: 'a', v: 3 }, 1).processElement({ key: 'a', v: 5 }, 1).processElement({ key: 'b', v: 3 }, 1)
    h = h.snapshotAndRestore()
    h.processElement({ key: 'a', v: 3 }, 1)
    h = h.snapshotAndRestore()
    h.processElement({ key: 'a', v: -5 }, 1)
    expect(h.extractOutputValues().slice(-2)).toEqual([
      {
        all: [3, 5, 3],
        counts: [
          [3, 2],
          [5, 1],
        ],
      },
      { all: [3, 3], counts: [[3, 2]] },
    ])
    expect(h.stateSize()).toBe(4)
    h = h.snapshotAndRestore()
    h.processElement({ key: 'a', v: 0 }, 1).processElement({ key: 'b', v: -3 }, 1)
    expect(h.extractOutputValues().slice(-2)).toEqual([
      { all: [], counts: [] },
      { all: [], counts: [] },
    ])
    expect(h.stateSize()).toBe(0)
  })
})

describe('KeyedProcessFunction: timers', () => {
  interface Fired {
    key: string
    at: number
    domain: string
    ts: number | undefined
    count: number
  }

  /**
   * Flink's CountWithTimeoutFunction, extended: a record with v = -1 deletes the key's pending
   * timer, v = -2 registers a timer in the past. Timers fire with the key's count.
   */
  class CountWithTimeout implements KeyedProcessFunction<string, Ev, Fired> {
    private count!: ValueState<number>
    private due!: ValueState<number>
    constructor(
      private readonly domain: 'event' | 'processing',
      private readonly timeout: number,
    ) {}
    open(ctx: RuntimeContext): void {
      this.count = ctx.getState(new ValueStateDescriptor<number>('count', { defaultValue: 0 }))
      this.due = ctx.getState(new ValueStateDescriptor<number>('due'))
    }
    processElement(e: Ev, ctx: KeyedProcessContext<string>, _out: Collector<Fired>): void {
      const timers = ctx.timerService()
      const now = this.domain === 'event' ? ctx.timestamp()! : timers.currentProcessingTime()
      if (e.v === -1) {
        const due = this.due.value()
        if (due !== undefined) {
          if (this.domain === 'event') timers.deleteEventTimeTimer(due)
          else timers.deleteProcessingTimeTimer(due)
        }
        return
      }
      this.count.update(this.count.value()! + 1)
      const at = e.v === -2 ? now - 1000 : now + this.timeout
      this.due.update(at)
      if (this.domain === 'event') timers.registerEventTimeTimer(at)
      else timers.registerProcessingTimeTimer(at)
    }
    onTimer(timestamp: number, ctx: OnTimerContext<string>, out: Collector<Fired>): void {
      out.collect({ key: ctx.getCurrentKey(), at: timestamp, domain: ctx.timeDomain(), ts: ctx.timestamp(), count: this.count.value()! })
    }
  }

  it('fires event-time timers when the watermark reaches them, in time order, with the timer time as timestamp', () => {
    let h = OperatorTestHarness.forKeyedProcessFunction(new CountWithTimeout('event', 10), key)
    h.processElement({ key: 'a', v: 1 }, 5).processElement({ key: 'b', v: 1 }, 1).processWatermark(10)
    expect(h.extractOutputValues()).toEqual([])
    h.processWatermark(11)
    expect(h.extractOutputValues()).toEqual([{ key: 'b', at: 11, domain: 'event-time', ts: 11, count: 1 }])
    h = h.snapshotAndRestore()
    h.processWatermark(14).processElement({ key: 'a', v: 1 }, 12)
    h = h.snapshotAndRestore()
    h.processWatermark(22)
    expect(h.getOutput()).toEqual([
      { value: { key: 'b', at: 11, domain: 'event-time', ts: 11, count: 1 }, timestamp: 11 },
      { value: { key: 'a', at: 15, domain: 'event-time', ts: 15, count: 2 }, timestamp: 15 },
      { value: { key: 'a', at: 22, domain: 'event-time', ts: 22, count: 2 }, timestamp: 22 },
    ])
    expect(h.getWatermarks()).toContain(22)
  })

  it('registers a timer for the same key and time once, and deletes it', () => {
    let h = OperatorTestHarness.forKeyedProcessFunction(new CountWithTimeout('event', 10), key)
    h.processElement({ key: 'a', v: 1 }, 5).processElement({ key: 'a', v: 1 }, 5).processElement({ key: 'b', v: 1 }, 5)
    h = h.snapshotAndRestore()
    h.processElement({ key: 'a', v: 1 }, 5).processElement({ key: 'b', v: -1 }, 6) // b deletes its timer at 15
    h = h.snapshotAndRestore()
    h.processWatermark(100)
    expect(h.extractOutputValues()).toEqual([{ key: 'a', at: 15, domain: 'event-time', ts: 15, count: 3 }])
  })

  it('fires a timer registered behind the watermark at the next watermark', () => {
    let h = OperatorTestHarness.forKeyedProcessFunction(new CountWithTimeout('event', 10), key)
    h.processWatermark(50).processElement({ key: 'a', v: -2 }, 60) // registers 60 - 1000
    expect(h.extractOutputValues()).toEqual([])
    h = h.snapshotAndRestore()
    h.processWatermark(51)
    expect(h.extractOutputValues()).toEqual([{ key: 'a', at: -940, domain: 'event-time', ts: -940, count: 1 }])
  })

  it('fires processing-time timers when the clock reaches them, without a timestamp, across restores', () => {
    let h = OperatorTestHarness.forKeyedProcessFunction(new CountWithTimeout('processing', 5), key, { processingTime: 100 })
    h.processElement({ key: 'a', v: 1 }).processElement({ key: 'a', v: 1 }) // timer at 105, once
    h.setProcessingTime(102).processElement({ key: 'b', v: 1 }) // 107
    h = h.snapshotAndRestore()
    expect(h.clock.now()).toBe(102)
    h.processWatermark(Number.POSITIVE_INFINITY) // event time does not fire processing-time timers
    expect(h.extractOutputValues()).toEqual([])
    h.setProcessingTime(105)
    h = h.snapshotAndRestore()
    h.processElement({ key: 'b', v: -1 }) // deletes 107
    h.setProcessingTime(200)
    expect(h.getOutput()).toEqual([{ value: { key: 'a', at: 105, domain: 'processing-time', ts: undefined, count: 2 }, timestamp: undefined }])
  })

  it('fires timers registered inside onTimer in the same watermark advance when due', () => {
    const chain: KeyedProcessFunction<string, Ev, number> = {
      processElement(_e, ctx) {
        ctx.timerService().registerEventTimeTimer(ctx.timestamp()!)
      },
      onTimer(t, ctx, out) {
        out.collect(t)
        if (t < 30) ctx.timerService().registerEventTimeTimer(t + 10)
      },
    }
    let h = OperatorTestHarness.forKeyedProcessFunction(chain, key)
    h.processElement({ key: 'a', v: 1 }, 1)
    h = h.snapshotAndRestore()
    h.processWatermark(25)
    expect(h.extractOutputValues()).toEqual([1, 11, 21])
    h = h.snapshotAndRestore()
    h.processWatermark(40)
    expect(h.extractOutputValues()).toEqual([1, 11, 21, 31])
  })
})

describe('ProcessFunction: side outputs', () => {
  const small = new OutputTag<number>('small')
  const other = new OutputTag<string>('other')

  it('emits to side outputs from processElement and onTimer with the current timestamp', () => {
    const fn: KeyedProcessFunction<string, Ev, number> = {
      sideOutputs: [small],
      processElement(e, ctx, out) {
        if (e.v < 10) ctx.output(small, e.v)
        else out.collect(e.v)
        ctx.timerService().registerEventTimeTimer(100)
      },
      onTimer(t, ctx) {
        ctx.output(small, -t)
      },
    }
    let h = OperatorTestHarness.forKeyedProcessFunction(fn, key)
    h.processElement({ key: 'a', v: 1 }, 7).processElement({ key: 'a', v: 50 }, 8)
    h = h.snapshotAndRestore()
    h.processWatermark(100)
    expect(h.extractOutputValues()).toEqual([50])
    expect(h.getSideOutput(small)).toEqual([1, -100])
  })

  it('allows any tag when the function declares no sideOutputs', () => {
    const h = OperatorTestHarness.forProcessFunction<number, number>({
      processElement(v, ctx, out) {
        ctx.output(other, `x${v}`)
        out.collect(v)
      },
    })
    h.processElement(1, 3)
    expect(h.getSideOutput(other)).toEqual(['x1'])
  })

  it('rejects a tag missing from the declared sideOutputs with FLX_UNKNOWN_SIDE_OUTPUT', () => {
    const h = OperatorTestHarness.forProcessFunction<number, number>(
      {
        sideOutputs: [small],
        processElement(v, ctx) {
          if (v > 0) ctx.output(small, v)
          else ctx.output(other, 'nope')
        },
      },
      { name: 'router' },
    )
    h.processElement(1, 1)
    expect(h.getSideOutput(small)).toEqual([1])
    const e = thrown(() => h.processElement(-1, 1))
    expect(e.code).toBe('FLX_UNKNOWN_SIDE_OUTPUT')
    expect(e.message).toContain('"other"')
    expect(e.message).toContain('router')
  })
})

describe('ProcessFunction (non-keyed)', () => {
  it('processes records with their timestamps', () => {
    const h = OperatorTestHarness.forProcessFunction<number, string>({
      processElement(v, ctx, out) {
        out.collect(`${v}@${ctx.timestamp()}`)
      },
    })
    h.processElement(1, 5).processElement(2)
    expect(h.getOutput()).toEqual([
      { value: '1@5', timestamp: 5 },
      { value: '2@undefined', timestamp: undefined },
    ])
  })

  it('fails with FLX_TIMERS_NOT_KEYED when it uses timers', () => {
    const h = OperatorTestHarness.forProcessFunction<number, number>(
      {
        processElement(v, ctx) {
          ctx.timerService().registerEventTimeTimer(v)
        },
      },
      { name: 'unkeyed' },
    )
    const e = thrown(() => h.processElement(1, 1))
    expect(e.code).toBe('FLX_TIMERS_NOT_KEYED')
    expect(e.message).toContain('unkeyed')
    expect(e.message).toMatch(/keyBy/)
  })

  it('fails with FLX_STATE_NOT_KEYED when it asks for keyed state', () => {
    const h = OperatorTestHarness.forProcessFunction<number, number>({
      open(ctx) {
        ctx.getState(new ValueStateDescriptor<number>('nope'))
      },
      processElement() {},
    } as ProcessFunction<number, number>)
    const e = thrown(() => h.open())
    expect(e.code).toBe('FLX_STATE_NOT_KEYED')
  })
})

describe('KeyedProcessFunction: errors and lifecycle', () => {
  it('wraps an exception in FLX_USER_FUNCTION_FAILED with the operator, and the key of the record or timer', () => {
    const fn: KeyedProcessFunction<string, Ev, number> = {
      processElement(e, ctx) {
        if (e.v < 0) throw new TypeError('negative')
        ctx.timerService().registerEventTimeTimer(10)
      },
      onTimer(_t, ctx) {
        throw new Error(`timer of ${ctx.getCurrentKey()}`)
      },
    }
    let h = OperatorTestHarness.forKeyedProcessFunction(fn, key, { name: 'scorer' })
    const e = thrown(() => h.processElement({ key: 'u-1', v: -1 }, 1))
    expect(e.code).toBe('FLX_USER_FUNCTION_FAILED')
    expect(e.operator).toBe('scorer')
    expect(e.key).toBe('u-1')
    expect(e.cause).toBeInstanceOf(TypeError)
    h.processElement({ key: 'u-2', v: 1 }, 1)
    h = h.snapshotAndRestore()
    const t = thrown(() => h.processWatermark(10))
    expect(t.key).toBe('u-2')
    expect((t.cause as Error).message).toBe('timer of u-2')
  })

  it('calls open on every (restored) instance and close on snapshotAndRestore', () => {
    const calls: string[] = []
    const fn: KeyedProcessFunction<string, Ev, number> = {
      open: () => void calls.push('open'),
      processElement: (e, _ctx, out) => out.collect(e.v),
      close: () => void calls.push('close'),
    }
    let h = OperatorTestHarness.forKeyedProcessFunction(fn, key)
    h.processElement({ key: 'a', v: 1 }, 1)
    h = h.snapshotAndRestore()
    h.processElement({ key: 'a', v: 2 }, 2)
    h.close()
    expect(calls).toEqual(['open', 'close', 'open', 'close'])
    expect(h.extractOutputValues()).toEqual([1, 2])
  })
})

// --- property against a reference model --------------------------------------------------------

type Out = { kind: 'et'; key: string; sum: number; n: number; ts: number | undefined } | { kind: 'pt'; key: string; seen: number; ts: number | undefined }

/**
 * Sums a key's values until its event-time timer (record ts + delay) fires, then emits and clears
 * the sum; counts every record in `seen` and reports it when its processing-time timer fires.
 */
class SumUntilTimer implements KeyedProcessFunction<string, Ev, Out> {
  private sum!: ValueState<number>
  private values!: ListState<number>
  private seen!: MapState<string, number>
  constructor(
    private readonly delay: number,
    private readonly ptDelay: number,
  ) {}
  open(ctx: RuntimeContext): void {
    this.sum = ctx.getState(new ValueStateDescriptor<number>('sum'))
    this.values = ctx.getListState(new ListStateDescriptor<number>('values'))
    this.seen = ctx.getMapState(new MapStateDescriptor<string, number>('seen'))
  }
  processElement(e: Ev, ctx: KeyedProcessContext<string>): void {
    this.sum.update((this.sum.value() ?? 0) + e.v)
    this.values.add(e.v)
    this.seen.put('n', (this.seen.get('n') ?? 0) + 1)
    ctx.timerService().registerEventTimeTimer(ctx.timestamp()! + this.delay)
    ctx.timerService().registerProcessingTimeTimer(ctx.timerService().currentProcessingTime() + this.ptDelay)
  }
  onTimer(_t: number, ctx: OnTimerContext<string>, out: Collector<Out>): void {
    if (ctx.timeDomain() === 'processing-time') {
      out.collect({ kind: 'pt', key: ctx.getCurrentKey(), seen: this.seen.get('n')!, ts: ctx.timestamp() })
      return
    }
    const n = this.values.get().length
    if (n === 0) return
    out.collect({ kind: 'et', key: ctx.getCurrentKey(), sum: this.sum.value()!, n, ts: ctx.timestamp() })
    this.sum.clear()
    this.values.clear()
  }
}

type PStep = { el: Ev; ts: number } | { wm: number } | { pt: number } | { restore: true }

function modelSumUntilTimer(steps: readonly PStep[], delay: number, ptDelay: number): Out[] {
  const sums = new Map<string, { sum: number; n: number }>()
  const seen = new Map<string, number>()
  let et: { key: string; t: number }[] = []
  let pt: { key: string; t: number }[] = []
  let now = 0
  const out: Out[] = []
  const add = (list: { key: string; t: number }[], k: string, t: number) => {
    if (!list.some((x) => x.key === k && x.t === t)) list.push({ key: k, t })
  }
  for (const s of steps) {
    if ('el' in s) {
      const cur = sums.get(s.el.key) ?? { sum: 0, n: 0 }
      sums.set(s.el.key, { sum: cur.sum + s.el.v, n: cur.n + 1 })
      seen.set(s.el.key, (seen.get(s.el.key) ?? 0) + 1)
      add(et, s.el.key, s.ts + delay)
      add(pt, s.el.key, now + ptDelay)
    } else if ('wm' in s) {
      const due = et.filter((x) => x.t <= s.wm).sort((a, b) => a.t - b.t)
      et = et.filter((x) => x.t > s.wm)
      for (const d of due) {
        const cur = sums.get(d.key)
        if (!cur) continue
        out.push({ kind: 'et', key: d.key, sum: cur.sum, n: cur.n, ts: d.t })
        sums.delete(d.key)
      }
    } else if ('pt' in s) {
      now = s.pt
      const due = pt.filter((x) => x.t <= s.pt)
      pt = pt.filter((x) => x.t > s.pt)
      for (const d of due) out.push({ kind: 'pt', key: d.key, seen: seen.get(d.key)!, ts: undefined })
    }
  }
  return out
}

describe('KeyedProcessFunction: property', () => {
  it('state and timers equal the reference model, with and without restores after random watermarks', () => {
    const raw = fc.array(
      fc.oneof(
        { weight: 5, arbitrary: fc.record({ kind: fc.constant('el' as const), key: fc.constantFrom('a', 'b', 'c'), v: fc.integer({ min: -5, max: 20 }), delta: fc.integer({ min: -10, max: 20 }) }) },
        { weight: 2, arbitrary: fc.record({ kind: fc.constant('wm' as const), adv: fc.integer({ min: 0, max: 15 }), restore: fc.boolean() }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('pt' as const), adv: fc.integer({ min: 0, max: 10 }) }) },
      ),
      { maxLength: 50 },
    )
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 1, max: 10 }), raw, (delay, ptDelay, rs) => {
        let wmCursor = 0
        let ptCursor = 0
        const steps: PStep[] = []
        for (const r of rs) {
          if (r.kind === 'el') steps.push({ el: { key: r.key, v: r.v }, ts: wmCursor + r.delta })
          else if (r.kind === 'pt') steps.push({ pt: (ptCursor += r.adv) })
          else {
            steps.push({ wm: (wmCursor += r.adv) })
            if (r.restore) steps.push({ restore: true })
          }
        }
        steps.push({ wm: Number.POSITIVE_INFINITY }, { pt: ptCursor + ptDelay })
        const expected = modelSumUntilTimer(steps, delay, ptDelay)
        const runIt = (withRestores: boolean) => {
          let h = OperatorTestHarness.forKeyedProcessFunction(new SumUntilTimer(delay, ptDelay), key)
          let lastWm: number | undefined
          for (const s of steps) {
            if ('el' in s) h.processElement(s.el, s.ts)
            else if ('wm' in s) h.processWatermark((lastWm = s.wm))
            else if ('pt' in s) h.setProcessingTime(s.pt)
            else if (withRestores) {
              h = h.snapshotAndRestore()
              if (lastWm !== undefined) h.processWatermark(lastWm)
            }
          }
          return { out: h.getOutput().map((r) => ({ ...r.value, ts: r.timestamp })), size: h.stateSize() }
        }
        const plain = runIt(false)
        const restored = runIt(true)
        const canon = (xs: Out[]) => xs.map((x) => JSON.stringify(x)).sort()
        expect(canon(plain.out)).toEqual(canon(expected))
        expect(restored).toEqual(plain)
        // Only the `seen` counters are left once every timer fired.
        expect(plain.size).toBe(new Set(steps.flatMap((s) => ('el' in s ? [s.el.key] : []))).size)
      }),
      { numRuns: 150 },
    )
  })
})
