/**
 * Data of the checkpoint protocol (DESIGN.md §4): what a task acknowledges, and what the
 * metadata file of a complete checkpoint records.
 */
import type { OperatorSnapshot } from '../operator.ts'

/** What a source subtask snapshots at a barrier: its reader's split positions and held records. */
export interface SourceSnapshot {
  splits: unknown[]
  /** Records taken from the reader but not yet emitted (held back by backpressure). */
  held: { value: unknown; timestamp: number | undefined }[]
}

/** Everything one subtask (one chain) snapshots at barrier n. */
export interface TaskSnapshot {
  /** Vertex key of every chained operator → its snapshot. */
  operators: Record<string, OperatorSnapshot>
  /** Present for source tasks. */
  source?: SourceSnapshot
}

/** A task's acknowledgement of checkpoint n (step 4). */
export interface TaskAck {
  checkpointId: number
  /** Vertex key of the chain's head. */
  headVertex: string
  subtask: number
  snapshot: TaskSnapshot
  /** Time the task spent on the synchronous part of its snapshot (the pause at the barrier), ms. */
  syncMs: number
}

/** What one checkpoint cost. */
export interface CheckpointStats {
  checkpointId: number
  savepoint: boolean
  /** Whether some subtask wrote only its changes (a delta on its chain). */
  incremental: boolean
  /** Processing time (the job's Clock, ms since the epoch with the system clock) at which the metadata was written. */
  completedAt: number
  /** From trigger to complete metadata, ms of processing time. */
  durationMs: number
  /** Longest synchronous snapshot of any task: how long a task paused at the barrier, ms. */
  maxSyncMs: number
  /** Bytes of the state files this checkpoint wrote (not counting files it reuses). */
  bytes: number
  /**
   * Keyed-state rows in the files this checkpoint wrote: every entry for a full snapshot, the
   * changed entries and deletions for a delta (not counting the chain it builds on).
   */
  rows: number
}

/** The state files of one subtask of a vertex chain, oldest first: a full base, then deltas. */
export interface SubtaskStateHandle {
  subtask: number
  /** Files relative to the checkpoint root; the last one carries timers, operator and source state. */
  files: string[]
}

export interface CheckpointMetadata {
  version: 1
  checkpointId: number
  jobName: string
  /** Processing time at which the checkpoint completed. */
  completedAt: number
  savepoint: boolean
  /** Taken after every task finished: restoring it only re-commits the sinks' last output. */
  final: boolean
  maxParallelism: number
  /** Chain head vertex key → parallelism and per-subtask state. */
  tasks: Record<string, { parallelism: number; subtasks: SubtaskStateHandle[] }>
}
