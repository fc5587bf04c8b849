import { StreamOperator } from '../engine/operator.ts'
import { collectBatch, type BatchOperator } from '../engine/output.ts'

/** Keeps the records for which `predicate` returns true. */
export class FilterOperator<T> extends StreamOperator<T, T> implements BatchOperator<T> {
  /** The kept records of the current batch and their timestamps (reused from batch to batch). */
  private readonly kept: T[] = []
  private readonly keptTimestamps: number[] = []

  constructor(private readonly predicate: (value: T) => boolean) {
    super()
  }

  processElement(value: T, timestamp: number): void {
    let keep: boolean
    try {
      keep = this.predicate(value)
    } catch (e) {
      throw this.userError(e)
    }
    if (keep) this.output.collect(value, timestamp)
  }

  /** Tests the whole batch, then emits the kept records in one call. */
  processBatch(values: readonly T[], timestamps: readonly number[], n: number): void {
    const predicate = this.predicate
    const kept = this.kept
    const keptTimestamps = this.keptTimestamps
    let k = 0
    for (let i = 0; i < n; i++) {
      const value = values[i]
      let keep: boolean
      try {
        keep = predicate(value)
      } catch (e) {
        // The records kept before the failing one are emitted, as one by one.
        if (k > 0) collectBatch(this.output, kept, keptTimestamps, k)
        throw this.userError(e)
      }
      if (keep) {
        kept[k] = value
        keptTimestamps[k] = timestamps[i]
        k++
      }
    }
    if (k > 0) collectBatch(this.output, kept, keptTimestamps, k)
  }
}
