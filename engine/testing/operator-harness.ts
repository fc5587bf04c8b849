/**
 * Test harness for one operator subtask (after Flink's KeyedOneInputStreamOperatorTestHarness):
 * push records, advance the watermark and the processing-time clock, read what the operator
 * emitted, and snapshot → close → restore → continue in one call.
 *
 * Every stateful operator's unit tests use it; users can test their own process functions with
 * `OperatorTestHarness.forKeyedProcessFunction`.
 */
import { keyGroupRangeOf } from '../keys.ts'
import type { OperatorSnapshot, StreamOperator } from '../operator.ts'
import type { Output } from '../output.ts'
import type { OutputTag } from '../output-tag.ts'
import { ManualClock, NO_TIMESTAMP, hasTimestamp } from '../time.ts'
import { MemoryKeyedStateBackend } from '../../state/memory/memory-backend.ts'
import { ProcessOperator } from '../../operators/process.ts'
import type { KeyedProcessFunction, ProcessFunction } from '../../operators/process-function.ts'

export interface HarnessRecord<T> {
  value: T
  /** undefined when the record has no timestamp. */
  timestamp: number | undefined
}

export interface HarnessOptions<IN> {
  /** Makes the operator keyed: the harness sets the key of each record from it. */
  keySelector?: (value: IN) => unknown
  /** Key selector of the second input (two-input operators); defaults to keySelector. */
  keySelector2?: (value: any) => unknown
  maxParallelism?: number
  parallelism?: number
  subtaskIndex?: number
  /** Start of the processing-time clock (default 0). */
  processingTime?: number
  name?: string
}

class CapturingOutput<T> implements Output<T> {
  readonly records: HarnessRecord<T>[] = []
  readonly sides = new Map<string, HarnessRecord<unknown>[]>()
  readonly watermarks: number[] = []
  readonly idle: boolean[] = []

  collect(value: T, timestamp: number): void {
    this.records.push({ value, timestamp: hasTimestamp(timestamp) ? timestamp : undefined })
  }
  collectSide<S>(tag: OutputTag<S>, value: S, timestamp: number): void {
    let list = this.sides.get(tag.id)
    if (!list) this.sides.set(tag.id, (list = []))
    list.push({ value, timestamp: hasTimestamp(timestamp) ? timestamp : undefined })
  }
  emitWatermark(watermark: number): void {
    this.watermarks.push(watermark)
  }
  emitIdle(idle: boolean): void {
    this.idle.push(idle)
  }
}

export class OperatorTestHarness<IN, OUT> {
  readonly clock: ManualClock
  readonly operator: StreamOperator<IN, OUT>
  private output = new CapturingOutput<OUT>()
  private readonly backend: MemoryKeyedStateBackend | undefined
  private opened = false

  constructor(
    private readonly factory: () => StreamOperator<IN, OUT>,
    private readonly options: HarnessOptions<IN> = {},
    restoreFrom: readonly OperatorSnapshot[] = [],
    carriedOutput?: CapturingOutput<OUT>,
  ) {
    if (carriedOutput) this.output = carriedOutput
    const maxParallelism = options.maxParallelism ?? 128
    const parallelism = options.parallelism ?? 1
    const subtaskIndex = options.subtaskIndex ?? 0
    this.clock = new ManualClock(options.processingTime ?? 0)
    this.backend = options.keySelector ? new MemoryKeyedStateBackend(maxParallelism, keyGroupRangeOf(subtaskIndex, parallelism, maxParallelism)) : undefined
    this.operator = factory()
    this.operator.setup({ name: options.name ?? 'operator-under-test', subtaskIndex, parallelism, maxParallelism, clock: this.clock, backend: this.backend }, this.output)
    if (restoreFrom.length > 0) this.operator.initializeState(restoreFrom)
  }

  /** A harness for a KeyedProcessFunction. */
  static forKeyedProcessFunction<K, IN, OUT>(fn: KeyedProcessFunction<K, IN, OUT>, keySelector: (value: IN) => K, options: HarnessOptions<IN> = {}): OperatorTestHarness<IN, OUT> {
    return new OperatorTestHarness<IN, OUT>(() => new ProcessOperator<K, IN, OUT>(Object.assign(Object.create(Object.getPrototypeOf(fn)), fn)), { ...options, keySelector })
  }

  /** A harness for a (non-keyed) ProcessFunction. */
  static forProcessFunction<IN, OUT>(fn: ProcessFunction<IN, OUT>, options: HarnessOptions<IN> = {}): OperatorTestHarness<IN, OUT> {
    return new OperatorTestHarness<IN, OUT>(() => new ProcessOperator<never, IN, OUT>(fn as KeyedProcessFunction<never, IN, OUT>), options)
  }

  /** Opens the operator (done automatically by the first call that needs it). */
  open(): this {
    if (!this.opened) {
      this.opened = true
      this.operator.open()
      this.operator.restoreTimers()
    }
    return this
  }

  processElement(value: IN, timestamp?: number): this {
    this.open()
    if (this.backend) this.backend.setCurrentKey(this.options.keySelector!(value))
    this.operator.processElement(value, timestamp ?? NO_TIMESTAMP)
    return this
  }

  /** A record on the second input of a two-input operator. */
  processElement2(value: unknown, timestamp?: number): this {
    this.open()
    const selector = this.options.keySelector2 ?? this.options.keySelector
    if (this.backend && selector) this.backend.setCurrentKey(selector(value as IN))
    this.operator.processElement2(value, timestamp ?? NO_TIMESTAMP)
    return this
  }

  processWatermark(watermark: number): this {
    this.open()
    this.operator.processWatermark(watermark)
    return this
  }

  /** Moves the processing-time clock to `time` and fires due processing-time timers. */
  setProcessingTime(time: number): this {
    this.open()
    this.clock.setTime(time)
    this.operator.advanceProcessingTime(time)
    return this
  }

  endInput(): this {
    this.open()
    this.operator.endInput()
    return this
  }

  /** Records emitted so far (with timestamps). */
  getOutput(): HarnessRecord<OUT>[] {
    return this.output.records
  }

  /** Values emitted so far. */
  extractOutputValues(): OUT[] {
    return this.output.records.map((r) => r.value)
  }

  getSideOutput<X>(tag: OutputTag<X>): X[] {
    return (this.output.sides.get(tag.id) ?? []).map((r) => r.value as X)
  }

  getWatermarks(): number[] {
    return this.output.watermarks
  }

  /** Forgets what was emitted so far. */
  clearOutput(): this {
    this.output.records.length = 0
    this.output.sides.clear()
    this.output.watermarks.length = 0
    return this
  }

  /** Number of keyed state entries (0 for non-keyed operators). */
  stateSize(): number {
    return this.backend?.size() ?? 0
  }

  snapshot(): OperatorSnapshot {
    this.open()
    return this.operator.snapshotState()
  }

  close(): void {
    this.operator.close()
  }

  /**
   * Snapshot, close, and restore into a fresh operator instance that continues where this one
   * stopped (same processing time). Output captured so far is carried over.
   */
  snapshotAndRestore(): OperatorTestHarness<IN, OUT> {
    const snap = this.snapshot()
    this.close()
    return new OperatorTestHarness<IN, OUT>(this.factory, { ...this.options, processingTime: this.clock.now() }, [snap], this.output)
  }

  /** A new harness whose operator starts from `snapshots` (several when scaling in). */
  static restore<IN, OUT>(factory: () => StreamOperator<IN, OUT>, options: HarnessOptions<IN>, snapshots: readonly OperatorSnapshot[]): OperatorTestHarness<IN, OUT> {
    return new OperatorTestHarness<IN, OUT>(factory, options, snapshots)
  }
}
