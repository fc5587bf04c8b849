/**
 * Every kafkajs client a KafkaSource reader makes is disconnected when the reader closes, also when
 * close() comes while the reader is still starting (as when an attempt fails early): no socket to
 * the broker remains, and a job process whose failed attempts closed readers mid-start exits by
 * itself once the job finished.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SystemClock } from '../../index.ts'
import { jsonSerde } from '../../connectors/kafka/avro-serde.ts'
import { KafkaSource } from '../../connectors/kafka/kafka-source.ts'
import { kafkaBrokers, uniqueName } from './env.ts'

const ROOT = resolve(import.meta.dirname, '../..')
const kafka = new Kafka({ clientId: 'fluxion-client-lifecycle-spec', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING })
const brokerPorts = new Set(kafkaBrokers().map((b) => Number(b.split(':').pop())))

/** Open sockets of this process to the broker (the spec's own admin is disconnected around the checks). */
function brokerSockets(): number {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles()
  return handles.filter((h) => {
    const s = h as { remotePort?: number; destroyed?: boolean }
    return typeof s === 'object' && s !== null && s.remotePort !== undefined && brokerPorts.has(s.remotePort) && s.destroyed !== true
  }).length
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 25))
  }
  return true
}

let topic: string
beforeAll(async () => {
  const admin = kafka.admin()
  await admin.connect()
  topic = uniqueName('fluxion-lifecycle')
  await admin.createTopics({ topics: [{ topic, numPartitions: 4 }], waitForLeaders: true })
  const producer = kafka.producer()
  await producer.connect()
  for (let p = 0; p < 4; p++) await producer.send({ topic, messages: Array.from({ length: 50 }, (_, i) => ({ partition: p, value: JSON.stringify({ n: p * 50 + i }) })) })
  await producer.disconnect()
  await admin.disconnect()
})

afterAll(async () => {
  const admin = kafka.admin()
  await admin.connect()
  await admin.deleteTopics({ topics: [topic] }).catch(() => {})
  await admin.disconnect()
})

describe('KafkaSource readers leave no Kafka client behind', () => {
  it('close() at any moment of start-up (connect, discovery, start offsets, group join, fetching) disconnects every client', async () => {
    expect(await until(() => brokerSockets() === 0, 5_000), 'no broker socket before the test').toBe(true)
    const leaks: string[] = []
    // Delays spread over the reader's start-up (a few ms to connect, tens to resolve offsets, a few hundred to join its group).
    for (const delay of [0, 1, 2, 5, 10, 20, 40, 70, 100, 150, 250, 400, 700]) {
      const source = new KafkaSource<{ n: number }>({ brokers: kafkaBrokers(), topics: [topic], groupId: uniqueName('fluxion-lifecycle-g'), deserializer: jsonSerde() })
      const reader = source.createReader({ subtaskIndex: 0, parallelism: 2, clock: new SystemClock() })
      await new Promise((r) => setTimeout(r, delay))
      await reader.close!()
      // A leaked client keeps its socket (kafkajs reconnects a client used after disconnect): give it time to show.
      await new Promise((r) => setTimeout(r, 300))
      if (!(await until(() => brokerSockets() === 0, 2_000))) leaks.push(`close after ${delay} ms: ${brokerSockets()} socket(s) left`)
    }
    expect(leaks).toEqual([])
  }, 60_000)

  it('a job process whose attempts failed while the readers started exits by itself once the job finished', async () => {
    const chk = mkdtempSync(join(tmpdir(), 'fluxion-lifecycle-chk-'))
    const args = ['--brokers', kafkaBrokers().join(','), '--input', topic, '--chk', chk, '--delays', '0,2,5,15,40']
    const child = spawn(process.execPath, ['--import', 'tsx', 'topologies/run.ts', 'tests/kafka/fixtures/kafka-failing-start-job.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    let finishedAt: number | undefined
    child.stderr.on('data', (d) => {
      stderr += String(d)
      if (finishedAt === undefined && /job "kafka-failing-start" finished in/.test(stderr)) finishedAt = Date.now()
    })
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)))
    const timeout = setTimeout(() => child.kill('SIGKILL'), 40_000)
    try {
      const code = await exited
      expect(finishedAt, stderr).toBeDefined()
      // Later failures may come too late: the bounded job can finish first.
      expect((stderr.match(/restart \d+ in/g) ?? []).length, stderr).toBeGreaterThanOrEqual(3)
      expect(code, stderr).toBe(0)
      // Closing the last readers takes a moment; a leaked client would keep the process alive until the timeout.
      expect(Date.now() - finishedAt!, stderr).toBeLessThan(10_000)
    } finally {
      clearTimeout(timeout)
      child.kill('SIGKILL')
    }
  }, 60_000)
})
