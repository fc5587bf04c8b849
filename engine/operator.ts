/**
 * The operator contract of the runtime. Only `processElement` is required; every other hook has a
 * default. Operators are created per subtask by a factory, so they may keep per-subtask fields.
 *
 * Call order: setup → open → (processElement | processWatermark | timers)* → endInput → close.
 * Everything runs on the task's mailbox thread: no hook is ever called concurrently.
 * A hook that throws fails the job; operators wrap user-function errors with `userError`.
 */
import { FluxionError, userFunctionFailed } from './errors.ts'
import type { Output } from './output.ts'
import type { Clock } from './time.ts'
import type { NamespaceIdentity } from './timer-queue.ts'
import { InternalTimerService, type Timer, type TimerServiceSnapshot } from './timers.ts'
import type { KeyedStateBackend, KeyedStateSnapshot, Namespace } from '../state/backend.ts'

/**
 * The id under which operators snapshot at the end of their input (the final checkpoint): larger
 * than any real checkpoint id, and the id the final checkpoint's completion is notified with.
 */
export const FINAL_CHECKPOINT_ID = Number.MAX_SAFE_INTEGER

export interface OperatorContext {
  /** The operator's name, used in errors and metrics. */
  readonly name: string
  readonly subtaskIndex: number
  readonly parallelism: number
  readonly maxParallelism: number
  readonly clock: Clock
  /** The keyed state backend; undefined when the operator's input is not keyed. */
  readonly backend: KeyedStateBackend | undefined
}

/**
 * How a snapshot takes keyed state: 'full' (every entry; starts a new change epoch),
 * 'incremental' (the changes since the previous epoch) or 'savepoint' (every entry, change
 * tracking left alone: savepoints are not part of the checkpoint chain).
 */
export type KeyedSnapshotMode = 'full' | 'incremental' | 'savepoint'

/** What an operator snapshots: keyed state, timers and its own operator state. */
export interface OperatorSnapshot {
  keyed?: KeyedStateSnapshot
  /** True when `keyed` holds only the changes since the previous snapshot. */
  keyedIncremental?: boolean
  timers?: Record<string, TimerServiceSnapshot>
  operator?: unknown
}

export abstract class StreamOperator<IN, OUT> {
  protected output!: Output<OUT>
  protected ctx!: OperatorContext
  private readonly timerServices = new Map<string, InternalTimerService<any>>()
  private watermark = Number.NEGATIVE_INFINITY

  /** Called once by the runtime before `open`. */
  setup(ctx: OperatorContext, output: Output<OUT>): void {
    this.ctx = ctx
    this.output = output
  }

  get name(): string {
    return this.ctx.name
  }

  /** Initialise per-subtask resources and state handles. */
  open(): void {}

  /** Processes one record of input 1 (the only input of one-input operators). */
  abstract processElement(value: IN, timestamp: number): void

  /** Processes one record of input 2; only two-input operators override it. */
  processElement2(_value: unknown, _timestamp: number): void {
    throw new FluxionError('FLX_INTERNAL', `operator "${this.name}" has one input but received a record on input 2`)
  }

  /**
   * Called when the combined watermark of the inputs advances. Fires due event-time timers, then
   * forwards the watermark. Overrides must call super or forward the watermark themselves.
   */
  processWatermark(watermark: number): void {
    this.watermark = watermark
    for (const timers of this.timerServices.values()) timers.advanceWatermark(watermark)
    this.output.emitWatermark(watermark)
  }

  /** Called when all inputs become idle (true) or one becomes active again (false). */
  processIdle(idle: boolean): void {
    this.output.emitIdle(idle)
  }

  /** Fires due processing-time timers; called by the task with the clock's time. */
  advanceProcessingTime(time: number): void {
    for (const timers of this.timerServices.values()) timers.advanceProcessingTime(time)
  }

  /** Earliest processing-time timer of this operator, or +Infinity. */
  nextProcessingTime(): number {
    let next = Number.POSITIVE_INFINITY
    for (const timers of this.timerServices.values()) next = Math.min(next, timers.nextProcessingTime())
    return next
  }

  /** Called once when every input has ended (after the final watermark). May still emit. */
  endInput(): void {}

  /** Releases resources. Called once, also after a failure; must not throw. */
  close(): void {}

  /**
   * Step 6 of the checkpoint protocol: checkpoint `checkpointId` is complete (its metadata is
   * durable). Two-phase-commit sinks commit what they prepared for it. May return a promise; the
   * runtime waits for it before the next checkpoint and before the job ends.
   */
  notifyCheckpointComplete(_checkpointId: number): void | Promise<void> {}

  /** The job finished without checkpointing: make final output visible (two-phase-commit sinks). */
  commitAtEndWithoutCheckpoints(): void | Promise<void> {}

  /** The current event-time watermark of this operator. */
  currentWatermark(): number {
    return this.watermark
  }

  /**
   * Returns the named timer service of this operator (keyed operators only), created on first use.
   * Fired timers call `target` with the timer's key set on the backend.
   */
  protected getTimerService<N>(
    name: string,
    target: { onEventTime(t: Timer<N>): void; onProcessingTime(t: Timer<N>): void },
    namespaces: ((ns: N) => Namespace) | NamespaceIdentity<N>,
  ): InternalTimerService<N> {
    let service = this.timerServices.get(name)
    if (!service) {
      service = new InternalTimerService<N>(this.keyedBackend(), target, namespaces)
      this.timerServices.set(name, service)
    }
    return service
  }

  /** The keyed state backend; fails clearly when the operator is not keyed. */
  protected keyedBackend(): KeyedStateBackend {
    const backend = this.ctx.backend
    if (!backend) {
      throw new FluxionError('FLX_STATE_NOT_KEYED', `operator "${this.name}" uses keyed state or timers, but its input is not keyed. Call keyBy(...) before it.`)
    }
    return backend
  }

  /** Wraps an error thrown by user code with the operator's name and the current key. */
  protected userError(cause: unknown): FluxionError {
    const backend = this.ctx.backend
    return userFunctionFailed(this.name, cause, backend?.getCurrentKey(), backend !== undefined)
  }

  /**
   * Snapshot of keyed state, timers and operator state (synchronous, deep copies). `mode` says
   * how keyed state is taken (`keyedIncremental` tells whether it holds only changes).
   */
  snapshotState(mode: KeyedSnapshotMode = 'full', checkpointId = FINAL_CHECKPOINT_ID): OperatorSnapshot {
    const snap: OperatorSnapshot = {}
    const backend = this.ctx.backend
    if (backend) {
      if (mode === 'incremental') {
        snap.keyed = backend.snapshotIncremental()
        snap.keyedIncremental = true
      } else snap.keyed = backend.snapshot({ keepChanges: mode === 'savepoint' })
    }
    if (this.timerServices.size > 0) {
      snap.timers = {}
      for (const [name, timers] of this.timerServices) snap.timers[name] = timers.snapshot(this.ctx.maxParallelism)
    }
    const own = this.snapshotOperatorState(checkpointId)
    if (own !== undefined) snap.operator = own
    return snap
  }

  /**
   * Restores from the snapshots of one or more former subtasks (several when scaling down).
   * Called after `setup` and before `open`... timers are restored lazily in `restoreTimers`.
   */
  initializeState(snapshots: readonly OperatorSnapshot[]): void {
    if (this.ctx.backend) this.ctx.backend.restore(snapshots.flatMap((s) => (s.keyed ? [s.keyed] : [])))
    this.pendingTimerRestore = snapshots
    this.restoreOperatorState(snapshots.map((s) => s.operator).filter((s) => s !== undefined))
  }

  private pendingTimerRestore: readonly OperatorSnapshot[] = []

  /** Called by the runtime after `open`, when the operator has created its timer services. */
  restoreTimers(): void {
    const backend = this.ctx.backend
    if (!backend) return
    for (const [name, timers] of this.timerServices) {
      const parts = this.pendingTimerRestore.flatMap((s) => (s.timers?.[name] ? [s.timers[name]] : []))
      timers.restore(parts, backend.keyGroupRange)
    }
    this.pendingTimerRestore = []
  }

  /** Operator (non-keyed) state to include in snapshots; undefined for none. */
  protected snapshotOperatorState(_checkpointId: number): unknown {
    return undefined
  }

  protected restoreOperatorState(_states: unknown[]): void {}
}
