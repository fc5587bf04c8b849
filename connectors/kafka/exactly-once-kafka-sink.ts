/**
 * KafkaSink, exactly-once (DESIGN.md §5). kafkajs cannot resume a prepared transaction after a
 * restart, so an epoch's output is not sent to Kafka before its checkpoint completes:
 *
 *  - write: records are serialized (with the key, partition and headers chosen for them) into one
 *    buffer (sink-buffer.ts; kept as values only while the serializer cannot serialize synchronously);
 *  - prepare (barrier n): the buffer becomes the committable `KafkaEpoch` {subtask, epoch n, token,
 *    batch}; it is stored in checkpoint n as pending sink state (one buffer: cheap to checkpoint);
 *  - commit (checkpoint n complete): the epoch's records are published in ONE Kafka transaction
 *    together with a control record `<prefix>/<subtask>/<n>` → token in the compacted control
 *    topic, so the records and "epoch n is published" become visible atomically;
 *  - recovery: the committables of the restored checkpoint are committed again; the committer reads
 *    the control topic (read_committed) and republishes only the epochs whose control record is
 *    missing. Epochs prepared and never attempted by this process need no look-up.
 *
 * Each subtask's transactions use the stable transactionalId `<prefix>-<subtask>`: initialising it
 * after a restart fences a zombie producer of the previous run and finishes its open transaction,
 * before the control topic is read. Consumers of the output must read with read_committed.
 *
 * A commit that fails with a Kafka error is retried with backoff (each retry re-reads the control
 * topic: the failed commit may have succeeded) until `commitTimeoutMs`; then it fails the job with a
 * retriable FLX_SINK_FAILED and the restart strategy takes over. A fenced producer (another
 * producer with the same transactionalId, i.e. the same sink running twice) fails with
 * FLX_KAFKA_PRODUCER_FENCED and is not retried.
 */
import { randomUUID } from 'node:crypto'
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs'
import { FluxionError } from '../../engine/errors.ts'
import type { Committer, PrecommittingSinkWriter, SinkJobContext, SinkWriterContext, TwoPhaseCommitSink } from '../../operators/sink.ts'
import type { KafkaSinkOptions } from './kafka-sink.ts'
import { bounded, controlKey, disconnectQuietly, ensureControlTopic, readCommittedEpochs } from './sink-control-topic.ts'
import { batchSize, messageChunks, SerializeFailure, SinkBuffer, type PendingBatch, type PendingKafkaRecord } from './sink-buffer.ts'

/** The committable of the exactly-once sink: one subtask's output of one checkpoint epoch. */
export interface KafkaEpoch {
  subtask: number
  /** The checkpoint id (FINAL_CHECKPOINT_ID for the output after the last checkpoint). */
  epoch: number
  /** Identifies this preparation of the epoch; the control record carries it. */
  token: string
  batch: PendingBatch
  /** The format of checkpoints taken before `batch` existed: records kept as values. */
  records?: PendingKafkaRecord[]
}

/** The records of an epoch, also from a checkpoint written before `batch` existed. */
function batchOf(c: KafkaEpoch): PendingBatch {
  return c.batch ?? { values: c.records ?? [] }
}

const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED'])

/** Kafka error types in the chain of causes (kafkajs wraps retried errors). */
function kafkaErrorTypes(e: unknown): string[] {
  const types: string[] = []
  for (let c: unknown = e, depth = 0; c && depth < 8; depth++) {
    const err = c as { type?: unknown; code?: unknown; cause?: unknown; originalError?: unknown }
    if (typeof err.type === 'string') types.push(err.type)
    if (err.code === 90) types.push('PRODUCER_FENCED')
    c = err.originalError ?? err.cause
  }
  return types
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class ExactlyOnceKafkaSink<T> implements TwoPhaseCommitSink<T, KafkaEpoch> {
  readonly twoPhaseCommit = true
  readonly name: string
  private readonly kafka: Kafka
  private readonly prefix: string
  private readonly controlTopic: string
  private readonly chunkRecords: number
  private readonly chunkBytes: number
  private readonly commitTimeoutMs: number
  /** Tokens prepared by this instance and never sent: certainly not in Kafka, no look-up needed. */
  private readonly fresh = new Set<string>()
  /** Tokens prepared by this instance's writers and not yet committed, by subtask. */
  private readonly outstanding = new Map<number, Set<string>>()
  /** Open writers by subtask: their producer stays connected. */
  private readonly liveWriters = new Map<number, number>()
  private readonly producers = new Map<number, Promise<Producer>>()
  private controlReady: Promise<void> | undefined
  /** Commits and producer releases run one at a time. */
  private queue: Promise<unknown> = Promise.resolve()

  constructor(private readonly opts: KafkaSinkOptions<T>) {
    const prefix = opts.transactionalIdPrefix
    if (typeof prefix !== 'string' || !/^[A-Za-z0-9._-]{1,200}$/.test(prefix)) {
      throw new FluxionError(
        'FLX_INVALID_CONFIG',
        `KafkaSink(${opts.topic}): deliveryGuarantee 'exactly-once' needs transactionalIdPrefix: a name of letters, digits, '.', '_', '-' (at most 200), unique per job and sink and stable across restarts; got ${JSON.stringify(prefix)}`,
      )
    }
    this.prefix = prefix
    this.controlTopic = opts.controlTopic ?? `fluxion-sink-control.${prefix}`
    this.chunkRecords = opts.batchSize ?? 500
    this.chunkBytes = opts.maxChunkBytes ?? 512 * 1024
    this.commitTimeoutMs = opts.commitTimeoutMs ?? 60_000
    for (const [name, v] of [['batchSize', this.chunkRecords], ['maxChunkBytes', this.chunkBytes], ['commitTimeoutMs', this.commitTimeoutMs]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new FluxionError('FLX_INVALID_CONFIG', `KafkaSink(${opts.topic}): ${name} must be an integer >= 1, got ${String(v)}`)
    }
    this.name = `kafka-sink(${opts.topic}, exactly-once)`
    this.kafka = new Kafka({ clientId: opts.clientId ?? 'fluxion-kafka-sink', brokers: opts.brokers, logLevel: logLevel.NOTHING })
  }

  checkJob(job: SinkJobContext): void {
    if (!job.checkpointing) {
      throw new FluxionError(
        'FLX_INVALID_CONFIG',
        `KafkaSink(${this.opts.topic}): deliveryGuarantee 'exactly-once' publishes when checkpoints complete, so it needs checkpointing: set checkpoint: { intervalMs, dir } in StreamExecutionEnvironment.create(), or use deliveryGuarantee 'at-least-once'`,
      )
    }
  }

  createWriter(ctx: SinkWriterContext): PrecommittingSinkWriter<T, KafkaEpoch> {
    const opts = this.opts
    const subtask = ctx.subtaskIndex
    this.liveWriters.set(subtask, (this.liveWriters.get(subtask) ?? 0) + 1)
    // Fence a zombie of the previous run now: its open transaction blocks read_committed readers.
    void this.producer(subtask).catch(() => {})
    const buffer = new SinkBuffer(opts)
    let closed = false
    return {
      write(value) {
        buffer.write(value)
      },
      prepareCommit: (epoch) => {
        const batch = buffer.take()
        if (!batch) return []
        const c: KafkaEpoch = { subtask, epoch, token: randomUUID(), batch }
        this.fresh.add(c.token)
        let tokens = this.outstanding.get(subtask)
        if (!tokens) this.outstanding.set(subtask, (tokens = new Set()))
        tokens.add(c.token)
        return [c]
      },
      close: () => {
        if (closed) return
        closed = true
        this.liveWriters.set(subtask, (this.liveWriters.get(subtask) ?? 1) - 1)
        // Release the producer once nothing of this subtask waits for a commit: at once, or after the
        // final commit. A job that fails for good leaves commits pending: release it after a grace time.
        void this.enqueue(() => this.releaseIdle([subtask]))
        const timer = setTimeout(() => void this.enqueue(() => this.releaseIdle([subtask], true)), 10_000)
        timer.unref()
      },
    }
  }

  createCommitter(): Committer<KafkaEpoch> {
    return {
      commit: (committables) => this.enqueue(() => this.commitWithRetries(committables)),
      // Before a (re)start, once the restored checkpoint's epochs are committed: the epochs earlier
      // attempts prepared beyond them are never committed. Forgetting them lets the producers go when
      // the job ends (else a finished job waited for the grace time of close() to release them).
      abortUncommitted: () =>
        this.enqueue(async () => {
          this.outstanding.clear()
          this.fresh.clear()
        }),
    }
  }

  private enqueue<R>(work: () => Promise<R>): Promise<R> {
    const run = this.queue.then(work, work)
    this.queue = run.catch(() => {})
    return run
  }

  private transactionalId(subtask: number): string {
    return `${this.prefix}-${subtask}`
  }

  /** The subtask's transactional producer, connected and initialised (which fences older ones). */
  private producer(subtask: number): Promise<Producer> {
    let p = this.producers.get(subtask)
    if (!p) {
      p = (async () => {
        const producer = this.kafka.producer({
          transactionalId: this.transactionalId(subtask),
          idempotent: true,
          maxInFlightRequests: 1,
          transactionTimeout: this.opts.transactionTimeoutMs ?? 60_000,
          createPartitioner: Partitioners.DefaultPartitioner,
          // A failed send aborts the whole transaction, so bounded retries cannot duplicate.
          retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 3_000 },
        })
        try {
          await producer.connect()
          const init = await producer.transaction() // InitProducerId: bumps the epoch of this transactionalId
          await init.abort() // nothing was sent: no request
          return producer
        } catch (e) {
          await disconnectQuietly(producer)
          throw e
        }
      })()
      this.producers.set(subtask, p)
      p.catch(() => {
        if (this.producers.get(subtask) === p) this.producers.delete(subtask)
      })
    }
    return p
  }

  private async dropProducer(subtask: number): Promise<void> {
    const p = this.producers.get(subtask)
    if (!p) return
    this.producers.delete(subtask)
    // A producer still connecting is disconnected once connected (in the background if that is slow).
    const closing = p.then((producer) => disconnectQuietly(producer), () => {})
    await bounded(closing, 5_000, 'closing the producer').catch(() => {})
  }

  /** Disconnects producers of subtasks without open writers and without commits to wait for. */
  private async releaseIdle(subtasks: Iterable<number>, evenIfPending = false): Promise<void> {
    for (const s of subtasks) {
      if ((this.liveWriters.get(s) ?? 0) > 0) continue
      if (!evenIfPending && (this.outstanding.get(s)?.size ?? 0) > 0) continue
      await this.dropProducer(s)
    }
  }

  private async commitWithRetries(committables: readonly KafkaEpoch[]): Promise<void> {
    if (committables.length === 0) return
    const subtasks = new Set(committables.map((c) => c.subtask))
    const deadline = Date.now() + this.commitTimeoutMs
    let delay = 200
    for (let attempt = 1; ; attempt++) {
      try {
        // An attempt that hangs (kafkajs, broker restarting) counts as failed; should it still finish
        // later, its transaction is fenced by the producers of the next attempt.
        const budget = Math.max(Math.min(deadline - Date.now(), Math.max(20_000, this.commitTimeoutMs / 3)), 5_000)
        await bounded(this.tryCommit(committables), budget, 'a commit attempt')
        break
      } catch (e) {
        if (e instanceof FluxionError) throw e
        if (e instanceof SerializeFailure) {
          throw new FluxionError('FLX_SINK_FAILED', `KafkaSink(${this.opts.topic}): a record could not be serialized: ${e.message}`, { cause: e.cause })
        }
        if (kafkaErrorTypes(e).some((t) => FENCED.has(t))) {
          for (const s of subtasks) await this.dropProducer(s)
          throw new FluxionError(
            'FLX_KAFKA_PRODUCER_FENCED',
            `KafkaSink(${this.opts.topic}): the producer with transactionalId "${this.transactionalId(committables[0].subtask)}" was fenced: another producer with the same id started (the same job or transactionalIdPrefix "${this.prefix}" running twice?). ${messageOf(e)}`,
            { cause: e },
          )
        }
        // The outcome of the failed attempt is unknown: start over with new producers; the next
        // attempt reads the control topic to find what was committed.
        for (const s of subtasks) await this.dropProducer(s)
        if (Date.now() + delay > deadline) {
          throw new FluxionError('FLX_SINK_FAILED', `KafkaSink(${this.opts.topic}): commit failed after ${attempt} attempts in ${this.commitTimeoutMs} ms: ${messageOf(e)}`, {
            cause: e,
            retriable: true,
          })
        }
        await sleep(delay)
        delay = Math.min(delay * 2, 5_000)
      }
    }
    for (const c of committables) this.outstanding.get(c.subtask)?.delete(c.token)
    await this.releaseIdle(subtasks)
  }

  /** One attempt: publishes each epoch not yet in Kafka, one transaction per subtask. */
  private async tryCommit(committables: readonly KafkaEpoch[]): Promise<void> {
    const uncertain = committables.some((c) => !this.fresh.has(c.token))
    // From here on a failure leaves their state unknown.
    for (const c of committables) this.fresh.delete(c.token)
    const bySubtask = new Map<number, KafkaEpoch[]>()
    for (const c of committables) {
      const list = bySubtask.get(c.subtask) ?? []
      list.push(c)
      bySubtask.set(c.subtask, list)
    }
    this.controlReady ??= ensureControlTopic(this.kafka, this.controlTopic, this.opts.controlTopicRetentionMs).catch((e: unknown) => {
      this.controlReady = undefined
      throw e
    })
    await this.controlReady
    // Initialise every producer first: this ends the transactions of zombies with these ids.
    const producers = new Map<number, Producer>()
    for (const s of bySubtask.keys()) producers.set(s, await this.producer(s))
    let committed = new Map<string, string>()
    if (uncertain) {
      committed = await readCommittedEpochs(this.kafka, this.controlTopic, this.prefix, producers.values().next().value!, Math.min(this.commitTimeoutMs, 20_000))
    }
    for (const [subtask, epochs] of bySubtask) {
      epochs.sort((a, b) => a.epoch - b.epoch)
      const todo = epochs.filter((c) => committed.get(controlKey(this.prefix, subtask, c.epoch)) !== c.token)
      if (todo.length > 0) await this.publish(producers.get(subtask)!, todo)
    }
  }

  /** One transaction: the epochs' records in chunks, then their control records. */
  private async publish(producer: Producer, epochs: readonly KafkaEpoch[]): Promise<void> {
    const { topic, serializer } = this.opts
    const txn = await producer.transaction()
    try {
      for (const c of epochs) {
        for await (const messages of messageChunks(batchOf(c), serializer, topic, this.chunkRecords, this.chunkBytes)) {
          await txn.send({ topic, messages, acks: -1 })
        }
      }
      await txn.send({
        topic: this.controlTopic,
        messages: epochs.map((c) => ({ key: controlKey(this.prefix, c.subtask, c.epoch), value: JSON.stringify({ token: c.token, records: batchSize(batchOf(c)) }) })),
        acks: -1,
      })
      await txn.commit()
    } catch (e) {
      await txn.abort().catch(() => {})
      throw e
    }
  }
}
