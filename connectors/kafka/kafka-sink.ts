/**
 * KafkaSink. `deliveryGuarantee: 'exactly-once'` (checkpointing required) publishes each checkpoint
 * epoch in one Kafka transaction when the checkpoint completes: see exactly-once-kafka-sink.ts.
 *
 * The default, at-least-once: records are serialized at write time into a batch per subtask
 * (sink-buffer.ts) and sent by an idempotent producer in the background (one send in flight, in
 * order): a batch goes when it holds `batchSize` records or `maxChunkBytes` bytes, or `lingerMs`
 * after its first record, whichever comes first. The writer contract is synchronous, so the sink
 * uses the two-phase-commit hooks only to wait: `prepareCommit` (at a checkpoint barrier, and at
 * the end of input) starts sending what is buffered and returns a handle; the committer awaits all
 * sends of that handle and fails the job if one failed. The job therefore does not finish before
 * every record is acknowledged by the broker.
 *
 * Limitation: a send failure is reported when the checkpoint completes (not before it), so a
 * failure right then can lose that checkpoint's records; exactly-once (DESIGN.md §5) is not done.
 */
import { randomUUID } from 'node:crypto'
import { Kafka, logLevel, Partitioners, type IHeaders, type Producer } from 'kafkajs'
import { FluxionError } from '../../engine/errors.ts'
import type { Committer, PrecommittingSinkWriter, SinkJobContext, SinkWriterContext, TwoPhaseCommitSink } from '../../operators/sink.ts'
import type { KafkaSerializer } from './avro-serde.ts'
import { ExactlyOnceKafkaSink, type KafkaEpoch } from './exactly-once-kafka-sink.ts'
import { disconnectQuietly } from './sink-control-topic.ts'
import { messageChunks, SinkBuffer, type PendingBatch } from './sink-buffer.ts'

export type DeliveryGuarantee = 'at-least-once' | 'exactly-once'

export interface KafkaSinkOptions<T> {
  brokers: string[]
  topic: string
  serializer: KafkaSerializer<T>
  key?: (value: T) => string | Buffer | null
  /** Explicit partition; default: the key's hash (kafkajs default partitioner). */
  partition?: (value: T) => number
  headers?: (value: T) => IHeaders
  /** Records per send (for exactly-once: per send within the transaction). Default 500. */
  batchSize?: number
  clientId?: string
  /**
   * 'at-least-once' (default): sent in the background, acknowledged before a checkpoint completes.
   * 'exactly-once': published in a Kafka transaction when the checkpoint completes; needs
   * checkpointing, `transactionalIdPrefix`, and consumers that read with read_committed.
   */
  deliveryGuarantee?: DeliveryGuarantee
  /** Exactly-once: prefix of the transactionalIds (`<prefix>-<subtask>`); unique per job and sink, stable across restarts. */
  transactionalIdPrefix?: string
  /** Exactly-once: the compacted topic that records which epochs are published (created if missing). Default `fluxion-sink-control.<prefix>`. */
  controlTopic?: string
  /**
   * Exactly-once: how long the control topic keeps the record of a published epoch (used when it
   * creates the topic). Restoring a checkpoint or savepoint whose epochs were published longer ago
   * publishes them again. Default 24 h.
   */
  controlTopicRetentionMs?: number
  /** Exactly-once: how long one commit may retry retriable Kafka errors before the job fails (and restarts). Default 60 000 ms. */
  commitTimeoutMs?: number
  /** Exactly-once: Kafka transaction timeout. Default 60 000 ms. */
  transactionTimeoutMs?: number
  /** Bytes of keys and values per send (a send also ends at `batchSize` records). Default 512 KiB. */
  maxChunkBytes?: number
  /** At-least-once: how long a batch that is not full waits for more records before it is sent. Default 10 ms. */
  lingerMs?: number
}

/** What the committer waits for: the sends of one writer up to a checkpoint. */
export interface KafkaSendHandle {
  writer: string
}

interface WriterSends {
  /** Chain of sends, in order; rejects with the first failure. */
  tail: Promise<void>
  error: unknown
}

/** A KafkaSink with the chosen delivery guarantee (same options and API for both). */
export class KafkaSink<T> implements TwoPhaseCommitSink<T, KafkaSendHandle | KafkaEpoch> {
  readonly name: string
  readonly twoPhaseCommit = true
  private readonly impl: TwoPhaseCommitSink<T, KafkaSendHandle> | ExactlyOnceKafkaSink<T>

  constructor(opts: KafkaSinkOptions<T>) {
    if (!opts.topic) throw new FluxionError('FLX_INVALID_CONFIG', 'KafkaSink: give a topic')
    if (opts.brokers.length === 0) throw new FluxionError('FLX_INVALID_CONFIG', 'KafkaSink: give at least one broker')
    for (const [name, v, min] of [['batchSize', opts.batchSize, 1], ['maxChunkBytes', opts.maxChunkBytes, 1], ['lingerMs', opts.lingerMs, 0], ['controlTopicRetentionMs', opts.controlTopicRetentionMs, 60_000]] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v < min)) throw new FluxionError('FLX_INVALID_CONFIG', `KafkaSink(${opts.topic}): ${name} must be an integer >= ${min}, got ${String(v)}`)
    }
    const guarantee = opts.deliveryGuarantee ?? 'at-least-once'
    if (guarantee === 'exactly-once') this.impl = new ExactlyOnceKafkaSink(opts)
    else if (guarantee === 'at-least-once') this.impl = new AtLeastOnceKafkaSink(opts)
    else throw new FluxionError('FLX_INVALID_CONFIG', `KafkaSink(${opts.topic}): deliveryGuarantee must be 'at-least-once' or 'exactly-once', got ${JSON.stringify(guarantee)}`)
    this.name = this.impl.name
  }

  checkJob(job: SinkJobContext): void {
    this.impl.checkJob?.(job)
  }

  createWriter(ctx: SinkWriterContext): PrecommittingSinkWriter<T, KafkaSendHandle | KafkaEpoch> {
    return this.impl.createWriter(ctx)
  }

  createCommitter(): Committer<KafkaSendHandle | KafkaEpoch> {
    return this.impl.createCommitter() as Committer<KafkaSendHandle | KafkaEpoch>
  }
}

class AtLeastOnceKafkaSink<T> implements TwoPhaseCommitSink<T, KafkaSendHandle> {
  readonly name: string
  readonly twoPhaseCommit = true
  private readonly instance = randomUUID()
  private nextWriter = 0
  /** Outstanding sends per writer of this sink (in-process). */
  private readonly sends = new Map<string, WriterSends>()
  private readonly kafka: Kafka

  constructor(private readonly opts: KafkaSinkOptions<T>) {
    this.name = `kafka-sink(${opts.topic})`
    this.kafka = new Kafka({ clientId: opts.clientId ?? 'fluxion-kafka-sink', brokers: opts.brokers, logLevel: logLevel.NOTHING })
  }

  createWriter(_ctx: SinkWriterContext): PrecommittingSinkWriter<T, KafkaSendHandle> {
    const writerId = `${this.instance}.${this.nextWriter++}`
    const opts = this.opts
    const batchSize = opts.batchSize ?? 500
    const maxBytes = opts.maxChunkBytes ?? 512 * 1024
    const lingerMs = opts.lingerMs ?? 10
    const state: WriterSends = { tail: Promise.resolve(), error: undefined }
    this.sends.set(writerId, state)
    let producer: Producer | undefined
    let connected: Promise<void> | undefined
    const buffer = new SinkBuffer(opts)
    let linger: NodeJS.Timeout | undefined

    const send = (batch: PendingBatch) => {
      state.tail = state.tail.then(async () => {
        if (!producer) {
          producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
          connected = producer.connect()
        }
        await connected
        for await (const messages of messageChunks(batch, opts.serializer, opts.topic, batchSize, maxBytes)) {
          await producer.send({ topic: opts.topic, messages, acks: -1 })
        }
      })
      state.tail.catch((e: unknown) => (state.error ??= e))
    }
    const flush = () => {
      if (linger) clearTimeout(linger)
      linger = undefined
      const batch = buffer.take()
      if (batch) send(batch)
    }

    return {
      write(value) {
        if (state.error) throw state.error
        buffer.write(value)
        if (buffer.count >= batchSize || buffer.byteLength >= maxBytes) flush()
        else if (!linger) linger = setTimeout(flush, lingerMs)
      },
      flush,
      prepareCommit() {
        flush()
        return [{ writer: writerId }]
      },
      close: () => {
        flush()
        // The producer as it is once the sends end (the last flush may be the one that creates it).
        void state.tail.catch(() => {}).finally(() => producer && disconnectQuietly(producer))
        // A later writer of this instance would create its own entry; keep this one until committed.
      },
    }
  }

  createCommitter(): Committer<KafkaSendHandle> {
    return {
      commit: async (handles) => {
        for (const h of handles) {
          const s = this.sends.get(h.writer)
          if (!s) continue // from another execution: its records were sent (at-least-once)
          try {
            await s.tail
          } catch (e) {
            throw new FluxionError('FLX_SINK_FAILED', `Kafka sink (${this.opts.topic}) failed to send: ${e instanceof Error ? e.message : String(e)}`, { cause: e, retriable: true })
          }
        }
      },
    }
  }
}
