/**
 * KafkaSink, at-least-once: records are batched per subtask and sent by an idempotent producer in
 * the background (one send in flight, in order). The writer contract is synchronous, so the sink
 * uses the two-phase-commit hooks only to wait: `prepareCommit` (at a checkpoint barrier, and at
 * the end of input) starts sending what is buffered and returns a handle; the committer awaits all
 * sends of that handle and fails the job if one failed. The job therefore does not finish before
 * every record is acknowledged by the broker.
 *
 * Limitation: a send failure is reported when the checkpoint completes (not before it), so a
 * failure right then can lose that checkpoint's records; exactly-once (DESIGN.md §5) is not done.
 */
import { randomUUID } from 'node:crypto'
import { Kafka, logLevel, Partitioners, type IHeaders, type Message, type Producer } from 'kafkajs'
import { FluxionError } from '../../engine/errors.ts'
import type { Committer, PrecommittingSinkWriter, SinkWriterContext, TwoPhaseCommitSink } from '../../operators/sink.ts'
import type { KafkaSerializer } from './avro-serde.ts'

export interface KafkaSinkOptions<T> {
  brokers: string[]
  topic: string
  serializer: KafkaSerializer<T>
  key?: (value: T) => string | Buffer | null
  /** Explicit partition; default: the key's hash (kafkajs default partitioner). */
  partition?: (value: T) => number
  headers?: (value: T) => IHeaders
  /** Records per send. Default 500. */
  batchSize?: number
  clientId?: string
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

export class KafkaSink<T> implements TwoPhaseCommitSink<T, KafkaSendHandle> {
  readonly name: string
  readonly twoPhaseCommit = true
  private readonly instance = randomUUID()
  private nextWriter = 0
  /** Outstanding sends per writer of this sink (in-process). */
  private readonly sends = new Map<string, WriterSends>()
  private readonly kafka: Kafka

  constructor(private readonly opts: KafkaSinkOptions<T>) {
    if (!opts.topic) throw new FluxionError('FLX_INVALID_CONFIG', 'KafkaSink: give a topic')
    if (opts.brokers.length === 0) throw new FluxionError('FLX_INVALID_CONFIG', 'KafkaSink: give at least one broker')
    this.name = `kafka-sink(${opts.topic})`
    this.kafka = new Kafka({ clientId: opts.clientId ?? 'fluxion-kafka-sink', brokers: opts.brokers, logLevel: logLevel.NOTHING })
  }

  createWriter(_ctx: SinkWriterContext): PrecommittingSinkWriter<T, KafkaSendHandle> {
    const writerId = `${this.instance}.${this.nextWriter++}`
    const opts = this.opts
    const batchSize = opts.batchSize ?? 500
    const state: WriterSends = { tail: Promise.resolve(), error: undefined }
    this.sends.set(writerId, state)
    let producer: Producer | undefined
    let connected: Promise<void> | undefined
    let batch: T[] = []

    const send = (records: T[]) => {
      state.tail = state.tail.then(async () => {
        if (!producer) {
          producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
          connected = producer.connect()
        }
        await connected
        const messages: Message[] = await Promise.all(
          records.map(async (v) => {
            const m: Message = { value: await opts.serializer.serialize(v, opts.topic) }
            if (opts.key) m.key = opts.key(v)
            if (opts.partition) m.partition = opts.partition(v)
            if (opts.headers) m.headers = opts.headers(v)
            return m
          }),
        )
        await producer.send({ topic: opts.topic, messages, acks: -1 })
      })
      state.tail.catch((e: unknown) => (state.error ??= e))
    }
    const flush = () => {
      if (batch.length === 0) return
      const records = batch
      batch = []
      send(records)
    }

    return {
      write(value) {
        if (state.error) throw state.error
        batch.push(value)
        if (batch.length >= batchSize) flush()
      },
      flush,
      prepareCommit() {
        flush()
        return [{ writer: writerId }]
      },
      close: () => {
        flush()
        const p = producer
        void state.tail.catch(() => {}).finally(() => p?.disconnect().catch(() => {}))
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
