/**
 * Sinks: the SinkWriter contract and the operator that drives it.
 */
import { FluxionError } from '../engine/errors.ts'
import { StreamOperator } from '../engine/operator.ts'
import { hasTimestamp } from '../engine/time.ts'

export interface SinkWriterContext {
  readonly subtaskIndex: number
  readonly parallelism: number
}

export interface SinkWriter<T> {
  /** Writes one record. Must not block for long; buffer and write in `flush`. */
  write(value: T, timestamp: number | undefined): void
  /** Called at the end of input, before `close`. */
  flush?(): void
  /** Releases resources; must not throw. */
  close?(): void
}

export interface Sink<T> {
  readonly name: string
  createWriter(ctx: SinkWriterContext): SinkWriter<T>
}

export class SinkOperator<T> extends StreamOperator<T, never> {
  private writer!: SinkWriter<T>

  constructor(private readonly sink: Sink<T>) {
    super()
  }

  override open(): void {
    this.writer = this.sink.createWriter({ subtaskIndex: this.ctx.subtaskIndex, parallelism: this.ctx.parallelism })
  }

  processElement(value: T, timestamp: number): void {
    try {
      this.writer.write(value, hasTimestamp(timestamp) ? timestamp : undefined)
    } catch (e) {
      if (e instanceof FluxionError) throw e
      throw new FluxionError('FLX_SINK_FAILED', `sink "${this.name}" failed to write: ${e instanceof Error ? e.message : String(e)}`, { operator: this.name, cause: e })
    }
  }

  override processWatermark(_watermark: number): void {}

  override endInput(): void {
    this.writer.flush?.()
  }

  override close(): void {
    this.writer?.close?.()
  }
}
