/**
 * Sinks: the SinkWriter contract, the two-phase-commit contract, and the operator that drives them.
 *
 * Two-phase commit (exactly-once), following the checkpoint protocol of DESIGN.md §4:
 *  - write: records go to the writer, invisible to readers;
 *  - prepare (at barrier n, step 3): `prepareCommit(n)` closes the epoch's output and returns the
 *    committables; they are part of checkpoint n's state;
 *  - commit (step 6, checkpoint n complete): the committer makes them visible;
 *  - recovery: after a restart, the committables of the restored checkpoint are committed again,
 *    so `commit` must be idempotent; anything written after that checkpoint is aborted.
 */
import { FluxionError } from '../engine/errors.ts'
import { FINAL_CHECKPOINT_ID, StreamOperator } from '../engine/operator.ts'
import { hasTimestamp } from '../engine/time.ts'

export interface SinkWriterContext {
  readonly subtaskIndex: number
  readonly parallelism: number
}

export interface SinkWriter<T> {
  /** Writes one record. Must not block for long; buffer and write in `flush`. */
  write(value: T, timestamp: number | undefined): void
  /** Called at the end of input, before `close`. */
  flush?(): void
  /** Releases resources; must not throw. */
  close?(): void
}

/** What a sink may check about the job before it starts. */
export interface SinkJobContext {
  /** True when the job takes checkpoints (two-phase-commit sinks then commit per checkpoint). */
  readonly checkpointing: boolean
}

export interface Sink<T> {
  readonly name: string
  createWriter(ctx: SinkWriterContext): SinkWriter<T>
  /** Called when the job is submitted, before anything runs: throw a FluxionError for a job this sink cannot serve. */
  checkJob?(job: SinkJobContext): void
}

export interface PrecommittingSinkWriter<T, C> extends SinkWriter<T> {
  /**
   * Closes the output written since the previous call and returns what `commit` needs. The
   * committables are immutable from then on: checkpoints keep references to them, not copies.
   */
  prepareCommit(checkpointId: number): C[]
}

export interface Committer<C> {
  /** Makes the committables visible. Idempotent: it is called again for the same ones after a restart. */
  commit(committables: readonly C[]): void | Promise<void>
  /**
   * Called once before a job (re)starts with the committables of the checkpoint it restores from
   * (empty on a fresh start), after they were committed: remove what was written but never
   * prepared or committed.
   */
  abortUncommitted?(committed: readonly C[]): void | Promise<void>
}

export interface TwoPhaseCommitSink<T, C> extends Sink<T> {
  readonly twoPhaseCommit: true
  createWriter(ctx: SinkWriterContext): PrecommittingSinkWriter<T, C>
  createCommitter(): Committer<C>
}

export function isTwoPhaseCommitSink(sink: Sink<unknown>): sink is TwoPhaseCommitSink<unknown, unknown> {
  return (sink as Partial<TwoPhaseCommitSink<unknown, unknown>>).twoPhaseCommit === true
}

/** What a two-phase-commit sink keeps in a checkpoint: committables by checkpoint id. */
interface SinkOperatorState {
  pending: [number, unknown[]][]
}

export class SinkOperator<T> extends StreamOperator<T, never> {
  private writer!: SinkWriter<T>
  private committer: Committer<unknown> | undefined
  /** Prepared but not yet committed, by checkpoint id. */
  private pending = new Map<number, unknown[]>()

  constructor(private readonly sink: Sink<T>) {
    super()
  }

  override open(): void {
    this.writer = this.sink.createWriter({ subtaskIndex: this.ctx.subtaskIndex, parallelism: this.ctx.parallelism })
    if (isTwoPhaseCommitSink(this.sink)) this.committer = this.sink.createCommitter()
  }

  processElement(value: T, timestamp: number): void {
    try {
      this.writer.write(value, hasTimestamp(timestamp) ? timestamp : undefined)
    } catch (e) {
      throw this.sinkError('write', e)
    }
  }

  private sinkError(what: string, e: unknown): FluxionError {
    if (e instanceof FluxionError) return e
    return new FluxionError('FLX_SINK_FAILED', `sink "${this.name}" failed to ${what}: ${e instanceof Error ? e.message : String(e)}`, { operator: this.name, cause: e })
  }

  override processWatermark(_watermark: number): void {}

  override endInput(): void {
    try {
      this.writer.flush?.()
    } catch (e) {
      throw this.sinkError('flush', e)
    }
  }

  /** Checkpoint step 3 for sinks: prepare the output written since the previous checkpoint. */
  protected override snapshotOperatorState(checkpointId: number): unknown {
    if (!this.committer) return undefined
    const writer = this.writer as PrecommittingSinkWriter<T, unknown>
    try {
      this.pending.set(checkpointId, writer.prepareCommit(checkpointId))
    } catch (e) {
      throw this.sinkError('prepare a commit', e)
    }
    // Committables are immutable once prepared (see prepareCommit), so a shallow copy is a snapshot.
    const state: SinkOperatorState = { pending: [...this.pending] }
    return state
  }

  protected override restoreOperatorState(): void {
    // The committables of the restored checkpoint were committed by the job before it started.
  }

  /**
   * Step 6: commit what was prepared for checkpoints up to `checkpointId`. Later ones (a next
   * checkpoint may already have passed the sink) wait for their own completion.
   */
  override async notifyCheckpointComplete(checkpointId: number): Promise<void> {
    if (!this.committer) return
    const ids: number[] = []
    const ready: unknown[] = []
    for (const [id, committables] of this.pending) {
      if (id > checkpointId) continue
      ids.push(id)
      ready.push(...committables)
    }
    if (ids.length === 0) return
    try {
      await this.committer.commit(ready)
    } catch (e) {
      throw this.sinkError('commit', e)
    }
    // Forget them only once committed: a failed commit stays pending (and in later snapshots).
    for (const id of ids) this.pending.delete(id)
  }

  override async commitAtEndWithoutCheckpoints(): Promise<void> {
    if (!this.committer) return
    this.snapshotOperatorState(FINAL_CHECKPOINT_ID)
    await this.notifyCheckpointComplete(FINAL_CHECKPOINT_ID)
  }

  override close(): void {
    this.writer?.close?.()
  }
}

/** The committables recorded in a sink operator's snapshot (used to recover pending commits). */
export function committablesOf(operatorState: unknown): unknown[] {
  const state = operatorState as SinkOperatorState | undefined
  return state ? state.pending.flatMap(([, c]) => c) : []
}
