/**
 * `bench:nexmark -- --source kafka`: the runner pre-fills the topics once per invocation and passes
 * them to every child, Fluxion's (job.ts --source kafka) and Flink's (NexmarkJob --source kafka,
 * bench/peers/flink KafkaEvents.java), with the same arguments. The measured topic holds events 0 … events − 1
 * of the generator (with the runner's --rate/--ooo-group/--seed), the warm-up topic the first
 * --warmup-events events, each over `partitions` partitions (Nexmark's layout: kafka.ts).
 */
import type { FillResult } from '../kafka/kafka-io.ts'
import { deleteTopics, kafkaClient, recreateTopic } from '../kafka/kafka-io.ts'
import type { NexmarkConfig } from './generator.ts'
import { fillNexmarkTopic } from './kafka.ts'

export interface KafkaTopics {
  /** Arguments for job.ts and NexmarkJob. */
  childArgs: string[]
  prefill: FillResult
  brokers: string[]
  cleanup(): Promise<void>
}

/** The generator configuration of the runner's generator arguments (--rate, --ooo-group, --seed). */
export function configOfArgs(args: readonly string[]): Partial<NexmarkConfig> {
  const c: Partial<NexmarkConfig> = {}
  for (let i = 0; i + 1 < args.length; i += 2) {
    const v = Number(args[i + 1])
    if (args[i] === '--rate') c.eventsPerSecond = v
    else if (args[i] === '--ooo-group') c.outOfOrderGroupSize = v
    else if (args[i] === '--seed') c.seed = v
  }
  return c
}

export async function prepareKafkaTopics(o: { events: number; warmupEvents: number; partitions: number; generator: string[] }, log: (msg: string) => void): Promise<KafkaTopics> {
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',').map((b) => b.trim())
  const registry = (process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:18081/apis/ccompat/v7').replace(/\/+$/, '')
  const kafka = kafkaClient(brokers, 'fluxion-nexmark-prefill')
  const config = configOfArgs(o.generator)
  const topic = `fluxion-nexmark-${process.pid}`
  const warmupTopic = `fluxion-nexmark-warmup-${process.pid}`
  const topics = [topic]
  await recreateTopic(kafka, topic, o.partitions)
  log(`pre-filling ${topic}: ${o.events.toLocaleString('en')} events as Avro over ${o.partitions} partitions …`)
  const prefill = await fillNexmarkTopic({ kafka, registry, topic, partitions: o.partitions }, o.events, config)
  log(`pre-filled in ${prefill.seconds.toFixed(1)} s (${Math.round(prefill.recordsPerSecond / 1000)}k records/s, ${Math.round(prefill.bytes / o.events)} B/record, ≈5000 records per request, one sender per partition group, up to 4 in flight, no compression, acks=all)`)
  const childArgs = ['--source', 'kafka', '--topic', topic, '--brokers', brokers.join(','), '--registry', registry]
  if (o.warmupEvents > 0) {
    await recreateTopic(kafka, warmupTopic, o.partitions)
    await fillNexmarkTopic({ kafka, registry, topic: warmupTopic, partitions: o.partitions }, o.warmupEvents, config)
    topics.push(warmupTopic)
    childArgs.push('--warmup-topic', warmupTopic)
  }
  return { childArgs, prefill, brokers, cleanup: () => deleteTopics(kafka, topics) }
}
