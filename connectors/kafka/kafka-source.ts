/**
 * KafkaSource: reads Kafka topics (a list, or every topic matching a RegExp). Each partition is a
 * split with state { topic, partition, offset } (offset = the next one to read); positions live in
 * Fluxion checkpoints, and are committed back to the group only as information.
 *
 * - Assignment: partition → subtask by Flink's owner function (partition-discovery.ts), computed by
 *   every subtask alike; on restore each reader gets the splits of all former subtasks (a union)
 *   and keeps its own, so rescaling moves partitions to their new owners.
 * - Discovery: every `partitionDiscoveryIntervalMs` each reader looks for new partitions and new
 *   matching topics, and reads the ones it owns from the earliest offset (Flink's behaviour for
 *   partitions found after start). Partitions missing from a restored checkpoint are new as well.
 * - Start: `startFrom` ('earliest' by default, 'latest', { timestamp }, 'committed' or
 *   { committed: { reset } }) applies to the partitions present at the first start.
 * - Records: `deserializer` decodes the value; `recordDeserializer` gets the whole record (key,
 *   value, headers, timestamp, topic, partition, offset). Failures go to DEAD_LETTERS (counted);
 *   an unreachable schema registry is retried with backoff, then fails the job.
 * - Watermarks: per partition, with the record's Kafka timestamp; idle partitions stop holding the
 *   watermark back after WatermarkStrategy.withIdleness(ms).
 * - `stopAtOffsets: 'latest'`: bounded; each partition is read up to its end at start (no discovery).
 * The reader is in kafka-reader.ts.
 */
import { FluxionError } from '../../engine/errors.ts'
import type { Source, SourceReader, SourceReaderContext } from '../../engine/source.ts'
import type { KafkaDeserializer } from './avro-serde.ts'
import type { KafkaRecordDeserializer } from './kafka-record.ts'
import { KafkaReader } from './kafka-reader.ts'
import { describeTopics, parseSplitId, partitionOwner, type TopicSelector } from './partition-discovery.ts'
import { validateStartFrom, type StartFrom } from './start-offsets.ts'

export type { StartFrom, OffsetResetStrategy } from './start-offsets.ts'

export interface KafkaSourceOptions<T> {
  brokers: string[]
  /** Topic names, or a RegExp that a topic's whole name must match (internal "__" topics never match). */
  topics: TopicSelector
  /** The job's consumer group: `startFrom: 'committed'` reads its offsets, checkpoints commit to it. */
  groupId?: string
  /** Where partitions without checkpointed state start at the first start. Default 'earliest'. */
  startFrom?: StartFrom
  /** 'latest': bounded; read each partition up to its end when the reader starts. */
  stopAtOffsets?: 'latest'
  /** Decodes the record value into T (Flink's value-only deserializer). Give this or `recordDeserializer`. */
  deserializer?: KafkaDeserializer<T>
  /** Decodes the whole record (see kafkaRecordDeserializer). Give this or `deserializer`. */
  recordDeserializer?: KafkaRecordDeserializer<T>
  /**
   * Processing time between looks for new partitions and new matching topics; 0 disables it.
   * Default 300 000 (5 min, as Flink) for unbounded sources; bounded sources never discover.
   */
  partitionDiscoveryIntervalMs?: number
  /** Commit the checkpointed offsets to `groupId` when a checkpoint completes. Default true when groupId is set. */
  commitOffsetsOnCheckpoint?: boolean
  /** Records buffered per subtask before fetching waits. Default 10 000. */
  bufferSize?: number
  clientId?: string
  /** Tries of a schema registry that is unavailable before the job fails. Default 5. */
  registryRetries?: number
  /** First wait between those tries (doubling, at most 5 s). Default 100 ms. */
  registryRetryBackoffMs?: number
}

/** State of one split (a partition): the next offset to read. */
export interface KafkaSplit {
  topic: string
  partition: number
  offset: number
}

/**
 * Split state of a subtask checkpointed before it knew its partitions: "the partitions that subtask
 * `subtaskIndex` of `parallelism` owned at the first start, from `startFrom`". A restore resolves it.
 */
export interface UnresolvedSplits {
  unresolved: { subtaskIndex: number; parallelism: number }
}

const DEFAULT_DISCOVERY_INTERVAL_MS = 300_000

export class KafkaSource<T> implements Source<T> {
  readonly name: string
  readonly bounded: boolean

  constructor(readonly options: KafkaSourceOptions<T>) {
    const bad = (why: string) => new FluxionError('FLX_INVALID_CONFIG', `KafkaSource: ${why}`)
    const { topics } = options
    if (!(topics instanceof RegExp) && (!Array.isArray(topics) || topics.length === 0 || topics.some((t) => typeof t !== 'string' || t.length === 0))) {
      throw bad('topics must be a non-empty array of topic names, or a RegExp')
    }
    if (!Array.isArray(options.brokers) || options.brokers.length === 0) throw bad('give at least one broker')
    if ((options.deserializer === undefined) === (options.recordDeserializer === undefined)) {
      throw bad('give exactly one of deserializer (decodes the value) or recordDeserializer (decodes the whole record, e.g. kafkaRecordDeserializer({ value, map }))')
    }
    validateStartFrom(options.startFrom ?? 'earliest', options.groupId)
    const interval = options.partitionDiscoveryIntervalMs
    if (interval !== undefined && (!Number.isFinite(interval) || interval < 0)) throw bad(`partitionDiscoveryIntervalMs must be a finite number >= 0 (0 disables discovery), got ${String(interval)}`)
    if (options.bufferSize !== undefined && (!Number.isInteger(options.bufferSize) || options.bufferSize < 1)) throw bad(`bufferSize must be an integer >= 1, got ${String(options.bufferSize)}`)
    if (options.registryRetries !== undefined && (!Number.isInteger(options.registryRetries) || options.registryRetries < 1)) {
      throw bad(`registryRetries must be an integer >= 1, got ${String(options.registryRetries)}`)
    }
    if (options.commitOffsetsOnCheckpoint === true && !options.groupId) throw bad('commitOffsetsOnCheckpoint needs a groupId to commit to')
    this.name = `kafka-source(${describeTopics(topics)})`
    this.bounded = options.stopAtOffsets === 'latest'
  }

  /** Processing time between discoveries; 0 when discovery is off. */
  get discoveryIntervalMs(): number {
    if (this.bounded) return 0
    return this.options.partitionDiscoveryIntervalMs ?? DEFAULT_DISCOVERY_INTERVAL_MS
  }

  createReader(ctx: SourceReaderContext, restoredSplits?: unknown[]): SourceReader<T> {
    return new KafkaReader<T>(this, ctx, restoredSplits as (KafkaSplit | UnresolvedSplits)[] | undefined)
  }

  /** Held records of a restored checkpoint follow their partition to its owner. */
  splitOwner(splitId: string, parallelism: number): number {
    const { topic, partition } = parseSplitId(splitId)
    return partitionOwner(topic, partition, parallelism)
  }
}
