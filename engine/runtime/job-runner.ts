/**
 * Runs one job on this thread, with fault tolerance when checkpointing is on: deploys the tasks
 * (restored from a checkpoint or savepoint when asked), drives them with the executor and the
 * checkpoint coordinator, restarts from the latest complete checkpoint under the restart
 * strategy after a failure, and recovers the pending commits of two-phase-commit sinks.
 */
import { basename, dirname, join, resolve } from 'node:path'
import { FluxionError } from '../errors.ts'
import type { JobGraph } from '../graph/job-graph.ts'
import type { Clock } from '../time.ts'
import { MetricsRegistry } from '../metrics.ts'
import { CheckpointCoordinator, type CheckpointConfig } from '../checkpoint/coordinator.ts'
import { loadCheckpoint, loadLatestCheckpoint, operatorStatesOf, type LoadedCheckpoint } from '../checkpoint/restore.ts'
import { LocalCheckpointStorage, type CheckpointStorage } from '../checkpoint/storage.ts'
import type { CheckpointMetadata, CheckpointStats } from '../checkpoint/types.ts'
import { committablesOf, isTwoPhaseCommitSink } from '../../operators/sink.ts'
import { deploy } from './deploy.ts'
import { keyGroupRangeOf } from '../keys.ts'
import { RocksDbKeyedStateBackend } from '../../state/rocksdb/rocksdb-backend.ts'
import { MemoryKeyedStateBackend } from '../../state/memory/memory-backend.ts'
import { LocalExecutor } from './executor.ts'
import { createRestartStrategy, type RestartStrategyConfig } from './restart-strategy.ts'
import type { Task } from './task.ts'
import type { RemoteAttempt, RemoteAttempts } from './workers/worker-attempt.ts'

export interface JobRunnerOptions {
  jobName: string
  clock: Clock
  batchSize: number
  channelCapacity: number
  autoWatermarkIntervalMs: number
  checkpoint?: CheckpointConfig
  restartStrategy?: RestartStrategyConfig
  /** 'latest': the newest readable checkpoint under checkpoint.dir, if any; or a checkpoint/savepoint directory (…/chk-<n>). */
  restoreFrom?: string
  /** Reports what the runner did (restarts, skipped corrupt checkpoints). */
  log?: (message: string) => void
  stateBackend?: 'memory' | 'rocksdb'
  /** Parent directory of the RocksDB working copies (one per keyed subtask and attempt). */
  stateDir?: string
  /** Run each attempt's subtasks on worker threads instead of this thread (DESIGN.md §3). */
  remote?: RemoteAttempts
}

export interface SavepointResult {
  checkpointId: number
  /** Directory to pass as restoreFrom. */
  path: string
}

export class JobRunner {
  /** Tasks of the current attempt. */
  tasks: Task[] = []
  restarts = 0
  /** The job's counters, kept across restarts. */
  readonly metrics = new MetricsRegistry()
  private executor: LocalExecutor | undefined
  private remoteAttempt: RemoteAttempt | undefined
  private coordinator: CheckpointCoordinator | undefined
  private cancelled = false
  private readonly storage: CheckpointStorage | undefined
  private readonly savepointStorage: LocalCheckpointStorage | undefined
  /** The explicit restore point (restoreFrom: a path) until the first attempt registers it. */
  private unregistered: LoadedCheckpoint | undefined

  constructor(
    private readonly graph: JobGraph,
    private readonly options: JobRunnerOptions,
  ) {
    if (options.checkpoint) {
      this.storage = new LocalCheckpointStorage(options.checkpoint.dir)
      this.savepointStorage = new LocalCheckpointStorage(join(options.checkpoint.dir, 'savepoints'))
    }
  }

  private log(message: string): void {
    ;(this.options.log ?? ((m: string) => console.warn(`[fluxion] ${m}`)))(message)
  }

  cancel(): void {
    this.cancelled = true
    this.executor?.cancel()
    this.remoteAttempt?.cancel()
  }

  /** Takes a savepoint of the running job. */
  async triggerSavepoint(): Promise<SavepointResult> {
    if (!this.coordinator || !this.savepointStorage) {
      throw new FluxionError('FLX_INVALID_CONFIG', 'savepoints need checkpointing: set checkpoint: { intervalMs, dir } in StreamExecutionEnvironment.create()')
    }
    const meta = await this.coordinator.triggerSavepoint()
    this.executor?.wake()
    this.remoteAttempt?.wake()
    return { checkpointId: meta.checkpointId, path: join(this.savepointStorage.root, `chk-${meta.checkpointId}`) }
  }

  async run(): Promise<void> {
    const strategy = createRestartStrategy(this.options.restartStrategy)
    let restore = await this.initialRestore()
    for (;;) {
      try {
        // A commit that fails here (the sink's system is down) is a failure like any other.
        await this.recoverSinks(restore)
        if (restore?.metadata.final) {
          this.log(`checkpoint ${restore.metadata.checkpointId} is the final one of a finished job: its output is committed, nothing left to run`)
          return
        }
        await this.attempt(restore)
        return
      } catch (e) {
        this.coordinator?.rejectQueuedSavepoints(`the job failed: ${(e as Error).message}`)
        await this.coordinator?.settle().catch(() => {})
        const delay = this.cancelled ? undefined : strategy.onFailure(e, this.options.clock.now())
        if (delay === undefined) throw e
        this.restarts++
        this.log(`job "${this.options.jobName}" failed (${(e as Error).message}); restart ${this.restarts} in ${delay} ms from the latest complete checkpoint`)
        await this.options.clock.sleepUntil(this.options.clock.now() + delay)
        if (this.cancelled) throw new FluxionError('FLX_JOB_CANCELLED', 'the job was cancelled while waiting to restart')
        // An explicit restore point that never deployed is tried again; else the latest checkpoint.
        restore = this.unregistered ?? (this.storage ? await loadLatestCheckpoint(this.storage, (skip) => this.log(skip.message)) : undefined)
      }
    }
  }

  /** Opens one RocksDB backend per keyed subtask before the tasks are built (opening is asynchronous). */
  private async openRocksBackends(): Promise<Map<string, RocksDbKeyedStateBackend>> {
    const opts = this.options
    const backends = new Map<string, RocksDbKeyedStateBackend>()
    if (opts.stateBackend !== 'rocksdb') return backends
    const run = `${opts.jobName.replace(/[^A-Za-z0-9_.-]+/g, '_')}-${process.pid}-${Date.now().toString(36)}`
    for (const v of this.graph.vertices) {
      if (v.chainHead !== v.id || !v.transformation.details.keyed) continue
      for (let subtask = 0; subtask < v.parallelism; subtask++) {
        const backend = await RocksDbKeyedStateBackend.open({
          dir: join(opts.stateDir ?? '.fluxion/state', run, `${v.key}-${subtask}`),
          maxParallelism: this.graph.maxParallelism,
          keyGroupRange: keyGroupRangeOf(subtask, v.parallelism, this.graph.maxParallelism),
          clock: opts.clock,
          trackChanges: opts.checkpoint !== undefined,
        })
        backends.set(`${v.key}#${subtask}`, backend)
      }
    }
    return backends
  }

  private async attempt(restore: LoadedCheckpoint | undefined): Promise<void> {
    if (this.options.remote) return this.runRemoteAttempt(restore, this.options.remote)
    const rocks = await this.openRocksBackends()
    try {
      await this.runAttempt(restore, rocks)
    } finally {
      await Promise.all([...rocks.values()].map((b) => b.close().catch(() => {})))
    }
  }

  private async runAttempt(restore: LoadedCheckpoint | undefined, rocks: Map<string, RocksDbKeyedStateBackend>): Promise<void> {
    const opts = this.options
    const wake = { executor: undefined as LocalExecutor | undefined }
    const tasks = deploy(this.graph, {
      restore,
      clock: opts.clock,
      batchSize: opts.batchSize,
      channelCapacity: opts.channelCapacity,
      autoWatermarkIntervalMs: opts.autoWatermarkIntervalMs,
      wake: () => wake.executor?.wake(),
      metrics: this.metrics,
      // With checkpoints, backends record what changed so that checkpoints can be incremental.
      createBackend: ({ vertexKey, subtask, maxParallelism, keyGroupRange }) =>
        rocks.get(`${vertexKey}#${subtask}`) ??
        new MemoryKeyedStateBackend(maxParallelism, keyGroupRange, { clock: opts.clock, trackChanges: opts.checkpoint !== undefined }),
    })
    // Deployed (the restored state was accepted): an explicit restore point becomes the latest here.
    const restored = await this.registerRestorePointOnce(restore)
    const coordinator =
      opts.checkpoint && this.storage
        ? new CheckpointCoordinator(this.storage, tasks, opts.checkpoint, opts.clock, opts.jobName, this.graph.maxParallelism, restored, this.savepointStorage, await this.checkpointIdFloor())
        : undefined
    await coordinator?.adoptRetained()
    // The tasks become visible (tasks()) only together with their coordinator.
    this.tasks = tasks
    this.coordinator = coordinator
    const executor = new LocalExecutor(tasks, opts.clock, { sliceRecords: opts.batchSize * 4, yieldAfterMs: 5 }, coordinator)
    wake.executor = executor
    this.executor = executor
    if (this.cancelled) executor.cancel()
    await executor.run()
    if (coordinator) await coordinator.finalCheckpoint()
    else for (const t of tasks) await t.commitWithoutCheckpoints()
  }

  /** One attempt on worker threads: the coordinator stays here, the subtasks run in the workers. */
  private async runRemoteAttempt(restore: LoadedCheckpoint | undefined, remote: RemoteAttempts): Promise<void> {
    const opts = this.options
    const attempt = await remote.start(restore)
    try {
      this.remoteAttempt = attempt
      const restored = await this.registerRestorePointOnce(restore)
      const coordinator =
        opts.checkpoint && this.storage
          ? new CheckpointCoordinator(this.storage, attempt.tasks, opts.checkpoint, opts.clock, opts.jobName, this.graph.maxParallelism, restored, this.savepointStorage, await this.checkpointIdFloor())
          : undefined
      await coordinator?.adoptRetained()
      this.tasks = attempt.tasks
      this.coordinator = coordinator
      if (this.cancelled) attempt.cancel()
      await attempt.run(coordinator)
      if (coordinator) await coordinator.finalCheckpoint()
      else await attempt.commitWithoutCheckpoints()
    } finally {
      await attempt.close()
    }
  }

  /** The checkpoint to start from, as asked by `restoreFrom`. */
  private async initialRestore(): Promise<LoadedCheckpoint | undefined> {
    const from = this.options.restoreFrom
    if (from === undefined) return undefined
    if (from === 'latest') {
      if (!this.storage) throw new FluxionError('FLX_INVALID_CONFIG', "restoreFrom: 'latest' needs checkpoint: { dir } to know where to look")
      const loaded = await loadLatestCheckpoint(this.storage, (skip) => this.log(skip.message))
      if (loaded) this.log(`restoring from checkpoint ${loaded.metadata.checkpointId} under ${this.options.checkpoint!.dir}`)
      return loaded
    }
    const m = /^chk-(\d+)$/.exec(basename(from))
    if (!m) throw new FluxionError('FLX_CHECKPOINT_NOT_FOUND', `restoreFrom "${from}" must be 'latest' or a checkpoint directory ending in chk-<n>`)
    const storage = new LocalCheckpointStorage(dirname(from))
    const loaded = await loadCheckpoint(storage, await storage.readMetadata(Number(m[1])))
    this.unregistered = loaded
    return loaded
  }

  /**
   * `restore`, registered as the latest checkpoint here if it is the explicit restore point not
   * registered yet (see registerRestorePoint). Called once the first attempt has deployed: a restore
   * that fails there (another maxParallelism, an incompatible topology) leaves the directory as it was.
   */
  private async registerRestorePointOnce(restore: LoadedCheckpoint | undefined): Promise<LoadedCheckpoint | undefined> {
    if (restore === undefined || restore !== this.unregistered) return restore
    this.unregistered = undefined
    return this.registerRestorePoint(restore)
  }

  /**
   * Highest checkpoint or savepoint id already in this job's directories (0 without checkpointing):
   * the coordinator's ids start above it.
   */
  private async checkpointIdFloor(): Promise<number> {
    if (!this.storage) return 0
    return Math.max(await this.storage.highestId(), (await this.savepointStorage?.highestId()) ?? 0)
  }

  /**
   * Makes an explicitly restored checkpoint or savepoint the latest complete checkpoint of this
   * job's checkpoint directory, as Flink adds a restored savepoint to its completed checkpoint store:
   * a failure before the job's first checkpoint then restarts from it, not from a newer checkpoint
   * of the timeline the restore abandoned (or from nothing, when the restore point lives in another
   * directory). Its files are adopted (hard links, else copies) into chk-<next id>; the newer
   * checkpoints of the abandoned timeline are then older than every new one and removed by
   * retention. Nothing to do when it already is the latest here, or without checkpointing. Once the
   * job runs from it, it stays the latest even if the job then fails (the job ran from it).
   */
  private async registerRestorePoint(loaded: LoadedCheckpoint): Promise<LoadedCheckpoint> {
    const storage = this.storage
    const source = loaded.storage
    const meta = loaded.metadata
    if (!storage || !source || meta.final) return loaded
    const sameRoot = source instanceof LocalCheckpointStorage && storage instanceof LocalCheckpointStorage && resolve(source.root) === resolve(storage.root)
    if (sameRoot && meta.checkpointId === (await storage.listComplete())[0]) return loaded
    const id = Math.max(meta.checkpointId, await this.checkpointIdFloor()) + 1
    const tasks: CheckpointMetadata['tasks'] = {}
    for (const [head, task] of Object.entries(meta.tasks)) {
      const subtasks = []
      for (const s of task.subtasks) subtasks.push({ subtask: s.subtask, files: await Promise.all(s.files.map((f) => storage.adoptState(id, source, f))) })
      tasks[head] = { parallelism: task.parallelism, subtasks }
    }
    const registered: CheckpointMetadata = { ...meta, checkpointId: id, completedAt: this.options.clock.now(), savepoint: false, tasks }
    await storage.writeMetadata(registered)
    this.log(`restoring ${meta.savepoint ? 'savepoint' : 'checkpoint'} ${meta.checkpointId}; registered as checkpoint ${id} under ${this.options.checkpoint!.dir}, the latest to restart from`)
    return { metadata: registered, chains: loaded.chains, storage }
  }

  /** Commits what the restored checkpoint's sinks prepared, and aborts everything else. */
  private async recoverSinks(restore: LoadedCheckpoint | undefined): Promise<void> {
    for (const v of this.graph.vertices) {
      const sink = v.transformation.details.sink
      if (!sink || !isTwoPhaseCommitSink(sink)) continue
      const committables = restore ? operatorStatesOf(restore, v.key).flatMap(committablesOf) : []
      const committer = sink.createCommitter()
      await committer.commit(committables)
      await committer.abortUncommitted?.(committables)
    }
  }

  /** Costs of recent checkpoints (empty without checkpointing). */
  checkpointStats(): CheckpointStats[] {
    return [...(this.coordinator?.stats ?? [])]
  }

  /** The latest complete checkpoint, if checkpointing. */
  latestCheckpoint(): CheckpointMetadata | undefined {
    return this.coordinator?.latest
  }
}
