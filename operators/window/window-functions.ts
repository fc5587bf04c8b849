/**
 * What a window keeps and what it emits when it fires.
 *
 * WindowContents stores the window's data in keyed state under the window's namespace:
 * an accumulator (aggregate), a running value (reduce) or every element (process).
 */
import type { Collector } from '../../engine/output.ts'
import type { OutputTag } from '../../engine/output-tag.ts'
import { ListStateDescriptor, ValueStateDescriptor } from '../../state/api.ts'
import type { InternalListState, InternalValueState, KeyedStateBackend, Namespace } from '../../state/backend.ts'
import type { TimeWindow } from './window.ts'

/** Flink's AggregateFunction: incremental aggregation with a mergeable accumulator. */
export interface AggregateFunction<IN, ACC, OUT> {
  createAccumulator(): ACC
  add(value: IN, accumulator: ACC): ACC
  getResult(accumulator: ACC): OUT
  /** Combines two accumulators; needed by session windows (merging). */
  merge(a: ACC, b: ACC): ACC
}

export type ReduceFunction<T> = (a: T, b: T) => T

export interface ProcessWindowContext<W = TimeWindow> {
  readonly window: W
  currentWatermark(): number
  currentProcessingTime(): number
  output<X>(tag: OutputTag<X>, value: X): void
}

/** Whole-window processing: receives every element (or the one pre-aggregated result). */
export interface ProcessWindowFunction<IN, OUT, K, W = TimeWindow> {
  process(key: K, context: ProcessWindowContext<W>, elements: readonly IN[], out: Collector<OUT>): void
}

/** A plain function from (key, window, result) to one output record. */
export type WindowResultFunction<K, R, OUT, W = TimeWindow> = (key: K, window: W, result: R) => OUT

/** How window data is stored in state, and read back when the window fires. */
export interface WindowContents<IN, R> {
  open(backend: KeyedStateBackend): void
  setNamespace(ns: Namespace): void
  /** Adds an element; returns true when the window had no data before. */
  add(value: IN): boolean
  /** The window's data, or undefined when it holds none. */
  get(): R | undefined
  clear(): void
  /** Folds the data of `sources` into `target` and clears `sources`. */
  merge(target: Namespace, sources: readonly Namespace[]): void
}

export class AggregatingContents<IN, ACC, OUT> implements WindowContents<IN, OUT> {
  private state!: InternalValueState<ACC>

  constructor(private readonly fn: AggregateFunction<IN, ACC, OUT>) {}

  open(backend: KeyedStateBackend): void {
    this.state = backend.getValueState(new ValueStateDescriptor<ACC>('window-contents'))
  }

  setNamespace(ns: Namespace): void {
    this.state.setCurrentNamespace(ns)
  }

  add(value: IN): boolean {
    const acc = this.state.value()
    const fresh = acc === undefined
    this.state.update(this.fn.add(value, fresh ? this.fn.createAccumulator() : acc))
    return fresh
  }

  get(): OUT | undefined {
    const acc = this.state.value()
    return acc === undefined ? undefined : this.fn.getResult(acc)
  }

  clear(): void {
    this.state.clear()
  }

  merge(target: Namespace, sources: readonly Namespace[]): void {
    mergeValues(this.state, target, sources, (a, b) => this.fn.merge(a, b))
  }
}

export class ReducingContents<T> implements WindowContents<T, T> {
  private state!: InternalValueState<T>

  constructor(private readonly fn: ReduceFunction<T>) {}

  open(backend: KeyedStateBackend): void {
    this.state = backend.getValueState(new ValueStateDescriptor<T>('window-contents'))
  }

  setNamespace(ns: Namespace): void {
    this.state.setCurrentNamespace(ns)
  }

  add(value: T): boolean {
    const current = this.state.value()
    if (current === undefined) {
      this.state.update(value)
      return true
    }
    this.state.update(this.fn(current, value))
    return false
  }

  get(): T | undefined {
    return this.state.value()
  }

  clear(): void {
    this.state.clear()
  }

  merge(target: Namespace, sources: readonly Namespace[]): void {
    mergeValues(this.state, target, sources, this.fn)
  }
}

export class BufferingContents<T> implements WindowContents<T, readonly T[]> {
  private state!: InternalListState<T>

  open(backend: KeyedStateBackend): void {
    this.state = backend.getListState(new ListStateDescriptor<T>('window-contents'))
  }

  setNamespace(ns: Namespace): void {
    this.state.setCurrentNamespace(ns)
  }

  add(value: T): boolean {
    const fresh = this.state.get().length === 0
    this.state.add(value)
    return fresh
  }

  get(): readonly T[] | undefined {
    const list = this.state.get()
    return list.length === 0 ? undefined : list
  }

  clear(): void {
    this.state.clear()
  }

  merge(target: Namespace, sources: readonly Namespace[]): void {
    this.state.mergeNamespaces(target, sources.filter((s) => s !== target))
  }
}

/** Folds the values stored under `sources` into `target` with `combine`, clearing the sources. */
export function mergeValues<V>(state: InternalValueState<V>, target: Namespace, sources: readonly Namespace[], combine: (a: V, b: V) => V): void {
  state.setCurrentNamespace(target)
  let merged = state.value()
  for (const ns of sources) {
    if (ns === target) continue
    state.setCurrentNamespace(ns)
    const v = state.value()
    state.clear()
    if (v !== undefined) merged = merged === undefined ? v : combine(merged, v)
  }
  state.setCurrentNamespace(target)
  if (merged !== undefined) state.update(merged)
}
