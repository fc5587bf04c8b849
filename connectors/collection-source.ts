import type { InputStatus, ReaderOutput, Source, SourceReader } from '../engine/source.ts'

/** Emits the elements of an array in order; non-parallel (one subtask), as Flink's fromCollection. */
export class CollectionSource<T> implements Source<T> {
  readonly bounded = true
  readonly maxParallelism = 1

  constructor(
    private readonly items: readonly T[],
    readonly name = 'collection-source',
  ) {}

  createReader(_ctx: unknown, restoredSplits?: unknown[]): SourceReader<T> {
    const items = this.items
    // One split: the index of the next element. A restored subtask may hold no split at all.
    const hasSplit = !restoredSplits || restoredSplits.length > 0
    let next = hasSplit ? ((restoredSplits?.[0] as { next: number } | undefined)?.next ?? 0) : items.length
    return {
      snapshotState: () => (hasSplit ? [{ next }] : []),
      pollNext(output: ReaderOutput<T>, budget: number): InputStatus {
        const end = Math.min(items.length, next + budget)
        for (; next < end; next++) output.collect(items[next])
        return next < items.length ? 'more' : 'end'
      },
      isAvailable: () => Promise.resolve(),
    }
  }
}
