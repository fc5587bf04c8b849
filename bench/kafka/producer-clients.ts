/**
 * Producer-client micro-benchmark: kafkajs 2.2.4 vs @platformatic/kafka 1.x, producing the same
 * pre-built records the way KafkaSink does (no Fluxion in between).
 *
 *   node --import tsx bench/kafka/producer-clients.ts --client kafkajs|platformatic --mode idempotent|transactional
 *        [--records 300000] [--batch 500] [--in-flight 1] [--txn-records 20000] [--brokers 127.0.0.1:19092]
 *   node --import tsx bench/kafka/producer-clients.ts --matrix [--runs 3] [--records 300000]
 *   node --import tsx bench/kafka/producer-clients.ts --features        # @platformatic/kafka transaction semantics
 *
 * One run: a fresh 4-partition topic, then a fresh Node process (`--child`) that loads only the
 * client under test and produces N records (value: a 130-byte Buffer whose first 4 bytes are the
 * record index; key: an account id string), partitioned by key with the Java-compatible murmur2
 * partitioner, acks = all, idempotent, `--batch` records per send call with up to `--in-flight`
 * send calls outstanding. `transactional` wraps every `--txn-records` records in one transaction
 * under a stable transactionalId. The child measures from its first send to the last ack (or
 * commit): records/s, CPU µs per record (process.cpuUsage, all threads), peak RSS. The parent then
 * reads the topic back with a read_committed kafkajs consumer and checks that every index arrived
 * exactly once, in the partition its key maps to, and that the end offsets hold nothing else
 * (idempotent: N; transactional: N + one commit marker per partition and transaction).
 *
 * `--matrix` runs {kafkajs, platformatic} × {idempotent, transactional} × {sink: 500 records per
 * send, 1 in flight; big-1: 5000, 1; big-4: 5000, 4 (kafkajs only, see VARIANTS)} `--runs` times, alternating the clients, and prints the medians. stdout carries JSON
 * lines only; progress goes to stderr.
 */
import { spawn } from 'node:child_process'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { inspect, parseArgs } from 'node:util'
import { murmur2 } from '@platformatic/kafka'
import { median, round } from '../stats.ts'
import { RssSampler } from '../rss.ts'
import { deleteTopics, kafkaClient, recreateTopic, sleep, withAdmin } from './kafka-io.ts'

const RESULT_PREFIX = 'PRODUCER_BENCH_RESULT '
const PARTITIONS = 4
const VALUE_BYTES = 130
const ACCOUNTS = 10_000
const CLIENTS = ['kafkajs', 'platformatic'] as const
const MODES = ['idempotent', 'transactional'] as const
type Client = (typeof CLIENTS)[number]
type Mode = (typeof MODES)[number]

interface RunConfig {
  client: Client
  mode: Mode
  records: number
  batch: number
  inFlight: number
  txnRecords: number
  brokers: string[]
}

interface ChildResult {
  client: Client
  mode: Mode
  records: number
  seconds: number
  recordsPerSecond: number
  cpuUsPerRecord: number
  userUsPerRecord: number
  systemUsPerRecord: number
  peakRssMb: number
  maxRssMb: number
  startRssMb: number
  transactions: number
}

interface Verification {
  read: number
  distinct: number
  duplicates: number
  wrongPartition: number
  endOffsetsSum: number
  expectedEndOffsetsSum: number
  ok: boolean
}

const keyOf = (i: number): string => `acct-${(i * 7919) % ACCOUNTS}`

/** Kafka's (Java) default partition of a key: murmur2 of the key bytes, sign bit cleared, mod partitions. */
const javaPartition = (key: string, partitions: number): number => (murmur2(Buffer.from(key)) & 0x7fffffff) % partitions

/** The value of record i: its index (uint32 BE) followed by a fixed filler. */
function valueOf(i: number): Buffer {
  const b = Buffer.alloc(VALUE_BYTES, 0x61 + (i % 26))
  b.writeUInt32BE(i, 0)
  return b
}

/** A producing session of one client: `send` one batch (inside the open transaction, if any). */
interface ProducerUnderTest {
  prepare(indices: { from: number; to: number }[]): void
  begin(): Promise<void>
  send(batchNo: number): Promise<unknown>
  commit(): Promise<void>
  close(): Promise<void>
}

async function kafkajsProducer(cfg: RunConfig, topic: string): Promise<ProducerUnderTest> {
  const { Kafka, logLevel, Partitioners } = await import('kafkajs')
  type Message = import('kafkajs').Message
  type Transaction = import('kafkajs').Transaction
  const kafka = new Kafka({ clientId: 'fluxion-bench-kafkajs', brokers: cfg.brokers, logLevel: logLevel.NOTHING })
  const transactional = cfg.mode === 'transactional'
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: cfg.inFlight,
    createPartitioner: Partitioners.DefaultPartitioner,
    ...(transactional ? { transactionalId: `fluxion-bench-kafkajs-${process.pid}`, transactionTimeout: 60_000 } : {}),
  })
  await producer.connect()
  let batches: Message[][] = []
  let txn: Transaction | undefined
  return {
    prepare(ranges) {
      batches = ranges.map(({ from, to }) => {
        const messages: Message[] = []
        for (let i = from; i < to; i++) messages.push({ key: keyOf(i), value: valueOf(i) })
        return messages
      })
    },
    async begin() {
      txn = await producer.transaction()
    },
    send(n) {
      return (txn ?? producer).send({ topic, messages: batches[n], acks: -1 })
    },
    async commit() {
      await txn!.commit()
      txn = undefined
    },
    close: () => producer.disconnect(),
  }
}

async function platformaticProducer(cfg: RunConfig, topic: string): Promise<ProducerUnderTest> {
  const { Producer, compatibilityPartitioner, stringSerializer } = await import('@platformatic/kafka')
  type Message = import('@platformatic/kafka').MessageToProduce<string, Buffer>
  const transactional = cfg.mode === 'transactional'
  const producer = new Producer<string, Buffer>({
    clientId: 'fluxion-bench-platformatic',
    bootstrapBrokers: cfg.brokers,
    idempotent: true,
    acks: -1,
    partitioner: compatibilityPartitioner,
    serializers: { key: stringSerializer },
    // Also InitProducerId's transaction timeout (this client has no separate option for it).
    timeout: 60_000,
    ...(transactional ? { transactionalId: `fluxion-bench-platformatic-${process.pid}` } : {}),
  })
  let batches: Message[][] = []
  let txn: Awaited<ReturnType<typeof producer.beginTransaction>> | undefined
  return {
    prepare(ranges) {
      batches = ranges.map(({ from, to }) => {
        const messages: Message[] = []
        for (let i = from; i < to; i++) messages.push({ topic, key: keyOf(i), value: valueOf(i) })
        return messages
      })
    },
    async begin() {
      txn = await producer.beginTransaction()
    },
    send(n) {
      return (txn ?? producer).send({ messages: batches[n] })
    },
    async commit() {
      await txn!.commit()
      txn = undefined
    },
    close: () => producer.close(),
  }
}

/** The child: produce, measure, print one result line. */
async function runChild(cfg: RunConfig, topic: string): Promise<void> {
  const p = cfg.client === 'kafkajs' ? await kafkajsProducer(cfg, topic) : await platformaticProducer(cfg, topic)
  const transactional = cfg.mode === 'transactional'
  // Batches never straddle a transaction.
  const ranges: { from: number; to: number }[] = []
  const txnStarts = new Set<number>()
  const txnSize = transactional ? cfg.txnRecords : cfg.records
  for (let t = 0; t < cfg.records; t += txnSize) {
    txnStarts.add(ranges.length)
    const end = Math.min(cfg.records, t + txnSize)
    for (let from = t; from < end; from += cfg.batch) ranges.push({ from, to: Math.min(end, from + cfg.batch) })
  }
  p.prepare(ranges)
  const rss = new RssSampler()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let transactions = 0
  const inFlight = new Set<Promise<unknown>>()
  const drain = async (limit: number) => {
    while (inFlight.size > limit) await Promise.race(inFlight)
  }
  for (let n = 0; n < ranges.length; n++) {
    if (transactional && txnStarts.has(n)) {
      if (n > 0) {
        await drain(0)
        await p.commit()
      }
      await p.begin()
      transactions++
    }
    await drain(cfg.inFlight - 1)
    const s: Promise<unknown> = p.send(n).finally(() => inFlight.delete(s))
    inFlight.add(s)
  }
  await drain(0)
  if (transactional) await p.commit()
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  const mem = rss.stop()
  await p.close()
  const per = (us: number) => round(us / cfg.records, 2)
  const result: ChildResult = {
    client: cfg.client,
    mode: cfg.mode,
    records: cfg.records,
    seconds: round(seconds),
    recordsPerSecond: Math.round(cfg.records / seconds),
    cpuUsPerRecord: per(cpu.user + cpu.system),
    userUsPerRecord: per(cpu.user),
    systemUsPerRecord: per(cpu.system),
    ...mem,
    transactions,
  }
  process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + '\n')
}

function spawnChild(cfg: RunConfig, topic: string): Promise<ChildResult> {
  const args = [
    '--import', 'tsx', fileURLToPath(import.meta.url), '--child', '--topic', topic,
    '--client', cfg.client, '--mode', cfg.mode, '--records', String(cfg.records), '--batch', String(cfg.batch),
    '--in-flight', String(cfg.inFlight), '--txn-records', String(cfg.txnRecords), '--brokers', cfg.brokers.join(','),
  ]
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 10 * 60_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const line = out.split('\n').find((l) => l.startsWith(RESULT_PREFIX))
      if (code !== 0 || !line) reject(new Error(`child ${cfg.client}/${cfg.mode} exited with ${signal ?? code}:\n${err.trim().split('\n').slice(-15).join('\n')}`))
      else resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as ChildResult)
    })
  })
}

/** Reads `topic` back (read_committed) and checks every index arrived once, in its key's partition. */
async function verify(brokers: string[], topic: string, records: number, transactions: number): Promise<Verification> {
  const kafka = kafkaClient(brokers, 'fluxion-bench-verify')
  const seen = new Uint8Array(records)
  let read = 0
  let distinct = 0
  let duplicates = 0
  let wrongPartition = 0
  let lastAt = Date.now()
  const consumer = kafka.consumer({ groupId: `fluxion-bench-producer-verify-${process.pid}-${Date.now()}`, readUncommitted: false, maxBytes: 50 * 1024 * 1024 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let done = () => {}
  const finished = new Promise<void>((r) => (done = r))
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      lastAt = Date.now()
      for (const m of batch.messages) {
        read++
        const i = m.value!.readUInt32BE(0)
        if (i >= records || seen[i]) duplicates++
        else {
          seen[i] = 1
          distinct++
        }
        if (m.key?.toString() !== keyOf(i) || javaPartition(keyOf(i), PARTITIONS) !== batch.partition) wrongPartition++
      }
      if (distinct >= records) done()
    },
  })
  const idle = setInterval(() => Date.now() - lastAt > 15_000 && done(), 200)
  await finished
  clearInterval(idle)
  await sleep(500) // late duplicates in other partitions
  await consumer.disconnect().catch(() => {})
  const offsets = await withAdmin(kafka, (admin) => admin.fetchTopicOffsets(topic))
  const endOffsetsSum = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0)
  const expectedEndOffsetsSum = records + transactions * PARTITIONS
  return { read, distinct, duplicates, wrongPartition, endOffsetsSum, expectedEndOffsetsSum, ok: distinct === records && read === records && wrongPartition === 0 && endOffsetsSum === expectedEndOffsetsSum }
}

const load = () => loadavg().map((x) => round(x, 2))

/** One run: fresh topic, fresh child process, read-back check. */
async function runOnce(cfg: RunConfig, variant: string): Promise<ChildResult & { variant: string; batch: number; inFlight: number; verification: Verification; loadBefore: number[]; loadAfter: number[] }> {
  const kafka = kafkaClient(cfg.brokers, 'fluxion-bench-admin')
  const topic = `fluxion-bench-producer-${cfg.client}-${cfg.mode}-${process.pid}-${Date.now()}`
  await recreateTopic(kafka, topic, PARTITIONS)
  const loadBefore = load()
  try {
    const r = await spawnChild(cfg, topic)
    const loadAfter = load()
    const verification = await verify(cfg.brokers, topic, cfg.records, r.transactions > 0 && cfg.mode === 'transactional' ? r.transactions : 0)
    return { ...r, variant, batch: cfg.batch, inFlight: cfg.inFlight, verification, loadBefore, loadAfter }
  } finally {
    await deleteTopics(kafka, [topic])
  }
}

/**
 * `big-4` runs kafkajs only: @platformatic/kafka 1.35's idempotent producer takes the sequence
 * numbers of a send when it starts and advances them when it ends, so a second send() before the
 * first is acknowledged fails with OUT_OF_ORDER_SEQUENCE_NUMBER (one send at a time per producer).
 */
const VARIANTS: { variant: string; batch: number; inFlight: number; clients: readonly Client[] }[] = [
  { variant: 'sink', batch: 500, inFlight: 1, clients: CLIENTS },
  { variant: 'big-1', batch: 5000, inFlight: 1, clients: CLIENTS },
  { variant: 'big-4', batch: 5000, inFlight: 4, clients: ['kafkajs'] },
]

async function runMatrix(base: Omit<RunConfig, 'client' | 'mode' | 'batch' | 'inFlight'>, runs: number): Promise<void> {
  const all: Awaited<ReturnType<typeof runOnce>>[] = []
  for (let run = 0; run < runs; run++) {
    for (const mode of MODES) {
      for (const v of VARIANTS) {
        // Alternate which client goes first.
        const order = run % 2 === 0 ? v.clients : [...v.clients].reverse()
        for (const client of order) {
          const r = await runOnce({ ...base, client, mode, batch: v.batch, inFlight: v.inFlight }, v.variant).catch((e: unknown) => {
            process.stderr.write(`${client}/${mode}/${v.variant} run ${run + 1} failed: ${e instanceof Error ? e.message : String(e)}\n`)
            return undefined
          })
          if (!r) continue
          all.push(r)
          process.stdout.write(JSON.stringify({ run: run + 1, ...r }) + '\n')
          process.stderr.write(`run ${run + 1} ${client}/${mode}/${v.variant}: ${r.recordsPerSecond} rec/s, ${r.cpuUsPerRecord} µs/rec, ${r.maxRssMb} MB, verified ${r.verification.ok}, load ${r.loadBefore.join(' ')}\n`)
        }
      }
    }
  }
  for (const mode of MODES) {
    for (const v of VARIANTS) {
      for (const client of CLIENTS) {
        const rs = all.filter((r) => r.client === client && r.mode === mode && r.variant === v.variant)
        if (rs.length === 0) continue
        process.stdout.write(
          JSON.stringify({
            summary: true,
            client,
            mode,
            variant: v.variant,
            batch: v.batch,
            inFlight: v.inFlight,
            records: base.records,
            runs: rs.length,
            allVerified: rs.every((r) => r.verification.ok),
            recordsPerSecond: median(rs.map((r) => r.recordsPerSecond)),
            cpuUsPerRecord: median(rs.map((r) => r.cpuUsPerRecord)),
            maxRssMb: median(rs.map((r) => r.maxRssMb)),
            peakRssMb: median(rs.map((r) => r.peakRssMb)),
            loadavg: load(),
          }) + '\n',
        )
      }
    }
  }
}

/**
 * Checks the transaction semantics the exactly-once sink needs, with @platformatic/kafka:
 * fencing a zombie with the same transactionalId (and aborting its open transaction), abort,
 * one transaction over two topics, and a fenced producer's error being recognisable.
 */
async function runFeatures(brokers: string[]): Promise<void> {
  const { Producer, stringSerializer, GenericError } = await import('@platformatic/kafka')
  const kafka = kafkaClient(brokers, 'fluxion-bench-features')
  const stamp = `${process.pid}-${Date.now()}`
  const [a, b] = [`fluxion-bench-features-a-${stamp}`, `fluxion-bench-features-b-${stamp}`]
  await recreateTopic(kafka, a, PARTITIONS)
  await recreateTopic(kafka, b, 1)
  const txId = `fluxion-bench-features-${stamp}`
  // InitProducerId sends producerId 0 / epoch 0 unless told otherwise; Kafka reads that as "I am producer 0
  // at epoch 0" and answers PRODUCER_FENCED once the transactionalId has another producer id. -1 / -1 is
  // what the Java client sends for a new instance.
  const make = (newInstanceIds = true) =>
    new Producer<string, string>({
      clientId: 'fluxion-bench-features',
      bootstrapBrokers: brokers,
      idempotent: true,
      transactionalId: txId,
      serializers: { key: stringSerializer, value: stringSerializer },
      retries: 2,
      retryDelay: 200,
      timeout: 30_000,
      ...(newInstanceIds ? { producerId: -1n, producerEpoch: -1 } : {}),
    })
  const msgs = (topic: string, tag: string, n: number) => Array.from({ length: n }, (_, i) => ({ topic, key: `k${i}`, value: `${tag}-${i}` }))
  const report: Record<string, unknown> = {}
  const describe = (e: unknown) => {
    const g = e as { code?: string; message?: string; findBy?: (p: string, v: unknown) => { apiId?: string } | null; errors?: unknown[] }
    return {
      code: g.code,
      message: g.message,
      isGenericError: e instanceof Error && GenericError.isGenericError(e as never),
      producerFenced: !!g.findBy?.('producerFenced', true),
      apiIds: ['PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH', 'INVALID_TXN_STATE', 'INVALID_PRODUCER_ID_MAPPING'].filter((id) => g.findBy?.('apiId', id)),
    }
  }
  try {
    // Zombie: opens a transaction over both topics and never commits before the new instance starts.
    const zombie = make(false)
    const zt = await zombie.beginTransaction()
    await zt.send({ messages: [...msgs(a, 'zombie', 10), ...msgs(b, 'zombie', 2)] })
    report.zombieEpoch = zombie.producerEpoch
    // A new instance with the defaults (producerId 0, epoch 0).
    const defaults = make(false)
    try {
      await defaults.beginTransaction()
      report.newInstanceWithDefaults = { epoch: defaults.producerEpoch }
    } catch (e) {
      report.newInstanceWithDefaults = describe(e)
    }
    await defaults.close().catch(() => {})
    // The new instance: beginTransaction() does InitProducerId (epoch bump: fences the zombie and aborts its open transaction).
    const fresh = make()
    const ft = await fresh.beginTransaction()
    report.freshEpoch = fresh.producerEpoch
    report.sameProducerId = fresh.producerId === zombie.producerId
    try {
      await zt.commit()
      report.zombieCommit = 'succeeded (BAD)'
    } catch (e) {
      report.zombieCommit = describe(e)
    }
    try {
      await zombie.send({ messages: msgs(a, 'zombie-late', 1) })
      report.zombieLateSend = 'succeeded (non-transactional send after fencing; lands as a plain idempotent record)'
    } catch (e) {
      report.zombieLateSend = describe(e)
    }
    await zombie.close().catch(() => {})
    // Aborted transaction over both topics.
    await ft.send({ messages: [...msgs(a, 'aborted', 10), ...msgs(b, 'aborted', 2)] })
    await ft.abort()
    // Committed transaction over both topics.
    const ct = await fresh.beginTransaction()
    await ct.send({ messages: [...msgs(a, 'committed', 10), ...msgs(b, 'committed', 2)] })
    await ct.commit()
    // Begin + cancel (no partitions, no request): how to fence eagerly without an empty EndTxn.
    const third = make()
    const t3 = await third.beginTransaction()
    report.thirdEpoch = third.producerEpoch
    await t3.cancel()
    const t4 = await third.beginTransaction()
    await t4.send({ messages: msgs(b, 'after-cancel', 1) })
    await t4.commit()
    await third.close()
    // The fenced 'fresh' producer now fails: the error must be recognisable.
    try {
      const t5 = await fresh.beginTransaction()
      await t5.send({ messages: msgs(a, 'fenced', 1) })
      await t5.commit()
      report.fencedFreshCommit = 'succeeded (BAD)'
    } catch (e) {
      report.fencedFreshCommit = describe(e)
    }
    await fresh.close().catch(() => {})
    // Read back with read_committed.
    const seen: Record<string, string[]> = { [a]: [], [b]: [] }
    const consumer = kafka.consumer({ groupId: `fluxion-bench-features-${stamp}`, readUncommitted: false })
    await consumer.connect()
    await consumer.subscribe({ topics: [a, b], fromBeginning: true })
    let lastAt = Date.now()
    await consumer.run({ eachMessage: async ({ topic, message }) => void (seen[topic].push(message.value!.toString()), (lastAt = Date.now())) })
    while (Date.now() - lastAt < 3000) await sleep(200)
    await consumer.disconnect()
    const tags = (vs: string[]) => Object.fromEntries([...new Set(vs.map((v) => v.replace(/-\d+$/, '')))].map((t) => [t, vs.filter((v) => v.replace(/-\d+$/, '') === t).length]))
    report.readCommitted = { [a.replace(stamp, '')]: tags(seen[a]), [b.replace(stamp, '')]: tags(seen[b]) }
  } finally {
    await deleteTopics(kafka, [a, b])
  }
  process.stdout.write(JSON.stringify({ features: report, loadavg: load() }, null, 2) + '\n')
}

async function main(): Promise<void> {
  const { values: o } = parseArgs({
    options: {
      client: { type: 'string' },
      mode: { type: 'string', default: 'idempotent' },
      records: { type: 'string', default: '300000' },
      batch: { type: 'string', default: '500' },
      'in-flight': { type: 'string', default: '1' },
      'txn-records': { type: 'string', default: '20000' },
      brokers: { type: 'string', default: '127.0.0.1:19092' },
      topic: { type: 'string' },
      runs: { type: 'string', default: '3' },
      child: { type: 'boolean', default: false },
      matrix: { type: 'boolean', default: false },
      features: { type: 'boolean', default: false },
    },
  })
  const int = (name: string, v: string) => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be an integer >= 1, got ${v}`)
    return n
  }
  const brokers = o.brokers.split(',')
  const base = { records: int('records', o.records), txnRecords: int('txn-records', o['txn-records']), brokers }
  if (o.features) return runFeatures(brokers)
  if (o.matrix) return runMatrix(base, int('runs', o.runs))
  if (!CLIENTS.includes(o.client as Client)) throw new Error(`--client must be one of ${CLIENTS.join(', ')} (or use --matrix / --features)`)
  if (!MODES.includes(o.mode as Mode)) throw new Error(`--mode must be one of ${MODES.join(', ')}`)
  const cfg: RunConfig = { ...base, client: o.client as Client, mode: o.mode as Mode, batch: int('batch', o.batch), inFlight: int('in-flight', o['in-flight']) }
  if (o.child) {
    if (!o.topic) throw new Error('--child needs --topic')
    return runChild(cfg, o.topic)
  }
  const r = await runOnce(cfg, `batch${cfg.batch}-inflight${cfg.inFlight}`)
  process.stdout.write(JSON.stringify(r) + '\n')
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    // inspect: shows the nested errors of an AggregateError (@platformatic/kafka's MultipleErrors).
    process.stderr.write(`${inspect(e, { depth: 6 })}\n`)
    process.exit(1)
  },
)
