import type { Collector } from '../engine/output.ts'
import { StreamOperator } from '../engine/operator.ts'

/** Calls `fn` with a collector for every record; each collected value keeps the input's timestamp. */
export class FlatMapOperator<IN, OUT> extends StreamOperator<IN, OUT> {
  private timestamp = 0
  private readonly collector: Collector<OUT> = { collect: (v) => this.output.collect(v, this.timestamp) }

  constructor(private readonly fn: (value: IN, out: Collector<OUT>) => void) {
    super()
  }

  processElement(value: IN, timestamp: number): void {
    this.timestamp = timestamp
    try {
      this.fn(value, this.collector)
    } catch (e) {
      throw this.userError(e)
    }
  }
}
