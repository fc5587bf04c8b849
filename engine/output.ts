/**
 * Outputs: where an operator sends records, watermarks and watermark status. Inside a chain an
 * output calls the next operator directly; at a chain's end it writes into channel batches.
 */
import type { OutputTag } from './output-tag.ts'

/** What user functions use to emit records (Flink's Collector). */
export interface Collector<T> {
  collect(value: T): void
}

export interface Output<T> {
  /** Emits a record. `timestamp` is NO_TIMESTAMP (-Infinity) when the record has none. */
  collect(value: T, timestamp: number): void
  /** Emits a record to the side output `tag`; dropped when nobody consumes that side output. */
  collectSide<S>(tag: OutputTag<S>, value: S, timestamp: number): void
  /** Forwards a watermark. Callers only call it with a watermark larger than the previous one. */
  emitWatermark(watermark: number): void
  /** Forwards the watermark status: idle inputs do not hold back downstream watermarks. */
  emitIdle(idle: boolean): void
}

/** Discards everything (an operator with no consumers). */
export const DISCARDING_OUTPUT: Output<unknown> = {
  collect() {},
  collectSide() {},
  emitWatermark() {},
  emitIdle() {},
}

/** Sends everything to several outputs (an operator with several consumers). */
export class BroadcastingOutput<T> implements Output<T> {
  constructor(private readonly outputs: readonly Output<T>[]) {}

  collect(value: T, timestamp: number): void {
    for (let i = 0; i < this.outputs.length; i++) this.outputs[i].collect(value, timestamp)
  }

  collectSide<S>(tag: OutputTag<S>, value: S, timestamp: number): void {
    for (let i = 0; i < this.outputs.length; i++) this.outputs[i].collectSide(tag, value, timestamp)
  }

  emitWatermark(watermark: number): void {
    for (const o of this.outputs) o.emitWatermark(watermark)
  }

  emitIdle(idle: boolean): void {
    for (const o of this.outputs) o.emitIdle(idle)
  }
}

/**
 * The output of one operator: main records go to `main`, side records to the consumers of their
 * tag. Watermarks and status go to every consumer, side outputs included.
 */
export class OperatorOutput<T> implements Output<T> {
  constructor(
    private readonly main: Output<T>,
    private readonly sides: ReadonlyMap<string, Output<unknown>>,
  ) {}

  collect(value: T, timestamp: number): void {
    this.main.collect(value, timestamp)
  }

  collectSide<S>(tag: OutputTag<S>, value: S, timestamp: number): void {
    this.sides.get(tag.id)?.collect(value, timestamp)
  }

  emitWatermark(watermark: number): void {
    this.main.emitWatermark(watermark)
    for (const side of this.sides.values()) side.emitWatermark(watermark)
  }

  emitIdle(idle: boolean): void {
    this.main.emitIdle(idle)
    for (const side of this.sides.values()) side.emitIdle(idle)
  }

  /** True when some consumer reads the side output with this tag id. */
  hasSide(tagId: string): boolean {
    return this.sides.has(tagId)
  }
}
