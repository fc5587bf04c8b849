import { StreamOperator } from '../engine/operator.ts'

/** Applies `fn` to every record; the output keeps the input's timestamp. */
export class MapOperator<IN, OUT> extends StreamOperator<IN, OUT> {
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
}
