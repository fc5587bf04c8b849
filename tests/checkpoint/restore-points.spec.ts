/**
 * Restore points and retention:
 *  - a restore that fails before the job runs (here: the job's maxParallelism changed, rejected at
 *    deploy) leaves the job's directory as it was: 'latest' still resumes from the job's own latest
 *    checkpoint, not from the savepoint it failed to restore (the restore point used to be
 *    registered before deploying, and the next checkpoint's retention deleted the real latest);
 *  - every chk-<n> listed as complete restores: a checkpoint that retention drops while a kept
 *    chain still uses some of its files (a compacted base) keeps those files but loses its
 *    _metadata (it used to stay listed as complete, pointing at files already deleted);
 *  - retention keeps `retain` checkpoints across a restart (the restarted job's first checkpoint
 *    used to delete every checkpoint of the run before).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { LocalCheckpointStorage } from '../../engine/checkpoint/storage.ts'
import { ManualClock } from '../../engine/time.ts'
import { StreamExecutionEnvironment } from '../../index.ts'
import { INTERVAL, job, queueSource, startQueueJob, stateAt, until } from './fixtures/queue-job.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

async function startJob(dir: string, clock: ManualClock, restoreFrom?: string, compactAfter = 8, retain?: number) {
  const j = await startQueueJob({ dir, clock, restoreFrom, compactAfter, retain })
  return { ...j, checkpoint: async (): Promise<number> => (await j.checkpoint()).checkpointId }
}

describe('restore points and retention', () => {
  it('every checkpoint that retention leaves with its _metadata (listed as complete) can be restored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-review-stale-'))
    dirs.push(dir)
    const clock = new ManualClock(0)
    // Two checkpoints retained, also across the restart below.
    const a = await startJob(dir, clock, undefined, 2, 2)
    const models: Record<number, Record<number, number>> = {}
    for (let v = 1; v <= 3; v++) {
      await a.write([{ k: 0, v }])
      models[await a.checkpoint()] = { 0: v }
    }
    // The third checkpoint's chain (3 files) is longer than compactAfter: compacted into a base there.
    await until(() => existsSync(join(dir, 'chk', 'chk-3', 'store-0.base.state')), 'the compaction')
    await a.write([{ k: 0, v: 4 }])
    models[await a.checkpoint()] = { 0: 4 }
    await a.stop()
    const b = await startJob(dir, clock, 'latest', 2, 2)
    await b.write([{ k: 0, v: 5 }])
    models[await b.checkpoint()] = { 0: 5 }
    await b.stop()
    // The scenario: chk-1's files are gone (retention), chk-3's compacted base is kept for the newer
    // chain; chk-3 itself is no longer a complete checkpoint (it was listed as one before the fix).
    expect(existsSync(join(dir, 'chk', 'chk-1'))).toBe(false)
    expect(existsSync(join(dir, 'chk', 'chk-3', 'store-0.base.state'))).toBe(true)
    const storage = new LocalCheckpointStorage(join(dir, 'chk'))
    for (const id of await storage.listComplete()) {
      expect(Object.fromEntries(await stateAt('memory', 1, dir, join(dir, 'chk', `chk-${id}`))), `chk-${id}`).toEqual(models[id])
    }
  })

  it('keeps `retain` checkpoints across a restart, not only those the restarted job took', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-retain-restart-'))
    dirs.push(dir)
    const clock = new ManualClock(0)
    const a = await startJob(dir, clock, undefined, 8, 3)
    for (let v = 1; v <= 4; v++) {
      await a.write([{ k: 0, v }])
      await a.checkpoint()
    }
    await a.stop()
    const storage = new LocalCheckpointStorage(join(dir, 'chk'))
    expect(await storage.listComplete()).toEqual([4, 3, 2])
    const b = await startJob(dir, clock, 'latest', 8, 3)
    await b.write([{ k: 0, v: 5 }])
    const next = await b.checkpoint()
    await b.stop()
    // Before: the restarted job's first checkpoint deleted every checkpoint it had not taken itself.
    expect(await storage.listComplete()).toEqual([next, 4, 3])
    for (const [id, v] of [[next, 5], [4, 4], [3, 3]]) expect(Object.fromEntries(await stateAt('memory', 1, dir, join(dir, 'chk', `chk-${id}`)))).toEqual({ 0: v })
  })

  it('a restore that fails before the job runs (maxParallelism changed) leaves the job\'s latest checkpoint the latest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-review-failed-restore-'))
    dirs.push(dir)
    const clock = new ManualClock(0)
    const a = await startJob(dir, clock)
    await a.write([{ k: 0, v: 1 }])
    const { path: savepoint } = await a.client.triggerSavepoint()
    await a.write([{ k: 0, v: 2 }])
    await a.checkpoint()
    await a.stop()
    // By mistake, the savepoint is restored into a build of the job with another maxParallelism:
    // the restore fails at deploy, not a record was processed.
    const env = StreamExecutionEnvironment.create({ parallelism: 1, maxParallelism: 64, clock, checkpoint: { intervalMs: INTERVAL, dir: join(dir, 'chk') } })
    job(env, queueSource([]), { n: 0 })
    await expect(env.execute('review', { restoreFrom: savepoint, log: () => {} })).rejects.toThrow(/maxParallelism cannot change/)
    // The job is resumed as usual: from its latest checkpoint ({0: 2}), not from the savepoint ({0: 1}).
    const b = await startJob(dir, clock, 'latest')
    const id = await b.checkpoint()
    await b.stop()
    expect(Object.fromEntries(await stateAt('memory', 1, dir, join(dir, 'chk', `chk-${id}`)))).toEqual({ 0: 2 })
  })
})
