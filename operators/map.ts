import { StreamOperator } from '../engine/operator.ts'
import { collectBatch, type BatchOperator } from '../engine/output.ts'

/** Applies `fn` to every record; the output keeps the input's timestamp. */
export class MapOperator<IN, OUT> extends StreamOperator<IN, OUT> implements BatchOperator<IN> {
  /** The mapped records of the current batch (reused from batch to batch). */
  private readonly mapped: OUT[] = []

  constructor(private readonly fn: (value: IN) => OUT) {
    super()
  }

  processElement(value: IN, timestamp: number): void {
    let out: OUT
    try {
      out = this.fn(value)
    } catch (e) {
      throw this.userError(e)
    }
    this.output.collect(out, timestamp)
  }

  /** Maps the whole batch, then emits it in one call with the same timestamps. */
  processBatch(values: readonly IN[], timestamps: readonly number[], n: number): void {
    const fn = this.fn
    const mapped = this.mapped
    for (let i = 0; i < n; i++) {
      try {
        mapped[i] = fn(values[i])
      } catch (e) {
        // The records before the failing one are emitted, as one by one.
        collectBatch(this.output, mapped, timestamps, i)
        throw this.userError(e)
      }
    }
    collectBatch(this.output, mapped, timestamps, n)
  }
}
