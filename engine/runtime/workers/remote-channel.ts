/**
 * Channels between subtasks on different worker threads. Each pair of workers shares one
 * MessagePort pair (never routed through the main thread); every channel that crosses it has a
 * deterministic id (edge, producer subtask, consumer subtask), built the same way in both workers.
 *
 * Backpressure is credit-based: a producer may have at most `capacity` records outstanding (sent
 * and not yet taken by the consuming task); the consumer returns credit for every batch it polls.
 * So the records of one channel in flight or queued stay bounded, however slow the consumer.
 * Control events (watermarks, idleness, barriers, end of input) travel on the same port as the
 * batches, so they stay in order with the data.
 */
import type { MessagePort } from 'node:worker_threads'
import { Channel, RecordBatch, type ChannelEntry, type ControlEvent } from '../channel.ts'
import { decodeBatch, encodeBatch } from './batch-codec.ts'
import type { SnapshotModes } from './protocol.ts'

/** What crosses a worker pair's port. */
export type PeerMessage =
  /** A batch of records, as bytes. */
  | { c: string; b: ArrayBuffer }
  /** A control event; a barrier also carries how every subtask snapshots at it. */
  | { c: string; e: ControlEvent; modes?: SnapshotModes }
  /** The consumer took `credit` records off channel `c`. */
  | { c: string; credit: number }

/** One worker's end of the port to another worker: routes messages to the channels on it. */
export class PeerLink {
  private readonly inbound = new Map<string, InboundChannel>()
  private readonly outbound = new Map<string, OutboundChannel>()

  constructor(
    readonly port: MessagePort,
    /** A message that cannot be handled (undecodable batch, unknown channel) fails the worker. */
    private readonly fail: (e: unknown) => void,
  ) {
    port.on('message', (m: PeerMessage) => {
      try {
        this.dispatch(m)
      } catch (e) {
        this.fail(e)
      }
    })
  }

  addInbound(ch: InboundChannel): void {
    this.inbound.set(ch.id, ch)
  }

  addOutbound(ch: OutboundChannel): void {
    this.outbound.set(ch.id, ch)
  }

  post(message: PeerMessage, transfer?: ArrayBuffer[]): void {
    this.port.postMessage(message, transfer)
  }

  private dispatch(m: PeerMessage): void {
    if ('credit' in m) {
      this.outbound.get(m.c)?.returnCredit(m.credit)
      return
    }
    const ch = this.inbound.get(m.c)
    if (!ch) throw new Error(`a message arrived for channel ${m.c}, which this worker does not consume`)
    ch.receive(m)
  }
}

/** Producer side: encodes and sends; `queuedRecords` counts records outstanding at the consumer. */
export class OutboundChannel extends Channel {
  constructor(
    capacity: number,
    inputIndex: number,
    readonly id: string,
    private readonly link: PeerLink,
    /** The snapshot modes of a checkpoint (travel with its barrier). */
    private readonly modesOf: (checkpointId: number) => SnapshotModes | undefined,
    private readonly wake: () => void,
  ) {
    super(capacity, inputIndex)
    link.addOutbound(this)
  }

  override push(entry: ChannelEntry): void {
    if (entry instanceof RecordBatch) {
      const b = encodeBatch(entry, this.id)
      this.queuedRecords += entry.length
      if (this.queuedRecords > this.peakQueuedRecords) this.peakQueuedRecords = this.queuedRecords
      this.link.post({ c: this.id, b }, [b])
    } else if (entry.kind === 'barrier') {
      this.link.post({ c: this.id, e: entry, modes: this.modesOf(entry.checkpointId) })
    } else {
      this.link.post({ c: this.id, e: entry })
    }
  }

  override isEmpty(): boolean {
    return true
  }

  override poll(): ChannelEntry | undefined {
    return undefined
  }

  returnCredit(records: number): void {
    const wasFull = !this.hasCapacity()
    this.queuedRecords -= records
    if (wasFull && this.hasCapacity()) this.wake()
  }
}

/** Consumer side: a local queue filled from the port; polling a batch returns its credit. */
export class InboundChannel extends Channel {
  constructor(
    capacity: number,
    inputIndex: number,
    readonly id: string,
    private readonly link: PeerLink,
    /** Called with a barrier's snapshot modes before the barrier is queued. */
    private readonly onBarrierModes: (checkpointId: number, modes: SnapshotModes) => void,
    private readonly wake: () => void,
  ) {
    super(capacity, inputIndex)
    link.addInbound(this)
  }

  receive(m: PeerMessage): void {
    if ('b' in m) this.push(decodeBatch(m.b))
    else if ('e' in m) {
      if (m.modes !== undefined && m.e.kind === 'barrier') this.onBarrierModes(m.e.checkpointId, m.modes)
      this.push(m.e)
    }
    this.wake()
  }

  override poll(): ChannelEntry | undefined {
    const entry = super.poll()
    if (entry instanceof RecordBatch && entry.length > 0) this.link.post({ c: this.id, credit: entry.length })
    return entry
  }
}
