/**
 * Keyed interval join (Flink's IntervalJoinOperator): joins left record l with right record r of
 * the same key when l.ts + lowerBound <= r.ts <= l.ts + upperBound (bounds inclusive unless made
 * exclusive). Records are buffered per key by timestamp and removed once the watermark has passed
 * the point after which they can no longer join. Records later than the watermark are dropped (or
 * sent to the late side outputs).
 */
import { FluxionError } from '../../engine/errors.ts'
import { StreamOperator } from '../../engine/operator.ts'
import type { Collector } from '../../engine/output.ts'
import type { OutputTag } from '../../engine/output-tag.ts'
import { NO_TIMESTAMP } from '../../engine/time.ts'
import type { InternalTimerService, Timer } from '../../engine/timers.ts'
import { MapStateDescriptor } from '../../state/api.ts'
import type { InternalMapState } from '../../state/backend.ts'

export interface ProcessJoinContext<K> {
  leftTimestamp(): number
  rightTimestamp(): number
  /** The output record's timestamp: max(left, right). */
  timestamp(): number
  getCurrentKey(): K
  output<X>(tag: OutputTag<X>, value: X): void
}

export type ProcessJoinFunction<L, R, OUT, K = unknown> =
  | ((left: L, right: R, ctx: ProcessJoinContext<K>, out: Collector<OUT>) => void)
  | { processElement(left: L, right: R, ctx: ProcessJoinContext<K>, out: Collector<OUT>): void }

export interface IntervalJoinOptions<L, R> {
  lowerBound: number
  upperBound: number
  leftLateTag?: OutputTag<L>
  rightLateTag?: OutputTag<R>
}

const LEFT = 'left'
const RIGHT = 'right'

export class IntervalJoinOperator<K, L, R, OUT> extends StreamOperator<L, OUT> {
  private leftBuffer!: InternalMapState<number, L[]>
  private rightBuffer!: InternalMapState<number, R[]>
  private timers!: InternalTimerService<string>
  private readonly process: (left: L, right: R, ctx: ProcessJoinContext<K>, out: Collector<OUT>) => void
  private leftTs = 0
  private rightTs = 0
  private readonly collector: Collector<OUT> = { collect: (v) => this.output.collect(v, Math.max(this.leftTs, this.rightTs)) }
  private readonly joinCtx: ProcessJoinContext<K>

  constructor(
    fn: ProcessJoinFunction<L, R, OUT, K>,
    private readonly options: IntervalJoinOptions<L, R>,
  ) {
    super()
    this.process = typeof fn === 'function' ? fn : (l, r, c, o) => fn.processElement(l, r, c, o)
    const op = this
    this.joinCtx = {
      leftTimestamp: () => op.leftTs,
      rightTimestamp: () => op.rightTs,
      timestamp: () => Math.max(op.leftTs, op.rightTs),
      getCurrentKey: () => op.keyedBackend().getCurrentKey() as K,
      output: (tag, value) => op.output.collectSide(tag, value, Math.max(op.leftTs, op.rightTs)),
    }
  }

  override open(): void {
    const backend = this.keyedBackend()
    this.leftBuffer = backend.getMapState(new MapStateDescriptor<number, L[]>('interval-join-left'))
    this.rightBuffer = backend.getMapState(new MapStateDescriptor<number, R[]>('interval-join-right'))
    this.timers = this.getTimerService<string>('interval-join-cleanup', this, (ns) => ns)
  }

  processElement(value: L, timestamp: number): void {
    this.processSide(value, timestamp, true)
  }

  override processElement2(value: unknown, timestamp: number): void {
    this.processSide(value, timestamp, false)
  }

  private processSide(value: unknown, ts: number, isLeft: boolean): void {
    if (ts === NO_TIMESTAMP) {
      throw new FluxionError(
        'FLX_MISSING_TIMESTAMP',
        `operator "${this.name}" got a record without a timestamp; interval joins need event time. Give both inputs a WatermarkStrategy with a timestamp assigner.`,
        { operator: this.name },
      )
    }
    const wm = this.currentWatermark()
    if (ts < wm) {
      const tag = isLeft ? this.options.leftLateTag : this.options.rightLateTag
      if (tag) this.output.collectSide(tag as OutputTag<unknown>, value, ts)
      return
    }
    const { lowerBound, upperBound } = this.options
    const ours = (isLeft ? this.leftBuffer : this.rightBuffer) as InternalMapState<number, unknown[]>
    const others = (isLeft ? this.rightBuffer : this.leftBuffer) as InternalMapState<number, unknown[]>
    const bucket = ours.get(ts)
    if (bucket) {
      bucket.push(value)
      ours.put(ts, bucket) // write back: backends that serialise must see the change
    } else ours.put(ts, [value])
    // Relative to this record: the other side's timestamps that join with it.
    const lo = isLeft ? ts + lowerBound : ts - upperBound
    const hi = isLeft ? ts + upperBound : ts - lowerBound
    for (const [otherTs, otherValues] of others.entries()) {
      if (otherTs < lo || otherTs > hi) continue
      for (const other of otherValues) {
        if (isLeft) this.emit(value as L, other as R, ts, otherTs)
        else this.emit(other as L, value as R, otherTs, ts)
      }
    }
    const relativeUpper = isLeft ? upperBound : -lowerBound
    const cleanupTime = relativeUpper > 0 ? ts + relativeUpper : ts
    this.timers.registerEventTimeTimer(isLeft ? LEFT : RIGHT, cleanupTime)
  }

  private emit(left: L, right: R, leftTs: number, rightTs: number): void {
    this.leftTs = leftTs
    this.rightTs = rightTs
    try {
      this.process(left, right, this.joinCtx, this.collector)
    } catch (e) {
      throw this.userError(e)
    }
  }

  onEventTime(timer: Timer<string>): void {
    const { lowerBound, upperBound } = this.options
    if (timer.namespace === LEFT) {
      const ts = upperBound <= 0 ? timer.timestamp : timer.timestamp - upperBound
      this.leftBuffer.remove(ts)
    } else {
      const ts = lowerBound <= 0 ? timer.timestamp + lowerBound : timer.timestamp
      this.rightBuffer.remove(ts)
    }
  }

  onProcessingTime(): void {}
}
