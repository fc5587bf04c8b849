/**
 * Nexmark from a real Kafka broker (`bench:nexmark -- --source kafka`), the way Nexmark's own Kafka
 * setup does it (nexmark/nexmark `ddl_kafka.sql`): ONE topic, every event one record of one schema
 * with `event_type` (0 person, 1 auction, 2 bid) and three nullable nested records, of which the one
 * of that type is set; records spread round-robin over the partitions. Nexmark uses JSON; here the
 * value is Avro in the Confluent wire format, its schema in the registry.
 *
 * - `fillNexmarkTopic` writes generator events `from … from + count − 1` (event i to partition
 *   i mod partitions, so each partition holds a subsequence of the generator's order and its
 *   disorder stays below the watermark delay: no event is late).
 * - `kafkaNexmarkSource` reads the topic with KafkaSource (bounded at the end offsets at start),
 *   with Nexmark's watermark (event time − 4 s, per partition) on `dateTime`.
 */
import type avro from 'avsc'
import type { Kafka } from 'kafkajs'
import { type DataStream, type StreamExecutionEnvironment } from '../../index.ts'
import { AvroDeserializer, AvroSerializer, type DecodeResult, type KafkaDeserializer } from '../../connectors/kafka/avro-serde.ts'
import { KafkaSource } from '../../connectors/kafka/kafka-source.ts'
import { fillTopic, type FillResult } from '../kafka/kafka-io.ts'
import { createGenerator, NEXMARK_WATERMARK, type NexmarkConfig } from './generator.ts'
import type { Auction, Bid, NexmarkEvent, Person } from './model.ts'

const PERSON: avro.Schema = {
  type: 'record',
  name: 'Person',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'name', type: 'string' },
    { name: 'emailAddress', type: 'string' },
    { name: 'creditCard', type: 'string' },
    { name: 'city', type: 'string' },
    { name: 'state', type: 'string' },
    { name: 'dateTime', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'extra', type: 'string' },
  ],
}

const AUCTION: avro.Schema = {
  type: 'record',
  name: 'Auction',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'itemName', type: 'string' },
    { name: 'description', type: 'string' },
    { name: 'initialBid', type: 'long' },
    { name: 'reserve', type: 'long' },
    { name: 'dateTime', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'expires', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'seller', type: 'long' },
    { name: 'category', type: 'long' },
    { name: 'extra', type: 'string' },
  ],
}

const BID: avro.Schema = {
  type: 'record',
  name: 'Bid',
  fields: [
    { name: 'auction', type: 'long' },
    { name: 'bidder', type: 'long' },
    { name: 'price', type: 'long' },
    { name: 'dateTime', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'extra', type: 'string' },
  ],
}

/** Nexmark's Kafka record: event_type and one nested record per kind (only that kind's is set). */
export const NEXMARK_EVENT_SCHEMA: avro.Schema = {
  type: 'record',
  name: 'NexmarkEvent',
  namespace: 'dev.fluxion.nexmark',
  fields: [
    { name: 'event_type', type: 'int' },
    { name: 'person', type: ['null', PERSON], default: null },
    { name: 'auction', type: ['null', AUCTION], default: null },
    { name: 'bid', type: ['null', BID], default: null },
  ],
}

type Fields<T> = Omit<T, 'kind'>

export interface NexmarkKafkaRecord {
  event_type: 0 | 1 | 2
  person: Fields<Person> | null
  auction: Fields<Auction> | null
  bid: Fields<Bid> | null
}

export function toKafkaRecord(e: NexmarkEvent): NexmarkKafkaRecord {
  const { kind: _kind, ...fields } = e
  if (e.kind === 'person') return { event_type: 0, person: fields as Fields<Person>, auction: null, bid: null }
  if (e.kind === 'auction') return { event_type: 1, person: null, auction: fields as Fields<Auction>, bid: null }
  return { event_type: 2, person: null, auction: null, bid: fields as Fields<Bid> }
}

/** The model event of a record, or undefined when the record's nested field does not match its event_type. */
export function fromKafkaRecord(r: NexmarkKafkaRecord): NexmarkEvent | undefined {
  if (r.event_type === 2 && r.bid) return { kind: 'bid', ...r.bid }
  if (r.event_type === 1 && r.auction) return { kind: 'auction', ...r.auction }
  if (r.event_type === 0 && r.person) return { kind: 'person', ...r.person }
  return undefined
}

/** Decodes the Avro record and turns it into a model event; a record that is not one is a typed failure (dead letter). */
export class NexmarkDeserializer implements KafkaDeserializer<NexmarkEvent> {
  private readonly avro: AvroDeserializer<NexmarkKafkaRecord>
  constructor(registry: string) {
    this.avro = new AvroDeserializer<NexmarkKafkaRecord>({ registry, schema: NEXMARK_EVENT_SCHEMA })
  }

  deserialize(bytes: Buffer, _topic: string): DecodeResult<NexmarkEvent> | Promise<DecodeResult<NexmarkEvent>> {
    const r = this.avro.deserialize(bytes)
    return r instanceof Promise ? r.then(toEvent) : toEvent(r)
  }
}

function toEvent(r: DecodeResult<NexmarkKafkaRecord>): DecodeResult<NexmarkEvent> {
  if (!r.ok) return r
  const e = fromKafkaRecord(r.value)
  return e ? { ok: true, value: e } : { ok: false, kind: 'undecodable', error: `event_type ${r.value.event_type} without its nested record` }
}

export interface NexmarkTopic {
  kafka: Kafka
  registry: string
  topic: string
  partitions: number
}

/** Writes generator events from … from + count − 1 (of `config`) to the topic, event i to partition i mod partitions. */
export async function fillNexmarkTopic(t: NexmarkTopic, count: number, config: Partial<NexmarkConfig> = {}, from = 0): Promise<FillResult> {
  const generate = createGenerator(config)
  const serializer = new AvroSerializer<NexmarkKafkaRecord>({ registry: t.registry, schema: NEXMARK_EVENT_SCHEMA })
  return fillTopic({ kafka: t.kafka, topic: t.topic, partitions: t.partitions, serializer, make: (i) => toKafkaRecord(generate(i)) }, from, count)
}

export interface KafkaNexmarkSourceOptions {
  brokers: string[]
  registry: string
  topic: string
}

/** The Nexmark stream read from Kafka (bounded: up to the end offsets at start), with Nexmark's watermark per partition. */
export function kafkaNexmarkSource(env: StreamExecutionEnvironment, o: KafkaNexmarkSourceOptions): DataStream<NexmarkEvent> {
  const source = new KafkaSource<NexmarkEvent>({ brokers: o.brokers, topics: [o.topic], groupId: 'fluxion-nexmark', stopAtOffsets: 'latest', deserializer: new NexmarkDeserializer(o.registry) })
  return env.fromSource(source, NEXMARK_WATERMARK, 'nexmark-kafka-source')
}

/**
 * Calls `observe(subtaskIndex, event)` for every event the Kafka source emits (a chained process
 * function): the benchmark's RunMetrics logs event-time progress per source subtask from it, as
 * the generator source does with the event's position.
 */
export function observeEvents(events: DataStream<NexmarkEvent>, observe: (subtask: number, e: NexmarkEvent) => void): DataStream<NexmarkEvent> {
  let subtask = 0
  return events.process<NexmarkEvent>(
    {
      open: (ctx) => void (subtask = ctx.subtaskIndex),
      processElement(e, _ctx, out) {
        observe(subtask, e)
        out.collect(e)
      },
    },
    'nexmark-observe',
  )
}
