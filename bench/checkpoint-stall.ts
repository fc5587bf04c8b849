/**
 * Longest event-loop stall (the time a task on this thread could not run) while checkpoint files are
 * written and chains compacted, 1M rows: FLX1 (one v8.serialize, the format before 2e4c3a7) vs the
 * sliced FLX2 writer, and compaction on this thread vs the compaction worker.
 *   node --import tsx bench/checkpoint-stall.ts write-old|write-new|compact-old|compact-new
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { frame, writeStateFile } from '../engine/checkpoint/state-file.ts'
import { LocalCheckpointStorage } from '../engine/checkpoint/storage.ts'
import { compactTaskChain } from '../engine/checkpoint/compaction.ts'
import { CompactionThread } from '../engine/checkpoint/compaction-thread.ts'
import type { TaskSnapshot } from '../engine/checkpoint/types.ts'

const N = 1_000_000
const rows = Array.from({ length: N }, (_, i) => [i % 128, `\u0000n${i}`, '', new Uint8Array([0, 255, 15, 73, i & 127])])
const snap = (type: string, r: unknown[]): TaskSnapshot => ({ operators: { op: { keyed: { version: 1, type, maxParallelism: 128, keyGroupRange: { start: 0, end: 127 }, states: { v: { kind: 'value', rows: r } } } as never } } })
async function maxStall(work: () => Promise<unknown>): Promise<{ maxGapMs: number; totalMs: number }> {
  let running = true, last = performance.now(), maxGap = 0
  const ticker = (async () => { while (running) { await nextTurn(); const now = performance.now(); maxGap = Math.max(maxGap, now - last); last = now } })()
  const t = performance.now(); await work(); const totalMs = performance.now() - t
  running = false; await ticker
  return { maxGapMs: Math.round(maxGap), totalMs: Math.round(totalMs) }
}
const dir = mkdtempSync(join(tmpdir(), 'stall-'))
const storage = new LocalCheckpointStorage(dir)
const mode = process.argv[2]
if (mode === 'write-old') console.log('FLX1 write 1M rows', await maxStall(() => writeFile(join(dir, 'a'), frame(snap('full', rows)))))
if (mode === 'write-new') console.log('FLX2 sliced write 1M rows', await maxStall(() => writeStateFile(join(dir, 'b'), snap('full', rows))))
if (mode === 'compact-old' || mode === 'compact-new') {
  const files = [(await storage.writeState(1, 'op-0', snap('full', rows))).handle]
  for (let i = 0; i < 8; i++) files.push((await storage.writeState(2 + i, 'op-0', snap('incremental', rows.slice(i * 10_000, (i + 1) * 10_000)))).handle)
  const thread = new CompactionThread()
  if (mode === 'compact-old') console.log('compaction in thread', await maxStall(async () => { const chain = (await Promise.all(files.map((f) => storage.readState(f)))) as TaskSnapshot[]; await storage.writeState(20, 'op-0.base', compactTaskChain(chain)) }))
  else console.log('compaction on worker', await maxStall(() => thread.compact(dir, files, 20, 'op-0.base')))
  await thread.close()
}
rmSync(dir, { recursive: true, force: true })
