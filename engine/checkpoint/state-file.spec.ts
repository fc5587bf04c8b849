import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { isMainThread } from 'node:worker_threads'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { compactTaskChain } from './compaction.ts'
import { CompactionThread } from './compaction-thread.ts'
import { frame, unframe, writeStateFile } from './state-file.ts'
import { LocalCheckpointStorage } from './storage.ts'
import type { TaskSnapshot } from './types.ts'

const dir = mkdtempSync(join(tmpdir(), 'fluxion-state-file-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const row = fc.tuple(fc.nat(127), fc.string({ maxLength: 6 }), fc.oneof(fc.constant(''), fc.integer()), fc.option(fc.uint8Array({ maxLength: 8 }), { freq: 5 }))
/** Snapshot-shaped values: long and short row arrays at several depths, and other plain data. */
const value = fc.record({
  operators: fc.dictionary(
    fc.string({ minLength: 1, maxLength: 4 }),
    fc.record({
      keyed: fc.record({ type: fc.constantFrom('full', 'incremental'), states: fc.dictionary(fc.string({ minLength: 1, maxLength: 3 }), fc.record({ kind: fc.constant('value'), rows: fc.array(row, { maxLength: 3_000, size: 'max' }) })) }),
      operator: fc.option(fc.array(fc.oneof(fc.string(), fc.double(), fc.constant(null)), { maxLength: 2_000, size: 'max' })),
    }),
    { maxKeys: 2 },
  ),
  source: fc.option(fc.record({ splits: fc.array(fc.nat(), { maxLength: 1_500, size: 'max' }), held: fc.constant([]) })),
})

describe('state files', () => {
  it('read back exactly what was written, long arrays included (property)', async () => {
    let n = 0
    await fc.assert(
      fc.asyncProperty(value, async (v) => {
        const path = join(dir, `p${n++}.state`)
        const bytes = await writeStateFile(path, v)
        const file = readFileSync(path)
        expect(file.length).toBe(bytes)
        expect(file.subarray(0, 4).toString()).toBe('FLX2')
        expect(unframe(file, path)).toEqual(v)
      }),
      { numRuns: 12 },
    )
  })

  it('a long top-level array and the older FLX1 framing read back too', async () => {
    const path = join(dir, 'top.state')
    const rows = Array.from({ length: 5_000 }, (_, i) => [i, `k${i}`])
    await writeStateFile(path, rows)
    expect(unframe(readFileSync(path), path)).toEqual(rows)
    expect(unframe(frame({ a: rows }), 'old')).toEqual({ a: rows })
  })

  it('a truncated, flipped or foreign file fails with FLX_CHECKPOINT_CORRUPT', async () => {
    const path = join(dir, 'bad.state')
    await writeStateFile(path, { rows: Array.from({ length: 3_000 }, (_, i) => [i, 'x']) })
    const good = readFileSync(path)
    const flipped = Buffer.from(good)
    flipped[good.length >> 1] ^= 0xff
    for (const bad of [good.subarray(0, good.length - 5), flipped, Buffer.from('not a checkpoint at all')]) {
      expect(() => unframe(bad, path)).toThrow(expect.objectContaining({ code: 'FLX_CHECKPOINT_CORRUPT' }))
    }
    // A consistent header over segments that do not add up is corrupt too, not a crash.
    const lying = Buffer.from(good.subarray(0, 16 + 10))
    lying.writeBigUInt64BE(10n, 8)
    const { crc32 } = await import('node:zlib')
    lying.writeUInt32BE(crc32(lying.subarray(16)), 4)
    writeFileSync(path, lying)
    expect(() => unframe(readFileSync(path), path)).toThrow(expect.objectContaining({ code: 'FLX_CHECKPOINT_CORRUPT' }))
  })

  it('yields to the event loop while it serializes a big snapshot', async () => {
    const rows = Array.from({ length: 200_000 }, (_, i) => [i % 128, `key-${i}`, '', new Uint8Array([1, 2, 3, i & 255])])
    let turns = 0
    let writing = true
    const ticker = (async () => {
      while (writing) {
        await nextTurn()
        turns++
      }
    })()
    await writeStateFile(join(dir, 'big.state'), { operators: { op: { keyed: { states: { v: { rows } } } } } })
    writing = false
    await ticker
    // One synchronous v8.serialize of 200k rows would give the ticker no turn at all.
    expect(turns).toBeGreaterThanOrEqual(5)
  })
})

describe('the compaction thread', () => {
  it('folds a chain on another thread into what compactTaskChain gives here', async () => {
    expect(isMainThread).toBe(true)
    const storage = new LocalCheckpointStorage(join(dir, 'chk'))
    const snap = (type: 'full' | 'incremental', rows: [number, string, string, Uint8Array | null][]): TaskSnapshot => ({
      operators: { op: { keyed: { version: 1, type, maxParallelism: 128, keyGroupRange: { start: 0, end: 127 }, states: { v: { kind: 'value', rows } } }, keyedIncremental: type === 'incremental' } },
    })
    const chain = [
      snap('full', Array.from({ length: 3_000 }, (_, i) => [i % 128, `k${i}`, '', new Uint8Array([i & 255])])),
      snap('incremental', [[1, 'k1', '', null], [5, 'new', '', new Uint8Array([9])]]),
    ]
    const files = [(await storage.writeState(1, 'op-0', chain[0])).handle, (await storage.writeState(2, 'op-0', chain[1])).handle]
    const thread = new CompactionThread()
    try {
      const { handle, bytes } = await thread.compact(storage.root, files, 2, 'op-0.base')
      expect(handle).toBe('chk-2/op-0.base.state')
      expect(bytes).toBeGreaterThan(0)
      expect(await storage.readState(handle)).toEqual(compactTaskChain(chain))
      await expect(thread.compact(storage.root, ['chk-9/missing.state'], 9, 'x')).rejects.toMatchObject({ code: 'FLX_CHECKPOINT_FAILED' })
    } finally {
      await thread.close()
    }
  })
})
