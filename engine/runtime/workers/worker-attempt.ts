/**
 * The main thread's side of a job on worker threads (DESIGN.md §3 "Workers"). One attempt spawns
 * the workers, wires a MessageChannel between every pair of them (batches never pass through the
 * main thread), and hands each worker the job module, the plan's fingerprint and the checkpoint to
 * restore. The main thread keeps the coordinator: it sees every remote subtask through a
 * RemoteTask proxy (trigger, acknowledgement, final snapshot, notifyCheckpointComplete are
 * messages), and a failure in any worker fails the attempt with the worker's error.
 */
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads'
import { deserialize, serialize } from 'node:v8'
import { FluxionError, type FluxionErrorCode } from '../../errors.ts'
import type { JobGraph } from '../../graph/job-graph.ts'
import type { JobParams } from '../../api/define-job.ts'
import type { LoadedCheckpoint } from '../../checkpoint/restore.ts'
import type { TaskAck, TaskSnapshot } from '../../checkpoint/types.ts'
import { sleepUntilWoken, type Clock } from '../../time.ts'
import type { ExecutorTimer } from '../executor.ts'
import type { Task, TaskMetrics } from '../task.ts'
import { CollectSink } from '../../../connectors/sinks.ts'
import { ownBuffer } from './batch-codec.ts'
import { spawnWorker } from './spawn.ts'
import type { KeyedSnapshotMode } from '../../operator.ts'
import { planFingerprint, subtaskKey, usefulWorkers, type SnapshotModes, type MainToWorker, type RemoteTaskInfo, type SerializedError, type WorkerEnvironmentOptions, type WorkerInit, type WorkerToMain } from './protocol.ts'

/** What JobRunner needs from one attempt that runs elsewhere. */
export interface RemoteAttempt {
  /** Proxies of every subtask, for the checkpoint coordinator and task reports. */
  readonly tasks: Task[]
  /** Runs until every subtask finished; `timer` is the checkpoint coordinator. */
  run(timer: ExecutorTimer | undefined): Promise<void>
  /** Without checkpointing: two-phase-commit sinks commit their last output. */
  commitWithoutCheckpoints(): Promise<void>
  cancel(): void
  wake(): void
  /** Ends the workers (always called, after success or failure). */
  close(): Promise<void>
}

export interface RemoteAttempts {
  start(restore: LoadedCheckpoint | undefined): Promise<RemoteAttempt>
}

export interface WorkerJobSpec {
  moduleUrl: string
  params: JobParams
  jobName: string
  graph: JobGraph
  workers: number
  options: WorkerEnvironmentOptions
  collect: number[] | undefined
  clock: Clock
}

/** Starts attempts of a job on worker threads; the JobRunner restarts by starting another. */
export class WorkerAttempts implements RemoteAttempts {
  private attempts = 0
  constructor(private readonly spec: WorkerJobSpec) {}

  async start(restore: LoadedCheckpoint | undefined): Promise<RemoteAttempt> {
    const attempt = new WorkerAttempt(this.spec, this.attempts++, restore)
    try {
      await attempt.ready()
    } catch (e) {
      await attempt.close()
      throw e
    }
    return attempt
  }
}

interface WorkerHandle {
  index: number
  worker: Worker
  tasks: RemoteTask[]
  ready: boolean
  done: boolean
  exited: boolean
}

/** A subtask on a worker, as the coordinator and the task reports see it. */
class RemoteTask {
  finished = false
  waiting = null
  checkpointing = false
  incrementalSnapshots = false
  /** Set by the coordinator; read when a checkpoint is triggered (the modes travel to the workers). */
  snapshotModeFor: (checkpointId: number) => KeyedSnapshotMode | null = () => 'full'
  /** Truthy for keyed chains (the coordinator keeps their chains of state files). */
  readonly backend: object | undefined
  finalSnapshot: TaskSnapshot | undefined
  operatorKeys: readonly string[] = []
  readonly headVertex: string
  readonly name: string
  readonly subtaskIndex: number
  /** Truthy for source tasks (the coordinator triggers checkpoints at them). */
  readonly source: object | undefined
  onCheckpoint: (ack: TaskAck) => void = () => {}
  metrics: TaskMetrics = { recordsIn: 0, recordsOut: 0 }
  peakQueued = 0

  constructor(
    private readonly attempt: WorkerAttempt,
    readonly worker: number,
    readonly id: number,
    info: RemoteTaskInfo,
  ) {
    this.name = info.name
    this.subtaskIndex = info.subtask
    this.headVertex = info.headVertex
    this.source = info.isSource ? {} : undefined
    this.backend = info.keyed ? {} : undefined
  }

  peakQueuedRecords(): number {
    return this.peakQueued
  }

  triggerCheckpoint(checkpointId: number): void {
    if (!this.finished) this.attempt.send(this.worker, { kind: 'trigger', id: this.id, checkpointId, modes: this.attempt.snapshotModes(checkpointId) })
  }

  notifyCheckpointComplete(checkpointId: number): Promise<void> {
    return this.attempt.request(this.worker, (request) => ({ kind: 'notify', request, id: this.id, checkpointId }))
  }
}

class WorkerAttempt implements RemoteAttempt {
  tasks: Task[] = []
  private readonly handles: WorkerHandle[] = []
  private failure: Error | null = null
  private cancelled: FluxionError | null = null
  private waiters: (() => void)[] = []
  private nextRequest = 0
  private readonly replies = new Map<number, { resolve: () => void; reject: (e: Error) => void }>()
  private readonly collectSinks = new Map<string, CollectSink<unknown>>()

  constructor(
    private readonly spec: WorkerJobSpec,
    private readonly attempt: number,
    restore: LoadedCheckpoint | undefined,
  ) {
    const n = usefulWorkers(spec.graph, spec.workers)
    const ports: (MessagePort | null)[][] = Array.from({ length: n }, () => new Array<MessagePort | null>(n).fill(null))
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const { port1, port2 } = new MessageChannel()
        ports[i][j] = port1
        ports[j][i] = port2
      }
    }
    const collectSinks: Record<string, string> = {}
    for (const v of spec.graph.vertices) {
      const sink = v.transformation.details.sink
      if (sink instanceof CollectSink) {
        collectSinks[v.key] = sink.instance
        this.collectSinks.set(v.key, sink)
      }
    }
    const plan = planFingerprint(spec.graph)
    // Workers need the snapshots only; the storage (an object with methods) stays here.
    const restoreBytes = restore ? new Uint8Array(ownBuffer(serialize({ ...restore, storage: undefined }))) : undefined
    for (let index = 0; index < n; index++) {
      const init: WorkerInit = {
        index,
        workers: n,
        attempt,
        moduleUrl: spec.moduleUrl,
        params: spec.params,
        jobName: spec.jobName,
        options: spec.options,
        collect: spec.collect,
        plan,
        collectSinks,
        restore: restoreBytes,
        peers: ports[index],
      }
      const worker = spawnWorker(init, ports[index].filter((p): p is MessagePort => p !== null))
      const handle: WorkerHandle = { index, worker, tasks: [], ready: false, done: false, exited: false }
      this.handles.push(handle)
      worker.on('message', (m: WorkerToMain) => {
        try {
          this.onMessage(handle, m)
        } catch (e) {
          this.fail(e instanceof Error ? e : new Error(String(e)))
        }
        this.notify()
      })
      worker.on('error', (e) => {
        this.fail(new FluxionError('FLX_INTERNAL', `worker ${index} crashed: ${e.message}`, { cause: e }))
        this.notify()
      })
      worker.on('exit', (code) => {
        handle.exited = true
        if (!handle.done || code !== 0) this.fail(new FluxionError('FLX_INTERNAL', `worker ${index} exited (code ${code}) before the job finished`))
        this.notify()
      })
    }
  }

  /** Resolves when every worker has deployed its subtasks; rejects when one failed first. */
  async ready(): Promise<void> {
    while (!this.handles.every((h) => h.ready)) {
      if (this.failure) throw this.failure
      await this.nextChange()
    }
    this.tasks = this.handles.flatMap((h) => h.tasks) as unknown as Task[]
  }

  private notify(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  private nextChange(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  private fail(e: Error): void {
    if (this.failure) return
    this.failure = e
    for (const r of this.replies.values()) r.reject(e)
    this.replies.clear()
  }

  private onMessage(h: WorkerHandle, m: WorkerToMain): void {
    switch (m.kind) {
      case 'ready':
        h.tasks = m.tasks.map((info) => new RemoteTask(this, h.index, info.id, info))
        h.ready = true
        return
      case 'metrics':
      case 'done':
        for (const r of m.tasks) {
          const t = h.tasks[r.id]
          t.metrics = { recordsIn: r.recordsIn, recordsOut: r.recordsOut }
          t.peakQueued = r.peakQueuedRecords
        }
        if (m.kind === 'done') h.done = true
        return
      case 'task-finished': {
        const t = h.tasks[m.id]
        t.finished = true
        if (m.finalSnapshot) t.finalSnapshot = deserialize(new Uint8Array(m.finalSnapshot)) as TaskSnapshot
        return
      }
      case 'ack': {
        const t = h.tasks[m.id]
        t.onCheckpoint({ checkpointId: m.checkpointId, headVertex: t.headVertex, subtask: t.subtaskIndex, snapshot: deserialize(new Uint8Array(m.snapshot)) as TaskSnapshot, syncMs: m.syncMs })
        return
      }
      case 'collected': {
        const sink = this.collectSinks.get(m.vertex)
        if (!sink) throw new FluxionError('FLX_INTERNAL', `worker ${h.index} collected records for unknown sink ${m.vertex}`)
        void sink.createCommitter().commit(m.epochs as never[])
        return
      }
      case 'reply': {
        const r = this.replies.get(m.request)
        this.replies.delete(m.request)
        if (m.error) r?.reject(deserializeError(m.error, h.index))
        else r?.resolve()
        return
      }
      case 'failed':
        this.fail(deserializeError(m.error, h.index))
        return
    }
  }

  /** How every subtask snapshots at checkpoint n, as the coordinator decided (abandoned: skipped). */
  snapshotModes(checkpointId: number): SnapshotModes {
    const modes: SnapshotModes = {}
    for (const t of this.tasks as unknown as RemoteTask[]) {
      const mode = t.snapshotModeFor(checkpointId)
      if (mode !== null) modes[subtaskKey(t.headVertex, t.subtaskIndex)] = mode
    }
    return modes
  }

  send(worker: number, m: MainToWorker): void {
    const h = this.handles[worker]
    if (!h.exited) h.worker.postMessage(m)
  }

  request(worker: number, make: (request: number) => MainToWorker): Promise<void> {
    if (this.failure) return Promise.reject(this.failure)
    const request = this.nextRequest++
    return new Promise<void>((resolve, reject) => {
      this.replies.set(request, { resolve, reject })
      this.send(worker, make(request))
    })
  }

  async run(timer: ExecutorTimer | undefined): Promise<void> {
    const clock = this.spec.clock
    for (;;) {
      if (this.cancelled) throw this.cancelled
      if (this.failure) throw this.failure
      if (timer?.failure) throw timer.failure
      if (this.handles.every((h) => h.done)) return
      const now = clock.now()
      if (timer && timer.nextTimerTime() <= now) {
        timer.onTimer(now)
        continue
      }
      await sleepUntilWoken(clock, this.nextChange(), timer ? timer.nextTimerTime() : Number.POSITIVE_INFINITY)
    }
  }

  async commitWithoutCheckpoints(): Promise<void> {
    await Promise.all(this.handles.map((h) => this.request(h.index, (request) => ({ kind: 'commit-at-end', request }))))
  }

  cancel(reason = 'the job was cancelled'): void {
    this.cancelled ??= new FluxionError('FLX_JOB_CANCELLED', reason)
    for (const h of this.handles) this.send(h.index, { kind: 'cancel' })
    this.notify()
  }

  wake(): void {
    this.notify()
  }

  async close(): Promise<void> {
    await Promise.all(
      this.handles.map(async (h) => {
        if (h.exited) return
        h.done = true // an exit from now on is expected
        const exited = new Promise<void>((resolve) => h.worker.once('exit', () => resolve()))
        this.send(h.index, { kind: 'shutdown' })
        const timeout = setTimeout(() => void h.worker.terminate(), 2_000)
        await exited
        clearTimeout(timeout)
      }),
    )
  }
}

/** Rebuilds a worker's error on the main thread: same code, message, operator; the cause's stack. */
function deserializeError(e: SerializedError, worker: number): Error {
  const cause = e.cause === undefined ? undefined : Object.assign(new Error(e.cause.split('\n')[0]), { stack: e.cause })
  if (e.code?.startsWith('FLX_')) {
    const message = e.message.startsWith(`${e.code}: `) ? e.message.slice(e.code.length + 2) : e.message
    return new FluxionError(e.code as FluxionErrorCode, message, { operator: e.operator, cause })
  }
  return new FluxionError('FLX_INTERNAL', `worker ${worker} failed: ${e.message}`, { cause: Object.assign(new Error(e.message), { stack: e.stack }) })
}
