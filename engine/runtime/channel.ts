/**
 * Channels between tasks: bounded FIFO queues of record batches and control events. Records move
 * in batches (never one message per record); control events (watermarks, idleness, end of input)
 * travel in order with the records.
 */

/** A batch of records. `keys` is set on keyed edges so the consumer need not recompute keys. */
export class RecordBatch {
  readonly values: unknown[] = []
  readonly timestamps: number[] = []
  keys: unknown[] | null = null

  get length(): number {
    return this.values.length
  }
}

export type ControlEvent =
  | { kind: 'watermark'; watermark: number }
  | { kind: 'idle'; idle: boolean }
  | { kind: 'end' }
  /** Checkpoint barrier n: everything before it belongs to checkpoint n (DESIGN.md §4). */
  | { kind: 'barrier'; checkpointId: number }

export type ChannelEntry = RecordBatch | ControlEvent

/**
 * One producer subtask → one consumer subtask on one edge. Capacity is counted in records; a
 * producer checks `hasCapacity()` before starting work, so a queue exceeds its capacity by at most
 * what one slice of the producer emits.
 */
export class Channel {
  private readonly queue: ChannelEntry[] = []
  private head = 0
  /** Records currently queued. */
  queuedRecords = 0
  /** Highest number of records ever queued, for tests and metrics. */
  peakQueuedRecords = 0
  /** Called when an entry is pushed into an empty channel. */
  onData: () => void = () => {}

  constructor(
    readonly capacity: number,
    /** Index of the consumer's input this channel feeds (0 or 1 for two-input operators). */
    readonly inputIndex: number,
  ) {}

  hasCapacity(): boolean {
    return this.queuedRecords < this.capacity
  }

  isEmpty(): boolean {
    return this.head === this.queue.length
  }

  push(entry: ChannelEntry): void {
    const wasEmpty = this.isEmpty()
    this.queue.push(entry)
    if (entry instanceof RecordBatch) {
      this.queuedRecords += entry.length
      if (this.queuedRecords > this.peakQueuedRecords) this.peakQueuedRecords = this.queuedRecords
    }
    if (wasEmpty) this.onData()
  }

  poll(): ChannelEntry | undefined {
    if (this.head === this.queue.length) return undefined
    const entry = this.queue[this.head]
    this.queue[this.head++] = undefined as unknown as ChannelEntry
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head)
      this.head = 0
    }
    if (entry instanceof RecordBatch) this.queuedRecords -= entry.length
    return entry
  }
}
