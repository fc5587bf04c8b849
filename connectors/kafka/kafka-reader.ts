/**
 * The reader of one KafkaSource subtask (see kafka-source.ts for the contract).
 *
 * kafkajs has no manual assign() (tulios/kafkajs#373), so the reader's consumer is the only member
 * of a job-private group whose custom assigner hands it exactly this subtask's partitions, then
 * seeks them. When discovery adds partitions, the reader replaces its consumer (a new private
 * group) and seeks every partition to where fetching stopped.
 *
 * Fetching never blocks the task: kafkajs' eachBatch decodes records into one queue per partition
 * (and waits, heart-beating, while the reader holds `bufferSize` records and the partition at least
 * its share of them); pollNext drains the queues round-robin. kafkajs hands over a fetch response
 * partition by partition, a whole partition's backlog at once, so draining in arrival order would
 * emit one partition to its end before the next: the per-partition watermark (a minimum) would be
 * held back until the input ends. Batches of different partitions are handled concurrently, so a
 * partition that waits for room does not keep the others' records out. Decoding is synchronous per
 * record; only a deserializer that returns a promise (a schema id seen for the first time) is awaited.
 *
 * Every kafkajs client the reader makes (admin, consumers, discovery admins, the offset committer)
 * is disconnected by close(), also one still connecting when close() is called: close() waits for
 * start-up and discovery to stop (at their next step) and disconnects what they made.
 */
import { randomUUID } from 'node:crypto'
import { AssignerProtocol, Kafka, logLevel, type Admin, type Consumer, type EachBatchPayload, type KafkaMessage, type PartitionAssigner } from 'kafkajs'
import { FluxionError } from '../../engine/errors.ts'
import { METRIC, type Counter } from '../../engine/metrics.ts'
import type { DeadLetter, InputStatus, ReaderOutput, SourceReader, SourceReaderContext } from '../../engine/source.ts'
import type { DecodeResult } from './avro-serde.ts'
import { isPromise, TOMBSTONE, type KafkaHeaders } from './kafka-record.ts'
import type { KafkaSource, KafkaSplit, UnresolvedSplits } from './kafka-source.ts'
import { OffsetCommitter, type CommitOffset } from './offset-committer.ts'
import { describeTopics, discoverPartitions, parseSplitId, partitionOwner, splitIdOf } from './partition-discovery.ts'
import { bounded, disconnectQuietly } from './sink-control-topic.ts'
import { startOffsets, type StartFrom } from './start-offsets.ts'
import { TrackedSockets } from './tracked-sockets.ts'

interface PartitionState<T> {
  readonly id: string
  readonly topic: string
  readonly partition: number
  /** Next offset to emit (what a snapshot records). */
  next: number
  /** Next offset to fetch: after the last buffered record (>= next). */
  fetched: number
  /** Bounded mode: end offset (exclusive). */
  stop: number | undefined
  released: boolean
  /** The split's output (per-partition watermarks), once created in pollNext. */
  output: ReaderOutput<T> | undefined
  /** Fetched records not emitted yet, from `head` on. */
  queue: (Buffered<T> | undefined)[]
  head: number
  /** Resolves the fetch of this partition waiting for room. */
  drained: (() => void) | undefined
  /** A batch of this partition is being queued: more of its records are on their way. */
  fetching: boolean
  /** Its topic was deleted: not fetched any more; its split ends once its queue is emitted. */
  deleted: boolean
}

interface Buffered<T> {
  offset: number
  message: KafkaMessage
  result: DecodeResult<T>
}

type Restored = KafkaSplit | UnresolvedSplits

/** Consecutive failed discoveries (retriable errors) before the job fails. */
const MAX_DISCOVERY_FAILURES = 5

/** How long close() waits for start-up or a discovery in progress to stop before disconnecting anyway. */
const CLOSE_WAIT_MS = 30_000

/** Thrown into start-up and discovery when the reader was closed under them. */
class ReaderClosed extends Error {}

type KafkaClient = { connect(): Promise<void>; disconnect(): Promise<void> }

export class KafkaReader<T> implements SourceReader<T> {
  private readonly kafka: Kafka
  /** Every connection of `kafka`'s clients, destroyed at close (what kafkajs may leave open). */
  private readonly sockets = new TrackedSockets()
  private readonly admin: Admin
  private consumer: Consumer | undefined
  /** The consumer while it connects, subscribes and runs (see startRun). */
  private consumerStarting: Consumer | undefined
  /** Consumer generation: batches of a replaced consumer are dropped. */
  private generation = 0
  private readonly groupBase: string
  private readonly groups: string[] = []
  /** This subtask's partitions, by split id. */
  private readonly owned = new Map<string, PartitionState<T>>()
  /** The values of `owned`, in the order pollNext visits them. */
  private partitions: PartitionState<T>[] = []
  /** Where pollNext's round-robin starts next. */
  private turn = 0
  /** The partition the last poll stopped for (its queue empty while its batch is being queued). */
  private waitingFor: PartitionState<T> | undefined
  /** Records in the partitions' queues. */
  private buffered = 0
  /** Every kafkajs client made and not yet disconnected. */
  private readonly clients = new Set<KafkaClient>()
  private adminConnected = false
  /** Start-up, then each discovery: what close() waits for. */
  private work: Promise<void> = Promise.resolve()
  /** Every partition seen (in a restored checkpoint or by discovery), whoever owns it. */
  private readonly known = new Set<string>()
  /** Subtasks of the first start that had not resolved their partitions when checkpointed. */
  private readonly unresolved: UnresolvedSplits['unresolved'][] = []
  private started = false
  /** Partitions of deleted topics whose splits have not ended yet (pollNext ends them). */
  private deletedDraining = 0
  /** Partitions whose split outputs pollNext must create. */
  private outputsPending = false
  private readonly capacity: number
  private error: Error | undefined
  private notify: (() => void) | undefined
  private closed = false
  private readonly stopDiscovery = new AbortController()
  private readonly committer: OffsetCommitter | undefined
  private readonly pendingCommits = new Map<number, CommitOffset[]>()
  private commits: Promise<void> = Promise.resolve()
  private readonly counters: { commitsOk?: Counter; commitsFailed?: Counter; discovered?: Counter; deleted?: Counter }
  private readonly topicsText: string
  private readonly decode: (m: KafkaMessage, topic: string, partition: number, offset: number) => DecodeResult<T> | Promise<DecodeResult<T>>

  constructor(
    private readonly source: KafkaSource<T>,
    private readonly ctx: SourceReaderContext,
    private readonly restored: Restored[] | undefined,
  ) {
    const opts = source.options
    this.kafka = new Kafka({ clientId: opts.clientId ?? 'fluxion-kafka-source', brokers: opts.brokers, logLevel: logLevel.NOTHING, socketFactory: this.sockets.factory })
    this.admin = this.kafka.admin()
    this.groupBase = `${opts.groupId ?? 'fluxion'}-${randomUUID()}-s${ctx.subtaskIndex}`
    this.capacity = opts.bufferSize ?? 10_000
    this.topicsText = describeTopics(opts.topics)
    this.decode = decoderOf(source)
    const commit = opts.groupId !== undefined && opts.commitOffsetsOnCheckpoint !== false
    this.committer = commit ? new OffsetCommitter(this.kafka, opts.groupId!) : undefined
    const m = ctx.metrics
    const label = ctx.name ?? source.name
    this.counters = {
      commitsOk: m?.counter(METRIC.kafkaOffsetCommits, 'Offset commits of a Kafka source after checkpoints', { source: label, result: 'ok' }),
      commitsFailed: m?.counter(METRIC.kafkaOffsetCommits, 'Offset commits of a Kafka source after checkpoints', { source: label, result: 'failed' }),
      discovered: m?.counter(METRIC.kafkaPartitionsDiscovered, 'Kafka partitions a source started reading after start-up', { source: label }),
      deleted: m?.counter(METRIC.kafkaPartitionsDeleted, 'Kafka partitions a source stopped reading because their topic was deleted', { source: label }),
    }
    this.work = this.start().catch((e: unknown) => this.fail(e))
  }

  private fail(e: unknown): void {
    if (this.closed || this.error || e instanceof ReaderClosed) return
    this.error =
      e instanceof FluxionError
        ? e
        : new FluxionError('FLX_SOURCE_FAILED', `Kafka source (${this.topicsText}) failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e, retriable: true })
    this.wake()
  }

  private wake(): void {
    const n = this.notify
    this.notify = undefined
    n?.()
  }

  // --- clients ------------------------------------------------------------------------------------

  /**
   * Connects a client the reader made, tracked until released. A client that finishes connecting
   * after close() is disconnected at once (kafkajs completes a connect a disconnect raced with).
   */
  private async connect<C extends KafkaClient>(client: C): Promise<C> {
    if (this.closed) throw new ReaderClosed()
    this.clients.add(client)
    try {
      await client.connect()
    } catch (e) {
      await this.release(client)
      throw e
    }
    if (this.closed) {
      await this.release(client)
      throw new ReaderClosed()
    }
    return client
  }

  /**
   * Disconnects a client (bounded: a disconnect can hang while kafkajs reconnects). After close() it
   * stays tracked: kafkajs reconnects a client that is used again (subscribe, fetching metadata), so
   * close() disconnects every client once more when start-up and discovery have stopped.
   */
  private async release(client: KafkaClient): Promise<void> {
    if (!this.closed) this.clients.delete(client)
    await disconnectQuietly(client)
  }

  /** Throws ReaderClosed when close() was called: start-up and discovery stop at their next step. */
  private checkOpen(): void {
    if (this.closed) throw new ReaderClosed()
  }

  private setOwned(p: PartitionState<T>): void {
    this.owned.set(p.id, p)
    this.partitions = [...this.owned.values()]
  }

  // --- assignment ---------------------------------------------------------------------------------

  private owns(topic: string, partition: number): boolean {
    return partitionOwner(topic, partition, this.ctx.parallelism) === this.ctx.subtaskIndex
  }

  /** Step 1: restored splits (a union of every former subtask's), then the first discovery. */
  private async start(): Promise<void> {
    await this.connect(this.admin)
    this.adminConnected = true
    const from = new Map<string, number>()
    if (this.restored) {
      for (const s of this.restored) {
        if ('unresolved' in s) this.unresolved.push(s.unresolved)
        else {
          const id = splitIdOf(s.topic, s.partition)
          this.known.add(id)
          if (this.owns(s.topic, s.partition)) from.set(id, s.offset)
        }
      }
    } else {
      this.unresolved.push({ subtaskIndex: this.ctx.subtaskIndex, parallelism: this.ctx.parallelism })
    }
    const found = await discoverPartitions(this.admin, this.source.options.topics, this.restored === undefined)
    this.checkOpen()
    const startFrom = this.source.options.startFrom ?? 'earliest'
    await this.addPartitions(found, (topic, partition) =>
      this.unresolved.some((u) => partitionOwner(topic, partition, u.parallelism) === u.subtaskIndex) ? startFrom : 'earliest',
    )
    for (const [id, offset] of from) {
      // A restored split whose topic is gone or no longer selected is not read.
      const { topic, partition } = parseSplitId(id)
      if (found.get(topic)?.includes(partition)) this.setOwned(newPartition(topic, partition, offset))
    }
    if (this.source.bounded) {
      for (const topic of new Set([...this.owned.values()].map((p) => p.topic))) {
        const ends = await this.admin.fetchTopicOffsets(topic)
        this.checkOpen()
        for (const o of ends) {
          const p = this.owned.get(splitIdOf(topic, o.partition))
          if (p) p.stop = Number(o.high)
        }
      }
    }
    this.checkOpen()
    await this.startConsumer()
    this.started = true
    this.outputsPending = true
    this.wake()
    if (this.source.discoveryIntervalMs > 0) this.work = this.discoverLoop()
  }

  /**
   * Marks the partitions of `found` not seen before as known and makes the ones this subtask owns
   * into splits, starting where `startOf` says. Returns how many splits it added.
   */
  private async addPartitions(found: Map<string, number[]>, startOf: (topic: string, partition: number) => StartFrom, admin: Admin = this.admin): Promise<number> {
    const fresh: { topic: string; partition: number; from: StartFrom }[] = []
    for (const [topic, partitions] of found) {
      for (const partition of partitions) {
        if (this.known.has(splitIdOf(topic, partition)) || !this.owns(topic, partition)) continue
        fresh.push({ topic, partition, from: startOf(topic, partition) })
      }
    }
    // Resolve start offsets per topic and start rule; add everything at once, after the awaits.
    const offsets = new Map<string, number>()
    const groups = new Map<string, { topic: string; from: StartFrom; partitions: number[] }>()
    for (const f of fresh) {
      const k = `${f.topic}\u0000${JSON.stringify(f.from)}`
      let g = groups.get(k)
      if (!g) groups.set(k, (g = { topic: f.topic, from: f.from, partitions: [] }))
      g.partitions.push(f.partition)
    }
    for (const g of groups.values()) {
      const start = await startOffsets(admin, g.topic, g.partitions, g.from, this.source.options.groupId)
      this.checkOpen()
      for (const [partition, offset] of start) offsets.set(splitIdOf(g.topic, partition), offset)
    }
    for (const [topic, partitions] of found) for (const partition of partitions) this.known.add(splitIdOf(topic, partition))
    for (const f of fresh) {
      const id = splitIdOf(f.topic, f.partition)
      this.setOwned(newPartition(f.topic, f.partition, offsets.get(id)!))
    }
    return fresh.length
  }

  /** Periodic discovery of new partitions and topics (unbounded sources). */
  private async discoverLoop(): Promise<void> {
    const clock = this.ctx.clock
    const interval = this.source.discoveryIntervalMs
    let failures = 0
    let restartNeeded = false
    while (!this.closed) {
      await clock.sleepUntil(clock.now() + interval, this.stopDiscovery.signal)
      if (this.closed) return
      try {
        const existing = new Set<string>()
        const found = await discoverPartitions(this.admin, this.source.options.topics, false, existing)
        if (this.closed) return
        if (this.markDeleted(existing) > 0) restartNeeded = true
        if ([...found].some(([topic, ps]) => ps.some((p) => !this.known.has(splitIdOf(topic, p)) && this.owns(topic, p)))) {
          // Partitions found after start begin at the earliest offset (Flink's behaviour). A fresh
          // admin client: kafkajs' cached metadata may not list the new partitions yet.
          const fresh = await this.connect(this.kafka.admin())
          const added = await this.addPartitions(found, () => 'earliest', fresh).finally(() => this.release(fresh))
          this.counters.discovered?.inc(added)
          restartNeeded = true
        } else {
          for (const [topic, ps] of found) for (const p of ps) this.known.add(splitIdOf(topic, p))
        }
        if (restartNeeded && !this.closed) {
          this.outputsPending = true
          await this.startConsumer()
          restartNeeded = false
          this.wake()
        }
        failures = 0
      } catch (e) {
        if (this.closed) return
        // A transient error (a new partition without a leader yet, a broker moving) is retried at
        // the next discovery. Persistent failures fail the job.
        if ((e as { retriable?: boolean }).retriable === true && ++failures < MAX_DISCOVERY_FAILURES) continue
        this.fail(e)
        return
      }
    }
  }

  /**
   * Partitions whose topic no longer exists (deleted) stop being fetched; what was fetched before is
   * still emitted, then their splits end (pollNext), so they no longer hold the watermark back. A
   * topic created again under the same name is discovered anew and read from its earliest offset.
   * Returns how many partitions it marked.
   */
  private markDeleted(existing: Set<string>): number {
    let marked = 0
    for (const p of this.owned.values()) {
      if (p.deleted || existing.has(p.topic)) continue
      p.deleted = true
      marked++
    }
    if (marked > 0) {
      this.deletedDraining += marked
      this.counters.deleted?.inc(marked)
      this.wake()
    }
    return marked
  }

  // --- fetching -----------------------------------------------------------------------------------

  /** (Re)starts the consumer for every partition still to read, each from where fetching stopped. */
  private async startConsumer(): Promise<void> {
    const gen = ++this.generation
    const old = this.consumer
    this.consumer = undefined
    if (old) await this.release(old)
    const toRead = [...this.owned.values()].filter((p) => !p.deleted && (p.stop === undefined || p.fetched < p.stop))
    if (toRead.length === 0 || this.closed) return
    const assignment: Record<string, number[]> = {}
    for (const p of toRead) (assignment[p.topic] ??= []).push(p.partition)
    const groupId = `${this.groupBase}-g${gen}`
    this.groups.push(groupId)
    const current = () => !this.closed && gen === this.generation
    const consumer = this.kafka.consumer({
      groupId,
      partitionAssigners: [splitAssigner(assignment)],
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 1000,
      // kafkajs restarts a crashed consumer on a timer it sets after its own disconnect: a consumer
      // of a closed reader (or a replaced one) must not come back.
      retry: { retries: 5, restartOnFailure: async () => current() },
    })
    this.consumer = consumer
    let joins = 0
    consumer.on(consumer.events.GROUP_JOIN, () => {
      // After kafkajs rejoins on its own (a crash it restarted from), fetch from our positions again.
      if (joins++ > 0 && gen === this.generation) for (const p of toRead) consumer.seek({ topic: p.topic, partition: p.partition, offset: String(p.fetched) })
    })
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) {
        if (current()) this.fail(e.payload.error)
      } else if (!current()) {
        // Closed between restartOnFailure and now: the restart timer is set right after this event.
        setImmediate(() => void disconnectQuietly(consumer))
      }
    })
    this.consumerStarting = consumer
    try {
      await this.startRun(consumer, assignment, toRead.length, gen)
    } finally {
      this.consumerStarting = undefined
    }
    try {
      for (const p of toRead) consumer.seek({ topic: p.topic, partition: p.partition, offset: String(p.fetched) })
    } catch (e) {
      // The consumer crashed between joining its group and here (a broker that has just started
      // may answer "coordinator loading"): kafkajs dropped the group and restarts the consumer on a
      // timer; the GROUP_JOIN handler above seeks to these positions once it has joined again.
      if (!isGroupNotInitialized(e)) throw e
    }
    this.checkOpen()
  }

  /**
   * Connects, subscribes and runs the consumer. close() does not disconnect a consumer in here (a
   * kafkajs runner stopped while it joins its group may fetch on, reconnecting): it waits for this
   * to return, then disconnects.
   */
  private async startRun(consumer: Consumer, assignment: Record<string, number[]>, partitions: number, gen: number): Promise<void> {
    await this.connect(consumer)
    await consumer.subscribe({ topics: Object.keys(assignment), fromBeginning: true })
    // run() connects again if close() disconnected the consumer meanwhile: check first.
    this.checkOpen()
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // One worker per partition: a partition waiting for room in its queue must not hold back the others.
      partitionsConsumedConcurrently: partitions,
      eachBatch: (payload) => this.onBatch(payload, gen),
    })
  }

  private async onBatch(payload: EachBatchPayload, gen: number): Promise<void> {
    const p = this.owned.get(splitIdOf(payload.batch.topic, payload.batch.partition))
    if (!p) return
    p.fetching = true
    try {
      await this.queueBatch(p, payload, gen)
    } finally {
      p.fetching = false
      // A poll that waited for this partition's records goes on without them.
      if (this.notify) this.wake()
    }
  }

  /**
   * Decodes the records of a batch into the partition's queue, waiting while the reader is full.
   * Offsets are resolved (kafkajs: where the next fetch starts) up to the last queued record before
   * every wait and when the batch ends, not per record: kafkajs parses each resolved offset as a Long.
   */
  private async queueBatch(p: PartitionState<T>, { batch, resolveOffset, heartbeat, isRunning, isStale, pause }: EachBatchPayload, gen: number): Promise<void> {
    const { topic, partition, messages } = batch
    let unresolved: string | undefined
    const resolve = () => {
      if (unresolved === undefined) return
      resolveOffset(unresolved)
      unresolved = undefined
    }
    try {
      for (let i = 0; i < messages.length; i++) {
        if (gen !== this.generation || this.closed || this.error || !isRunning() || isStale()) return
        const m = messages[i]
        const offset = Number(m.offset)
        if (offset < p.fetched) {
          unresolved = m.offset // fetched again (a rejoin): already buffered
          continue
        }
        if (p.stop !== undefined && offset >= p.stop) {
          pause()
          break
        }
        if (this.mustWait(p)) {
          resolve()
          while (this.mustWait(p)) {
            await new Promise<void>((wake) => {
              p.drained = wake
              setTimeout(wake, 1000)
            })
            p.drained = undefined
            if (!this.consumerLive(gen, isRunning)) return
            await heartbeat()
          }
        }
        let result = this.decode(m, topic, partition, offset)
        if (isPromise(result) || (!result.ok && result.kind === 'registry-unavailable')) {
          resolve()
          try {
            result = await this.decodeSlowly(result, m, topic, partition, offset)
          } catch (e) {
            // Not the record's fault (the registry is down): fail the job, never skip the record.
            this.fail(e)
            return
          }
          if (gen !== this.generation || this.closed) return
        }
        p.queue.push({ offset, message: m, result })
        this.buffered++
        p.fetched = offset + 1
        unresolved = m.offset
        if (this.notify) this.wake()
      }
    } finally {
      resolve()
    }
    if (this.consumerLive(gen, isRunning)) await heartbeat()
  }

  /**
   * Whether the consumer of generation `gen` may still talk to the broker: a heartbeat after the
   * reader released its consumer would connect to the group coordinator again (kafkajs connects
   * lazily), a connection no disconnect() closes (see tracked-sockets.ts).
   */
  private consumerLive(gen: number, isRunning: () => boolean): boolean {
    return gen === this.generation && !this.closed && isRunning()
  }

  /** The reader holds `bufferSize` records and this partition at least its share of them. */
  private mustWait(p: PartitionState<T>): boolean {
    return this.buffered >= this.capacity && p.queue.length - p.head >= this.fairShare()
  }

  private fairShare(): number {
    return Math.max(1, Math.floor(this.capacity / Math.max(1, this.partitions.length)))
  }

  /** Awaits an asynchronous result; retries 'registry-unavailable' with backoff, then throws. */
  private async decodeSlowly(first: DecodeResult<T> | Promise<DecodeResult<T>>, m: KafkaMessage, topic: string, partition: number, offset: number): Promise<DecodeResult<T>> {
    const opts = this.source.options
    const tries = opts.registryRetries ?? 5
    const settle = (r: DecodeResult<T> | Promise<DecodeResult<T>>) => Promise.resolve(r).catch((e: unknown): DecodeResult<T> => deserializerFailed(e))
    let r = await settle(first)
    for (let attempt = 1; !r.ok && r.kind === 'registry-unavailable'; attempt++) {
      if (attempt >= tries) {
        throw new FluxionError(
          'FLX_SCHEMA_REGISTRY_UNAVAILABLE',
          `Kafka source (${this.topicsText}): schema registry unavailable after ${tries} tries, at ${topic}-${partition} offset ${offset}: ${r.error}. ` +
            'The record is not skipped: check the registry URL and its health; the job restarts from its last checkpoint under its restart strategy.',
          { retriable: true },
        )
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, (opts.registryRetryBackoffMs ?? 100) * 2 ** (attempt - 1))))
      if (this.closed) return r
      r = await settle(this.decode(m, topic, partition, offset))
    }
    return r
  }

  // --- the task side ------------------------------------------------------------------------------

  pollNext(main: ReaderOutput<T>, budget: number): InputStatus {
    if (this.error) throw this.error
    if (!this.started) return 'nothing'
    if (this.outputsPending) this.createOutputs(main)
    // Round-robin over the partitions, a slice of the budget each, so that their watermarks advance
    // together. A partition whose queue is empty while its batch is still being queued is waited for
    // (the records are in memory): the others must not run ahead of it.
    const parts = this.partitions
    const n = parts.length
    const slice = Math.max(1, Math.floor(budget / Math.max(1, n)))
    let emitted = 0
    const first = this.turn++ % Math.max(1, n)
    this.waitingFor = undefined
    rounds: while (emitted < budget && this.buffered > 0) {
      for (let k = 0; k < n && emitted < budget; k++) {
        const p = parts[(first + k) % n]
        const queue = p.queue
        if (p.head === queue.length) {
          if (!p.fetching) continue
          this.waitingFor = p
          break rounds
        }
        const out = p.output ?? main
        for (let taken = 0; taken < slice && emitted < budget && p.head < queue.length; taken++) {
          const r = queue[p.head]!
          queue[p.head++] = undefined
          this.buffered--
          if (r.offset < p.next) continue // already emitted
          if (r.result.ok) {
            out.collect(r.result.value, Number(r.message.timestamp))
            emitted++
          } else {
            out.deadLetter(deadLetterOf(p, r))
          }
          p.next = r.offset + 1
        }
        if (p.head === queue.length) {
          if (queue.length > 0) {
            p.queue = []
            p.head = 0
          }
        } else if (p.head > 4096) {
          p.queue = queue.slice(p.head)
          p.head = 0
        }
        if (p.drained && (this.buffered < this.capacity / 2 || p.queue.length - p.head < this.fairShare() / 2)) p.drained()
      }
    }
    if (this.deletedDraining > 0) this.endDeleted(main)
    if (this.source.bounded && this.releaseFinished(main) === 0) return 'end'
    return this.buffered > 0 && !this.waitingFor ? 'more' : 'nothing'
  }

  /** Split outputs for every partition, so that a partition without data holds back the watermark (until idle). */
  private createOutputs(main: ReaderOutput<T>): void {
    this.outputsPending = false
    for (const p of this.owned.values()) if (!p.output && !p.released) p.output = main.createOutputForSplit?.(p.id)
    if (this.owned.size === 0) main.markIdle?.()
  }

  /** The last poll stopped for a partition whose records are still being queued, and none arrived since. */
  private isWaiting(): boolean {
    const p = this.waitingFor
    return p !== undefined && p.fetching && p.head === p.queue.length
  }

  /**
   * Ends the splits of deleted topics whose fetched records are all emitted. Only then is the
   * partition forgotten (`known`), so a topic created again under the name is discovered as new
   * after its predecessor's split is gone, never while that split still drains.
   */
  private endDeleted(main: ReaderOutput<T>): void {
    let ended = 0
    for (const p of this.partitions) {
      if (!p.deleted || p.fetching || p.head < p.queue.length) continue
      this.owned.delete(p.id)
      this.known.delete(p.id)
      if (!p.released) {
        p.released = true
        main.releaseOutputForSplit?.(p.id)
      }
      ended++
    }
    if (ended > 0) {
      this.deletedDraining -= ended
      this.partitions = [...this.owned.values()]
    }
  }

  /** Bounded: releases partitions that reached their end; returns how many are still active. */
  private releaseFinished(main: ReaderOutput<T>): number {
    let active = 0
    for (const p of this.owned.values()) {
      if (p.stop !== undefined && p.next >= p.stop) {
        if (!p.released) {
          p.released = true
          main.releaseOutputForSplit?.(p.id)
        }
      } else active++
    }
    return active
  }

  isAvailable(): Promise<void> {
    if (this.error || (this.started && ((this.buffered > 0 && !this.isWaiting()) || this.outputsPending))) return Promise.resolve()
    if (this.started && this.source.bounded && [...this.owned.values()].every((p) => p.stop !== undefined && p.next >= p.stop)) return Promise.resolve()
    return new Promise((resolve) => (this.notify = resolve))
  }

  snapshotState(checkpointId?: number): Restored[] {
    if (!this.started) {
      // Not started yet: what it was given (its own splits, and what is still unresolved).
      if (!this.restored) return [{ unresolved: { subtaskIndex: this.ctx.subtaskIndex, parallelism: this.ctx.parallelism } }]
      return structuredClone(this.restored.filter((s) => 'unresolved' in s || this.owns(s.topic, s.partition)))
    }
    const splits: KafkaSplit[] = [...this.owned.values()].map((p) => ({ topic: p.topic, partition: p.partition, offset: p.next }))
    if (this.committer && checkpointId !== undefined) {
      // No offsets for deleted topics: the commit would fail.
      this.pendingCommits.set(checkpointId, splits.filter((s) => !this.owned.get(splitIdOf(s.topic, s.partition))?.deleted).map((s) => ({ ...s })))
    }
    return splits
  }

  /** Commits the offsets of checkpoint `checkpointId` to the group, in the background (informational). */
  notifyCheckpointComplete(checkpointId: number): void {
    const committer = this.committer
    if (!committer || this.closed) return
    const offsets = this.pendingCommits.get(checkpointId)
    for (const id of this.pendingCommits.keys()) if (id <= checkpointId) this.pendingCommits.delete(id)
    if (!offsets || offsets.length === 0) return
    this.commits = this.commits.then(() =>
      committer.commit(offsets).then(
        () => this.counters.commitsOk?.inc(),
        () => this.counters.commitsFailed?.inc(),
      ),
    )
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.stopDiscovery.abort()
    for (const p of this.partitions) p.drained?.()
    try {
      // Stop fetching now; then let start-up or a discovery in progress notice the close.
      const consumer = this.consumer
      if (consumer && consumer !== this.consumerStarting) await this.release(consumer)
      await bounded(this.work, CLOSE_WAIT_MS, 'Kafka source start-up or discovery').catch(() => {})
      await bounded(this.commits, CLOSE_WAIT_MS, 'offset commits').catch(() => {})
      await this.committer?.close()
      if (this.groups.length > 0 && this.adminConnected) await this.deletePrivateGroups()
    } finally {
      // Every client made, again (a connect that completes later disconnects itself).
      await Promise.all([...this.clients].map((c) => disconnectQuietly(c)))
      this.clients.clear()
      // What kafkajs left open after disconnecting (tracked-sockets.ts).
      this.sockets.destroyAll()
    }
  }

  /**
   * Deletes the job-private consumer groups (best effort). Its own admin with few retries: kafkajs'
   * retrier cannot be cancelled, and a call abandoned after a timeout (e.g. "failed to find group
   * coordinator" after a broker restart) would reconnect a disconnected admin and keep the process
   * alive. This admin is disconnected whenever the call settles, also after close() stopped waiting.
   */
  private async deletePrivateGroups(): Promise<void> {
    const cleaner = this.kafka.admin({ retry: GROUP_CLEANUP_RETRY })
    const work = (async () => {
      try {
        await cleaner.connect()
        await cleaner.deleteGroups(this.groups)
      } finally {
        await disconnectQuietly(cleaner)
      }
    })()
    await bounded(work, 5_000, 'deleting the private groups').catch(() => {})
  }
}

/** Retries of the admin that deletes the private groups at close: few, so the call settles soon. */
const GROUP_CLEANUP_RETRY = { retries: 1, initialRetryTime: 100, maxRetryTime: 1_000 }

function newPartition<T>(topic: string, partition: number, offset: number): PartitionState<T> {
  return { id: splitIdOf(topic, partition), topic, partition, next: offset, fetched: offset, stop: undefined, released: false, output: undefined, queue: [], head: 0, drained: undefined, fetching: false, deleted: false }
}

function deserializerFailed(e: unknown): DecodeResult<never> {
  return { ok: false, kind: 'deserializer-failed', error: `deserializer threw: ${e instanceof Error ? e.message : String(e)}` }
}

/** The per-record decode step: the value alone, or the whole record. Never throws. */
function decoderOf<T>(source: KafkaSource<T>): (m: KafkaMessage, topic: string, partition: number, offset: number) => DecodeResult<T> | Promise<DecodeResult<T>> {
  const { deserializer, recordDeserializer } = source.options
  if (deserializer) {
    return (m, topic) => {
      if (m.value === null) return TOMBSTONE
      try {
        return deserializer.deserialize(m.value, topic)
      } catch (e) {
        return deserializerFailed(e)
      }
    }
  }
  return (m, topic, partition, offset) => {
    try {
      return recordDeserializer!.deserialize({ topic, partition, offset, timestamp: Number(m.timestamp), key: m.key ?? null, value: m.value, headers: (m.headers ?? {}) as KafkaHeaders })
    } catch (e) {
      return deserializerFailed(e)
    }
  }
}

function deadLetterOf<T>(p: PartitionState<T>, r: Buffered<T>): DeadLetter {
  const failure = r.result as Extract<DecodeResult<T>, { ok: false }>
  const { key, value, headers } = r.message
  const letter: DeadLetter = {
    source: p.topic,
    position: { topic: p.topic, partition: p.partition, offset: r.offset },
    error: failure.error,
    reason: failure.kind,
    raw: value ? value.toString('base64') : '',
    key: key ? key.toString('base64') : null,
  }
  if (headers && Object.keys(headers).length > 0) {
    const base64 = (v: Buffer | string) => (typeof v === 'string' ? Buffer.from(v) : v).toString('base64')
    letter.headers = {}
    for (const [name, v] of Object.entries(headers)) {
      if (v !== undefined) letter.headers[name] = Array.isArray(v) ? v.map(base64) : base64(v)
    }
  }
  return letter
}

/** A partition assigner for a private group of one member: it gets exactly `assignment`. */
function splitAssigner(assignment: Record<string, number[]>): PartitionAssigner {
  return () => ({
    name: 'FluxionSplitAssigner',
    version: 1,
    async assign({ members }) {
      return members.map((m, i) => ({
        memberId: m.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: i === 0 ? assignment : {}, userData: Buffer.alloc(0) }),
      }))
    },
    protocol({ topics }) {
      return { name: 'FluxionSplitAssigner', metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }) }
    },
  })
}

/** kafkajs's seek() on a consumer whose group is gone (crashed and not yet restarted); kafkajs 2.2 says so only in the message. */
function isGroupNotInitialized(e: unknown): boolean {
  return e instanceof Error && e.message.startsWith('Consumer group was not initialized')
}
