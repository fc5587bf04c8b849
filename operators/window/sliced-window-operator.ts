/**
 * Sliced event-time window aggregation (Flink SQL's window slicing for HOP and TUMBLE windows,
 * `SlicingWindowOperator`), behind `WindowedStream.sliced()`.
 *
 * A sliding window of `size` every `slide` ms (size a multiple of slide) is the union of
 * size / slide consecutive *slices* of `slide` ms. The operator keeps one accumulator per key and
 * slice (keyed value state 'window-slices', namespace = the slice's start) instead of one per key
 * and window: a record updates one accumulator instead of size / slide, and a window's result is
 * merged from its slices when it fires. The outputs are those of WindowOperator with the same
 * assigner, EventTimeTrigger and allowed lateness (same windows, results, timestamps = window end
 * − 1, late firings, late side output and drop count), provided the aggregate's `merge` is exact.
 *
 * Contract on the AggregateFunction (why slicing is opt-in): a window's accumulator is built as
 * `merge(…merge(merge(createAccumulator(), s1), s2)…, sn)` over its stored slices, so `merge(a, b)`
 * may modify and return `a`, or return `b` as it is, but must not modify `b` (when it returns a
 * stored slice, the operator merges into a structured clone of it: accumulators are structured-
 * cloneable anyway, checkpoints serialize them). Merging changes the order in which values are
 * combined, so aggregates whose merge is not exact (floating-point sums) may differ from the
 * unsliced operator in the last bits.
 *
 * One deliberate difference from WindowOperator: a restored subtask keeps the watermark of its
 * snapshot (the lowest one after rescaling), as Flink SQL's window aggregation does, so records
 * that were late before a failure are late when replayed after it. WindowOperator starts from −∞
 * and would open windows that already fired again (with only the replayed records); a sliced
 * window that fired has lost its first slice, so it could not be recomputed anyway.
 *
 * Timers (namespace = the window's end): when a key's slice gets its first record, every window
 * containing the slice that is not late gets a firing timer at end − 1 (unless the watermark has
 * passed it: that window fires on each record instead, as EventTimeTrigger.onElement does) and,
 * with allowed lateness, a cleanup timer at end − 1 + lateness. At a window's cleanup the slice
 * that starts at end − size is cleared: no later window contains it.
 */
import { FluxionError } from '../../engine/errors.ts'
import type { OutputTag } from '../../engine/output-tag.ts'
import { NO_TIMESTAMP } from '../../engine/time.ts'
import type { InternalTimerService, Timer } from '../../engine/timers.ts'
import { ValueStateDescriptor } from '../../state/api.ts'
import type { InternalValueState } from '../../state/backend.ts'
import type { AggregateFunction } from './window-functions.ts'
import { WindowResultOperator, type WindowEmitter } from './window-result-operator.ts'
import { windowStart } from './window.ts'

export interface SlicedWindowOperatorOptions<K, IN, ACC, R, OUT> {
  /** Window length, ms: a multiple of `slide`. */
  size: number
  /** Window start period and slice length, ms (= size for tumbling windows). */
  slide: number
  /** Window alignment, as the assigner's offset: |offset| < slide. */
  offset: number
  allowedLateness: number
  lateDataTag: OutputTag<IN> | undefined
  aggregate: AggregateFunction<IN, ACC, R>
  emit: WindowEmitter<K, R, OUT>
  /** For error messages, e.g. "SlidingEventTimeWindows(10000, 2000)". */
  describe: string
}

export class SlicedWindowOperator<K, IN, ACC, R, OUT> extends WindowResultOperator<K, IN, R, OUT> {
  private slices!: InternalValueState<ACC>
  private timers!: InternalTimerService<number>
  private readonly size: number
  private readonly slide: number
  private readonly offset: number
  private readonly allowedLateness: number
  private readonly lateDataTag: OutputTag<IN> | undefined
  private readonly fn: AggregateFunction<IN, ACC, R>
  private readonly describe: string
  /** size / slide: the slices of a window, and the windows of a slice. */
  private readonly slicesPerWindow: number
  /**
   * The watermark of the snapshot this subtask was restored from (the lowest of them after
   * rescaling), kept as Flink SQL's window aggregation keeps it: records that were late before a
   * failure are late after it too, instead of reopening windows that already fired and whose
   * first slices are gone. −∞ when not restored.
   */
  private restoredWatermark = Number.NEGATIVE_INFINITY
  /** Late records dropped because no late-data side output was configured. */
  numLateRecordsDropped = 0

  constructor(options: SlicedWindowOperatorOptions<K, IN, ACC, R, OUT>) {
    super(options.emit)
    const { size, slide, offset } = options
    if (!(slide > 0) || !(size >= slide) || size % slide !== 0 || !(Math.abs(offset) < slide)) {
      throw new FluxionError('FLX_INVALID_WINDOW', `sliced windows need size a positive multiple of slide and |offset| < slide, got size ${size}, slide ${slide}, offset ${offset}`)
    }
    this.size = size
    this.slide = slide
    this.offset = offset
    this.allowedLateness = options.allowedLateness
    this.lateDataTag = options.lateDataTag
    this.fn = options.aggregate
    this.describe = options.describe
    this.slicesPerWindow = size / slide
  }

  override currentWatermark(): number {
    const watermark = super.currentWatermark()
    return watermark > this.restoredWatermark ? watermark : this.restoredWatermark
  }

  protected override snapshotOperatorState(): unknown {
    // The final watermark (+∞ at the end of a bounded input) is not kept: new input after a
    // restore from the end of a bounded run is not late. null: no watermark to keep.
    const watermark = this.currentWatermark()
    return { watermark: Number.isFinite(watermark) ? watermark : null }
  }

  protected override restoreOperatorState(states: unknown[]): void {
    // Every snapshot of this operator has a state; one without a watermark (null) or a snapshot of
    // an older version (none at all) means −∞, the lowest, which wins.
    const watermarks = states.map((s) => (s as { watermark: number | null }).watermark)
    this.restoredWatermark = watermarks.length === 0 || watermarks.includes(null) ? Number.NEGATIVE_INFINITY : Math.min(...(watermarks as number[]))
  }

  override open(): void {
    this.slices = this.keyedBackend().getValueState(new ValueStateDescriptor<ACC>('window-slices'))
    this.timers = this.getTimerService<number>('window-timers', this, (end) => end)
  }

  processElement(value: IN, timestamp: number): void {
    if (timestamp === NO_TIMESTAMP) throw this.missingTimestamp(this.describe)
    const sliceStart = windowStart(timestamp, this.offset, this.slide)
    const watermark = this.currentWatermark()
    const lateness = this.allowedLateness
    // The last window containing the slice ends at sliceStart + size; when it is late, all are.
    if (sliceStart + this.size - 1 + lateness <= watermark) {
      if (this.lateDataTag) this.output.collectSide(this.lateDataTag, value, timestamp)
      else this.numLateRecordsDropped++
      return
    }
    const slices = this.slices
    slices.setCurrentNamespace(sliceStart)
    const acc = slices.value()
    const fresh = acc === undefined
    let updated: ACC
    try {
      updated = this.fn.add(value, fresh ? this.fn.createAccumulator() : acc)
    } catch (e) {
      throw this.userError(e)
    }
    slices.update(updated)
    if (fresh) this.registerWindowTimers(sliceStart, watermark)
    // Late firings: windows past the watermark but within the allowed lateness fire on every
    // record, the latest window first (the window operator's order: the assigner's, latest start first).
    if (lateness > 0) {
      for (let j = this.slicesPerWindow; j >= 1; j--) {
        const end = sliceStart + j * this.slide
        if (end - 1 > watermark) continue
        if (end - 1 + lateness <= watermark) break
        this.fireWindow(end)
      }
    }
  }

  /** Timers of the windows (ends sliceStart + slide … sliceStart + size) of a key's new slice that are not late. */
  private registerWindowTimers(sliceStart: number, watermark: number): void {
    const lateness = this.allowedLateness
    // Counted, not `end += slide`: near 2^53 an addition may not move `end` any more.
    for (let j = 1; j <= this.slicesPerWindow; j++) {
      const end = sliceStart + j * this.slide
      const maxTimestamp = end - 1
      if (maxTimestamp + lateness <= watermark) continue
      if (maxTimestamp > watermark) this.timers.registerEventTimeTimer(end, maxTimestamp)
      if (lateness > 0) this.timers.registerEventTimeTimer(end, maxTimestamp + lateness)
    }
  }

  onEventTime(timer: Timer<number>): void {
    const end = timer.namespace
    if (timer.timestamp === end - 1) this.fireWindow(end)
    if (timer.timestamp === end - 1 + this.allowedLateness) {
      this.slices.setCurrentNamespace(end - this.size)
      this.slices.clear()
    }
  }

  onProcessingTime(): void {
    // event-time windows register no processing-time timers
  }

  /** Merges the slices of the window ending at `end` and emits its result, if any slice has data. */
  private fireWindow(end: number): void {
    const start = end - this.size
    const slices = this.slices
    let acc: ACC | undefined
    /** Whether `acc` is a stored slice (merge returned its second argument): copied before it is merged into. */
    let accIsStored = false
    let result: R
    try {
      for (let j = 0; j < this.slicesPerWindow; j++) {
        slices.setCurrentNamespace(start + j * this.slide)
        const slice = slices.value()
        if (slice === undefined) continue
        if (accIsStored) acc = structuredClone(acc)
        acc = this.fn.merge(acc === undefined ? this.fn.createAccumulator() : acc!, slice)
        accIsStored = acc === slice
      }
      if (acc === undefined) return
      result = this.fn.getResult(acc)
    } catch (e) {
      throw this.userError(e)
    }
    this.emitWindow({ start, end }, result)
  }
}
