import type { InputStatus, ReaderOutput, Source, SourceReader } from '../engine/source.ts'

/** Emits the elements of an array in order; non-parallel (one subtask), as Flink's fromCollection. */
export class CollectionSource<T> implements Source<T> {
  readonly bounded = true
  readonly maxParallelism = 1

  constructor(
    private readonly items: readonly T[],
    readonly name = 'collection-source',
  ) {}

  createReader(): SourceReader<T> {
    const items = this.items
    let next = 0
    return {
      pollNext(output: ReaderOutput<T>, budget: number): InputStatus {
        const end = Math.min(items.length, next + budget)
        for (; next < end; next++) output.collect(items[next])
        return next < items.length ? 'more' : 'end'
      },
      isAvailable: () => Promise.resolve(),
    }
  }
}
