/**
 * Window assigners (Flink's WindowAssigner): which windows a record belongs to.
 * Sizes are validated when the assigner is created, so a bad size fails when the job is built.
 */
import { FluxionError } from '../../engine/errors.ts'
import type { Namespace } from '../../state/backend.ts'
import { EventTimeTrigger, NeverTrigger, ProcessingTimeTrigger, type Trigger } from './triggers.ts'
import { GLOBAL_WINDOW, type TimeWindow, windowStart } from './window.ts'

export interface WindowAssignerContext {
  getCurrentProcessingTime(): number
}

export interface WindowAssigner<T = unknown> {
  /** The windows of a record. May return a shared array: callers must not mutate it. */
  assignWindows(element: T, timestamp: number, ctx: WindowAssignerContext): readonly TimeWindow[]
  defaultTrigger(): Trigger<T>
  readonly isEventTime: boolean
  /** True for session windows: windows of one key merge when they touch. */
  readonly merging: boolean
  /** Tells a key's live windows apart (two live windows of one key never share it). */
  namespaceOf(window: TimeWindow): Namespace
  /** Description for plans and errors. */
  describe(): string
}

function checkPositive(what: string, name: string, value: number, fix: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new FluxionError('FLX_INVALID_WINDOW', `${what}: ${name} must be a finite number of milliseconds > 0, got ${String(value)}. ${fix}`)
  }
}

const startNamespace = (w: TimeWindow): Namespace => w.start

function checkOffset(what: string, offset: number, period: number): void {
  if (typeof offset !== 'number' || !Number.isFinite(offset) || Math.abs(offset) >= period) {
    throw new FluxionError('FLX_INVALID_WINDOW', `${what}: offset must be a finite number with |offset| < ${period}, got ${String(offset)}`)
  }
}

/** Fixed-size, non-overlapping event-time windows. */
export class TumblingEventTimeWindows implements WindowAssigner {
  readonly isEventTime: boolean = true
  readonly merging = false
  private lastStart = Number.NaN
  private lastWindows: readonly TimeWindow[] = []

  protected constructor(
    readonly size: number,
    readonly offset: number,
  ) {}

  static of(size: number, offset = 0): TumblingEventTimeWindows {
    checkPositive('TumblingEventTimeWindows.of', 'size', size, 'Use e.g. TumblingEventTimeWindows.of(60_000) for one-minute windows.')
    checkOffset('TumblingEventTimeWindows.of', offset, size)
    return new TumblingEventTimeWindows(size, offset)
  }

  assignWindows(_e: unknown, timestamp: number, _ctx?: WindowAssignerContext): readonly TimeWindow[] {
    const start = windowStart(timestamp, this.offset, this.size)
    if (start !== this.lastStart) {
      this.lastStart = start
      this.lastWindows = [{ start, end: start + this.size }]
    }
    return this.lastWindows
  }

  defaultTrigger(): Trigger {
    return EventTimeTrigger.create()
  }

  namespaceOf(w: TimeWindow): Namespace {
    return startNamespace(w)
  }

  describe(): string {
    return `TumblingEventTimeWindows(${this.size})`
  }
}

/** Fixed-size, non-overlapping processing-time windows. */
export class TumblingProcessingTimeWindows extends TumblingEventTimeWindows {
  override readonly isEventTime = false

  static override of(size: number, offset = 0): TumblingProcessingTimeWindows {
    checkPositive('TumblingProcessingTimeWindows.of', 'size', size, 'Use e.g. TumblingProcessingTimeWindows.of(10_000).')
    checkOffset('TumblingProcessingTimeWindows.of', offset, size)
    return new TumblingProcessingTimeWindows(size, offset)
  }

  override assignWindows(e: unknown, _timestamp: number, ctx: WindowAssignerContext): readonly TimeWindow[] {
    return super.assignWindows(e, ctx.getCurrentProcessingTime())
  }

  override defaultTrigger(): Trigger {
    return ProcessingTimeTrigger.create()
  }

  override describe(): string {
    return `TumblingProcessingTimeWindows(${this.size})`
  }
}

/** Fixed-size event-time windows that start every `slide` ms (a record is in size/slide windows). */
export class SlidingEventTimeWindows implements WindowAssigner {
  readonly isEventTime = true
  readonly merging = false
  private lastStart = Number.NaN
  private lastWindows: readonly TimeWindow[] = []

  private constructor(
    readonly size: number,
    readonly slide: number,
    readonly offset: number,
  ) {}

  static of(size: number, slide: number, offset = 0): SlidingEventTimeWindows {
    const fix = 'Use e.g. SlidingEventTimeWindows.of(3_600_000, 60_000) for one-hour windows every minute.'
    checkPositive('SlidingEventTimeWindows.of', 'size', size, fix)
    checkPositive('SlidingEventTimeWindows.of', 'slide', slide, fix)
    checkOffset('SlidingEventTimeWindows.of', offset, slide)
    return new SlidingEventTimeWindows(size, slide, offset)
  }

  assignWindows(_e: unknown, timestamp: number): readonly TimeWindow[] {
    const lastStart = windowStart(timestamp, this.offset, this.slide)
    // The window list depends only on lastStart when size is a multiple of slide; cache it then.
    if (lastStart !== this.lastStart || this.size % this.slide !== 0) {
      const windows: TimeWindow[] = []
      for (let start = lastStart; start > timestamp - this.size; start -= this.slide) windows.push({ start, end: start + this.size })
      this.lastStart = lastStart
      this.lastWindows = windows
    }
    return this.lastWindows
  }

  defaultTrigger(): Trigger {
    return EventTimeTrigger.create()
  }

  namespaceOf(w: TimeWindow): Namespace {
    return startNamespace(w)
  }

  describe(): string {
    return `SlidingEventTimeWindows(${this.size}, ${this.slide})`
  }
}

/** Event-time sessions: a key's records closer than `gap` apart share a window. */
export class EventTimeSessionWindows implements WindowAssigner {
  readonly isEventTime = true
  readonly merging = true

  private constructor(readonly gap: number) {}

  static withGap(gap: number): EventTimeSessionWindows {
    checkPositive('EventTimeSessionWindows.withGap', 'gap', gap, 'Use e.g. EventTimeSessionWindows.withGap(30 * 60_000).')
    return new EventTimeSessionWindows(gap)
  }

  assignWindows(_e: unknown, timestamp: number): readonly TimeWindow[] {
    return [{ start: timestamp, end: timestamp + this.gap }]
  }

  defaultTrigger(): Trigger {
    return EventTimeTrigger.create()
  }

  /** Start and end: a session and the larger session it merges into must not share state or timers. */
  namespaceOf(w: TimeWindow): Namespace {
    return `${w.start}:${w.end}`
  }

  describe(): string {
    return `EventTimeSessionWindows(${this.gap})`
  }
}

/** One window per key over all time; it only fires with a trigger such as CountTrigger. */
export class GlobalWindows implements WindowAssigner {
  readonly isEventTime = false
  readonly merging = false
  private static readonly windows: readonly TimeWindow[] = [GLOBAL_WINDOW]

  private constructor() {}

  static create(): GlobalWindows {
    return new GlobalWindows()
  }

  assignWindows(): readonly TimeWindow[] {
    return GlobalWindows.windows
  }

  defaultTrigger(): Trigger {
    return new NeverTrigger()
  }

  namespaceOf(): Namespace {
    return 0
  }

  describe(): string {
    return 'GlobalWindows'
  }
}
