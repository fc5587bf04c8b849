/**
 * Runs a SourceReader at the head of a source task: assigns timestamps, generates watermarks per
 * split and combines them by minimum over active splits (DESIGN.md §3), routes unreadable records
 * to the dead-letter side output, holds records back under backpressure, snapshots split
 * positions at checkpoint barriers, and emits the final watermark when a bounded input ends.
 */
import { FluxionError, userFunctionFailed } from '../errors.ts'
import type { Output } from '../output.ts'
import { DEAD_LETTERS, type DeadLetter, type InputStatus, type ReaderOutput, type Source, type SourceReader } from '../source.ts'
import { MAX_WATERMARK, NO_TIMESTAMP, type Clock } from '../time.ts'
import { METRIC, type Counter, type MetricsRegistry } from '../metrics.ts'
import type { SourceSnapshot } from '../checkpoint/types.ts'
import type { TimestampAssigner, WatermarkGenerator, WatermarkOutput, WatermarkStrategy } from '../watermarks.ts'

export interface SourceOperatorContext {
  readonly name: string
  readonly subtaskIndex: number
  readonly parallelism: number
  readonly clock: Clock
  /** Whether some operator consumes the DEAD_LETTERS side output of this source. */
  readonly deadLettersConsumed: boolean
  /** Processing time between periodic watermarks while the source waits for data. */
  readonly autoWatermarkIntervalMs: number
  /** Records per poll; the periodic watermark is emitted after every batchSize records. */
  readonly batchSize: number
  /** The job's counters (dead letters by reason); absent in bare unit tests. */
  readonly metrics?: MetricsRegistry
}

/** The default split, for readers that do not name splits. */
const DEFAULT_SPLIT = ''

/** One split's watermark generation. */
class SplitOutput<T> implements ReaderOutput<T>, WatermarkOutput {
  readonly generator: WatermarkGenerator<T>
  watermark = Number.NEGATIVE_INFINITY
  idle = false

  constructor(
    readonly id: string,
    private readonly owner: SourceOperator<T>,
    strategy: WatermarkStrategy<T>,
    clock: Clock,
  ) {
    this.generator = strategy.createWatermarkGenerator({ clock })
  }

  collect(value: T, timestamp?: number): void {
    this.owner.collectFromSplit(this, value, timestamp)
  }

  deadLetter(letter: DeadLetter): void {
    this.owner.deadLetter(letter)
  }

  emitWatermark(watermark: number): void {
    if (watermark <= this.watermark && !this.idle) return
    if (watermark > this.watermark) this.watermark = watermark
    this.idle = false
    this.owner.combineWatermarks()
  }

  markIdle(): void {
    if (this.idle) return
    this.idle = true
    this.owner.combineWatermarks()
  }

  markActive(): void {
    if (!this.idle) return
    this.idle = false
    this.owner.combineWatermarks()
  }
}

interface HeldRecord<T> {
  split: string
  value: T
  timestamp: number | undefined
}

export class SourceOperator<T> implements ReaderOutput<T> {
  private reader!: SourceReader<T>
  private assigner: TimestampAssigner<T> | undefined
  private output!: Output<T>
  private ctx!: SourceOperatorContext
  private readonly splits = new Map<string, SplitOutput<T>>()
  private lastWatermark = Number.NEGATIVE_INFINITY
  private idle = false
  private nextPeriodicEmit = Number.POSITIVE_INFINITY
  private sinceWatermark = 0
  /** Records the reader handed over while an output was full; emitted first in the next slice. */
  private held: HeldRecord<T>[] = []
  private heldIndex = 0
  private readerEnded = false
  private outputFull: () => boolean = () => false
  /** Splits (and held records) to resume from, set before `open` when restoring a checkpoint. */
  private restored: SourceSnapshot | undefined
  /** Whether the reader names its splits; if not, its records go to one default split. */
  private usesSplitOutputs = false
  /** The default split while it is in `splits` (saves a Map lookup per record of such readers). */
  private defaultSplit: SplitOutput<T> | undefined
  /** Records emitted, for metrics. */
  recordsOut = 0
  /** Dead-letter counters by reason. */
  private readonly deadLetterCounters = new Map<string, Counter>()

  constructor(
    readonly source: Source<T>,
    private readonly strategy: WatermarkStrategy<T>,
  ) {}

  /**
   * `outputFull` tells whether a channel downstream is full. The source then stops pushing records
   * into the chain mid-poll and holds what the reader still hands over (at most one poll's worth,
   * before any fan-out), so queues overshoot their capacity by at most one record's output.
   */
  setup(ctx: SourceOperatorContext, output: Output<T>, outputFull: () => boolean = () => false): void {
    this.ctx = ctx
    this.output = output
    this.outputFull = outputFull
  }

  /** Whether restore must hand this source the snapshots of every former subtask (Source.splitOwner). */
  get placesOwnSplits(): boolean {
    return this.source.splitOwner !== undefined
  }

  /**
   * Restores from the source snapshots assigned to this subtask (several after rescaling; all of
   * them for a source that places its splits, which then keeps the held records of its own splits).
   */
  initializeState(snapshots: readonly SourceSnapshot[]): void {
    let held = snapshots.flatMap((s) => s.held) as HeldRecord<T>[]
    const owner = this.source.splitOwner
    if (owner) held = held.filter((r) => owner.call(this.source, r.split, this.ctx.parallelism) === this.ctx.subtaskIndex)
    this.restored = { splits: snapshots.flatMap((s) => s.splits), held }
  }

  /** Step 2 of the checkpoint protocol: the reader's split positions and held-back records. */
  snapshotState(checkpointId = 0): SourceSnapshot {
    if (!this.reader.snapshotState) {
      throw new FluxionError('FLX_INVALID_CONFIG', `source "${this.ctx.name}" cannot be checkpointed: its reader has no snapshotState(). Implement it, or run without checkpoints.`)
    }
    return { splits: structuredClone(this.reader.snapshotState(checkpointId)), held: structuredClone(this.held.slice(this.heldIndex)) }
  }

  /** Step 6: the checkpoint is durable; the reader may act on it (e.g. commit offsets). Never throws. */
  notifyCheckpointComplete(checkpointId: number): void {
    try {
      this.reader?.notifyCheckpointComplete?.(checkpointId)
    } catch {
      // informational for sources: a failure here must not fail the checkpoint
    }
  }

  open(): void {
    const { subtaskIndex, parallelism, clock } = this.ctx
    this.assigner = this.strategy.timestampAssigner
    this.reader = this.source.createReader({ subtaskIndex, parallelism, clock, metrics: this.ctx.metrics, name: this.ctx.name }, this.restored?.splits)
    if (this.restored) {
      this.held = this.restored.held as HeldRecord<T>[]
      this.heldIndex = 0
      this.restored = undefined
    }
  }

  // --- ReaderOutput: split outputs ---------------------------------------------------------------

  /** The output of one split: its records drive that split's own watermark generator. */
  createOutputForSplit(splitId: string): ReaderOutput<T> {
    this.namesSplits()
    return this.split(splitId)
  }

  /** The reader holds no split now: idle until one of its splits emits. */
  markIdle(): void {
    this.namesSplits()
    if (this.splits.size === 0 && !this.idle) {
      this.idle = true
      this.output.emitIdle(true)
    }
  }

  /** The reader names its splits: the default split made while it had none must not hold back the watermark. */
  private namesSplits(): void {
    if (this.usesSplitOutputs) return
    this.usesSplitOutputs = true
    this.defaultSplit = undefined
    if (this.splits.delete(DEFAULT_SPLIT)) this.combineWatermarks()
  }

  /** The split is finished or gone: it no longer holds back the watermark. */
  releaseOutputForSplit(splitId: string): void {
    if (splitId === DEFAULT_SPLIT) this.defaultSplit = undefined
    if (this.splits.delete(splitId)) this.combineWatermarks()
  }

  private split(id: string): SplitOutput<T> {
    let s = this.splits.get(id)
    if (!s) {
      s = new SplitOutput<T>(id, this, this.strategy, this.ctx.clock)
      this.splits.set(id, s)
    }
    if (id === DEFAULT_SPLIT) this.defaultSplit = s
    return s
  }

  /** Records of readers that do not name splits. */
  collect(value: T, timestamp?: number): void {
    this.collectFromSplit(this.defaultSplit ?? this.split(DEFAULT_SPLIT), value, timestamp)
  }

  /** @internal */
  collectFromSplit(split: SplitOutput<T>, value: T, recordTimestamp: number | undefined): void {
    if (this.heldIndex < this.held.length || this.outputFull()) this.held.push({ split: split.id, value, timestamp: recordTimestamp })
    else this.emitRecord(split, value, recordTimestamp)
  }

  // --- polling -----------------------------------------------------------------------------------

  /**
   * Emits held-back records, then polls the reader for up to batchSize records. The periodic
   * watermark is emitted after every batchSize records and whenever the reader has nothing.
   */
  emitNext(): InputStatus {
    if (!this.drainHeld()) return 'more'
    if (this.readerEnded) return this.end()
    let status: InputStatus
    try {
      status = this.reader.pollNext(this, this.ctx.batchSize)
    } catch (e) {
      if (e instanceof FluxionError) throw e
      throw new FluxionError('FLX_SOURCE_FAILED', `source "${this.ctx.name}" failed: ${e instanceof Error ? e.message : String(e)}`, { operator: this.ctx.name, cause: e })
    }
    if (status === 'end') {
      this.readerEnded = true
      return this.heldIndex < this.held.length ? 'more' : this.end()
    }
    if (status === 'nothing') {
      if (this.heldIndex < this.held.length) return 'more'
      this.periodicEmit()
    }
    return status
  }

  private end(): InputStatus {
    this.splits.clear()
    this.defaultSplit = undefined
    this.forward(MAX_WATERMARK)
    return 'end'
  }

  /** Emits held records while the outputs have room; true when none are left. */
  private drainHeld(): boolean {
    const held = this.held
    while (this.heldIndex < held.length) {
      if (this.outputFull()) return false
      const r = held[this.heldIndex++]
      this.emitRecord(this.split(r.split), r.value, r.timestamp)
    }
    if (held.length > 0) {
      this.held = []
      this.heldIndex = 0
    }
    return true
  }

  /** Reader's availability after 'nothing'. */
  isAvailable(): Promise<void> {
    return this.reader.isAvailable()
  }

  /** Next processing time at which the periodic watermark should be emitted while waiting. */
  nextTimerTime(): number {
    return this.nextPeriodicEmit
  }

  /** Called by the task when the periodic emission time was reached while the source waited. */
  onTimer(now: number): void {
    if (now >= this.nextPeriodicEmit) this.periodicEmit()
  }

  private periodicEmit(): void {
    this.sinceWatermark = 0
    if (this.splits.size === 0) {
      // A reader without named splits has one default split (so idleness is detected even before
      // its first record); a reader that names splits but holds none is idle, as in Flink.
      if (!this.usesSplitOutputs) this.split(DEFAULT_SPLIT)
      else if (!this.idle) {
        this.idle = true
        this.output.emitIdle(true)
      }
    }
    for (const split of this.splits.values()) split.generator.onPeriodicEmit(split)
    this.nextPeriodicEmit = this.ctx.clock.now() + this.ctx.autoWatermarkIntervalMs
  }

  private emitRecord(split: SplitOutput<T>, value: T, recordTimestamp: number | undefined): void {
    let ts: number
    if (this.assigner !== undefined) {
      try {
        ts = this.assigner(value, recordTimestamp)
      } catch (e) {
        throw userFunctionFailed(`${this.ctx.name} (timestamp assigner)`, e)
      }
      if (typeof ts !== 'number' || Number.isNaN(ts)) {
        throw new FluxionError(
          'FLX_MISSING_TIMESTAMP',
          `the timestamp assigner of source "${this.ctx.name}" returned ${String(ts)} for a record; it must return epoch milliseconds as a number`,
          { operator: this.ctx.name },
        )
      }
    } else {
      ts = recordTimestamp ?? NO_TIMESTAMP
    }
    if (split.idle) split.markActive()
    this.recordsOut++
    this.output.collect(value, ts)
    split.generator.onEvent(value, ts, split)
    if (++this.sinceWatermark >= this.ctx.batchSize) this.periodicEmit()
  }

  deadLetter(letter: DeadLetter): void {
    const reason = letter.reason ?? 'unreadable'
    let counter = this.deadLetterCounters.get(reason)
    if (!counter) {
      counter = this.ctx.metrics?.counter(METRIC.deadLetters, 'Records a source could not read, by source and reason', { source: this.ctx.name, reason })
      if (counter) this.deadLetterCounters.set(reason, counter)
    }
    counter?.inc()
    if (!this.ctx.deadLettersConsumed) {
      throw new FluxionError(
        'FLX_BAD_RECORD',
        `source "${this.ctx.name}" could not read the record at ${JSON.stringify(letter.position)}: ${letter.error}. ` +
          'Consume stream.getSideOutput(DEAD_LETTERS) to route bad records to a dead-letter sink and keep the job running.',
        { operator: this.ctx.name },
      )
    }
    this.output.collectSide(DEAD_LETTERS, letter, NO_TIMESTAMP)
  }

  /** @internal The subtask's watermark is the minimum over active splits; all idle: idle. */
  combineWatermarks(): void {
    let min = Number.POSITIVE_INFINITY
    let active = 0
    for (const s of this.splits.values()) {
      if (s.idle) continue
      active++
      if (s.watermark < min) min = s.watermark
    }
    if (active === 0) {
      if (this.splits.size > 0 && !this.idle) {
        this.idle = true
        this.output.emitIdle(true)
      }
      return
    }
    if (this.idle) {
      this.idle = false
      this.output.emitIdle(false)
    }
    this.forward(min)
  }

  private forward(watermark: number): void {
    if (watermark <= this.lastWatermark) return
    this.lastWatermark = watermark
    this.output.emitWatermark(watermark)
  }

  close(): void {
    try {
      void this.reader?.close?.()
    } catch {
      // close must not throw
    }
  }
}
