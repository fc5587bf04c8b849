/**
 * CheckpointCoordinator: asynchronous barrier snapshots (DESIGN.md §4), numbered as there:
 *  1. trigger checkpoint n at the sources (between two slices of every source task);
 *  2. each source snapshots its split positions and emits barrier n;
 *  3. tasks with several inputs align barrier n, then snapshot their state synchronously;
 *  4. they forward the barrier and acknowledge; the snapshot is written asynchronously;
 *  5. when every task has acknowledged and every file is written, the metadata file is written
 *     atomically — only then is checkpoint n complete;
 *  6. tasks are notified; sinks commit what they prepared for n.
 * One checkpoint is in flight at a time. Keyed state is incremental: a subtask's state is a chain
 * of files (a full base, then deltas). When a chain grows past `compactAfter` files, a background
 * compaction folds it into a new base that later checkpoints build on. After a failure and after a
 * restore the next snapshot is full (the backends' change tracking starts over).
 */
import { FluxionError } from '../errors.ts'
import type { Clock } from '../time.ts'
import { FINAL_CHECKPOINT_ID } from '../operator.ts'
import type { Task } from '../runtime/task.ts'
import type { CheckpointStorage } from './storage.ts'
import type { CheckpointMetadata, CheckpointStats, SubtaskStateHandle, TaskAck, TaskSnapshot } from './types.ts'
import { compactTaskChain } from './compaction.ts'

export interface CheckpointConfig {
  /** Processing time between checkpoints. */
  intervalMs: number
  /** Root directory of checkpoint storage. */
  dir: string
  /** Complete checkpoints to keep (default 3). */
  retain?: number
  /** A checkpoint not complete after this long is abandoned (default 10 min). */
  timeoutMs?: number
  /** Take a full snapshot every this many checkpoints (default: never; compaction bounds chains). */
  fullEvery?: number
  /** Compact a subtask's chain of state files in the background when it is longer than this (default 8). */
  compactAfter?: number
  /** Consecutive failed checkpoints tolerated before the job fails (default 0, as Flink). */
  tolerableFailures?: number
}

interface PendingCheckpoint {
  id: number
  savepoint: boolean
  incremental: boolean
  startedAt: number
  acks: TaskAck[]
  writes: Promise<{ ack: TaskAck; handle: string; bytes: number }>[]
  done?: (meta: CheckpointMetadata) => void
  fail?: (e: unknown) => void
}

export class CheckpointCoordinator {
  /** Set when checkpointing failed beyond tolerance; the executor fails the job with it. */
  failure: FluxionError | null = null
  /** The latest complete checkpoint (taken or restored). */
  latest: CheckpointMetadata | undefined
  /** Costs of the last 100 complete checkpoints, oldest first. */
  readonly stats: CheckpointStats[] = []
  private readonly retained: CheckpointMetadata[] = []
  private pending: PendingCheckpoint | null = null
  private completing: Promise<void> = Promise.resolve()
  private nextId: number
  private nextTrigger: number
  private sinceFull = 0
  private forceFull = true
  private failures = 0
  private readonly queuedSavepoints: PendingCheckpoint[] = []
  /** Finished compactions by "head#subtask": the chain up to `upTo` is replaced by `base`. */
  private readonly compacted = new Map<string, { upTo: string; base: string }>()
  private readonly compacting = new Set<string>()
  private compactions: Promise<void> = Promise.resolve()

  constructor(
    private readonly storage: CheckpointStorage,
    private readonly tasks: readonly Task[],
    private readonly config: CheckpointConfig,
    private readonly clock: Clock,
    private readonly jobName: string,
    private readonly maxParallelism: number,
    restoredFrom?: CheckpointMetadata,
    /** Where savepoints go (kept until deleted); default: the checkpoint storage. */
    private readonly savepointStorage: CheckpointStorage = storage,
  ) {
    this.latest = restoredFrom
    this.nextId = (restoredFrom?.checkpointId ?? 0) + 1
    this.nextTrigger = clock.now() + config.intervalMs
    for (const t of tasks) {
      t.checkpointing = true
      t.onCheckpoint = (ack) => this.acknowledge(ack)
    }
  }

  /** Processing time at which `onTimer` has work (trigger or timeout). */
  nextTimerTime(): number {
    if (this.pending) return this.pending.startedAt + (this.config.timeoutMs ?? 600_000)
    if (this.queuedSavepoints.length > 0) return this.clock.now()
    return this.nextTrigger
  }

  /** Called by the executor between slices. */
  onTimer(now: number): void {
    if (this.pending) {
      if (now - this.pending.startedAt >= (this.config.timeoutMs ?? 600_000)) {
        this.abort(this.pending, new FluxionError('FLX_CHECKPOINT_FAILED', `checkpoint ${this.pending.id} timed out after ${this.config.timeoutMs ?? 600_000} ms`))
      }
      return
    }
    const savepoint = this.queuedSavepoints.shift()
    if (savepoint) {
      this.start(savepoint)
      return
    }
    if (now >= this.nextTrigger) {
      this.nextTrigger = now + this.config.intervalMs
      const incremental = !this.forceFull && this.sinceFull + 1 < (this.config.fullEvery ?? Number.POSITIVE_INFINITY)
      this.start({ id: 0, savepoint: false, incremental, startedAt: now, acks: [], writes: [] })
    }
  }

  /** Takes a savepoint (a full checkpoint kept until deleted); resolves with its metadata. */
  triggerSavepoint(): Promise<CheckpointMetadata> {
    return new Promise((done, fail) => {
      this.queuedSavepoints.push({ id: 0, savepoint: true, incremental: false, startedAt: 0, acks: [], writes: [], done, fail })
    })
  }

  /** Step 1: sources snapshot and emit the barrier. Skipped while a source has finished. */
  private start(p: PendingCheckpoint): void {
    const sources = this.tasks.filter((t) => t.source)
    if (sources.some((t) => t.finished)) {
      p.fail?.(new FluxionError('FLX_CHECKPOINT_FAILED', 'cannot checkpoint: some sources have already finished'))
      return
    }
    p.id = this.nextId++
    p.startedAt = this.clock.now()
    this.pending = p
    for (const t of this.tasks) t.incrementalSnapshots = p.incremental
    for (const t of sources) t.triggerCheckpoint(p.id)
  }

  /** Step 4: a task acknowledged; its snapshot is written in the background. */
  private acknowledge(ack: TaskAck): void {
    const p = this.pending
    if (!p || ack.checkpointId !== p.id) return // an abandoned checkpoint
    p.acks.push(ack)
    const storage = p.savepoint ? this.savepointStorage : this.storage
    p.writes.push(storage.writeState(p.id, `${ack.headVertex}-${ack.subtask}`, ack.snapshot).then((w) => ({ ack, ...w })))
    if (p.acks.length === this.tasks.length) {
      this.completing = this.completing.then(() => this.complete(p))
    }
  }

  /** Steps 5 and 6. */
  private async complete(p: PendingCheckpoint): Promise<void> {
    let meta: CheckpointMetadata
    try {
      const written = await Promise.all(p.writes)
      meta = this.metadataOf(p.id, p.savepoint, p.incremental, written)
      await (p.savepoint ? this.savepointStorage : this.storage).writeMetadata(meta)
    } catch (e) {
      this.abort(p, e)
      return
    }
    if (this.pending === p) this.pending = null
    this.failures = 0
    this.stats.push({
      checkpointId: p.id,
      savepoint: p.savepoint,
      incremental: p.incremental,
      durationMs: this.clock.now() - p.startedAt,
      maxSyncMs: Math.max(0, ...p.acks.map((a) => a.syncMs)),
      bytes: (await Promise.all(p.writes)).reduce((n, w) => n + w.bytes, 0),
    })
    if (this.stats.length > 100) this.stats.shift()
    if (!p.savepoint) {
      this.latest = meta
      this.sinceFull = p.incremental ? this.sinceFull + 1 : 0
      this.forceFull = false
      this.retained.push(meta)
      while (this.retained.length > (this.config.retain ?? 3)) this.retained.shift()
    }
    try {
      for (const t of this.tasks) await t.notifyCheckpointComplete(p.id)
    } catch (e) {
      this.failure ??= e instanceof FluxionError ? e : new FluxionError('FLX_CHECKPOINT_FAILED', `committing checkpoint ${p.id} failed: ${String(e)}`, { cause: e })
    }
    p.done?.(meta)
    if (!p.savepoint) this.compactLongChains(meta)
    await this.storage.retain(this.retained).catch(() => {})
  }

  /** Starts a background compaction of every subtask chain longer than compactAfter. */
  private compactLongChains(meta: CheckpointMetadata): void {
    const limit = this.config.compactAfter ?? 8
    for (const [head, task] of Object.entries(meta.tasks)) {
      for (const s of task.subtasks) {
        const id = `${head}#${s.subtask}`
        if (s.files.length <= limit || this.compacting.has(id)) continue
        this.compacting.add(id)
        const files = [...s.files]
        this.compactions = this.compactions.then(async () => {
          try {
            const chain = (await Promise.all(files.map((f) => this.storage.readState(f)))) as TaskSnapshot[]
            const { handle } = await this.storage.writeState(meta.checkpointId, `${head}-${s.subtask}.base`, compactTaskChain(chain))
            this.compacted.set(id, { upTo: files[files.length - 1], base: handle })
          } catch {
            // A failed compaction only means the chain stays long; the next one tries again.
          } finally {
            this.compacting.delete(id)
          }
        })
      }
    }
  }

  private metadataOf(id: number, savepoint: boolean, incremental: boolean, written: { ack: TaskAck; handle: string }[]): CheckpointMetadata {
    const tasks: CheckpointMetadata['tasks'] = {}
    for (const { ack, handle } of written) {
      const entry = (tasks[ack.headVertex] ??= { parallelism: 0, subtasks: [] })
      let previous = incremental ? this.latest?.tasks[ack.headVertex]?.subtasks.find((s) => s.subtask === ack.subtask)?.files : undefined
      const compacted = this.compacted.get(`${ack.headVertex}#${ack.subtask}`)
      const at = compacted && previous ? previous.indexOf(compacted.upTo) : -1
      if (at >= 0) previous = [compacted!.base, ...previous!.slice(at + 1)]
      const handleOf: SubtaskStateHandle = { subtask: ack.subtask, files: [...(previous ?? []), handle] }
      entry.subtasks.push(handleOf)
      entry.parallelism = Math.max(entry.parallelism, ack.subtask + 1)
    }
    for (const e of Object.values(tasks)) e.subtasks.sort((a, b) => a.subtask - b.subtask)
    return { version: 1, checkpointId: id, jobName: this.jobName, completedAt: this.clock.now(), savepoint, final: false, maxParallelism: this.maxParallelism, tasks }
  }

  private abort(p: PendingCheckpoint, cause: unknown): void {
    if (this.pending === p) this.pending = null
    this.forceFull = true
    for (const t of this.tasks) t.incrementalSnapshots = false
    const error = cause instanceof FluxionError ? cause : new FluxionError('FLX_CHECKPOINT_FAILED', `checkpoint ${p.id} failed: ${(cause as Error)?.message ?? String(cause)}`, { cause })
    p.fail?.(error)
    if (!p.savepoint && ++this.failures > (this.config.tolerableFailures ?? 0)) this.failure ??= error
  }

  /** Rejects savepoints that were requested but not started (the job ended or failed). */
  rejectQueuedSavepoints(reason: string): void {
    for (const p of this.queuedSavepoints.splice(0)) p.fail?.(new FluxionError('FLX_CHECKPOINT_FAILED', `savepoint not taken: ${reason}`))
    if (this.pending?.savepoint) this.abort(this.pending, new FluxionError('FLX_CHECKPOINT_FAILED', `savepoint not taken: ${reason}`))
  }

  /** Waits for a checkpoint being completed (its files and metadata written, sinks notified). */
  async settle(): Promise<void> {
    await this.completing
    await this.compactions
  }

  /**
   * After every task has finished: the final checkpoint holds the tasks' end state (the sinks'
   * last prepared output); once it is durable the sinks commit. Restoring it only re-commits.
   */
  async finalCheckpoint(): Promise<CheckpointMetadata> {
    this.rejectQueuedSavepoints('the job finished')
    await this.settle()
    // A failure the executor did not see before the tasks finished (a commit that failed) still
    // fails the job: it restarts from the latest checkpoint instead of committing past it.
    if (this.failure) throw this.failure
    if (this.pending) {
      this.abort(this.pending, new FluxionError('FLX_CHECKPOINT_FAILED', 'the job finished before the checkpoint completed'))
      this.failure = null
    }
    const id = this.nextId++
    const written = await Promise.all(
      this.tasks.map(async (t) => {
        const ack: TaskAck = { checkpointId: id, headVertex: t.headVertex, subtask: t.subtaskIndex, snapshot: t.finalSnapshot!, syncMs: 0 }
        return { ack, ...(await this.storage.writeState(id, `${t.headVertex}-${t.subtaskIndex}`, ack.snapshot)) }
      }),
    )
    const meta = { ...this.metadataOf(id, false, false, written), final: true }
    await this.storage.writeMetadata(meta)
    this.latest = meta
    this.retained.push(meta)
    while (this.retained.length > (this.config.retain ?? 3)) this.retained.shift()
    // The tasks prepared their last output under FINAL_CHECKPOINT_ID: commit all of it.
    for (const t of this.tasks) await t.notifyCheckpointComplete(FINAL_CHECKPOINT_ID)
    await this.storage.retain(this.retained).catch(() => {})
    return meta
  }
}
