/**
 * The first checkpoint after a restore builds on the restored chain when the parallelism is
 * unchanged (a full one with rescaling), and checkpointStats reports each checkpoint's completion
 * time and keyed-state rows.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { LocalCheckpointStorage } from '../../engine/checkpoint/storage.ts'
import { ManualClock } from '../../engine/time.ts'
import type { CheckpointStats } from '../../index.ts'
import { INTERVAL, KEYS, startQueueJob, stateAt, type Write } from './fixtures/queue-job.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function startJob(backend: 'memory' | 'rocksdb', dir: string, clock: ManualClock, parallelism: number, restoreFrom?: string) {
  return startQueueJob({ backend, dir, clock, parallelism, restoreFrom })
}

const all = (v: (k: number) => number | null): Write[] => Array.from({ length: KEYS }, (_, k) => ({ k, v: v(k) }))

describe.each(['memory', 'rocksdb'] as const)('%s backend', (backend) => {
  it('checkpointStats carry the completion time and the rows each checkpoint wrote', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-stats-'))
    dirs.push(dir)
    const clock = new ManualClock(1_700_000_000_000)
    const j = await startJob(backend, dir, clock, 2)
    try {
      await j.write(all((k) => k))
      const first = await j.checkpoint()
      expect(first).toMatchObject({ savepoint: false, incremental: false, rows: KEYS, completedAt: clock.now() })
      await j.write([{ k: 1, v: 100 }, { k: 2, v: null }, { k: 1, v: 101 }, { k: 5, v: 500 }])
      clock.advance(7)
      const second = await j.checkpoint()
      // Three distinct keys changed (one deletion): the delta holds exactly them.
      expect(second).toMatchObject({ savepoint: false, incremental: true, rows: 3, completedAt: clock.now() })
      expect(second.completedAt - first.completedAt).toBe(INTERVAL + 7)
      await j.client.triggerSavepoint()
      const savepoint = j.client.checkpointStats().at(-1)!
      expect(savepoint).toMatchObject({ savepoint: true, incremental: false, rows: KEYS - 1, completedAt: clock.now() })
      expect(await j.checkpoint()).toMatchObject({ incremental: true, rows: 0 })
    } finally {
      await j.stop()
    }
  })

  it('restoring a savepoint at the same parallelism: the next checkpoint is a delta on the savepoint files, linked in', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-restore-incr-'))
    dirs.push(dir)
    const clock = new ManualClock(0)
    const a = await startJob(backend, dir, clock, 2)
    await a.write(all((k) => k * 2))
    await a.checkpoint()
    const { path, checkpointId } = await a.client.triggerSavepoint()
    await a.stop()

    const b = await startJob(backend, dir, clock, 2, path)
    let next: CheckpointStats
    try {
      await b.write([{ k: 3, v: 33 }, { k: 4, v: null }])
      next = await b.checkpoint()
    } finally {
      await b.stop()
    }
    expect(next).toMatchObject({ incremental: true, rows: 2 })
    const storage = new LocalCheckpointStorage(join(dir, 'chk'))
    const meta = await storage.readMetadata(next.checkpointId)
    // The savepoint's files were linked in when the restore registered it as the latest checkpoint
    // here (the id before the next one), and the next checkpoint builds on them there; with 100
    // retained, the restore point stays a complete checkpoint too (retention spans the restart).
    const restorePoint = next.checkpointId - 1
    expect(await storage.listComplete()).toEqual([next.checkpointId, restorePoint, 1])
    expect(meta.tasks.store.subtasks.map((s) => s.files)).toEqual([0, 1].map((s) => [`chk-${restorePoint}/restored-chk-${checkpointId}-store-${s}.state`, `chk-${next.checkpointId}/store-${s}.state`]))
    const expected = Object.fromEntries(all((k) => (k === 3 ? 33 : k * 2)).filter((w) => w.k !== 4).map((w) => [w.k, w.v]))
    expect(Object.fromEntries(await stateAt(backend, 2, dir, join(dir, 'chk', `chk-${next.checkpointId}`)))).toEqual(expected)
    // The checkpoint does not depend on the savepoint's files.
    rmSync(join(dir, 'chk', 'savepoints'), { recursive: true, force: true })
    expect(Object.fromEntries(await stateAt(backend, 1, dir, join(dir, 'chk', `chk-${next.checkpointId}`)))).toEqual(expected)
  })

  it('restoring the latest checkpoint builds on its chain in place; with rescaling the next checkpoint is full', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-restore-incr-'))
    dirs.push(dir)
    const clock = new ManualClock(0)
    const a = await startJob(backend, dir, clock, 2)
    await a.write(all((k) => k))
    const base = await a.checkpoint()
    await a.write([{ k: 0, v: 7 }])
    const delta = await a.checkpoint()
    await a.stop()

    const b = await startJob(backend, dir, clock, 2, 'latest')
    let same: CheckpointStats
    try {
      await b.write([{ k: 1, v: 8 }])
      same = await b.checkpoint()
    } finally {
      await b.stop()
    }
    expect(same).toMatchObject({ incremental: true, rows: 1 })
    const storage = new LocalCheckpointStorage(join(dir, 'chk'))
    const files = (await storage.readMetadata(same.checkpointId)).tasks.store.subtasks.map((s) => s.files)
    expect(files).toEqual([0, 1].map((s) => [`chk-${base.checkpointId}/store-${s}.state`, `chk-${delta.checkpointId}/store-${s}.state`, `chk-${same.checkpointId}/store-${s}.state`]))

    const c = await startJob(backend, dir, clock, 3, 'latest')
    let rescaled: CheckpointStats
    try {
      rescaled = await c.checkpoint()
    } finally {
      await c.stop()
    }
    expect(rescaled).toMatchObject({ incremental: false, rows: KEYS })
    const expected = Object.fromEntries(all((k) => (k === 0 ? 7 : k === 1 ? 8 : k)).map((w) => [w.k, w.v]))
    expect(Object.fromEntries(await stateAt(backend, 2, dir, join(dir, 'chk', `chk-${rescaled.checkpointId}`)))).toEqual(expected)
  })
})
