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
 * of files (a full base, then deltas), and the coordinator keeps, per keyed subtask, the chain its
 * backend's change tracking is relative to. When a chain grows past `compactAfter` files, a
 * background compaction folds it into a new base that later checkpoints build on.
 *  - Savepoints are full snapshots outside the chain: they leave change tracking alone, so the
 *    next checkpoint's delta still holds every change since the previous checkpoint.
 *  - After a restore at the same parallelism, the restored chain is the base of the next delta
 *    (files under another root, e.g. a savepoint's, are linked in first); with rescaling, after a
 *    failed checkpoint and every `fullEvery` checkpoints the next snapshot is full.
 */
import { FluxionError } from '../errors.ts'
import type { Clock } from '../time.ts'
import { FINAL_CHECKPOINT_ID } from '../operator.ts'
import type { Task } from '../runtime/task.ts'
import type { KeyedSnapshotMode } from '../operator.ts'
import { restoredChainOf, type LoadedCheckpoint } from './restore.ts'
import { CompactionThread } from './compaction-thread.ts'
import { LocalCheckpointStorage, type CheckpointStorage } from './storage.ts'
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

interface Written {
  ack: TaskAck
  handle: string
  bytes: number
}

interface PendingCheckpoint {
  id: number
  savepoint: boolean
  startedAt: number
  /** Per subtask ("head#subtask"): how it snapshots its keyed state, decided at the trigger. */
  modes: Map<string, KeyedSnapshotMode>
  acks: TaskAck[]
  writes: Promise<Written>[]
  done?: (meta: CheckpointMetadata) => void
  fail?: (e: unknown) => void
}

/** A keyed subtask's chain of state files; `from` until they are adopted from another root. */
interface Chain {
  files: string[]
  from?: CheckpointStorage
}

const subtaskId = (head: string, subtask: number): string => `${head}#${subtask}`

/** Keyed-state rows (entries and deletions) in a task snapshot. */
function rowsOf(snapshot: TaskSnapshot): number {
  let n = 0
  for (const op of Object.values(snapshot.operators)) for (const s of Object.values(op.keyed?.states ?? {})) n += s.rows.length
  return n
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
  private failures = 0
  private readonly queuedSavepoints: PendingCheckpoint[] = []
  /**
   * Per keyed subtask: the chain of the latest complete checkpoint (or of the restored one), which
   * its backend's change tracking is relative to. Absent: the next snapshot must be full.
   */
  private readonly chains = new Map<string, Chain>()
  /** Finished compactions by "head#subtask": the chain up to `upTo` is replaced by `base`. */
  private readonly compacted = new Map<string, { upTo: string; base: string }>()
  private readonly compacting = new Set<string>()
  private compactions: Promise<void> = Promise.resolve()
  private compactor: CompactionThread | undefined

  constructor(
    private readonly storage: CheckpointStorage,
    private readonly tasks: readonly Task[],
    private readonly config: CheckpointConfig,
    private readonly clock: Clock,
    private readonly jobName: string,
    private readonly maxParallelism: number,
    restoredFrom?: LoadedCheckpoint,
    /** Where savepoints go (kept until deleted); default: the checkpoint storage. */
    private readonly savepointStorage: CheckpointStorage = storage,
    /**
     * The highest checkpoint or savepoint id already present in either storage: new ids start
     * above it, so that a job restored from an older checkpoint never writes over a newer one of
     * the abandoned timeline (or over a savepoint) with an id of its own.
     */
    idFloor = 0,
  ) {
    this.latest = restoredFrom?.metadata
    this.nextId = Math.max(restoredFrom?.metadata.checkpointId ?? 0, idFloor) + 1
    this.nextTrigger = clock.now() + config.intervalMs
    const parallelism = new Map<string, number>()
    for (const t of tasks) parallelism.set(t.headVertex, (parallelism.get(t.headVertex) ?? 0) + 1)
    for (const t of tasks) {
      t.checkpointing = true
      t.onCheckpoint = (ack) => this.acknowledge(ack)
      t.snapshotModeFor = (checkpointId) => this.modeFor(t, checkpointId)
      if (!restoredFrom?.storage || !t.backend) continue
      const files = restoredChainOf(restoredFrom, t.headVertex, t.subtaskIndex, parallelism.get(t.headVertex)!)
      if (files) this.chains.set(subtaskId(t.headVertex, t.subtaskIndex), { files, from: restoredFrom.storage })
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
      this.start({ id: 0, savepoint: false, startedAt: now, modes: new Map(), acks: [], writes: [] })
    }
  }

  /** Takes a savepoint (a full checkpoint kept until deleted); resolves with its metadata. */
  triggerSavepoint(): Promise<CheckpointMetadata> {
    return new Promise((done, fail) => {
      this.queuedSavepoints.push({ id: 0, savepoint: true, startedAt: 0, modes: new Map(), acks: [], writes: [], done, fail })
    })
  }

  /** How task `t` snapshots at barrier `checkpointId`; null when that checkpoint was abandoned. */
  private modeFor(t: Task, checkpointId: number): KeyedSnapshotMode | null {
    const p = this.pending
    if (p === null || p.id !== checkpointId) return null
    return p.modes.get(subtaskId(t.headVertex, t.subtaskIndex)) ?? 'full'
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
    const fullDue = this.sinceFull + 1 >= (this.config.fullEvery ?? Number.POSITIVE_INFINITY)
    for (const t of this.tasks) {
      const id = subtaskId(t.headVertex, t.subtaskIndex)
      const mode: KeyedSnapshotMode = p.savepoint ? 'savepoint' : !fullDue && this.chains.has(id) ? 'incremental' : 'full'
      p.modes.set(id, mode)
      t.incrementalSnapshots = mode === 'incremental'
    }
    this.pending = p
    for (const t of sources) t.triggerCheckpoint(p.id)
  }

  /** Step 4: a task acknowledged; its snapshot is written in the background. */
  private acknowledge(ack: TaskAck): void {
    const p = this.pending
    if (!p || ack.checkpointId !== p.id) return // an abandoned checkpoint
    p.acks.push(ack)
    const storage = p.savepoint ? this.savepointStorage : this.storage
    const write = storage.writeState(p.id, `${ack.headVertex}-${ack.subtask}`, ack.snapshot).then((w) => ({ ack, ...w }))
    // complete() awaits the writes of a checkpoint that every task acknowledged; the writes of one
    // abandoned before that (a failure, a restart that cleans up its directory) are awaited by nobody.
    write.catch(() => {})
    p.writes.push(write)
    if (p.acks.length === this.tasks.length) {
      this.completing = this.completing.then(() => this.complete(p))
    }
  }

  /** Steps 5 and 6. */
  private async complete(p: PendingCheckpoint): Promise<void> {
    let meta: CheckpointMetadata
    let written: Written[]
    try {
      written = await Promise.all(p.writes)
      await this.adoptChains(p)
      meta = this.metadataOf(p.id, p.savepoint, written, p.modes)
      await (p.savepoint ? this.savepointStorage : this.storage).writeMetadata(meta)
    } catch (e) {
      this.abort(p, e)
      return
    }
    if (this.pending === p) this.pending = null
    this.failures = 0
    const incremental = [...p.modes.values()].includes('incremental')
    this.stats.push({
      checkpointId: p.id,
      savepoint: p.savepoint,
      incremental,
      completedAt: meta.completedAt,
      durationMs: meta.completedAt - p.startedAt,
      maxSyncMs: Math.max(0, ...p.acks.map((a) => a.syncMs)),
      bytes: written.reduce((n, w) => n + w.bytes, 0),
      rows: p.acks.reduce((n, a) => n + rowsOf(a.snapshot), 0),
    })
    if (this.stats.length > 100) this.stats.shift()
    if (!p.savepoint) {
      this.latest = meta
      this.sinceFull = incremental ? this.sinceFull + 1 : 0
      this.keepRetained(meta)
      for (const t of this.tasks) {
        if (!t.backend) continue
        const files = meta.tasks[t.headVertex]?.subtasks.find((s) => s.subtask === t.subtaskIndex)?.files
        if (files) this.chains.set(subtaskId(t.headVertex, t.subtaskIndex), { files })
      }
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

  /**
   * Takes over the newest `retain` complete checkpoints already in the storage (those of earlier
   * attempts or runs of the job), so that retention keeps `retain` checkpoints across restarts, not
   * only the ones this coordinator takes (which used to make the first checkpoint after a restart
   * delete every older one). Call once, before the first checkpoint. A checkpoint whose metadata
   * cannot be read is left alone (not retained: the next retention may delete it).
   */
  async adoptRetained(): Promise<void> {
    const found: CheckpointMetadata[] = []
    for (const id of (await this.storage.listComplete()).slice(0, this.retainCount)) {
      try {
        found.push(await this.storage.readMetadata(id))
      } catch {
        // unreadable: not retained
      }
    }
    for (const meta of found.reverse()) this.keepRetained(meta)
  }

  private get retainCount(): number {
    return this.config.retain ?? 3
  }

  /** Adds `meta` as the newest retained checkpoint, dropping the oldest beyond `retain`. */
  private keepRetained(meta: CheckpointMetadata): void {
    this.retained.push(meta)
    while (this.retained.length > this.retainCount) this.retained.shift()
  }

  /** Links the restored files that incremental snapshots of `p` build on into this storage. */
  private async adoptChains(p: PendingCheckpoint): Promise<void> {
    for (const [id, mode] of p.modes) {
      const chain = this.chains.get(id)
      if (mode !== 'incremental' || chain?.from === undefined) continue
      const from = chain.from
      chain.files = await Promise.all(chain.files.map((f) => this.storage.adoptState(p.id, from, f)))
      chain.from = undefined
    }
  }

  /** Starts a background compaction of every subtask chain longer than compactAfter. */
  private compactLongChains(meta: CheckpointMetadata): void {
    const limit = this.config.compactAfter ?? 8
    for (const [head, task] of Object.entries(meta.tasks)) {
      for (const s of task.subtasks) {
        const id = subtaskId(head, s.subtask)
        if (s.files.length <= limit || this.compacting.has(id)) continue
        this.compacting.add(id)
        const files = [...s.files]
        this.compactions = this.compactions.then(async () => {
          try {
            const { handle } = await this.compactChain(meta.checkpointId, `${head}-${s.subtask}.base`, files)
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

  /**
   * Folds a chain into a new base file: on the compaction thread for local storage (reading,
   * folding and writing 1M rows takes seconds), on this thread otherwise.
   */
  private async compactChain(checkpointId: number, name: string, files: readonly string[]): Promise<{ handle: string; bytes: number }> {
    if (this.storage instanceof LocalCheckpointStorage) return (this.compactor ??= new CompactionThread()).compact(this.storage.root, files, checkpointId, name)
    const chain = (await Promise.all(files.map((f) => this.storage.readState(f)))) as TaskSnapshot[]
    return this.storage.writeState(checkpointId, name, compactTaskChain(chain))
  }

  /** The metadata of checkpoint `id`: each subtask's new file, after its chain when incremental. */
  private metadataOf(id: number, savepoint: boolean, written: { ack: TaskAck; handle: string }[], modes?: ReadonlyMap<string, KeyedSnapshotMode>): CheckpointMetadata {
    const tasks: CheckpointMetadata['tasks'] = {}
    for (const { ack, handle } of written) {
      const entry = (tasks[ack.headVertex] ??= { parallelism: 0, subtasks: [] })
      const sid = subtaskId(ack.headVertex, ack.subtask)
      let previous = modes?.get(sid) === 'incremental' ? this.chains.get(sid)?.files : undefined
      if (modes?.get(sid) === 'incremental' && previous === undefined) throw new FluxionError('FLX_INTERNAL', `no chain for the incremental snapshot of ${sid}`)
      const compacted = this.compacted.get(sid)
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
    // Tasks of a failed checkpoint may have consumed their change tracking: start over with full
    // snapshots. A savepoint leaves the tracking alone, so its failure changes nothing.
    if (!p.savepoint) this.chains.clear()
    const error = cause instanceof FluxionError ? cause : new FluxionError('FLX_CHECKPOINT_FAILED', `checkpoint ${p.id} failed: ${(cause as Error)?.message ?? String(cause)}`, { cause })
    p.fail?.(error)
    if (!p.savepoint && ++this.failures > (this.config.tolerableFailures ?? 0)) this.failure ??= error
  }

  /** Rejects savepoints that were requested but not started (the job ended or failed). */
  rejectQueuedSavepoints(reason: string): void {
    for (const p of this.queuedSavepoints.splice(0)) p.fail?.(new FluxionError('FLX_CHECKPOINT_FAILED', `savepoint not taken: ${reason}`))
    if (this.pending?.savepoint) this.abort(this.pending, new FluxionError('FLX_CHECKPOINT_FAILED', `savepoint not taken: ${reason}`))
  }

  /** Waits for a checkpoint being completed (files and metadata written, sinks notified) and for compactions; stops the compaction thread. */
  async settle(): Promise<void> {
    await this.completing
    await this.compactions
    await this.compactor?.close()
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
    const meta = { ...this.metadataOf(id, false, written), final: true }
    await this.storage.writeMetadata(meta)
    this.latest = meta
    this.keepRetained(meta)
    // The tasks prepared their last output under FINAL_CHECKPOINT_ID: commit all of it.
    for (const t of this.tasks) await t.notifyCheckpointComplete(FINAL_CHECKPOINT_ID)
    await this.storage.retain(this.retained).catch(() => {})
    return meta
  }
}
