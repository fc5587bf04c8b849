/**
 * Exactly-once end to end with Kafka on both sides: a pre-filled input topic (several partitions) →
 * KafkaSource → keyed event-time windows → exactly-once KafkaSink, run as a child process
 * (tests/kafka/fixtures/kafka-eos-job.ts). A read_committed consumer of the output must see every
 * window result of a plain reference computation exactly once:
 *  - after the job is killed with SIGKILL at random moments and restarted from its latest checkpoint;
 *  - after the broker (a private one, not the shared 19092) is stopped (SIGTERM) in the middle of the
 *    run and started again.
 * Every run that finished must exit by itself soon after (no Kafka client of a failed attempt left).
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, describe, expect, it } from 'vitest'
import { expectedResults, inputEvent, INPUT_PARTITIONS, type OutputRow } from './fixtures/kafka-eos-job.ts'
import { kafkaBrokers, uniqueName } from './env.ts'
import { startPrivateBroker } from './private-broker.ts'
import { readTopic } from './read-committed.ts'

const ROOT = resolve(import.meta.dirname, '../..')
const JOB = 'tests/kafka/fixtures/kafka-eos-job.ts'

/** Job processes and brokers still running: stopped at the end even if a test times out. */
const cleanups = new Set<() => Promise<void> | void>()
afterAll(async () => {
  for (const c of cleanups) await c()
})

interface Run {
  code: number | null
  signal: string | null
  stderr: string
  ms: number
  /** From the job's "finished in" line to the process's exit (undefined if it never finished). */
  exitAfterFinishMs: number | undefined
}

/** A finished job closes its Kafka clients: nothing keeps the process alive. */
const EXIT_AFTER_FINISH_MS = 10_000

/** Complete checkpoints under `chk` (directories chk-<n> with their metadata written). */
function completeCheckpoints(chk: string): number[] {
  return readdirSync(chk)
    .filter((d) => /^chk-\d+$/.test(d) && existsSync(join(chk, d, '_metadata')))
    .map((d) => Number(d.slice(4)))
}

/**
 * Starts the job (restoring its latest checkpoint, if any). With `killAfterCheckpoint`, kills it
 * with SIGKILL at a random moment within `killWithinMs` after it completed its first new checkpoint
 * (so that every killed run made progress, however loaded the machine is).
 */
function runJob(args: Record<string, string> & { chk: string }, killAfterCheckpoint?: { killWithinMs: number }): Promise<Run> {
  const started = Date.now()
  const argv = Object.entries(args).flatMap(([k, v]) => [`--${k}`, v])
  const before = new Set(completeCheckpoints(args.chk))
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'topologies/run.ts', JOB, ...argv, '--restore', 'latest'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    let finishedAt: number | undefined
    child.stderr.on('data', (d) => {
      stderr += String(d)
      if (finishedAt === undefined && /job "[^"]+" finished in/.test(stderr)) {
        finishedAt = Date.now()
        // A process kept alive by a leaked client fails the test (exitAfterFinishMs) instead of hanging it.
        setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'), EXIT_AFTER_FINISH_MS).unref()
      }
    })
    const cleanup = () => void child.kill('SIGKILL')
    cleanups.add(cleanup)
    let killTimer: NodeJS.Timeout | undefined
    const watch = killAfterCheckpoint
      ? setInterval(() => {
          if (killTimer || !completeCheckpoints(args.chk).some((id) => !before.has(id))) return
          killTimer = setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * killAfterCheckpoint.killWithinMs))
        }, 25)
      : undefined
    child.on('exit', (code, signal) => {
      cleanups.delete(cleanup)
      clearInterval(watch)
      clearTimeout(killTimer)
      done({ code, signal, stderr, ms: Date.now() - started, exitAfterFinishMs: finishedAt === undefined ? undefined : Date.now() - finishedAt })
    })
  })
}

/** Creates the input and output topics and writes `n` input events. */
async function prepareTopics(brokers: string[], n: number): Promise<{ input: string; output: string; prefix: string; drop: () => Promise<void> }> {
  const kafka = new Kafka({ clientId: 'fluxion-eos-e2e', brokers, logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  const input = uniqueName('eos-e2e-in')
  const output = uniqueName('eos-e2e-out')
  const prefix = uniqueName('eos-e2e')
  await admin.createTopics({ topics: [{ topic: input, numPartitions: INPUT_PARTITIONS }, { topic: output, numPartitions: 3 }], waitForLeaders: true })
  const producer = kafka.producer()
  await producer.connect()
  for (let from = 0; from < n; from += 2_000) {
    const messages = Array.from({ length: Math.min(2_000, n - from) }, (_, k) => {
      const { partition, event } = inputEvent(from + k)
      return { partition, value: JSON.stringify(event) }
    })
    await producer.send({ topic: input, messages, acks: -1 })
  }
  await producer.disconnect()
  return {
    input,
    output,
    prefix,
    drop: async () => {
      await admin.deleteTopics({ topics: [input, output, `${prefix}.control`] }).catch(() => {})
      await admin.disconnect().catch(() => {})
    },
  }
}

const rowsOf = (records: { value: string }[]) => records.map((r) => JSON.parse(r.value) as OutputRow)
const sortKey = (r: OutputRow) => `w:${r.key}:${r.start}:${r.count}:${r.sum}`
const sorted = (rows: OutputRow[]) => rows.map(sortKey).sort()

/** Rows missing from `got` and rows too many in it (as multisets), for failure messages. */
function diff(got: OutputRow[], expected: OutputRow[]): string {
  const count = new Map<string, number>()
  for (const r of expected) count.set(sortKey(r), (count.get(sortKey(r)) ?? 0) + 1)
  for (const r of got) count.set(sortKey(r), (count.get(sortKey(r)) ?? 0) - 1)
  const missing = [...count].filter(([, c]) => c > 0).map(([k, c]) => `${k} x${c}`)
  const extra = [...count].filter(([, c]) => c < 0).map(([k, c]) => `${k} x${-c}`)
  return `missing (w:key:start:count:sum): ${missing.slice(0, 20).join(', ') || 'none'}; extra: ${extra.slice(0, 20).join(', ') || 'none'}`
}

/**
 * The job killed with SIGKILL at random moments after a checkpoint and restarted from its latest
 * checkpoint, four times, then run to the end; `extra` are more job arguments (e.g. worker threads;
 * two subtasks read twice as fast, so they are paced more: every `pace` records a subtask sleeps 1 ms).
 */
async function killAndRestart(extra: Record<string, string> = {}): Promise<void> {
  const n = 20_000
  const expected = expectedResults(n)
  const topics = await prepareTopics(kafkaBrokers(), n)
  const chk = mkdtempSync(join(tmpdir(), 'fluxion-eos-e2e-chk-'))
  const args = { brokers: kafkaBrokers().join(','), input: topics.input, output: topics.output, prefix: topics.prefix, chk, pace: '10', ...extra }
  try {
    let kills = 0
    let restores = 0
    const log: string[] = []
    for (let i = 0; i < 4; i++) {
      const r = await runJob(args, { killWithinMs: 3_000 })
      log.push(`run ${i}: ${r.signal ?? r.code} after ${r.ms} ms`)
      if (/restoring from checkpoint/.test(r.stderr)) restores++
      expect(r.exitAfterFinishMs ?? 0, `run ${i} finished but did not exit\n${r.stderr}`).toBeLessThan(EXIT_AFTER_FINISH_MS)
      if (r.signal === 'SIGKILL') kills++
      else expect(r.code, r.stderr).toBe(0)
    }
    const last = await runJob(args)
    log.push(`last run: ${last.code} after ${last.ms} ms`)
    expect(last.code, last.stderr).toBe(0)
    expect(last.exitAfterFinishMs, 'the last run must exit by itself once finished').toBeLessThan(EXIT_AFTER_FINISH_MS)
    if (/restoring from checkpoint/.test(last.stderr)) restores++
    expect(kills, log.join('\n')).toBeGreaterThan(0)
    expect(restores, `some run must have resumed from a checkpoint of a killed one\n${log.join('\n')}`).toBeGreaterThan(0)

    const got = rowsOf(await readTopic(kafkaBrokers(), topics.output, expected.length))
    expect(got.length, `${log.join('\n')}\n${diff(got, expected)}`).toBe(expected.length)
    expect(sorted(got)).toEqual(sorted(expected))
    // The premise of the test: window results were committed checkpoint by checkpoint (the kills fell
    // between commits), not all at the end: the source's watermark advances while it reads.
    const control = await readTopic(kafkaBrokers(), `${topics.prefix}.control`, 1)
    const epochs = new Set(control.filter((r) => !r.key!.endsWith('/probe')).map((r) => r.key!.split('/').pop()))
    expect(epochs.size, `epochs with window results: ${[...epochs].join(',')}\n${log.join('\n')}`).toBeGreaterThan(3)
  } finally {
    await topics.drop()
  }
}

describe('exactly-once Kafka → windows → Kafka', () => {
  it('a read_committed reader sees every window result exactly once after SIGKILLs and restarts', () => killAndRestart(), 90_000)

  it('the same with the subtasks on two worker threads (parallelism 2): a SIGKILL takes the workers down with the process', () => killAndRestart({ parallelism: '2', workers: '2', pace: '4' }), 120_000)

  it('a broker stopped in the middle of the run and started again: still exactly once', async () => {
    const t0 = Date.now()
    const step = (what: string) => console.log(`[broker restart] ${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`)
    const broker = await startPrivateBroker()
    step('private broker up')
    const destroy = () => broker.destroy()
    cleanups.add(destroy)
    try {
      const n = 5_000
      const expected = expectedResults(n)
      const topics = await prepareTopics(broker.brokers, n)
      step('input written')
      const chk = mkdtempSync(join(tmpdir(), 'fluxion-eos-broker-chk-'))
      const args = { brokers: broker.brokers.join(','), input: topics.input, output: topics.output, prefix: topics.prefix, chk, pace: '2' }
      let finished = false
      const job = runJob(args).finally(() => (finished = true))
      // Once the job has completed a checkpoint (and so committed epochs), take the broker away.
      while (!finished && completeCheckpoints(chk).length === 0) await new Promise((r) => setTimeout(r, 25))
      await new Promise((r) => setTimeout(r, 200))
      expect(finished, 'the job must still be running when the broker stops').toBe(false)
      step('first checkpoint done; stopping the broker')
      await broker.stop()
      step('broker stopped')
      await new Promise((r) => setTimeout(r, 1_000))
      await broker.start()
      step('broker started again')
      let r = await job
      const runs = [r]
      // The job's restart strategy rides out the outage; should it still give up, resume it.
      for (let i = 0; i < 2 && r.code !== 0; i++) runs.push((r = await runJob(args)))
      console.log(`[broker restart] ${runs.map((x) => `exit ${x.signal ?? x.code} after ${x.ms} ms, ${(x.stderr.match(/restart \d+ in/g) ?? []).length} in-process restarts`).join('; ')}`)
      expect(r.code, r.stderr).toBe(0)
      for (const x of runs) if (x.exitAfterFinishMs !== undefined) expect(x.exitAfterFinishMs, `a finished run did not exit by itself\n${x.stderr}`).toBeLessThan(EXIT_AFTER_FINISH_MS)
      const got = rowsOf(await readTopic(broker.brokers, topics.output, expected.length))
      expect(got.length, diff(got, expected)).toBe(expected.length)
      expect(sorted(got)).toEqual(sorted(expected))
      await topics.drop()
    } finally {
      cleanups.delete(destroy)
      await broker.destroy()
    }
  }, 180_000)
})
