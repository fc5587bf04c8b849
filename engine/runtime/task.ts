/**
 * A subtask: one chain of operators with its input channels and edge outputs, driven by the
 * executor in bounded slices (the mailbox loop). Inputs, watermarks, timers and end of input are
 * handled one at a time, never concurrently.
 */
import type { TaskAck, TaskSnapshot } from '../checkpoint/types.ts'
import { FINAL_CHECKPOINT_ID, type KeyedSnapshotMode, type StreamOperator } from '../operator.ts'
import type { KeyedStateBackend } from '../../state/backend.ts'
import { RecordBatch, type Channel } from './channel.ts'
import type { EdgeOutput } from './edge-output.ts'
import type { SourceOperator } from './source-operator.ts'
import { WatermarkValve } from './watermark-valve.ts'

export interface TaskMetrics {
  recordsIn: number
  recordsOut: number
}

export class Task {
  finished = false
  /** Set while a source waits for its reader's availability promise. */
  waiting: Promise<void> | null = null
  private readonly counters = { recordsIn: 0 }
  private readonly valve: WatermarkValve | undefined
  private endedInputs = 0
  private nextInput = 0
  private closed = false
  /** A batch whose processing stopped early because an output filled up; resumed first. */
  private resumeBatch: RecordBatch | null = null
  private resumeIndex = 0
  private resumeInput = 0
  // Barrier alignment (checkpoint step 3): channels that delivered the pending barrier are blocked.
  private aligningCheckpoint: number | null = null
  private readonly blocked: boolean[]
  private readonly ended: boolean[]
  /** Receives this task's acknowledgement of each checkpoint (set by the checkpoint coordinator). */
  onCheckpoint: (ack: TaskAck) => void = () => {}
  /** Set when the job checkpoints: the task then also snapshots itself when it finishes. */
  checkpointing = false
  /**
   * How to snapshot keyed state at barrier n (set by the coordinator); null: checkpoint n was
   * abandoned, so the barrier is only forwarded (a snapshot would consume the change tracking
   * that the next checkpoint's delta needs).
   */
  snapshotModeFor: (checkpointId: number) => KeyedSnapshotMode | null = () => (this.incrementalSnapshots ? 'incremental' : 'full')
  /** Used by the default `snapshotModeFor` (tasks on worker threads); the coordinator sets both. */
  incrementalSnapshots = false
  /** The snapshot taken when the task finished (after endInput): the state of a final checkpoint. */
  finalSnapshot: TaskSnapshot | undefined
  /** Vertex keys of `operators`, in the same order; the head's for source tasks is `headVertex`. */
  operatorKeys: readonly string[] = []
  headVertex = ''

  constructor(
    readonly name: string,
    readonly subtaskIndex: number,
    readonly inputs: readonly Channel[],
    /** Chained operators in topological order; the first is the head unless this is a source task. */
    readonly operators: readonly StreamOperator<any, any>[],
    readonly edgeOutputs: readonly EdgeOutput[],
    readonly source: SourceOperator<any> | undefined,
    readonly backend: KeyedStateBackend | undefined,
    private readonly wake: () => void,
  ) {
    this.blocked = new Array<boolean>(inputs.length).fill(false)
    this.ended = new Array<boolean>(inputs.length).fill(false)
    if (!source) {
      const head = operators[0]
      this.valve = new WatermarkValve(
        inputs.length,
        (wm) => head.processWatermark(wm),
        (idle) => head.processIdle(idle),
      )
    }
  }

  /** Records in (from channels) and out (into channels; a source's records for source tasks). */
  get metrics(): TaskMetrics {
    const out = this.source ? this.source.recordsOut : this.edgeOutputs.reduce((n, o) => n + o.recordsOut, 0)
    return { recordsIn: this.counters.recordsIn, recordsOut: out }
  }

  open(): void {
    this.source?.open()
    for (const op of this.operators) {
      op.open()
      op.restoreTimers()
    }
  }

  get currentWatermark(): number {
    return this.valve?.currentWatermark ?? Number.NEGATIVE_INFINITY
  }

  private outputsHaveCapacity(): boolean {
    const outs = this.edgeOutputs
    for (let i = 0; i < outs.length; i++) if (!outs[i].hasCapacity()) return false
    return true
  }

  /** True when a slice would make progress now. */
  isRunnable(): boolean {
    if (this.finished) return false
    if (this.source) return this.waiting === null && this.outputsHaveCapacity()
    if (!this.outputsHaveCapacity()) return false
    if (this.resumeBatch !== null) return true
    for (let i = 0; i < this.inputs.length; i++) if (!this.blocked[i] && !this.inputs[i].isEmpty()) return true
    return false
  }

  /** Earliest processing time at which this task has a timer to fire, or +Infinity. */
  nextTimerTime(): number {
    let next = this.source && this.waiting !== null ? this.source.nextTimerTime() : Number.POSITIVE_INFINITY
    for (const op of this.operators) {
      const t = op.nextProcessingTime()
      if (t < next) next = t
    }
    return next
  }

  /** Fires processing-time timers and periodic watermarks due at `now`. */
  fireTimers(now: number): void {
    if (this.source && this.waiting !== null) this.source.onTimer(now)
    for (const op of this.operators) op.advanceProcessingTime(now)
    this.flush()
  }

  /** Processes up to about `budget` records. */
  runSlice(budget: number): void {
    if (this.source) this.runSourceSlice()
    else this.runInputSlice(budget)
    if (!this.finished) this.flush()
  }

  private runSourceSlice(): void {
    const status = this.source!.emitNext()
    if (status === 'end') {
      this.finish()
    } else if (status === 'nothing') {
      const waiting = this.source!.isAvailable().then(() => {
        if (this.waiting === waiting) this.waiting = null
        this.wake()
      })
      this.waiting = waiting
    }
  }

  private runInputSlice(budget: number): void {
    const inputs = this.inputs
    let processed = 0
    while (processed < budget && !this.finished && this.outputsHaveCapacity()) {
      if (this.resumeBatch !== null) {
        const batch = this.resumeBatch
        const from = this.resumeIndex
        this.resumeBatch = null
        processed += this.processBatch(batch, this.resumeInput, from) - from
        continue
      }
      let channelIndex = -1
      for (let k = 0; k < inputs.length; k++) {
        const i = (this.nextInput + k) % inputs.length
        if (!this.blocked[i] && !inputs[i].isEmpty()) {
          channelIndex = i
          break
        }
      }
      if (channelIndex < 0) return
      this.nextInput = (channelIndex + 1) % inputs.length
      const channel = inputs[channelIndex]
      const entry = channel.poll()!
      if (entry instanceof RecordBatch) {
        this.counters.recordsIn += entry.length
        processed += this.processBatch(entry, channel.inputIndex, 0)
      } else if (entry.kind === 'watermark') {
        this.valve!.inputWatermark(channelIndex, entry.watermark)
      } else if (entry.kind === 'idle') {
        this.valve!.inputIdle(channelIndex, entry.idle)
      } else if (entry.kind === 'barrier') {
        this.onBarrier(channelIndex, entry.checkpointId)
      } else {
        this.endedInputs++
        this.ended[channelIndex] = true
        this.valve!.inputEnded(channelIndex)
        if (this.endedInputs === inputs.length) this.finish()
        else if (this.aligningCheckpoint !== null) this.completeAlignment()
      }
    }
  }

  /**
   * Runs the head operator over the batch from record `from`. Stops after a record that filled an
   * output channel (so one record's fan-out is the most a queue overshoots) and remembers where,
   * to resume in the next slice. Returns the index it stopped at.
   */
  private processBatch(batch: RecordBatch, inputIndex: number, from: number): number {
    const head = this.operators[0]
    const { values, timestamps, keys } = batch
    const n = values.length
    const backend = keys !== null ? this.backend : undefined
    const outs = this.edgeOutputs
    const second = inputIndex !== 0
    for (let i = from; i < n; i++) {
      if (backend !== undefined) backend.setCurrentKey(keys![i])
      if (second) head.processElement2(values[i], timestamps[i])
      else head.processElement(values[i], timestamps[i])
      for (let o = 0; o < outs.length; o++) {
        if (outs[o].full && i + 1 < n) {
          this.resumeBatch = batch
          this.resumeIndex = i + 1
          this.resumeInput = inputIndex
          return i + 1
        }
      }
    }
    return n
  }

  /** Step 3: block the channel that delivered barrier n until every input has delivered it. */
  private onBarrier(channel: number, checkpointId: number): void {
    if (this.aligningCheckpoint !== null && checkpointId < this.aligningCheckpoint) return // stale
    if (this.aligningCheckpoint === null || checkpointId > this.aligningCheckpoint) {
      this.aligningCheckpoint = checkpointId
      this.blocked.fill(false)
    }
    this.blocked[channel] = true
    this.completeAlignment()
  }

  private completeAlignment(): void {
    for (let i = 0; i < this.inputs.length; i++) if (!this.blocked[i] && !this.ended[i]) return
    const checkpointId = this.aligningCheckpoint!
    this.aligningCheckpoint = null
    this.blocked.fill(false)
    this.performCheckpoint(checkpointId)
  }

  /** Steps 2–4 at a source (called between slices by the coordinator). */
  triggerCheckpoint(checkpointId: number): void {
    if (!this.finished) this.performCheckpoint(checkpointId)
  }

  /** Snapshot every chained operator (synchronous part), forward the barrier, acknowledge. */
  private performCheckpoint(checkpointId: number): void {
    const mode = this.snapshotModeFor(checkpointId)
    if (mode === null) {
      for (const out of this.edgeOutputs) out.emitBarrier(checkpointId)
      return
    }
    const started = performance.now() // a measurement only; event and processing time use the Clock
    const snapshot = this.takeSnapshot(mode, checkpointId)
    const syncMs = performance.now() - started
    for (const out of this.edgeOutputs) out.emitBarrier(checkpointId)
    this.onCheckpoint({ checkpointId, headVertex: this.headVertex, subtask: this.subtaskIndex, snapshot, syncMs })
  }

  private takeSnapshot(mode: KeyedSnapshotMode, checkpointId: number): TaskSnapshot {
    const snapshot: TaskSnapshot = { operators: {} }
    this.operators.forEach((op, i) => (snapshot.operators[this.operatorKeys[i]] = op.snapshotState(mode, checkpointId)))
    if (this.source) snapshot.source = this.source.snapshotState(checkpointId)
    return snapshot
  }

  /**
   * Without checkpointing, a finished job still commits what two-phase-commit sinks wrote: they
   * prepare their last output and commit it at once.
   */
  async commitWithoutCheckpoints(): Promise<void> {
    for (const op of this.operators) await op.commitAtEndWithoutCheckpoints()
  }

  /** Step 6: checkpoint n is durable; operators (sinks) commit. Resolves when they have. */
  async notifyCheckpointComplete(checkpointId: number): Promise<void> {
    this.source?.notifyCheckpointComplete(checkpointId)
    for (const op of this.operators) await op.notifyCheckpointComplete(checkpointId)
  }

  private flush(): void {
    for (const out of this.edgeOutputs) out.flush()
  }

  /** End of input: let every operator finish in chain order, then end every output edge. */
  private finish(): void {
    for (const op of this.operators) op.endInput()
    for (const out of this.edgeOutputs) out.emitEnd()
    if (this.checkpointing) this.finalSnapshot = this.takeSnapshot('full', FINAL_CHECKPOINT_ID)
    this.finished = true
    this.close()
  }

  /** Closes every operator once; never throws. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.source?.close()
    for (const op of this.operators) {
      try {
        op.close()
      } catch {
        // close must not throw; a failure here must not hide the job's real error
      }
    }
  }

  /** Peak records queued on any input channel. */
  peakQueuedRecords(): number {
    let peak = 0
    for (const ch of this.inputs) peak = Math.max(peak, ch.peakQueuedRecords)
    return peak
  }
}
