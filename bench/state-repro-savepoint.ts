/**
 * Minimal repro (found while writing bench/state.ts): a savepoint taken between two periodic
 * checkpoints loses the state changes made before it from the next incremental checkpoint.
 *
 *   npx tsx bench/state-repro-savepoint.ts      # exit code 1 while the bug is there
 *
 * A savepoint is a full snapshot (`backend.snapshot()`), which resets the backend's change
 * tracking; but the coordinator builds the next periodic checkpoint as a delta on the previous
 * *checkpoint* (savepoints are not part of the chain). Changes between that checkpoint and the
 * savepoint are then in neither: restoring the later checkpoint loses them.
 *
 * Steps: write key 1 → checkpoint 1 (full) → write key 2 → savepoint 2 → checkpoint 3
 * (incremental on 1) → restore checkpoint 3 in a new job: key 2 is missing.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { StreamExecutionEnvironment, ValueStateDescriptor, WatermarkStrategy, type Source, type ValueState } from '../index.ts'

/** Emits whatever is pushed into `queue`; never ends. */
function queueSource(queue: number[]): Source<number> {
  return {
    name: 'queue',
    bounded: false,
    maxParallelism: 1,
    createReader: () => ({
      pollNext(out) {
        while (queue.length > 0) out.collect(queue.shift()!)
        return 'nothing'
      },
      isAvailable: () => new Promise((r) => setTimeout(r, 5)),
      snapshotState: () => [],
    }),
  }
}

/** Emits `keys`, then ends. */
function listSource(keys: number[]): Source<number> {
  return {
    name: 'queue',
    bounded: true,
    maxParallelism: 1,
    createReader: () => {
      let done = false
      return {
        pollNext(out) {
          if (!done) for (const k of keys) out.collect(k)
          done = true
          return 'end'
        },
        isAvailable: () => Promise.resolve(),
        snapshotState: () => [],
      }
    },
  }
}

/** keyBy(k) → state(k) = 10 k (write) or read it into `seen` (read). */
function job(env: StreamExecutionEnvironment, source: Source<number>, counter: { processed: number }, seen?: Map<number, unknown>): void {
  let state!: ValueState<number>
  env
    .fromSource(source, WatermarkStrategy.noWatermarks<number>(), 'queue')
    .uid('queue')
    .keyBy((k) => k)
    .process(
      {
        open: (ctx) => void (state = ctx.getState(new ValueStateDescriptor<number>('v'))),
        processElement: (k: number) => {
          counter.processed++
          if (seen) seen.set(k, state.value())
          else state.update(k * 10)
        },
      },
      'store',
    )
    .uid('store')
    .sinkTo({ name: 'discard', createWriter: () => ({ write() {} }) })
}

const until = async (done: () => boolean): Promise<void> => {
  while (!done()) await new Promise((r) => setTimeout(r, 5))
}

async function main(): Promise<number> {
  let failed = 0
  for (const backend of ['memory', 'rocksdb'] as const) failed += await repro(backend)
  return failed > 0 ? 1 : 0
}

async function repro(backend: 'memory' | 'rocksdb'): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'fluxion-repro-savepoint-'))
  try {
    const queue: number[] = []
    const counter = { processed: 0 }
    const env = StreamExecutionEnvironment.create({ stateBackend: backend, stateDir: join(dir, 'rocksdb'), checkpoint: { intervalMs: 300, dir } })
    job(env, queueSource(queue), counter)
    const client = env.executeAsync('repro', { log: () => {} })
    const periodic = () => client.checkpointStats().filter((s) => !s.savepoint)
    queue.push(1)
    await until(() => counter.processed === 1 && periodic().length >= 1) // checkpoint 1 (full) holds key 1
    queue.push(2)
    await until(() => counter.processed === 2) // key 2 written after checkpoint 1
    await client.triggerSavepoint() // full snapshot: resets the change tracking
    const n = periodic().length
    await until(() => periodic().length > n) // the next periodic checkpoint: a delta on checkpoint 1
    client.cancel()
    await client.result.catch(() => {})
    const stats = client.checkpointStats()
    console.log(`[${backend}] ` + stats.map((s) => `${s.checkpointId}: ${s.savepoint ? 'savepoint' : s.incremental ? 'incremental checkpoint' : 'full checkpoint'}`).join(', '))

    const latest = periodic()[periodic().length - 1].checkpointId
    const seen = new Map<number, unknown>()
    const env2 = StreamExecutionEnvironment.create({ stateBackend: backend, stateDir: join(dir, 'rocksdb') })
    job(env2, listSource([1, 2]), { processed: 0 }, seen)
    await env2.execute('repro', { restoreFrom: join(dir, `chk-${latest}`), log: () => {} })
    console.log(`[${backend}] restored checkpoint ${latest}: key 1 = ${String(seen.get(1))} (expected 10), key 2 = ${String(seen.get(2))} (expected 20)`)
    const lost = seen.get(1) !== 10 || seen.get(2) !== 20
    console.log(`[${backend}] ` + (lost ? 'BUG: state written before the savepoint is missing from the next checkpoint' : 'ok'))
    return lost ? 1 : 0
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

main().then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    console.error(e)
    process.exitCode = 2
  },
)
