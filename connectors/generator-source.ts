/**
 * A parallel data generator (Flink's DataGeneratorSource): record i is `generate(i)`; subtask s of
 * p produces the indices s, s + p, s + 2p, … below `count` (Infinity for an unbounded source),
 * as fast as possible or at `eventsPerSecond` in total, paced by the environment's clock.
 */
import { FluxionError } from '../engine/errors.ts'
import type { InputStatus, ReaderOutput, Source, SourceReader, SourceReaderContext } from '../engine/source.ts'

export interface GeneratorSourceOptions {
  /** Number of records in total (default: unbounded). */
  count?: number
  /** Total rate over all subtasks; default: as fast as possible. */
  eventsPerSecond?: number
  name?: string
}

export class GeneratorSource<T> implements Source<T> {
  readonly name: string
  readonly bounded: boolean
  private readonly count: number
  private readonly eventsPerSecond: number | undefined

  constructor(
    private readonly generate: (index: number) => T,
    options: GeneratorSourceOptions = {},
  ) {
    this.count = options.count ?? Number.POSITIVE_INFINITY
    this.eventsPerSecond = options.eventsPerSecond
    this.name = options.name ?? 'generator-source'
    this.bounded = Number.isFinite(this.count)
    if (!(this.count >= 0) || (Number.isFinite(this.count) && !Number.isInteger(this.count))) {
      throw new FluxionError('FLX_INVALID_CONFIG', `GeneratorSource: count must be a non-negative integer or Infinity, got ${options.count}`)
    }
    if (this.eventsPerSecond !== undefined && !(this.eventsPerSecond > 0)) {
      throw new FluxionError('FLX_INVALID_CONFIG', `GeneratorSource: eventsPerSecond must be > 0, got ${options.eventsPerSecond}`)
    }
  }

  createReader(ctx: SourceReaderContext, restoredSplits?: unknown[]): SourceReader<T> {
    const { subtaskIndex, parallelism, clock } = ctx
    const generate = this.generate
    const count = this.count
    const rate = this.eventsPerSecond === undefined ? undefined : this.eventsPerSecond / parallelism
    // A split is an arithmetic sequence of indices: next, next + stride, … below count.
    const splits: GeneratorSplit[] = restoredSplits
      ? restoredSplits.map((s) => ({ ...(s as GeneratorSplit) }))
      : [{ id: `${subtaskIndex}/${parallelism}`, next: subtaskIndex, stride: parallelism }]
    // Each split gets its own watermark generator (its timestamps may run ahead of another's).
    let outputs: ReaderOutput<T>[] | undefined
    let current = 0
    let emitted = 0
    const startedAt = clock.now()
    let waitUntil = 0
    return {
      pollNext(output: ReaderOutput<T>, budget: number): InputStatus {
        let allowed = budget
        if (rate !== undefined) {
          const due = Math.floor(((clock.now() - startedAt) * rate) / 1000) + 1 - emitted
          if (due <= 0) {
            waitUntil = startedAt + (emitted * 1000) / rate
            return splits.some((s) => s.next < count) ? 'nothing' : 'end'
          }
          allowed = Math.min(budget, due)
        }
        outputs ??= splits.map((s) => output.createOutputForSplit?.(s.id) ?? output)
        // Splits take turns, one poll each.
        for (let tries = 0; tries < splits.length; tries++) {
          const i = current
          const split = splits[i]
          current = (current + 1) % splits.length
          if (split.next >= count) continue
          const out = outputs[i]
          let index = split.next
          const stride = split.stride
          let n = 0
          for (; n < allowed && index < count; n++) {
            out.collect(generate(index))
            index += stride
          }
          split.next = index
          emitted += n
          if (index >= count) output.releaseOutputForSplit?.(split.id)
          break
        }
        return splits.some((s) => s.next < count) ? 'more' : 'end'
      },
      isAvailable: () => clock.sleepUntil(waitUntil),
      snapshotState: () => splits.map((s) => ({ ...s })),
    }
  }
}

interface GeneratorSplit {
  /** The subtask and parallelism that created it, e.g. "1/4". */
  id: string
  next: number
  stride: number
}
