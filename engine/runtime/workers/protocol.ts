/**
 * Messages between the main thread (coordinator) and the worker threads, and the placement of
 * subtasks on workers. Everything here is plain data: closures never cross threads; each worker
 * rebuilds the job from its module.
 */
import type { MessagePort } from 'node:worker_threads'
import type { JobParams } from '../../api/define-job.ts'
import type { CheckpointConfig } from '../../checkpoint/coordinator.ts'
import type { JobEdge, JobGraph } from '../../graph/job-graph.ts'
import type { KeyedSnapshotMode } from '../../operator.ts'

/**
 * How each subtask ("<head vertex key>#<subtask>") snapshots at one checkpoint's barrier, as the
 * coordinator decided it. It travels with the trigger and with every barrier that crosses to
 * another worker, so a task always knows it when the barrier reaches it.
 */
export type SnapshotModes = Record<string, KeyedSnapshotMode>

export function subtaskKey(headVertex: string, subtask: number): string {
  return `${headVertex}#${subtask}`
}

/** The options a worker creates its environment with (the main thread's, minus the clock). */
export interface WorkerEnvironmentOptions {
  parallelism: number
  maxParallelism: number
  batchSize: number
  channelCapacity: number
  autoWatermarkIntervalMs: number
  stateBackend: 'memory' | 'rocksdb'
  stateDir: string
  checkpoint: CheckpointConfig | undefined
}

/** Sent as workerData when a worker starts. */
export interface WorkerInit {
  index: number
  workers: number
  /** Restart attempt (0 for the first), to keep names and ids of each attempt apart. */
  attempt: number
  moduleUrl: string
  params: JobParams
  jobName: string
  options: WorkerEnvironmentOptions
  /** executeAndCollect: indexes, into what the job's build function returned, of the streams to collect. */
  collect: number[] | undefined
  /** Fingerprint of the main thread's plan: the worker's must be identical. */
  plan: string
  /** Vertex key → id prefix of the main thread's CollectSink at that vertex. */
  collectSinks: Record<string, string>
  /** A restored checkpoint (LoadedCheckpoint), v8-serialized. */
  restore: Uint8Array | undefined
  /** Port to worker j (null at j = index). */
  peers: (MessagePort | null)[]
}

/** How a deployed subtask is known to the main thread. */
export interface RemoteTaskInfo {
  /** Index among the worker's tasks. */
  id: number
  name: string
  subtask: number
  headVertex: string
  isSource: boolean
  /** The chain has keyed state (a backend). */
  keyed: boolean
}

export interface TaskMetricsReport {
  id: number
  recordsIn: number
  recordsOut: number
  peakQueuedRecords: number
}

/** A failure, as plain data (errors lose their class when they cross threads). */
export interface SerializedError {
  code: string | undefined
  message: string
  operator: string | undefined
  stack: string | undefined
  cause: string | undefined
}

export type WorkerToMain =
  | { kind: 'ready'; tasks: RemoteTaskInfo[] }
  | { kind: 'metrics'; tasks: TaskMetricsReport[] }
  /** A task finished; with checkpointing it carries its final snapshot (v8-serialized). */
  | { kind: 'task-finished'; id: number; finalSnapshot: ArrayBuffer | undefined }
  /** Checkpoint step 4: a task acknowledged with its snapshot (v8-serialized). */
  | { kind: 'ack'; id: number; checkpointId: number; syncMs: number; snapshot: ArrayBuffer }
  /** Every task of the worker finished. */
  | { kind: 'done'; tasks: TaskMetricsReport[] }
  | { kind: 'failed'; error: SerializedError }
  /** A CollectSink in the worker committed epochs: the main thread's sink appends them. */
  | { kind: 'collected'; vertex: string; epochs: unknown[] }
  | { kind: 'reply'; request: number; error?: SerializedError }

export type MainToWorker =
  | { kind: 'trigger'; id: number; checkpointId: number; modes: SnapshotModes }
  | { kind: 'notify'; request: number; id: number; checkpointId: number }
  | { kind: 'commit-at-end'; request: number }
  | { kind: 'cancel' }
  /** The attempt is over: close backends and exit. */
  | { kind: 'shutdown' }

/** The worker that runs subtask `subtask` of every chain: subtask i on worker i mod W. */
export function workerOf(subtask: number, workers: number): number {
  return subtask % workers
}

/** Workers that get any subtask: no more than the highest parallelism of the plan. */
export function usefulWorkers(graph: JobGraph, workers: number): number {
  return Math.max(1, Math.min(workers, Math.max(...graph.vertices.map((v) => v.parallelism))))
}

/**
 * The plan's identity: vertex keys, parallelism, chaining and edges. A worker whose build gives
 * another fingerprint built a different graph (the job's build is not deterministic).
 */
export function planFingerprint(graph: JobGraph): string {
  const keyOf = new Map(graph.vertices.map((v) => [v.id, v.key]))
  return graph.vertices
    .map((v) => `${v.key}|${v.parallelism}|${keyOf.get(v.chainHead)}|${v.inputs.map((e) => `${e.source.key}:${e.partitioning.kind}:${e.inputIndex}:${e.tag ?? ''}`).join(',')}`)
    .join('\n')
}

/** Stable id of a channel, the same in every worker: target vertex, input edge index, producer, consumer. */
export function channelId(edge: JobEdge, producer: number, consumer: number): string {
  return `${edge.target.key}/${edge.target.inputs.indexOf(edge)}/${producer}>${consumer}`
}

export function serializeError(e: unknown): SerializedError {
  const err = e instanceof Error ? e : new Error(String(e))
  const cause = (err as { cause?: unknown }).cause
  return {
    code: (err as { code?: unknown }).code as string | undefined,
    message: err.message,
    operator: (err as { operator?: string }).operator,
    stack: err.stack,
    cause: cause === undefined ? undefined : cause instanceof Error ? (cause.stack ?? cause.message) : String(cause),
  }
}
