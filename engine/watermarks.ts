/**
 * Watermark strategies (Flink's WatermarkStrategy): a timestamp assigner plus a watermark
 * generator, created per source split.
 *
 * Periodic emission: a source calls `onPeriodicEmit` after each batch of records it emits
 * (`batchSize` records, see StreamExecutionEnvironment options) and every `autoWatermarkIntervalMs`
 * of processing time while it waits for data, so results do not depend on the machine's speed.
 */
import { FluxionError } from './errors.ts'
import type { Clock } from './time.ts'

export interface WatermarkOutput {
  /** Emits a watermark; a watermark lower than or equal to the last one is ignored. */
  emitWatermark(watermark: number): void
  /** Declares the split idle: it stops holding back downstream watermarks until its next record. */
  markIdle(): void
  /** Declares the split active again (records do this implicitly). */
  markActive(): void
}

export interface WatermarkGenerator<T> {
  /** Called for every record. A watermark emitted here follows the record downstream. */
  onEvent(event: T, timestamp: number, output: WatermarkOutput): void
  /** Called periodically (see the module comment). */
  onPeriodicEmit(output: WatermarkOutput): void
}

export type TimestampAssigner<T> = (event: T, recordTimestamp: number | undefined) => number

export interface WatermarkGeneratorContext {
  readonly clock: Clock
}

/** Immutable: each with* method returns a new strategy. */
export class WatermarkStrategy<T> {
  private constructor(
    readonly createGenerator: (ctx: WatermarkGeneratorContext) => WatermarkGenerator<T>,
    readonly timestampAssigner: TimestampAssigner<T> | undefined,
    readonly idleTimeoutMs: number | undefined,
    /** False only for noWatermarks(): no watermarks until the end of input. */
    readonly emitsWatermarks: boolean,
  ) {}

  /** Watermark = highest timestamp seen − maxOutOfOrdernessMs − 1. */
  static forBoundedOutOfOrderness<T>(maxOutOfOrdernessMs: number): WatermarkStrategy<T> {
    if (!Number.isFinite(maxOutOfOrdernessMs) || maxOutOfOrdernessMs < 0) {
      throw new FluxionError('FLX_INVALID_CONFIG', `forBoundedOutOfOrderness: maxOutOfOrdernessMs must be a finite number >= 0, got ${maxOutOfOrdernessMs}`)
    }
    return new WatermarkStrategy<T>(() => new BoundedOutOfOrdernessGenerator<T>(maxOutOfOrdernessMs), undefined, undefined, true)
  }

  /** For timestamps that never decrease: watermark = highest timestamp seen − 1. */
  static forMonotonousTimestamps<T>(): WatermarkStrategy<T> {
    return WatermarkStrategy.forBoundedOutOfOrderness<T>(0)
  }

  /** No watermarks (only the final one at the end of a bounded input). */
  static noWatermarks<T>(): WatermarkStrategy<T> {
    return new WatermarkStrategy<T>(() => ({ onEvent() {}, onPeriodicEmit() {} }), undefined, undefined, false)
  }

  /** A custom generator, created once per source split. */
  static forGenerator<T>(factory: (ctx: WatermarkGeneratorContext) => WatermarkGenerator<T>): WatermarkStrategy<T> {
    return new WatermarkStrategy<T>(factory, undefined, undefined, true)
  }

  /** Extracts the event timestamp (epoch ms) from each record. */
  withTimestampAssigner(assigner: TimestampAssigner<T>): WatermarkStrategy<T> {
    return new WatermarkStrategy<T>(this.createGenerator, assigner, this.idleTimeoutMs, this.emitsWatermarks)
  }

  /** Marks a split idle after `idleTimeoutMs` of processing time without records. */
  withIdleness(idleTimeoutMs: number): WatermarkStrategy<T> {
    if (!Number.isFinite(idleTimeoutMs) || idleTimeoutMs <= 0) {
      throw new FluxionError('FLX_INVALID_CONFIG', `withIdleness: idleTimeoutMs must be a finite number > 0, got ${idleTimeoutMs}`)
    }
    return new WatermarkStrategy<T>(this.createGenerator, this.timestampAssigner, idleTimeoutMs, this.emitsWatermarks)
  }

  /** Creates the generator of one split, wrapped for idleness when configured. */
  createWatermarkGenerator(ctx: WatermarkGeneratorContext): WatermarkGenerator<T> {
    const inner = this.createGenerator(ctx)
    return this.idleTimeoutMs === undefined ? inner : new IdlenessGenerator(inner, this.idleTimeoutMs, ctx.clock)
  }
}

class BoundedOutOfOrdernessGenerator<T> implements WatermarkGenerator<T> {
  private maxTimestamp = Number.NEGATIVE_INFINITY

  constructor(private readonly outOfOrdernessMs: number) {}

  onEvent(_event: T, timestamp: number): void {
    if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp
  }

  onPeriodicEmit(output: WatermarkOutput): void {
    output.emitWatermark(this.maxTimestamp - this.outOfOrdernessMs - 1)
  }
}

/** Flink's WatermarksWithIdleness: idle after a timeout of processing time without events. */
class IdlenessGenerator<T> implements WatermarkGenerator<T> {
  private lastActivity: number
  private idle = false

  constructor(
    private readonly inner: WatermarkGenerator<T>,
    private readonly timeoutMs: number,
    private readonly clock: Clock,
  ) {
    this.lastActivity = clock.now()
  }

  onEvent(event: T, timestamp: number, output: WatermarkOutput): void {
    this.idle = false
    this.lastActivity = Number.NaN // refreshed lazily at the next periodic emit
    this.inner.onEvent(event, timestamp, output)
  }

  onPeriodicEmit(output: WatermarkOutput): void {
    const now = this.clock.now()
    if (Number.isNaN(this.lastActivity)) this.lastActivity = now
    if (now - this.lastActivity >= this.timeoutMs) {
      if (!this.idle) {
        this.idle = true
        output.markIdle()
      }
      return
    }
    this.inner.onPeriodicEmit(output)
  }
}
