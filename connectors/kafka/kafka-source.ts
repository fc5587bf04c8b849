/**
 * KafkaSource: reads Kafka topics; each partition is a split with state { topic, partition, offset }
 * (offset = the next one to read). Positions live in Fluxion checkpoints, not in Kafka.
 *
 * kafkajs has no manual assign() (tulios/kafkajs#373), so each subtask uses its own job-private
 * consumer group whose custom assigner hands the single member exactly the partitions of this
 * subtask (p % parallelism == subtaskIndex, or the restored splits), then seeks to the start
 * offsets. The reader never blocks: kafkajs' eachBatch decodes records into a bounded buffer (and
 * waits, heart-beating, while it is full); pollNext drains it.
 *
 * Each partition emits through its own split output (per-partition watermarks) with the record's
 * Kafka timestamp. Records that cannot be deserialized go to DEAD_LETTERS with topic, partition
 * and offset, and the raw value in base64. With `stopAtOffsets: 'latest'` the source is bounded:
 * it reads each partition up to its high watermark at start, then ends.
 */
import { randomUUID } from 'node:crypto'
import { AssignerProtocol, Kafka, logLevel, type Admin, type Consumer, type EachBatchPayload, type PartitionAssigner } from 'kafkajs'
import { FluxionError } from '../../engine/errors.ts'
import type { InputStatus, ReaderOutput, Source, SourceReader, SourceReaderContext } from '../../engine/source.ts'
import type { KafkaDeserializer } from './avro-serde.ts'

export type StartFrom = 'earliest' | 'latest' | 'committed' | { timestamp: number }

export interface KafkaSourceOptions<T> {
  brokers: string[]
  topics: string[]
  /** Group whose committed offsets `startFrom: 'committed'` reads; also the prefix of the job-private groups. */
  groupId?: string
  /** Where partitions without restored state start. Default 'earliest'. */
  startFrom?: StartFrom
  /** 'latest': bounded; read each partition up to its high watermark when the reader starts. */
  stopAtOffsets?: 'latest'
  deserializer: KafkaDeserializer<T>
  /** Records buffered per subtask before fetching waits. Default 10 000. */
  bufferSize?: number
  clientId?: string
  /** Tries of a registry that is unreachable before the job fails. Default 5 (with backoff). */
  registryRetries?: number
}

/** State of one split (a partition): the next offset to read. */
export interface KafkaSplit {
  topic: string
  partition: number
  offset: number
}

/**
 * Split state of a subtask checkpointed before it knew its partitions: "the partitions that subtask
 * `subtaskIndex` of `parallelism` would get, from `startFrom`". A restore resolves it.
 */
export interface UnresolvedSplits {
  unresolved: { subtaskIndex: number; parallelism: number }
}

const splitId = (topic: string, partition: number) => `${topic}-${partition}`

export class KafkaSource<T> implements Source<T> {
  readonly name: string
  readonly bounded: boolean

  constructor(readonly options: KafkaSourceOptions<T>) {
    if (options.topics.length === 0) throw new FluxionError('FLX_INVALID_CONFIG', 'KafkaSource: give at least one topic')
    if (options.brokers.length === 0) throw new FluxionError('FLX_INVALID_CONFIG', 'KafkaSource: give at least one broker')
    if (options.startFrom === 'committed' && !options.groupId) throw new FluxionError('FLX_INVALID_CONFIG', "KafkaSource: startFrom 'committed' needs a groupId")
    this.name = `kafka-source(${options.topics.join(', ')})`
    this.bounded = options.stopAtOffsets === 'latest'
  }

  createReader(ctx: SourceReaderContext, restoredSplits?: unknown[]): SourceReader<T> {
    return new KafkaReader<T>(this.options, ctx, restoredSplits as (KafkaSplit | UnresolvedSplits)[] | undefined)
  }
}

interface Buffered<T> {
  split: PartitionState
  offset: number
  timestamp: number
  result: { ok: true; value: T } | { ok: false; error: string }
  raw: Buffer | null
}

interface PartitionState {
  id: string
  topic: string
  partition: number
  /** Next offset to emit (what a snapshot records). */
  next: number
  /** Bounded mode: end offset (exclusive). */
  stop: number | undefined
  released: boolean
}

class KafkaReader<T> implements SourceReader<T> {
  private readonly kafka: Kafka
  private admin: Admin | undefined
  private consumer: Consumer | undefined
  private readonly groupId: string
  private partitions: PartitionState[] | undefined
  private readonly byId = new Map<string, PartitionState>()
  private buffer: Buffered<T>[] = []
  private head = 0
  private readonly capacity: number
  private error: Error | undefined
  private notify: (() => void) | undefined
  private drained: (() => void) | undefined
  private closed = false
  /** Restored splits, until the reader has started (a checkpoint taken before then records them). */
  private readonly restored: (KafkaSplit | UnresolvedSplits)[] | undefined

  constructor(
    private readonly opts: KafkaSourceOptions<T>,
    private readonly ctx: SourceReaderContext,
    restored: (KafkaSplit | UnresolvedSplits)[] | undefined,
  ) {
    this.kafka = new Kafka({ clientId: opts.clientId ?? 'fluxion-kafka-source', brokers: opts.brokers, logLevel: logLevel.NOTHING })
    this.groupId = `${opts.groupId ?? 'fluxion'}-${randomUUID()}-s${ctx.subtaskIndex}`
    this.capacity = opts.bufferSize ?? 10_000
    this.restored = restored ? structuredClone(restored) : undefined
    this.start(restored).catch((e: unknown) => this.fail(e))
  }

  private fail(e: unknown): void {
    if (this.closed || this.error) return
    this.error =
      e instanceof FluxionError
        ? e
        : new FluxionError('FLX_SOURCE_FAILED', `Kafka source (${this.opts.topics.join(', ')}) failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e, retriable: true })
    this.wake()
  }

  private wake(): void {
    const n = this.notify
    this.notify = undefined
    n?.()
  }

  private async start(restored: (KafkaSplit | UnresolvedSplits)[] | undefined): Promise<void> {
    const admin = this.kafka.admin()
    this.admin = admin
    await admin.connect()
    // 1. This subtask's splits and where they start.
    const splits: KafkaSplit[] = []
    const fresh: { subtaskIndex: number; parallelism: number }[] = []
    if (restored) {
      for (const s of restored) {
        if ('unresolved' in s) fresh.push(s.unresolved)
        else splits.push({ ...s })
      }
    } else {
      fresh.push({ subtaskIndex: this.ctx.subtaskIndex, parallelism: this.ctx.parallelism })
    }
    if (fresh.length > 0) {
      for (const topic of this.opts.topics) {
        const offsets = await admin.fetchTopicOffsets(topic)
        const mine = offsets.filter((o) => fresh.some((f) => o.partition % f.parallelism === f.subtaskIndex))
        const start = await this.startOffsets(admin, topic, offsets)
        for (const o of mine) splits.push({ topic, partition: o.partition, offset: start.get(o.partition)! })
      }
    }
    // 2. Bounded: the end of each partition now.
    const stops = new Map<string, number>()
    if (this.opts.stopAtOffsets === 'latest') {
      for (const topic of new Set(splits.map((s) => s.topic))) {
        for (const o of await admin.fetchTopicOffsets(topic)) stops.set(splitId(topic, o.partition), Number(o.high))
      }
    }
    const partitions: PartitionState[] = splits.map((s) => {
      const id = splitId(s.topic, s.partition)
      return { id, topic: s.topic, partition: s.partition, next: s.offset, stop: stops.get(id), released: false }
    })
    for (const p of partitions) this.byId.set(p.id, p)
    const toRead = partitions.filter((p) => p.stop === undefined || p.next < p.stop)
    if (toRead.length > 0 && !this.closed) await this.startConsumer(toRead)
    this.partitions = partitions
    this.wake()
  }

  private async startOffsets(admin: Admin, topic: string, offsets: { partition: number; low: string; high: string }[]): Promise<Map<number, number>> {
    const from = this.opts.startFrom ?? 'earliest'
    const out = new Map<number, number>()
    if (from === 'earliest') for (const o of offsets) out.set(o.partition, Number(o.low))
    else if (from === 'latest') for (const o of offsets) out.set(o.partition, Number(o.high))
    else if (from === 'committed') {
      const [committed] = await admin.fetchOffsets({ groupId: this.opts.groupId!, topics: [topic] })
      for (const o of offsets) {
        const c = committed?.partitions.find((p) => p.partition === o.partition)
        const n = c ? Number(c.offset) : -1
        out.set(o.partition, n >= 0 ? n : Number(o.low))
      }
    } else {
      const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, from.timestamp)
      for (const o of offsets) {
        const t = byTime.find((b) => b.partition === o.partition)
        const n = t ? Number(t.offset) : -1
        out.set(o.partition, n >= 0 ? n : Number(o.high))
      }
    }
    return out
  }

  private async startConsumer(toRead: PartitionState[]): Promise<void> {
    const assignment: Record<string, number[]> = {}
    for (const p of toRead) (assignment[p.topic] ??= []).push(p.partition)
    const assigner: PartitionAssigner = () => ({
      name: 'FluxionSplitAssigner',
      version: 1,
      async assign({ members }) {
        // The group is private to this subtask: its one member gets this subtask's splits.
        return members.map((m, i) => ({
          memberId: m.memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: i === 0 ? assignment : {}, userData: Buffer.alloc(0) }),
        }))
      },
      protocol({ topics }) {
        return { name: 'FluxionSplitAssigner', metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }) }
      },
    })
    const consumer = this.kafka.consumer({ groupId: this.groupId, partitionAssigners: [assigner], allowAutoTopicCreation: false })
    this.consumer = consumer
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) this.fail(e.payload.error)
    })
    await consumer.connect()
    await consumer.subscribe({ topics: Object.keys(assignment), fromBeginning: true })
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (payload) => this.onBatch(payload) })
    for (const p of toRead) consumer.seek({ topic: p.topic, partition: p.partition, offset: String(p.next) })
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const p = this.byId.get(splitId(batch.topic, batch.partition))
    if (!p) return
    for (const m of batch.messages) {
      if (!isRunning() || isStale() || this.closed || this.error) return
      const offset = Number(m.offset)
      if (p.stop !== undefined && offset >= p.stop) break
      while (this.buffer.length - this.head >= this.capacity) {
        await new Promise<void>((resolve) => {
          this.drained = resolve
          setTimeout(resolve, 1000)
        })
        if (this.closed) return
        await heartbeat()
      }
      const raw = m.value
      let result: Buffered<T>['result']
      if (raw === null) result = { ok: false, error: 'null value (tombstone)' }
      else {
        try {
          result = await this.decode(raw, batch.topic)
        } catch (e) {
          // Not the record's fault (e.g. the registry is down): fail the job, never skip the record.
          this.fail(e)
          return
        }
      }
      this.buffer.push({ split: p, offset, timestamp: Number(m.timestamp), result, raw })
      resolveOffset(m.offset)
      this.wake()
    }
    await heartbeat()
  }

  private async decode(raw: Buffer, topic: string): Promise<Buffered<T>['result']> {
    const tries = this.opts.registryRetries ?? 5
    for (let attempt = 1; ; attempt++) {
      const r = await this.opts.deserializer.deserialize(raw, topic)
      if (r.ok || !('kind' in r) || r.kind !== 'registry-unavailable') return r
      if (attempt >= tries) throw new FluxionError('FLX_SOURCE_FAILED', `Kafka source: schema registry unavailable after ${tries} tries: ${r.error}`, { retriable: true })
      await new Promise((res) => setTimeout(res, Math.min(5000, 100 * 2 ** attempt)))
    }
  }

  pollNext(main: ReaderOutput<T>, budget: number): InputStatus {
    if (this.error) throw this.error
    const partitions = this.partitions
    if (!partitions) return 'nothing'
    let emitted = 0
    while (emitted < budget && this.head < this.buffer.length) {
      const r = this.buffer[this.head]
      this.buffer[this.head++] = undefined as never
      const p = r.split
      if (r.offset < p.next) continue // already emitted (a re-fetch after a rebalance)
      const out = main.createOutputForSplit?.(p.id) ?? main
      if (r.result.ok) {
        out.collect(r.result.value, r.timestamp)
        emitted++
      } else {
        out.deadLetter({
          source: p.topic,
          position: { topic: p.topic, partition: p.partition, offset: r.offset },
          error: r.result.error,
          raw: r.raw ? r.raw.toString('base64') : '',
        })
      }
      p.next = r.offset + 1
    }
    if (this.head === this.buffer.length) {
      this.buffer = []
      this.head = 0
    } else if (this.head > 4096) {
      this.buffer = this.buffer.slice(this.head)
      this.head = 0
    }
    if (this.buffer.length - this.head < this.capacity / 2) {
      const d = this.drained
      this.drained = undefined
      d?.()
    }
    // Bounded: release partitions that reached their end.
    let active = 0
    for (const p of partitions) {
      if (p.stop !== undefined && p.next >= p.stop) {
        if (!p.released) {
          p.released = true
          main.releaseOutputForSplit?.(p.id)
        }
      } else active++
    }
    if (active === 0 && this.opts.stopAtOffsets === 'latest') return 'end'
    return this.head < this.buffer.length ? 'more' : 'nothing'
  }

  isAvailable(): Promise<void> {
    if (this.error || (this.partitions && this.head < this.buffer.length)) return Promise.resolve()
    if (this.partitions && this.opts.stopAtOffsets === 'latest' && this.partitions.every((p) => p.stop !== undefined && p.next >= p.stop)) return Promise.resolve()
    return new Promise((resolve) => (this.notify = resolve))
  }

  snapshotState(): (KafkaSplit | UnresolvedSplits)[] {
    if (!this.partitions) {
      // Not started yet: record what it would have read.
      if (this.restored) return structuredClone(this.restored)
      return [{ unresolved: { subtaskIndex: this.ctx.subtaskIndex, parallelism: this.ctx.parallelism } }]
    }
    return this.partitions.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.next }))
  }

  async close(): Promise<void> {
    this.closed = true
    this.drained?.()
    try {
      await this.consumer?.disconnect()
      if (this.consumer) await this.admin?.deleteGroups([this.groupId]).catch(() => {})
      await this.admin?.disconnect()
    } catch {
      // close must not throw
    }
  }
}
