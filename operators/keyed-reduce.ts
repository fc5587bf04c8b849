import { StreamOperator } from '../engine/operator.ts'
import { ValueStateDescriptor } from '../state/api.ts'
import type { InternalValueState } from '../state/backend.ts'

/** Rolling reduce per key (KeyedStream.reduce): emits the running result after every record. */
export class KeyedReduceOperator<T> extends StreamOperator<T, T> {
  private state!: InternalValueState<T>

  constructor(private readonly reducer: (a: T, b: T) => T) {
    super()
  }

  override open(): void {
    this.state = this.keyedBackend().getValueState(new ValueStateDescriptor<T>('reduce'))
  }

  processElement(value: T, timestamp: number): void {
    const current = this.state.value()
    let next: T
    try {
      next = current === undefined ? value : this.reducer(current, value)
    } catch (e) {
      throw this.userError(e)
    }
    this.state.update(next)
    this.output.collect(next, timestamp)
  }
}
