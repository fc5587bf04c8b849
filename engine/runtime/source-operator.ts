/**
 * Runs a SourceReader at the head of a source task: assigns timestamps, drives the watermark
 * generator, routes unreadable records to the dead-letter side output, and emits the final
 * watermark when a bounded input ends.
 */
import { FluxionError, userFunctionFailed } from '../errors.ts'
import type { Output } from '../output.ts'
import { DEAD_LETTERS, type DeadLetter, type InputStatus, type ReaderOutput, type Source, type SourceReader } from '../source.ts'
import { MAX_WATERMARK, NO_TIMESTAMP, type Clock } from '../time.ts'
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
  /** Records per poll; the periodic watermark is emitted after every poll. */
  readonly batchSize: number
}

export class SourceOperator<T> implements ReaderOutput<T>, WatermarkOutput {
  private reader!: SourceReader<T>
  private generator!: WatermarkGenerator<T>
  private assigner: TimestampAssigner<T> | undefined
  private output!: Output<T>
  private ctx!: SourceOperatorContext
  private lastWatermark = Number.NEGATIVE_INFINITY
  private idle = false
  private nextPeriodicEmit = Number.POSITIVE_INFINITY
  private sinceWatermark = 0
  /** Records the reader handed over while an output was full; emitted first in the next slice. */
  private held: { value: T; timestamp: number | undefined }[] = []
  private heldIndex = 0
  private readerEnded = false
  private outputFull: () => boolean = () => false
  /** Records emitted, for metrics. */
  recordsOut = 0

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

  open(): void {
    const { subtaskIndex, parallelism, clock } = this.ctx
    this.reader = this.source.createReader({ subtaskIndex, parallelism, clock })
    this.generator = this.strategy.createWatermarkGenerator({ clock })
    this.assigner = this.strategy.timestampAssigner
  }

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
    this.emitWatermark(MAX_WATERMARK)
    return 'end'
  }

  /** Emits held records while the outputs have room; true when none are left. */
  private drainHeld(): boolean {
    const held = this.held
    while (this.heldIndex < held.length) {
      if (this.outputFull()) return false
      const r = held[this.heldIndex++]
      this.emitRecord(r.value, r.timestamp)
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
    this.generator.onPeriodicEmit(this)
    this.nextPeriodicEmit = this.ctx.clock.now() + this.ctx.autoWatermarkIntervalMs
  }

  collect(value: T, recordTimestamp?: number): void {
    if (this.heldIndex < this.held.length || this.outputFull()) this.held.push({ value, timestamp: recordTimestamp })
    else this.emitRecord(value, recordTimestamp)
  }

  private emitRecord(value: T, recordTimestamp: number | undefined): void {
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
    if (this.idle) this.markActive()
    this.recordsOut++
    this.output.collect(value, ts)
    this.generator.onEvent(value, ts, this)
    if (++this.sinceWatermark >= this.ctx.batchSize) this.periodicEmit()
  }

  deadLetter(letter: DeadLetter): void {
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

  emitWatermark(watermark: number): void {
    if (watermark <= this.lastWatermark) return
    if (this.idle) this.markActive()
    this.lastWatermark = watermark
    this.output.emitWatermark(watermark)
  }

  markIdle(): void {
    if (this.idle) return
    this.idle = true
    this.output.emitIdle(true)
  }

  markActive(): void {
    if (!this.idle) return
    this.idle = false
    this.output.emitIdle(false)
  }

  close(): void {
    try {
      void this.reader?.close?.()
    } catch {
      // close must not throw
    }
  }
}
