/**
 * Exactly-once recovery in process: jobs checkpoint, fail, restart from their latest complete
 * checkpoint (or are restored at another parallelism), and their committed output must equal the
 * output of a run without failures: nothing lost, nothing duplicated.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  StreamExecutionEnvironment,
  TumblingEventTimeWindows,
  ValueStateDescriptor,
  WatermarkStrategy,
  type DataStream,
  type EnvironmentOptions,
  type KeyedProcessFunction,
  type ValueState,
} from '../../index.ts'

interface Ev {
  key: number
  ts: number
  v: number
}

const event = (i: number): Ev => ({ key: (i * 7919) % 13, ts: i * 10 - ((i * 31) % 50), v: i % 100 })
const NO_LATENESS = WatermarkStrategy.forBoundedOutOfOrderness<Ev>(100).withTimestampAssigner((e) => e.ts)

/**
 * Running count and sum per key, in keyed state. Only the count is emitted: the order in which a
 * key's records arrive from parallel source subtasks may differ between runs, the count may not.
 */
class RunningTotals implements KeyedProcessFunction<number, Ev, string> {
  private state!: ValueState<{ n: number; sum: number }>
  open(ctx: Parameters<NonNullable<KeyedProcessFunction<number, Ev, string>['open']>>[0]): void {
    this.state = ctx.getState(new ValueStateDescriptor('totals'))
  }
  processElement(e: Ev, ctx: { getCurrentKey(): number }, out: { collect(v: string): void }): void {
    const s = this.state.value() ?? { n: 0, sum: 0 }
    s.n++
    s.sum += e.v
    this.state.update({ ...s })
    out.collect(`${ctx.getCurrentKey()}:${s.n}`)
  }
}

/** The job under test: windows (timers + state) and a keyed process function (state). */
function build(env: StreamExecutionEnvironment, count: number, failAt: (e: Ev) => boolean): DataStream<string> {
  return buildFrom(
    env.fromGenerator(event, { count }, NO_LATENESS).map((e) => {
      if (failAt(e)) throw new Error(`injected failure at ts ${e.ts}`)
      return e
    }, 'maybe-fail'),
  )
}

function buildFrom(source: DataStream<Ev>): DataStream<string> {
  const windows = source
    .keyBy((e) => e.key)
    .window(TumblingEventTimeWindows.of(1_000))
    .aggregate(
      { createAccumulator: () => ({ n: 0, sum: 0 }), add: (e, a) => ({ n: a.n + 1, sum: a.sum + e.v }), getResult: (a) => a, merge: (a, b) => ({ n: a.n + b.n, sum: a.sum + b.sum }) },
      (key, w, r) => `w:${key}:${w.start}:${r.n}:${r.sum}`,
    )
  const totals = source.keyBy((e) => e.key).process(new RunningTotals())
  return windows.union(totals)
}

async function runClean(count: number, parallelism: number): Promise<string[]> {
  const env = StreamExecutionEnvironment.create({ parallelism })
  const [rows] = await env.executeAndCollect(build(env, count, () => false))
  return rows.sort()
}

function checkpointed(dir: string, extra: EnvironmentOptions = {}): EnvironmentOptions {
  return { checkpoint: { intervalMs: 2, dir, compactAfter: 3 }, ...extra }
}

const quiet = { log: () => {} }

describe('checkpointing and recovery', () => {
  it('a job that fails and restarts from its checkpoints commits exactly the output of a clean run', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(fc.integer({ min: 100, max: 3_900 }), { minLength: 1, maxLength: 3 }), async (p, failAfter) => {
        const count = 4_000
        const expected = await runClean(count, p)
        const dir = mkdtempSync(join(tmpdir(), 'fluxion-chk-'))
        // Failure k fires once, when the k-th record (counting replays) passes the map.
        const pending = new Set(failAfter)
        let seen = 0
        const env = StreamExecutionEnvironment.create(checkpointed(dir, { parallelism: p, restartStrategy: { type: 'fixed-delay', attempts: 10, delayMs: 0 }, batchSize: 64 }))
        // Each injected failure fires once: the record that triggers it is replayed after the restart.
        const stream = build(env, count, () => pending.delete(++seen))
        const arrays: string[] = []
        const { CollectSink } = await import('../../index.ts')
        stream.sinkTo(new CollectSink(arrays))
        const result = await env.execute('recovery', quiet)
        expect(result.restarts).toBeGreaterThanOrEqual(1)
        expect(arrays.sort()).toEqual(expected)
      }),
      { numRuns: 8 },
    )
  })

  it('restores a checkpoint taken at parallelism 2 at parallelism 1, 3 and 8 with the same results', async () => {
    const count = 6_000
    const expected = await runClean(count, 2)
    for (const p2 of [1, 3, 8]) {
      const dir = mkdtempSync(join(tmpdir(), 'fluxion-rescale-'))
      // Run 1 at parallelism 2 dies for good at ts 40_000; its committed output is kept.
      const env1 = StreamExecutionEnvironment.create(checkpointed(dir, { parallelism: 2, batchSize: 64 }))
      const first: string[] = []
      const { CollectSink } = await import('../../index.ts')
      build(env1, count, (e) => e.ts === 40_000).sinkTo(new CollectSink(first))
      await expect(env1.execute('rescale', quiet)).rejects.toThrow(/injected failure/)
      // Run 2 restores the latest checkpoint at another parallelism and finishes the job.
      const env2 = StreamExecutionEnvironment.create(checkpointed(dir, { parallelism: p2, batchSize: 64 }))
      const second: string[] = []
      build(env2, count, () => false).sinkTo(new CollectSink(second))
      await env2.execute('rescale', { restoreFrom: 'latest', ...quiet })
      expect([...first, ...second].sort(), `restored at parallelism ${p2}`).toEqual(expected)
    }
  })

  it('a savepoint of a running job restores at another parallelism and continues', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-savepoint-'))
    const count = 3_000
    const expected = await runClean(count, 2)
    const { CollectSink } = await import('../../index.ts')
    // Rate-limited so that the job is still running when the savepoint is taken.
    const paced = (env: StreamExecutionEnvironment) =>
      env.fromGenerator(event, { count, eventsPerSecond: 2_000 }, NO_LATENESS)
    const env1 = StreamExecutionEnvironment.create(checkpointed(dir, { parallelism: 2, batchSize: 32 }))
    const first: string[] = []
    buildFrom(paced(env1)).sinkTo(new CollectSink(first))
    const client = env1.executeAsync('savepoint', quiet)
    await new Promise((r) => setTimeout(r, 100))
    const savepoint = await client.triggerSavepoint()
    client.cancel()
    await expect(client.result).rejects.toMatchObject({ code: 'FLX_JOB_CANCELLED' })
    expect(savepoint.path).toMatch(/savepoints[/\\]chk-\d+$/)
    // A savepoint is self-contained: it restores without the checkpoint directory's other files.
    const env2 = StreamExecutionEnvironment.create({ parallelism: 3, batchSize: 32 })
    const second: string[] = []
    buildFrom(env2.fromGenerator(event, { count }, NO_LATENESS)).sinkTo(new CollectSink(second))
    await env2.execute('savepoint', { restoreFrom: savepoint.path, ...quiet })
    // What the first run committed up to the savepoint, plus the restored run, is the whole output;
    // commits after the savepoint (the first run kept checkpointing) are dropped from the count.
    const all = [...first, ...second].sort()
    for (const row of expected) expect(all).toContain(row)
    expect(second.length).toBeGreaterThan(0)
  })
})

describe('failures inside the checkpoint protocol', () => {
  /** A transactional file sink whose prepare (snapshot) and commit fail once each, at chosen calls. */
  async function flakySink(dir: string, failPrepareAt: number, failCommitAt: number) {
    const { TransactionalJsonLinesSink } = await import('../../connectors/transactional-file-sink.ts')
    const inner = new TransactionalJsonLinesSink<string>(dir)
    let prepares = 0
    let commits = 0
    return {
      name: 'flaky-files',
      twoPhaseCommit: true as const,
      createWriter(ctx: { subtaskIndex: number; parallelism: number }) {
        const w = inner.createWriter(ctx)
        return {
          ...w,
          prepareCommit(epoch: number) {
            if (++prepares === failPrepareAt) throw new Error('injected failure while snapshotting the sink')
            return w.prepareCommit(epoch)
          },
        }
      },
      createCommitter() {
        const c = inner.createCommitter()
        return {
          ...c,
          commit(cs: Parameters<typeof c.commit>[0]) {
            // Fail after the checkpoint is complete, before its output is committed.
            if (++commits === failCommitAt) throw new Error('injected failure between checkpoint completion and commit')
            return c.commit(cs)
          },
        }
      },
    }
  }

  it('a failure while snapshotting and one between completion and commit lose and duplicate nothing', async () => {
    const { readdirSync, readFileSync } = await import('node:fs')
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 2, max: 12 }), async (failPrepareAt, failCommitAt) => {
        const count = 3_000
        const expected = await runClean(count, 2)
        const out = mkdtempSync(join(tmpdir(), 'fluxion-flaky-out-'))
        const dir = mkdtempSync(join(tmpdir(), 'fluxion-flaky-chk-'))
        const env = StreamExecutionEnvironment.create(checkpointed(dir, { parallelism: 2, batchSize: 32, restartStrategy: { type: 'fixed-delay', attempts: 5, delayMs: 0 } }))
        build(env, count, () => false).sinkTo(await flakySink(out, failPrepareAt, failCommitAt))
        await env.execute('flaky', quiet)
        const rows = readdirSync(out)
          .filter((f) => f.endsWith('.jsonl'))
          .flatMap((f) => readFileSync(join(out, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as string))
        expect(rows.sort()).toEqual(expected)
      }),
      { numRuns: 6 },
    )
  })

  it('a corrupt or truncated checkpoint file fails its restore clearly and the previous checkpoint is used', async () => {
    const { existsSync, readdirSync, truncateSync, writeFileSync } = await import('node:fs')
    const { CollectSink, FluxionError } = await import('../../index.ts')
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-corrupt-'))
    const count = 6_000
    const expected = await runClean(count, 2)
    const env1 = StreamExecutionEnvironment.create({ parallelism: 2, batchSize: 64, checkpoint: { intervalMs: 2, dir, fullEvery: 1 } })
    const first: string[] = []
    // Paced (about 0.6 s) so that several checkpoints complete before the failure.
    buildFrom(
      env1.fromGenerator(event, { count, eventsPerSecond: 10_000 }, NO_LATENESS).map((e) => {
        if (e.ts === 50_000) throw new Error('injected failure')
        return e
      }),
    ).sinkTo(new CollectSink(first))
    await expect(env1.execute('corrupt', quiet)).rejects.toThrow(/injected/)
    // Complete checkpoints only: the failure may leave the directory of one still in progress.
    const ids = readdirSync(dir)
      .filter((d) => /^chk-\d+$/.test(d) && existsSync(join(dir, d, '_metadata')))
      .map((d) => Number(d.slice(4)))
      .sort((a, b) => b - a)
    expect(ids.length).toBeGreaterThanOrEqual(2)
    // Damage the newest checkpoint: truncate one state file, corrupt another's bytes.
    const newest = join(dir, `chk-${ids[0]}`)
    const files = readdirSync(newest).filter((f) => f.endsWith('.state'))
    expect(files.length, `state files in ${newest}`).toBeGreaterThan(0)
    truncateSync(join(newest, files[0]), 20)
    if (files[1]) writeFileSync(join(newest, files[1]), 'garbage')
    const { LocalCheckpointStorage } = await import('../../engine/checkpoint/storage.ts')
    const { loadCheckpoint } = await import('../../engine/checkpoint/restore.ts')
    const storage = new LocalCheckpointStorage(dir)
    const error = await loadCheckpoint(storage, await storage.readMetadata(ids[0])).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(FluxionError)
    expect((error as InstanceType<typeof FluxionError>).code).toBe('FLX_CHECKPOINT_CORRUPT')
    expect((error as Error).message).toMatch(/truncated|checksum|header/)
    // Restoring 'latest' skips the damaged checkpoint, says so, and uses the one before.
    const logs: string[] = []
    const env2 = StreamExecutionEnvironment.create(checkpointed(dir, { parallelism: 2, batchSize: 64 }))
    const second: string[] = []
    build(env2, count, () => false).sinkTo(new CollectSink(second))
    await env2.execute('corrupt', { restoreFrom: 'latest', log: (m) => logs.push(m) })
    expect(logs.join('\n')).toMatch(/FLX_CHECKPOINT_CORRUPT/)
    expect(logs.join('\n')).toMatch(new RegExp(`restoring from checkpoint ${ids[1]}`))
    // The first run committed output up to the damaged checkpoint; restoring the one before
    // replays a little more: every expected row is there, and the extra rows are exactly the
    // output between the two checkpoints.
    const all = [...first, ...second].sort()
    for (const row of new Set(expected)) expect(all).toContain(row)
  })
})

describe('incremental checkpoints and compaction', () => {
  it('keeps keyed state in chains of deltas, compacts them into a base, and restores from it', async () => {
    const { readdirSync } = await import('node:fs')
    const { LocalCheckpointStorage } = await import('../../engine/checkpoint/storage.ts')
    const { CollectSink } = await import('../../index.ts')
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-compact-'))
    const count = 80_000
    const expected = await runClean(count, 2)
    const env1 = StreamExecutionEnvironment.create({ parallelism: 2, batchSize: 32, checkpoint: { intervalMs: 5, dir, compactAfter: 2, retain: 2 } })
    const first: string[] = []
    // Compaction runs on another thread: fail once a compacted base exists and four later
    // checkpoints were taken (the source paces 80k events over 10 s; the failure comes sooner).
    const chkIds = (): number[] => readdirSync(dir).flatMap((d) => (/^chk-(\d+)$/.test(d) ? [Number(d.slice(4))] : []))
    const baseId = (): number | undefined => chkIds().find((id) => readdirSync(join(dir, `chk-${id}`)).some((f) => f.endsWith('.base.state')))
    let seen = 0
    let newestWhenBase: number | undefined
    let failNow = false
    buildFrom(
      env1.fromGenerator(event, { count, eventsPerSecond: 8_000 }, NO_LATENESS).map((e) => {
        if (++seen % 50 === 0 && !failNow) {
          if (newestWhenBase === undefined && baseId() !== undefined) newestWhenBase = Math.max(...chkIds())
          failNow = newestWhenBase !== undefined && Math.max(...chkIds()) >= newestWhenBase + 4
        }
        if (failNow) throw new Error('injected failure')
        return e
      }, 'maybe-fail'),
    ).sinkTo(new CollectSink(first))
    await expect(env1.execute('compact', quiet)).rejects.toThrow(/injected/)
    const storage = new LocalCheckpointStorage(dir)
    const [latest] = await storage.listComplete()
    const meta = await storage.readMetadata(latest)
    const chains = Object.values(meta.tasks).flatMap((t) => t.subtasks.map((s) => s.files))
    // Deltas were taken (chains longer than one file) and compacted (a base file starts a chain).
    expect(chains.some((files) => files.length > 1)).toBe(true)
    expect(chains.some((files) => files[0].endsWith('.base.state'))).toBe(true)
    // Retention removed checkpoints no kept metadata refers to.
    expect(readdirSync(dir).filter((d) => d.startsWith('chk-')).length).toBeLessThan(latest)
    const env2 = StreamExecutionEnvironment.create({ parallelism: 3, batchSize: 32, checkpoint: { intervalMs: 5, dir } })
    const second: string[] = []
    build(env2, count, () => false).sinkTo(new CollectSink(second))
    await env2.execute('compact', { restoreFrom: 'latest', ...quiet })
    expect([...first, ...second].sort()).toEqual(expected)
  })
})

describe('the RocksDB state backend', () => {
  it('produces exactly what the memory backend produces, across failures, restarts and rescaling', async () => {
    const { CollectSink } = await import('../../index.ts')
    const count = 5_000
    const expected = await runClean(count, 2)
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-rocks-chk-'))
    const stateDir = mkdtempSync(join(tmpdir(), 'fluxion-rocks-state-'))
    // Run 1: RocksDB, restarts after injected failures, then dies for good.
    let seen = 0
    const failures = new Set([700, 2_100])
    const env1 = StreamExecutionEnvironment.create({
      parallelism: 2,
      batchSize: 32,
      stateBackend: 'rocksdb',
      stateDir,
      checkpoint: { intervalMs: 3, dir, compactAfter: 3 },
      restartStrategy: { type: 'fixed-delay', attempts: 5, delayMs: 0 },
    })
    const first: string[] = []
    build(env1, count, (e) => failures.delete(++seen) || e.ts === 41_000).sinkTo(new CollectSink(first))
    await expect(env1.execute('rocks', quiet)).rejects.toThrow(/injected/)
    // Run 2: restored at parallelism 3, still on RocksDB.
    const env2 = StreamExecutionEnvironment.create({ parallelism: 3, batchSize: 32, stateBackend: 'rocksdb', stateDir, checkpoint: { intervalMs: 3, dir } })
    const second: string[] = []
    build(env2, count, () => false).sinkTo(new CollectSink(second))
    await env2.execute('rocks', { restoreFrom: 'latest', ...quiet })
    expect([...first, ...second].sort()).toEqual(expected)
  })
})
