import { StreamOperator } from '../engine/operator.ts'

/** Keeps the records for which `predicate` returns true. */
export class FilterOperator<T> extends StreamOperator<T, T> {
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
}
