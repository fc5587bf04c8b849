/**
 * WindowedStream: keyBy(...).window(assigner), then optional trigger / allowedLateness /
 * sideOutputLateData, then aggregate, reduce or process.
 */
import { FluxionError } from '../errors.ts'
import type { Collector } from '../output.ts'
import type { OutputTag } from '../output-tag.ts'
import { SlidingEventTimeWindows, TumblingEventTimeWindows, type WindowAssigner } from '../../operators/window/assigners.ts'
import type { Trigger } from '../../operators/window/triggers.ts'
import {
  AggregatingContents,
  BufferingContents,
  ReducingContents,
  type AggregateFunction,
  type ProcessWindowContext,
  type ProcessWindowFunction,
  type ReduceFunction,
  type WindowContents,
  type WindowResultFunction,
} from '../../operators/window/window-functions.ts'
import { SlicedWindowOperator } from '../../operators/window/sliced-window-operator.ts'
import { WindowOperator, type WindowEmitter } from '../../operators/window/window-operator.ts'
import type { TimeWindow } from '../../operators/window/window.ts'
import type { DataStream, KeyedStream } from './data-stream.ts'

/** A window function: a plain (key, window, result) => output function, or a ProcessWindowFunction. */
export type WindowFunction<R, OUT, K> = WindowResultFunction<K, R, OUT> | ProcessWindowFunction<R, OUT, K>

export class WindowedStream<T, K> {
  private customTrigger: Trigger<T> | undefined
  private lateness = 0
  private lateTag: OutputTag<T> | undefined
  private slicing = false

  constructor(
    private readonly input: KeyedStream<T, K>,
    private readonly assigner: WindowAssigner<T>,
    private readonly options: { parallelism?: number } = {},
  ) {}

  /** Replaces the assigner's default trigger. */
  trigger(trigger: Trigger<T>): this {
    if (!trigger || typeof trigger.onElement !== 'function') throw new FluxionError('FLX_INVALID_WINDOW', 'trigger(...) needs a Trigger such as CountTrigger.of(100)')
    this.customTrigger = trigger
    return this
  }

  /** Keeps windows `ms` past their end: late records still update them and fire them again. */
  allowedLateness(ms: number): this {
    if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) {
      throw new FluxionError('FLX_INVALID_WINDOW', `allowedLateness must be a finite number of milliseconds >= 0, got ${String(ms)}`)
    }
    this.lateness = ms
    return this
  }

  /** Sends records that arrive too late for every window to this side output instead of dropping them. */
  sideOutputLateData(tag: OutputTag<T>): this {
    this.lateTag = tag
    return this
  }

  /**
   * Aggregates per slice instead of per window (Flink SQL's window slicing): for event-time
   * sliding windows (size a multiple of slide) or tumbling windows with the default trigger,
   * followed by `aggregate(...)`. A record updates one accumulator, where a sliding window operator
   * updates size / slide of them; a window's result is merged from its slices when it fires. Same
   * outputs as without slicing (lateness, late firings and late side output included) when the
   * AggregateFunction's `merge(a, b)` leaves `b` unchanged (it may modify and return `a`, or return
   * `b`) and is exact: floating-point sums may differ in the last bits, as merging adds in another
   * order. After a restore the operator keeps its snapshot's watermark (records late before a
   * failure stay late). See operators/window/sliced-window-operator.ts.
   */
  sliced(): this {
    this.slicing = true
    return this
  }

  /** Incremental aggregation; `windowFn` turns the result into the output record (default: the result itself). */
  aggregate<ACC, R, OUT = R>(fn: AggregateFunction<T, ACC, R>, windowFn?: WindowFunction<R, OUT, K>): DataStream<OUT> {
    for (const m of ['createAccumulator', 'add', 'getResult', 'merge'] as const) {
      if (typeof fn?.[m] !== 'function') throw new FluxionError('FLX_INVALID_WINDOW', `aggregate(...) needs an AggregateFunction with ${m}()`)
    }
    if (this.slicing) return this.buildSliced(fn, emitterFor<K, R, OUT>(windowFn), isProcessFunction(windowFn))
    return this.build('window-aggregate', () => new AggregatingContents(fn), emitterFor<K, R, OUT>(windowFn), isProcessFunction(windowFn))
  }

  /** Incremental reduction; `windowFn` turns the reduced value into the output record. */
  reduce<OUT = T>(fn: ReduceFunction<T>, windowFn?: WindowFunction<T, OUT, K>): DataStream<OUT> {
    if (typeof fn !== 'function') throw new FluxionError('FLX_INVALID_WINDOW', 'reduce(...) needs a function (a, b) => c')
    this.refuseSlicing('reduce(...)')
    return this.build('window-reduce', () => new ReducingContents(fn), emitterFor<K, T, OUT>(windowFn), isProcessFunction(windowFn))
  }

  /** Whole-window processing: the function sees every element of the window when it fires. */
  process<OUT>(
    fn: ProcessWindowFunction<T, OUT, K> | ((key: K, context: ProcessWindowContext, elements: readonly T[], out: Collector<OUT>) => void),
  ): DataStream<OUT> {
    const pwf: ProcessWindowFunction<T, OUT, K> = typeof fn === 'function' ? { process: fn } : fn
    if (typeof pwf?.process !== 'function') throw new FluxionError('FLX_INVALID_WINDOW', 'process(...) needs a ProcessWindowFunction with process(key, context, elements, out)')
    this.refuseSlicing('process(...)')
    const emit: WindowEmitter<K, readonly T[], OUT> = (key, _w, elements, out, ctx) => pwf.process(key, ctx, elements, out)
    return this.build('window-process', () => new BufferingContents<T>(), emit, true)
  }

  private refuseSlicing(what: string): void {
    if (this.slicing) {
      throw new FluxionError('FLX_INVALID_WINDOW', `sliced() works with aggregate(...) only, not with ${what}: a window's result is merged from its slices' accumulators. Use aggregate(...), or remove sliced().`)
    }
  }

  private buildSliced<ACC, R, OUT>(fn: AggregateFunction<T, ACC, R>, emit: WindowEmitter<K, R, OUT>, userSideOutputs: boolean): DataStream<OUT> {
    const assigner = this.assigner
    const describe = assigner.describe()
    let slide: number
    if (assigner instanceof SlidingEventTimeWindows) slide = assigner.slide
    else if (assigner instanceof TumblingEventTimeWindows && assigner.isEventTime) slide = assigner.size
    else throw new FluxionError('FLX_INVALID_WINDOW', `sliced() needs SlidingEventTimeWindows or TumblingEventTimeWindows, got ${describe}. Remove sliced() for other windows.`)
    const { size, offset } = assigner
    if (size % slide !== 0) {
      throw new FluxionError('FLX_INVALID_WINDOW', `sliced() needs the window size to be a multiple of the slide, got ${describe}. Choose such a size and slide, or remove sliced().`)
    }
    if (this.customTrigger) throw new FluxionError('FLX_INVALID_WINDOW', `sliced() works with the default event-time trigger only; remove trigger(...) or sliced().`)
    const allowedLateness = this.lateness
    const lateDataTag = this.lateTag
    const stream = this.input.transform<OUT>(
      `window-aggregate-sliced(${describe})`,
      () => new SlicedWindowOperator<K, T, ACC, R, OUT>({ size, slide, offset, allowedLateness, lateDataTag, aggregate: fn, emit, describe }),
      { keyed: true },
    )
    return this.finish(stream, userSideOutputs)
  }

  /** `userSideOutputs`: the window function gets a context with output(tag, value), so any tag may be produced. */
  private finish<OUT>(stream: DataStream<OUT>, userSideOutputs: boolean): DataStream<OUT> {
    stream.transformation.sideOutputs = userSideOutputs ? 'any' : new Set(this.lateTag ? [this.lateTag.id] : [])
    if (this.options.parallelism !== undefined) stream.setParallelism(this.options.parallelism)
    return stream
  }

  private build<R, OUT>(name: string, contents: () => WindowContents<T, R>, emit: WindowEmitter<K, R, OUT>, userSideOutputs = false): DataStream<OUT> {
    const assigner = this.assigner
    const trigger = this.customTrigger ?? assigner.defaultTrigger()
    const allowedLateness = assigner.isEventTime ? this.lateness : 0
    const lateDataTag = this.lateTag
    const stream = this.input.transform<OUT>(
      `${name}(${assigner.describe()})`,
      () => new WindowOperator<K, T, R, OUT>({ assigner, trigger, allowedLateness, lateDataTag, contents: contents(), emit }),
      { keyed: true },
    )
    return this.finish(stream, userSideOutputs)
  }
}

function isProcessFunction(fn: unknown): boolean {
  return typeof fn === 'object' && fn !== null
}

function emitterFor<K, R, OUT>(windowFn: WindowFunction<R, OUT, K> | undefined): WindowEmitter<K, R, OUT> {
  if (windowFn === undefined) return (_k, _w, result, out) => out.collect(result as unknown as OUT)
  if (typeof windowFn === 'function') return (key, window: TimeWindow, result, out) => out.collect(windowFn(key, window, result))
  if (typeof windowFn.process !== 'function') throw new FluxionError('FLX_INVALID_WINDOW', 'the window function must be (key, window, result) => output or a ProcessWindowFunction')
  return (key, _w, result, out, ctx) => windowFn.process(key, ctx, [result], out)
}
