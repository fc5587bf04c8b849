/**
 * WindowedStream: keyBy(...).window(assigner), then optional trigger / allowedLateness /
 * sideOutputLateData, then aggregate, reduce or process.
 */
import { FluxionError } from '../errors.ts'
import type { Collector } from '../output.ts'
import type { OutputTag } from '../output-tag.ts'
import type { WindowAssigner } from '../../operators/window/assigners.ts'
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
import { WindowOperator, type WindowEmitter } from '../../operators/window/window-operator.ts'
import type { TimeWindow } from '../../operators/window/window.ts'
import type { DataStream, KeyedStream } from './data-stream.ts'

/** A window function: a plain (key, window, result) => output function, or a ProcessWindowFunction. */
export type WindowFunction<R, OUT, K> = WindowResultFunction<K, R, OUT> | ProcessWindowFunction<R, OUT, K>

export class WindowedStream<T, K> {
  private customTrigger: Trigger<T> | undefined
  private lateness = 0
  private lateTag: OutputTag<T> | undefined

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

  /** Incremental aggregation; `windowFn` turns the result into the output record (default: the result itself). */
  aggregate<ACC, R, OUT = R>(fn: AggregateFunction<T, ACC, R>, windowFn?: WindowFunction<R, OUT, K>): DataStream<OUT> {
    for (const m of ['createAccumulator', 'add', 'getResult', 'merge'] as const) {
      if (typeof fn?.[m] !== 'function') throw new FluxionError('FLX_INVALID_WINDOW', `aggregate(...) needs an AggregateFunction with ${m}()`)
    }
    return this.build('window-aggregate', () => new AggregatingContents(fn), emitterFor<K, R, OUT>(windowFn), isProcessFunction(windowFn))
  }

  /** Incremental reduction; `windowFn` turns the reduced value into the output record. */
  reduce<OUT = T>(fn: ReduceFunction<T>, windowFn?: WindowFunction<T, OUT, K>): DataStream<OUT> {
    if (typeof fn !== 'function') throw new FluxionError('FLX_INVALID_WINDOW', 'reduce(...) needs a function (a, b) => c')
    return this.build('window-reduce', () => new ReducingContents(fn), emitterFor<K, T, OUT>(windowFn), isProcessFunction(windowFn))
  }

  /** Whole-window processing: the function sees every element of the window when it fires. */
  process<OUT>(
    fn: ProcessWindowFunction<T, OUT, K> | ((key: K, context: ProcessWindowContext, elements: readonly T[], out: Collector<OUT>) => void),
  ): DataStream<OUT> {
    const pwf: ProcessWindowFunction<T, OUT, K> = typeof fn === 'function' ? { process: fn } : fn
    if (typeof pwf?.process !== 'function') throw new FluxionError('FLX_INVALID_WINDOW', 'process(...) needs a ProcessWindowFunction with process(key, context, elements, out)')
    const emit: WindowEmitter<K, readonly T[], OUT> = (key, _w, elements, out, ctx) => pwf.process(key, ctx, elements, out)
    return this.build('window-process', () => new BufferingContents<T>(), emit, true)
  }

  /** `userSideOutputs`: the window function gets a context with output(tag, value), so any tag may be produced. */
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
    stream.transformation.sideOutputs = userSideOutputs ? 'any' : new Set(lateDataTag ? [lateDataTag.id] : [])
    if (this.options.parallelism !== undefined) stream.setParallelism(this.options.parallelism)
    return stream
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
