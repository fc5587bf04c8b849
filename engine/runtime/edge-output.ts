/**
 * The output of a chain into one graph edge: partitions records across the consumer subtasks'
 * channels, in batches. Watermarks and status are broadcast to every channel after flushing the
 * pending batches, so they stay in order with the records.
 */
import { userFunctionFailed } from '../errors.ts'
import { keyGroupOf, subtaskForKeyGroup } from '../keys.ts'
import type { Output } from '../output.ts'
import type { OutputTag } from '../output-tag.ts'
import { RecordBatch, type Channel } from './channel.ts'

export type Partitioning =
  | { kind: 'forward' }
  | { kind: 'rebalance' }
  | { kind: 'broadcast' }
  | { kind: 'keyHash'; keySelector: (value: any) => unknown; maxParallelism: number; name: string }

export class EdgeOutput implements Output<unknown> {
  /** Records written into this edge (all channels), for metrics. */
  recordsOut = 0
  /**
   * Set when a flushed batch filled a channel to capacity; cleared by hasCapacity() once the
   * consumer drained it. The producing task checks it after every record to stop early.
   */
  full = false
  private readonly pending: RecordBatch[]
  private nextChannel: number
  private readonly selectChannel: (value: unknown, batchKey: { key: unknown }) => number
  private readonly keyed: boolean
  private readonly scratch = { key: undefined as unknown }

  constructor(
    readonly channels: readonly Channel[],
    readonly partitioning: Partitioning,
    private readonly batchSize: number,
    producerSubtask: number,
  ) {
    this.pending = channels.map(() => new RecordBatch())
    this.nextChannel = producerSubtask % channels.length
    this.keyed = partitioning.kind === 'keyHash'
    const n = channels.length
    switch (partitioning.kind) {
      case 'forward':
        // A forward edge gives each producer exactly one channel.
        this.selectChannel = () => 0
        break
      case 'rebalance':
        this.selectChannel = () => {
          const c = this.nextChannel
          this.nextChannel = c + 1 === n ? 0 : c + 1
          return c
        }
        break
      case 'broadcast':
        this.selectChannel = () => -1
        break
      case 'keyHash': {
        const { keySelector, maxParallelism, name } = partitioning
        this.selectChannel = (value, out) => {
          let key: unknown
          try {
            key = keySelector(value)
          } catch (e) {
            throw userFunctionFailed(name, e)
          }
          out.key = key
          // One channel: no need to hash a safe-integer key (always a valid key); other keys are
          // still hashed, which also checks that they can be keys.
          if (n === 1 && typeof key === 'number' && Number.isSafeInteger(key)) return 0
          return subtaskForKeyGroup(keyGroupOf(key, maxParallelism), n, maxParallelism)
        }
        break
      }
    }
    if (partitioning.kind === 'keyHash') for (const b of this.pending) b.keys = []
  }

  collect(value: unknown, timestamp: number): void {
    this.recordsOut++
    const c = this.selectChannel(value, this.scratch)
    if (c < 0) {
      for (let i = 0; i < this.pending.length; i++) this.append(i, value, timestamp)
      return
    }
    this.append(c, value, timestamp)
  }

  private append(c: number, value: unknown, timestamp: number): void {
    const batch = this.pending[c]
    batch.values.push(value)
    batch.timestamps.push(timestamp)
    if (this.keyed) batch.keys!.push(this.scratch.key)
    if (batch.values.length >= this.batchSize) this.flushChannel(c)
  }

  collectSide<S>(_tag: OutputTag<S>, _value: S, _timestamp: number): void {
    // An edge carries one stream; side outputs are routed before reaching it.
  }

  emitWatermark(watermark: number): void {
    this.flush()
    for (const ch of this.channels) ch.push({ kind: 'watermark', watermark })
  }

  emitIdle(idle: boolean): void {
    this.flush()
    for (const ch of this.channels) ch.push({ kind: 'idle', idle })
  }

  /** Step 2/4 of the checkpoint protocol: forward barrier n behind every record emitted so far. */
  emitBarrier(checkpointId: number): void {
    this.flush()
    for (const ch of this.channels) ch.push({ kind: 'barrier', checkpointId })
  }

  emitEnd(): void {
    this.flush()
    for (const ch of this.channels) ch.push({ kind: 'end' })
  }

  /** Sends every non-empty pending batch. */
  flush(): void {
    for (let c = 0; c < this.pending.length; c++) if (this.pending[c].values.length > 0) this.flushChannel(c)
  }

  private flushChannel(c: number): void {
    const batch = this.pending[c]
    const fresh = new RecordBatch()
    if (this.keyed) fresh.keys = []
    this.pending[c] = fresh
    const channel = this.channels[c]
    channel.push(batch)
    if (!channel.hasCapacity()) this.full = true
  }

  hasCapacity(): boolean {
    for (let i = 0; i < this.channels.length; i++) {
      if (!this.channels[i].hasCapacity()) {
        this.full = true
        return false
      }
    }
    this.full = false
    return true
  }
}
