/**
 * Triggers decide when a window fires (Flink's Trigger). Built in: EventTimeTrigger (default of
 * event-time assigners), ProcessingTimeTrigger, CountTrigger (default for global windows is
 * NeverTrigger), PurgingTrigger. Write a custom one by implementing Trigger.
 */
import { FluxionError } from '../../engine/errors.ts'
import { ValueStateDescriptor, type ValueState } from '../../state/api.ts'
import { type TimeWindow, maxTimestamp } from './window.ts'

export type TriggerResult = 'CONTINUE' | 'FIRE' | 'PURGE' | 'FIRE_AND_PURGE'

export function fires(r: TriggerResult): boolean {
  return r === 'FIRE' || r === 'FIRE_AND_PURGE'
}

export function purges(r: TriggerResult): boolean {
  return r === 'PURGE' || r === 'FIRE_AND_PURGE'
}

export interface TriggerContext {
  getCurrentWatermark(): number
  getCurrentProcessingTime(): number
  registerEventTimeTimer(time: number): void
  registerProcessingTimeTimer(time: number): void
  deleteEventTimeTimer(time: number): void
  deleteProcessingTimeTimer(time: number): void
  /** State scoped to the current key and window. */
  getPartitionedState<S>(descriptor: ValueStateDescriptor<S>): ValueState<S>
}

export interface OnMergeContext extends TriggerContext {
  /** The windows that were merged into the current window. */
  readonly mergedWindows: readonly TimeWindow[]
  /** Folds the merged windows' partitioned state into the current window's, then clears theirs. */
  mergePartitionedState<S>(descriptor: ValueStateDescriptor<S>, combine: (a: S, b: S) => S): void
}

export interface Trigger<T = unknown> {
  onElement(element: T, timestamp: number, window: TimeWindow, ctx: TriggerContext): TriggerResult
  onEventTime(time: number, window: TimeWindow, ctx: TriggerContext): TriggerResult
  onProcessingTime(time: number, window: TimeWindow, ctx: TriggerContext): TriggerResult
  /** Whether the trigger supports merging windows (sessions). */
  canMerge?(): boolean
  /** Called when windows merged into `window`; the merged windows' state was already cleared. */
  onMerge?(window: TimeWindow, ctx: OnMergeContext): void
  /** Removes the trigger's timers and state of `window`. */
  clear(window: TimeWindow, ctx: TriggerContext): void
}

/** Fires once when the watermark passes the window's end, and again for each late element. */
export class EventTimeTrigger implements Trigger {
  static create(): EventTimeTrigger {
    return new EventTimeTrigger()
  }

  onElement(_e: unknown, _ts: number, window: TimeWindow, ctx: TriggerContext): TriggerResult {
    const max = maxTimestamp(window)
    if (max <= ctx.getCurrentWatermark()) return 'FIRE'
    ctx.registerEventTimeTimer(max)
    return 'CONTINUE'
  }

  onEventTime(time: number, window: TimeWindow): TriggerResult {
    return time === maxTimestamp(window) ? 'FIRE' : 'CONTINUE'
  }

  onProcessingTime(): TriggerResult {
    return 'CONTINUE'
  }

  canMerge(): boolean {
    return true
  }

  onMerge(window: TimeWindow, ctx: OnMergeContext): void {
    const max = maxTimestamp(window)
    if (max > ctx.getCurrentWatermark()) ctx.registerEventTimeTimer(max)
  }

  clear(window: TimeWindow, ctx: TriggerContext): void {
    ctx.deleteEventTimeTimer(maxTimestamp(window))
  }
}

/** Fires when the processing-time clock passes the window's end. */
export class ProcessingTimeTrigger implements Trigger {
  static create(): ProcessingTimeTrigger {
    return new ProcessingTimeTrigger()
  }

  onElement(_e: unknown, _ts: number, window: TimeWindow, ctx: TriggerContext): TriggerResult {
    ctx.registerProcessingTimeTimer(maxTimestamp(window))
    return 'CONTINUE'
  }

  onEventTime(): TriggerResult {
    return 'CONTINUE'
  }

  onProcessingTime(): TriggerResult {
    return 'FIRE'
  }

  canMerge(): boolean {
    return true
  }

  onMerge(window: TimeWindow, ctx: OnMergeContext): void {
    const max = maxTimestamp(window)
    if (max > ctx.getCurrentProcessingTime()) ctx.registerProcessingTimeTimer(max)
  }

  clear(window: TimeWindow, ctx: TriggerContext): void {
    ctx.deleteProcessingTimeTimer(maxTimestamp(window))
  }
}

/** Never fires (the default of GlobalWindows: pair it with a real trigger). */
export class NeverTrigger implements Trigger {
  onElement(): TriggerResult {
    return 'CONTINUE'
  }
  onEventTime(): TriggerResult {
    return 'CONTINUE'
  }
  onProcessingTime(): TriggerResult {
    return 'CONTINUE'
  }
  clear(): void {}
}

/** Fires when the window holds `count` elements, then starts counting again. */
export class CountTrigger implements Trigger {
  private readonly descriptor: ValueStateDescriptor<number>

  private constructor(readonly maxCount: number) {
    this.descriptor = new ValueStateDescriptor<number>('count-trigger')
  }

  static of(maxCount: number): CountTrigger {
    if (!Number.isInteger(maxCount) || maxCount <= 0) throw new FluxionError('FLX_INVALID_WINDOW', `CountTrigger.of: maxCount must be a positive integer, got ${maxCount}`)
    return new CountTrigger(maxCount)
  }

  onElement(_e: unknown, _ts: number, _w: TimeWindow, ctx: TriggerContext): TriggerResult {
    const state = ctx.getPartitionedState(this.descriptor)
    const count = (state.value() ?? 0) + 1
    if (count >= this.maxCount) {
      state.clear()
      return 'FIRE'
    }
    state.update(count)
    return 'CONTINUE'
  }

  onEventTime(): TriggerResult {
    return 'CONTINUE'
  }

  onProcessingTime(): TriggerResult {
    return 'CONTINUE'
  }

  canMerge(): boolean {
    return true
  }

  onMerge(_window: TimeWindow, ctx: OnMergeContext): void {
    ctx.mergePartitionedState(this.descriptor, (a, b) => a + b)
  }

  clear(_w: TimeWindow, ctx: TriggerContext): void {
    ctx.getPartitionedState(this.descriptor).clear()
  }
}

/** Turns every FIRE of the wrapped trigger into FIRE_AND_PURGE. */
export class PurgingTrigger<T> implements Trigger<T> {
  private constructor(private readonly inner: Trigger<T>) {}

  static of<T>(inner: Trigger<T>): PurgingTrigger<T> {
    return new PurgingTrigger(inner)
  }

  private purge(r: TriggerResult): TriggerResult {
    return fires(r) ? 'FIRE_AND_PURGE' : r
  }

  onElement(e: T, ts: number, w: TimeWindow, ctx: TriggerContext): TriggerResult {
    return this.purge(this.inner.onElement(e, ts, w, ctx))
  }

  onEventTime(time: number, w: TimeWindow, ctx: TriggerContext): TriggerResult {
    return this.purge(this.inner.onEventTime(time, w, ctx))
  }

  onProcessingTime(time: number, w: TimeWindow, ctx: TriggerContext): TriggerResult {
    return this.purge(this.inner.onProcessingTime(time, w, ctx))
  }

  canMerge(): boolean {
    return this.inner.canMerge?.() ?? false
  }

  onMerge(w: TimeWindow, ctx: OnMergeContext): void {
    this.inner.onMerge?.(w, ctx)
  }

  clear(w: TimeWindow, ctx: TriggerContext): void {
    this.inner.clear(w, ctx)
  }
}
