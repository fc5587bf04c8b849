/**
 * Source contracts (after Flink's FLIP-27, reduced): a Source creates one SourceReader per
 * subtask; the runtime polls readers for records in bounded slices and never blocks on them.
 */
import type { Clock } from './time.ts'
import type { MetricsRegistry } from './metrics.ts'
import { OutputTag } from './output-tag.ts'

/** Result of one poll: more records are ready, none are ready yet, or the input has ended. */
export type InputStatus = 'more' | 'nothing' | 'end'

/** A record that could not be read, with where it came from. Nothing is ever dropped silently. */
export interface DeadLetter {
  /** The source's name, e.g. the file path or topic. */
  source: string
  /** Where in the source: a line number, or a partition and offset. */
  position: Record<string, string | number>
  /** Why it could not be read. */
  error: string
  /** The original bytes (base64) or text. */
  raw: string
  /** Short machine-readable cause, the label of the dead-letter counter (e.g. 'bad-magic-byte'). Default 'unreadable'. */
  reason?: string
  /** Kafka: the original key bytes in base64, or null when the record had no key. */
  key?: string | null
  /** Kafka: the original record headers, values in base64 (a header that occurs several times: each value, in order). */
  headers?: Record<string, string | string[]>
}

/** Side output that receives every record a source could not read. */
export const DEAD_LETTERS = new OutputTag<DeadLetter>('fluxion.dead-letters')

export interface ReaderOutput<T> {
  /** Emits a record; `timestamp` is the source's own timestamp (e.g. Kafka's), if any. */
  collect(value: T, timestamp?: number): void
  /** Reports a record that could not be read. */
  deadLetter(letter: DeadLetter): void
  /**
   * The output of one split (a Kafka partition, a file): records emitted through it drive that
   * split's own watermark generator, and the subtask's watermark is the minimum over its active
   * splits. Only available on the output passed to pollNext.
   */
  createOutputForSplit?(splitId: string): ReaderOutput<T>
  /** The split finished: it stops holding back the watermark. */
  releaseOutputForSplit?(splitId: string): void
  /**
   * The reader names its splits but holds none now (e.g. more subtasks than Kafka partitions): the
   * subtask is idle and does not hold back the watermark until one of its splits emits.
   */
  markIdle?(): void
}

export interface SourceReaderContext {
  readonly subtaskIndex: number
  readonly parallelism: number
  readonly clock: Clock
  /** The job's counters (absent in bare unit tests). */
  readonly metrics?: MetricsRegistry
  /** The source operator's name, the `source` label of its metrics. */
  readonly name?: string
}

export interface SourceReader<T> {
  /**
   * Emits at most `budget` records into `output` and says whether more are ready. Must not block:
   * return 'nothing' and resolve `isAvailable()` when data arrives.
   */
  pollNext(output: ReaderOutput<T>, budget: number): InputStatus
  /** After 'nothing': resolves when `pollNext` may make progress again. */
  isAvailable(): Promise<void>
  /**
   * The positions of this reader's splits, as plain data (one entry per split), taken at a
   * checkpoint barrier. Readers without it cannot be checkpointed.
   */
  snapshotState?(checkpointId?: number): unknown[]
  /**
   * Checkpoint `checkpointId` is complete (durable). Informational for sources (e.g. commit offsets
   * back to Kafka); must not block or throw: do slow work in the background.
   */
  notifyCheckpointComplete?(checkpointId: number): void
  /** Releases resources. Must not throw. */
  close?(): void | Promise<void>
}

export interface Source<T> {
  /** Human-readable name used for the operator and in errors. */
  readonly name: string
  readonly bounded: boolean
  /** Highest parallelism the source supports (1 for a non-parallel source). */
  readonly maxParallelism?: number
  /**
   * Creates the reader of one subtask. `restoredSplits` is given when the job restores from a
   * checkpoint: the split states this subtask must resume (possibly none, possibly splits of
   * several former subtasks after rescaling); the reader must not create fresh splits then.
   */
  createReader(ctx: SourceReaderContext, restoredSplits?: unknown[]): SourceReader<T>
  /**
   * Present when the source places its splits itself (Flink's split enumerator, or the union list
   * state of its legacy Kafka consumer): on restore every subtask's reader then receives the split
   * states of all former subtasks and keeps the ones it owns, and records held back at the
   * checkpoint go to the subtask `splitOwner(splitId, parallelism)` names. Without it, former
   * subtask j's splits and held records go to subtask j % parallelism.
   */
  splitOwner?(splitId: string, parallelism: number): number
}
