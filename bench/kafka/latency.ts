/**
 * The latency phase of the Kafka benchmark: end-to-end latency at a fixed input rate.
 *
 * A live child runs the pipeline (unbounded source) from a fresh input topic to a fresh output
 * topic. This process produces the input at `rate` records/s, each record's `eventTime` field and
 * Kafka timestamp set to the moment it is produced, and reads the output with a read_committed
 * consumer: latency = the wall time at which the consumer received the output record's batch −
 * the output's `eventTime` (copied from the input by the map). A first burst of `warmupRecords`
 * must come through before the measured records are produced, so the consumer-group joins and the
 * first checkpoint are not measured.
 */
import { avroType, AvroSerializer } from '../../connectors/kafka/avro-serde.ts'
import { quantile, round } from '../stats.ts'
import { deleteTopics, producePaced, readBack, recreateTopic, sleep } from './kafka-io.ts'
import type { Kafka } from 'kafkajs'
import { startLiveChild } from './spawn.ts'
import { ENRICHED_SCHEMA, makeTransaction, TRANSACTION_SCHEMA, type EnrichedTransaction, type Transaction } from './transactions.ts'

export interface LatencyOptions {
  kafka: Kafka
  registry: string
  /** Child arguments without --input/--output/--events. */
  childArgs: string[]
  partitions: number
  rate: number
  seconds: number
  warmupRecords: number
  tag: string
}

export interface LatencyResult {
  p50Ms: number
  p99Ms: number
  maxLatencyMs: number
  latencySamples: number
  /** Part of it until the sink's producer stamped the output (output Kafka timestamp − eventTime): source, job, sink batching or commit wait. */
  toSinkP50Ms: number
  toSinkP99Ms: number
  /** Input rate the producer achieved over the measured part. */
  achievedRate: number
  peakRssMb: number
}

export async function measureLatency(o: LatencyOptions): Promise<LatencyResult> {
  const input = `fluxion-bench-kafka-live-in-${o.tag}`
  const output = `fluxion-bench-kafka-live-out-${o.tag}`
  await recreateTopic(o.kafka, input, o.partitions)
  await recreateTopic(o.kafka, output, o.partitions)
  const serializer = new AvroSerializer<Transaction>({ registry: o.registry, schema: TRANSACTION_SCHEMA })
  const fill = { kafka: o.kafka, topic: input, partitions: o.partitions, serializer, make: makeTransaction, key: (t: Transaction) => String(t.accountId) }
  const measured = Math.round(o.rate * o.seconds)
  const expected = o.warmupRecords + measured
  const outType = avroType(ENRICHED_SCHEMA)
  let measuredFrom = Number.POSITIVE_INFINITY
  let warmSeen = 0
  let warmDone: () => void = () => {}
  const warmedUp = new Promise<void>((resolve) => (warmDone = resolve))
  const latencies: number[] = []
  const toSink: number[] = []
  const child = startLiveChild([...o.childArgs, '--input', input, '--output', output])
  try {
    await Promise.race([child.ready, child.failed])
    const reading = readBack({
      kafka: o.kafka,
      topic: output,
      expected,
      idleMs: 60_000,
      onRecord: (value, seenAt, timestamp) => {
        const e = outType.fromBuffer(value.subarray(5)) as EnrichedTransaction
        if (e.eventTime >= measuredFrom) {
          latencies.push(seenAt - e.eventTime)
          toSink.push(timestamp - e.eventTime)
        }
        else if (++warmSeen >= o.warmupRecords) warmDone()
      },
    })
    await producePaced(fill, 0, o.warmupRecords, Math.max(100, o.warmupRecords))
    await Promise.race([warmedUp, child.failed, sleep(120_000).then(() => Promise.reject(new Error('latency phase: the warm-up records did not come through in 120 s')))])
    await sleep(200)
    measuredFrom = Date.now()
    const produced = await Promise.race([producePaced(fill, o.warmupRecords, measured, o.rate), child.failed])
    const seen = await Promise.race([reading, child.failed])
    if (seen < expected) throw new Error(`latency phase: ${seen} of ${expected} outputs arrived`)
    latencies.sort((a, b) => a - b)
    toSink.sort((a, b) => a - b)
    return {
      toSinkP50Ms: quantile(toSink, 0.5),
      toSinkP99Ms: quantile(toSink, 0.99),
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      maxLatencyMs: quantile(latencies, 1),
      latencySamples: latencies.length,
      achievedRate: produced.achievedRate,
      peakRssMb: round(child.peakRssMb(), 1),
    }
  } finally {
    await child.stop()
    await deleteTopics(o.kafka, [input, output])
  }
}
