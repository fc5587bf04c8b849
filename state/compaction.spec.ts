/**
 * compactSnapshots: a full snapshot plus its deltas folds into one full snapshot that restores to
 * the same state as the chain.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { KeyedStateSnapshot } from './backend.ts'
import { compactSnapshots } from './compaction.ts'
import { MemoryKeyedStateBackend } from './memory/memory-backend.ts'
import { applyOps, contents, opArb, opsWithSnapshotsArb, type Model } from './testing/contract-model.ts'

const ALL = { start: 0, end: 127 }

describe('compactSnapshots', () => {
  it('restores to the same state as the chain it folds', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), opsWithSnapshotsArb, (before, ops) => {
        const b = new MemoryKeyedStateBackend(128, ALL, { trackChanges: true })
        const model: Model = new Map()
        applyOps(before, model, () => b)
        const chain: KeyedStateSnapshot[] = [b.snapshot()]
        applyOps(ops, model, () => b, () => chain.push(b.snapshotIncremental()))
        chain.push(b.snapshotIncremental())
        const compacted = compactSnapshots(chain)
        expect(compacted.type).toBe('full')
        expect(contents([compacted])).toEqual(model)
        const r = new MemoryKeyedStateBackend(128, ALL)
        r.restore([compacted])
        expect(contents([r.snapshot()])).toEqual(model)
      }),
      { numRuns: 100 },
    )
  })

  it('refuses chains that do not start with a full snapshot or mix backends', () => {
    const a = new MemoryKeyedStateBackend(128, { start: 0, end: 63 }, { trackChanges: true })
    const b = new MemoryKeyedStateBackend(128, { start: 64, end: 127 }, { trackChanges: true })
    expect(() => compactSnapshots([a.snapshotIncremental()])).toThrow(/starts with a full/)
    expect(() => compactSnapshots([a.snapshot(), b.snapshotIncremental()])).toThrow(/another backend/)
    expect(() => compactSnapshots([a.snapshot(), a.snapshot()])).toThrow(/not incremental/)
  })
})
