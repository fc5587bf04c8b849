/**
 * What the window operators share: emitting a window's result for the current key through the
 * user's WindowEmitter, with timestamp window end − 1 (Flink's window.maxTimestamp()) and a
 * ProcessWindowContext (window, watermark, processing time, side outputs at that timestamp).
 */
import { FluxionError } from '../../engine/errors.ts'
import { StreamOperator } from '../../engine/operator.ts'
import type { Collector } from '../../engine/output.ts'
import { NO_TIMESTAMP } from '../../engine/time.ts'
import type { ProcessWindowContext } from './window-functions.ts'
import { maxTimestamp, type TimeWindow } from './window.ts'

/** Turns a firing window's data into output records. */
export type WindowEmitter<K, R, OUT> = (key: K, window: TimeWindow, result: R, out: Collector<OUT>, ctx: ProcessWindowContext) => void

export abstract class WindowResultOperator<K, IN, R, OUT> extends StreamOperator<IN, OUT> {
  private emitTimestamp = NO_TIMESTAMP
  private readonly collector: Collector<OUT> = { collect: (v) => this.output.collect(v, this.emitTimestamp) }
  private readonly emitCtx: ProcessWindowContext & { window: TimeWindow }

  constructor(private readonly emitFn: WindowEmitter<K, R, OUT>) {
    super()
    const op = this
    this.emitCtx = {
      window: undefined as unknown as TimeWindow,
      currentWatermark: () => op.currentWatermark(),
      currentProcessingTime: () => op.ctx.clock.now(),
      output: (tag, value) => op.output.collectSide(tag, value, op.emitTimestamp),
    }
  }

  /** The error for an event-time window operator's record without a timestamp (`windows` names the windows). */
  protected missingTimestamp(windows: string): FluxionError {
    return new FluxionError(
      'FLX_MISSING_TIMESTAMP',
      `operator "${this.name}" got a record without a timestamp, but ${windows} needs event time. ` +
        'Give the source a WatermarkStrategy with withTimestampAssigner(...), or call assignTimestampsAndWatermarks(...) before keyBy.',
      { operator: this.name, key: this.ctx.backend?.getCurrentKey() },
    )
  }

  /** Emits `result` of `window` for the current key; an error of the emitter fails as the user's. */
  protected emitWindow(window: TimeWindow, result: R): void {
    this.emitTimestamp = maxTimestamp(window)
    this.emitCtx.window = window
    try {
      this.emitFn(this.ctx.backend!.getCurrentKey() as K, window, result, this.collector, this.emitCtx)
    } catch (e) {
      throw this.userError(e)
    }
  }
}
