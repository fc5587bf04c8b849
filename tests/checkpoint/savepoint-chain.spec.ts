/**
 * Savepoints, incremental checkpoint chains and restores, interleaved at random (fast-check) on
 * both state backends: every checkpoint and savepoint, restored in a new job, must hold exactly
 * the keyed state a plain model held when it was taken, and a job restored from any of them must
 * keep taking correct (incremental) checkpoints. A restart from 'latest' must come back to the
 * last checkpoint or restore point of the current timeline, even right after restoring an older
 * checkpoint or a savepoint, and no savepoint may be overwritten by a later one.
 *
 * Regression: a savepoint used to reset the backends' change tracking while the next periodic
 * checkpoint was still a delta on the previous checkpoint, so the changes made in between were
 * lost from every later checkpoint.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../engine/time.ts'
import { StreamExecutionEnvironment, type JobClient } from '../../index.ts'
import { INTERVAL, job, KEYS, queueSource, stateAt, until, type Model, type Write } from './fixtures/queue-job.ts'

type Op =
  | { kind: 'write'; writes: Write[] }
  | { kind: 'checkpoint' }
  | { kind: 'savepoint' }
  /** Cancel the job and start a new one from a checkpoint that still exists or a savepoint (`pick` mod their number). */
  | { kind: 'restore'; from: 'checkpoint' | 'savepoint'; pick: number }
  /** Cancel the job and start a new one with restoreFrom: 'latest' (as after a crash). */
  | { kind: 'restart-latest' }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.record({ k: fc.nat(KEYS - 1), v: fc.option(fc.nat(1000), { freq: 4 }) }), { minLength: 1, maxLength: 6 }).map((writes) => ({ kind: 'write' as const, writes })) },
  { weight: 3, arbitrary: fc.constant({ kind: 'checkpoint' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'savepoint' as const }) },
  { weight: 1, arbitrary: fc.record({ from: fc.constantFrom<'checkpoint' | 'savepoint'>('checkpoint', 'savepoint'), pick: fc.nat(20) }).map(({ from, pick }) => ({ kind: 'restore' as const, from, pick })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart-latest' as const }) },
)

interface Taken {
  path: string
  savepoint: boolean
  model: Model
}

/**
 * Runs `ops`; `check` gets every checkpoint and savepoint as it is taken, with the model state it
 * must hold. Returns the savepoints taken (to check again at the end: none may be overwritten).
 */
async function runOps(
  backend: 'memory' | 'rocksdb',
  parallelism: number,
  compactAfter: number,
  dir: string,
  ops: readonly Op[],
  check: (t: Taken) => Promise<void>,
): Promise<Taken[]> {
  const clock = new ManualClock(0)
  const counter = { n: 0 }
  let model: Model = new Map()
  /** The state a restart from 'latest' must come back to: the last checkpoint or restore point. */
  let latest: Model = new Map()
  const checkpoints: Taken[] = []
  const savepoints: Taken[] = []
  let queue: Write[] = []
  let client: JobClient | undefined
  const start = (restoreFrom?: string): JobClient => {
    queue = []
    const env = StreamExecutionEnvironment.create({
      parallelism,
      clock,
      stateBackend: backend,
      stateDir: join(dir, 'rocksdb'),
      checkpoint: { intervalMs: INTERVAL, dir: join(dir, 'chk'), retain: 1_000, compactAfter },
    })
    job(env, queueSource(queue), counter)
    return env.executeAsync('chain', { restoreFrom, log: () => {} })
  }
  /** Starts a job and waits until its tasks (and so its checkpoint coordinator) exist. */
  const run = async (restoreFrom?: string): Promise<JobClient> => {
    const c = start(restoreFrom)
    await until(() => c.tasks().length > 0, 'the job to start')
    return c
  }
  const stop = async (): Promise<void> => {
    client!.cancel()
    await client!.result.catch((e: Error) => expect(e.message).toMatch(/cancel/))
  }
  client = await run()
  try {
    for (const op of ops) {
      if (op.kind === 'write') {
        const target = counter.n + op.writes.length
        queue.push(...op.writes)
        for (const w of op.writes) if (w.v === null) model.delete(w.k); else model.set(w.k, w.v)
        await until(() => counter.n === target, 'the writes')
      } else if (op.kind === 'checkpoint') {
        const periodic = () => client!.checkpointStats().filter((s) => !s.savepoint)
        const n = periodic().length
        clock.advance(INTERVAL)
        await until(() => periodic().length > n, 'a checkpoint')
        const id = periodic()[n].checkpointId
        checkpoints.push({ path: join(dir, 'chk', `chk-${id}`), savepoint: false, model: new Map(model) })
        latest = new Map(model)
        await check(checkpoints[checkpoints.length - 1])
      } else if (op.kind === 'savepoint') {
        const { path } = await client.triggerSavepoint()
        savepoints.push({ path, savepoint: true, model: new Map(model) })
        await check(savepoints[savepoints.length - 1])
      } else if (op.kind === 'restore') {
        // Retention removes the checkpoints a restarted job does not build on; savepoints stay.
        const candidates = op.from === 'checkpoint' ? checkpoints.filter((t) => existsSync(join(t.path, '_metadata'))) : savepoints
        if (candidates.length === 0) continue
        const from = candidates[op.pick % candidates.length]
        await stop()
        model = new Map(from.model)
        latest = new Map(from.model)
        client = await run(from.path)
      } else {
        await stop()
        model = new Map(latest)
        client = await run('latest')
      }
    }
  } finally {
    await stop()
  }
  return savepoints
}

describe('savepoints between incremental checkpoints', () => {
  for (const backend of ['memory', 'rocksdb'] as const) {
    it(`${backend}: every checkpoint and savepoint restores the state of its moment, whatever the interleaving`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 2, maxLength: 14 }), fc.constantFrom(1, 2), fc.constantFrom(2, 8), async (ops, parallelism, compactAfter) => {
          const dir = mkdtempSync(join(tmpdir(), `fluxion-savepoint-chain-${backend}-`))
          try {
            const check = async (t: Taken): Promise<void> => {
              const expected = Object.fromEntries(t.model)
              expect(Object.fromEntries(await stateAt(backend, parallelism, dir, t.path)), t.path).toEqual(expected)
              // Savepoints are also restored at another parallelism.
              if (t.savepoint) expect(Object.fromEntries(await stateAt(backend, 3 - parallelism, dir, t.path)), t.path).toEqual(expected)
            }
            for (const savepoint of await runOps(backend, parallelism, compactAfter, dir, ops, check)) await check(savepoint)
          } finally {
            rmSync(dir, { recursive: true, force: true })
          }
        }),
        { numRuns: backend === 'memory' ? 25 : 12 },
      )
    })
  }

  it('the repro of the bug: checkpoint, write, savepoint, checkpoint; the last checkpoint holds the write', async () => {
    for (const backend of ['memory', 'rocksdb'] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'fluxion-savepoint-repro-'))
      try {
        const ops: Op[] = [
          { kind: 'write', writes: [{ k: 1, v: 10 }] },
          { kind: 'checkpoint' },
          { kind: 'write', writes: [{ k: 2, v: 20 }] },
          { kind: 'savepoint' },
          { kind: 'checkpoint' },
        ]
        const taken: Taken[] = []
        await runOps(backend, 1, 8, dir, ops, async (t) => void taken.push(t))
        expect(taken.map((t) => t.savepoint)).toEqual([false, true, false])
        expect(Object.fromEntries(await stateAt(backend, 1, dir, taken[2].path))).toEqual({ 1: 10, 2: 20 })
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }
  })

  it('a restart right after restoring an older checkpoint comes back to it, not to a newer one of the abandoned timeline; savepoints are never overwritten', async () => {
    for (const backend of ['memory', 'rocksdb'] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'fluxion-restore-older-'))
      try {
        const taken: Taken[] = []
        const ops: Op[] = [
          { kind: 'write', writes: [{ k: 1, v: 1 }] },
          { kind: 'checkpoint' },
          { kind: 'savepoint' },
          { kind: 'write', writes: [{ k: 1, v: 2 }] },
          { kind: 'checkpoint' },
          { kind: 'checkpoint' },
          { kind: 'restore', from: 'checkpoint', pick: 0 },
          { kind: 'restart-latest' },
          { kind: 'write', writes: [{ k: 2, v: 3 }] },
          { kind: 'savepoint' },
          { kind: 'checkpoint' },
        ]
        const check = async (t: Taken): Promise<void> => {
          expect(Object.fromEntries(await stateAt(backend, 1, dir, t.path)), t.path).toEqual(Object.fromEntries(t.model))
        }
        const savepoints = await runOps(backend, 1, 8, dir, ops, async (t) => {
          taken.push(t)
          await check(t)
        })
        // Before the fix, the restart went back to the newest checkpoint ({1: 2}) and the last
        // checkpoint held {1: 2, 2: 3}; and the second savepoint took the first one's id and path.
        expect(Object.fromEntries(taken[5].model)).toEqual({ 1: 1, 2: 3 })
        expect(new Set(savepoints.map((t) => t.path)).size).toBe(2)
        for (const t of savepoints) await check(t)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }
  })
})
