/**
 * The user-facing process function interfaces (Flink's ProcessFunction and KeyedProcessFunction).
 */
import type { Collector } from '../engine/output.ts'
import type { OutputTag } from '../engine/output-tag.ts'
import type { KeyedStateStore } from '../state/api.ts'

export interface TimerService {
  currentProcessingTime(): number
  currentWatermark(): number
  /** Registers an event-time timer for the current key; fires when the watermark reaches `time`. */
  registerEventTimeTimer(time: number): void
  /** Registers a processing-time timer for the current key; fires when the clock reaches `time`. */
  registerProcessingTimeTimer(time: number): void
  deleteEventTimeTimer(time: number): void
  deleteProcessingTimeTimer(time: number): void
}

export interface ProcessContext {
  /** The record's timestamp, or undefined when it has none. */
  timestamp(): number | undefined
  /** Emits to a side output. */
  output<X>(tag: OutputTag<X>, value: X): void
  /** Timers; only on keyed streams (throws FLX_TIMERS_NOT_KEYED otherwise). */
  timerService(): TimerService
}

export interface KeyedProcessContext<K> extends ProcessContext {
  getCurrentKey(): K
}

export interface OnTimerContext<K> extends KeyedProcessContext<K> {
  timeDomain(): 'event-time' | 'processing-time'
}

export interface RuntimeContext extends KeyedStateStore {
  readonly operatorName: string
  readonly subtaskIndex: number
  readonly parallelism: number
}

export interface ProcessFunction<IN, OUT> {
  open?(ctx: RuntimeContext): void
  processElement(value: IN, ctx: ProcessContext, out: Collector<OUT>): void
  close?(): void
  /** Side outputs this function may emit to; when given, only these may be used with getSideOutput. */
  readonly sideOutputs?: readonly OutputTag<any>[]
}

export interface KeyedProcessFunction<K, IN, OUT> {
  /** Declare state here: `this.count = ctx.getState(new ValueStateDescriptor('count'))`. */
  open?(ctx: RuntimeContext): void
  processElement(value: IN, ctx: KeyedProcessContext<K>, out: Collector<OUT>): void
  /** Called when a timer fires, with the timer's key as the current key. */
  onTimer?(timestamp: number, ctx: OnTimerContext<K>, out: Collector<OUT>): void
  close?(): void
  readonly sideOutputs?: readonly OutputTag<any>[]
}
