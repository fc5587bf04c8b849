/**
 * Micro-benchmark of the keyed state backends: memory vs RocksDB, 1M keys of value state.
 *
 *   npx tsx state/rocksdb/bench.ts [--keys 1000000] [--runs 3] [--cache 100000]
 *
 * Per run and backend: populate (1M updates), get+update throughput with 10k hot keys and with
 * keys uniform over 1M, full snapshot (time, bytes), then 5 epochs in which 1% of the keys change,
 * each ended by snapshotIncremental (median and worst time; rows and v8-serialized bytes), and
 * restore of the full snapshot into a fresh backend. Then window workloads as the window operator
 * drives the backend (per record: get + set of a count in the record's window namespace; at the
 * window's end: get + clear per key), each with an incremental snapshot per window: a tumbling
 * count (10k keys, 10k records per window), a hop count (each record in 5 windows), and a tumbling
 * count whose window holds 3 × the cache. Prints one JSON object: the medians over runs, every
 * run, and what the RocksDB runs asked of RocksDB (ioStats).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { serialize, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { AggregatingStateDescriptor, ValueStateDescriptor } from '../api.ts'
import type { KeyedStateBackend, KeyedStateSnapshot } from '../backend.ts'
import { MemoryKeyedStateBackend } from '../memory/memory-backend.ts'
import { RocksDbKeyedStateBackend } from './rocksdb-backend.ts'

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? fallback : Number(process.argv[i + 1])
}
const KEYS = arg('keys', 1_000_000)
const RUNS = arg('runs', 3)
const CACHE = arg('cache', 100_000)
const HOT = 10_000
const EPOCHS = 5
const MAX_PARALLELISM = 128
const RANGE = { start: 0, end: MAX_PARALLELISM - 1 }
// A full GC between phases keeps one phase's garbage out of the next one's timing.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const root = mkdtempSync(join(tmpdir(), 'fluxion-state-bench-'))
let dirs = 0

type Kind = 'memory' | 'rocksdb'

async function create(kind: Kind): Promise<KeyedStateBackend> {
  if (kind === 'memory') return new MemoryKeyedStateBackend(MAX_PARALLELISM, RANGE, { trackChanges: true })
  return RocksDbKeyedStateBackend.open({ dir: join(root, `db-${dirs++}`), maxParallelism: MAX_PARALLELISM, keyGroupRange: RANGE, cacheEntries: CACHE })
}

async function release(b: KeyedStateBackend): Promise<void> {
  if (b instanceof RocksDbKeyedStateBackend) await b.close()
  else b.dispose()
}

/** A deterministic pseudo-random generator (xorshift32), so both backends see the same keys. */
function rng(seed: number): () => number {
  let x = seed
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 4294967296
  }
}

const descriptor = new ValueStateDescriptor<number>('count')

/** get+update of `ops` keys drawn from [0, range); returns ops/s. */
function getUpdate(b: KeyedStateBackend, ops: number, range: number, seed: number): number {
  const v = b.getValueState(descriptor)
  const next = rng(seed)
  const keys = new Int32Array(ops)
  for (let i = 0; i < ops; i++) keys[i] = Math.floor(next() * range)
  gc()
  const t0 = performance.now()
  for (let i = 0; i < ops; i++) {
    b.setCurrentKey(keys[i])
    v.update((v.value() ?? 0) + 1)
  }
  return ops / ((performance.now() - t0) / 1000)
}

const countDescriptor = new AggregatingStateDescriptor<number, number, number>('window-count', {
  createAccumulator: () => 0,
  add: (v, acc) => acc + v,
  getResult: (acc) => acc,
  merge: (a, b) => a + b,
})

/**
 * `records` records with keys drawn from [0, keys); window w holds records [w × perWindow,
 * (w + 1) × perWindow); each record also counts in the `overlap` − 1 windows before its own (a
 * hop window of `overlap` slides). A window fires (get + clear of each of its keys, then an
 * incremental snapshot) once no record counts in it any more. Returns records/s.
 */
function windows(b: KeyedStateBackend, records: number, keys: number, perWindow: number, overlap: number, seed: number): number {
  const state = b.getAggregatingState(countDescriptor)
  const next = rng(seed)
  const recordKeys = new Int32Array(records)
  for (let i = 0; i < records; i++) recordKeys[i] = Math.floor(next() * keys)
  const keysOf = new Map<number, Set<number>>()
  const fire = (w: number) => {
    state.setCurrentNamespace(w)
    for (const k of keysOf.get(w) ?? []) {
      b.setCurrentKey(k)
      if (state.get() === undefined) throw new Error(`window ${w} lost key ${k}`)
      state.clear()
    }
    keysOf.delete(w)
    b.snapshotIncremental()
  }
  gc()
  const t0 = performance.now()
  for (let i = 0; i < records; i++) {
    const own = Math.floor(i / perWindow)
    if (i % perWindow === 0 && own - overlap >= 0) fire(own - overlap)
    const k = recordKeys[i]
    b.setCurrentKey(k)
    for (let w = Math.max(0, own - overlap + 1); w <= own; w++) {
      state.setCurrentNamespace(w)
      state.add(1)
      let ks = keysOf.get(w)
      if (ks === undefined) keysOf.set(w, (ks = new Set()))
      ks.add(k)
    }
  }
  for (const w of [...keysOf.keys()].sort((x, y) => x - y)) fire(w)
  return records / ((performance.now() - t0) / 1000)
}

async function windowRuns(kind: Kind, run: number, out: Record<string, number>): Promise<void> {
  const phases = [
    { name: 'tumbling', records: 1_000_000, keys: 10_000, perWindow: 10_000, overlap: 1 },
    { name: 'hop', records: 200_000, keys: 10_000, perWindow: 2_000, overlap: 5 },
    { name: 'tumblingOverCache', records: 3 * 3 * CACHE, keys: 1 << 30, perWindow: 3 * CACHE, overlap: 1 },
  ]
  for (const p of phases) {
    const b = await create(kind)
    out[`${p.name}RecordsPerSec`] = windows(b, p.records, p.keys, p.perWindow, p.overlap, 500 + run)
    if (b instanceof RocksDbKeyedStateBackend) {
      const io = b.ioStats()
      out[`${p.name}KeysRead`] = io.keysRead
      out[`${p.name}Puts`] = io.puts
      out[`${p.name}Deletes`] = io.deletes
    }
    await release(b)
    gc()
  }
}

function time<T>(fn: () => T): [T, number] {
  const t0 = performance.now()
  const result = fn()
  return [result, performance.now() - t0]
}

const rows = (s: KeyedStateSnapshot) => Object.values(s.states).reduce((n, st) => n + st.rows.length, 0)

async function runOnce(kind: Kind, run: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  const b = await create(kind)
  const v = b.getValueState(descriptor)
  // Populate: one update per key.
  const t0 = performance.now()
  for (let k = 0; k < KEYS; k++) {
    b.setCurrentKey(k)
    v.update(k)
  }
  out.populateOpsPerSec = KEYS / ((performance.now() - t0) / 1000)
  gc()

  const hotOps = kind === 'memory' ? 2_000_000 : 1_000_000
  const uniformOps = kind === 'memory' ? 2_000_000 : 300_000
  out.hotGetUpdateOpsPerSec = getUpdate(b, hotOps, HOT, 1 + run)
  out.uniformGetUpdateOpsPerSec = getUpdate(b, uniformOps, KEYS, 1000 + run)

  gc()
  // Full snapshot (also the base of the next delta).
  const [full, fullMs] = time(() => b.snapshot())
  out.fullSnapshotMs = fullMs
  out.fullSnapshotRows = rows(full)
  out.fullSnapshotBytes = serialize(full).length

  gc()
  // Epochs in which 1% of the keys change, each followed by the delta (the barrier's synchronous
  // part); the median and the worst of EPOCHS epochs, as single pauses are at the mercy of GC.
  const next = rng(77 + run)
  const pauses: number[] = []
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    for (let i = 0; i < KEYS / 100; i++) {
      b.setCurrentKey(Math.floor(next() * KEYS))
      v.update(-i)
    }
    const [delta, deltaMs] = time(() => b.snapshotIncremental())
    pauses.push(deltaMs)
    if (epoch === 0) {
      out.incrementalRows = rows(delta)
      out.incrementalBytes = serialize(delta).length
    }
  }
  out.incrementalMedianMs = median(pauses)
  out.incrementalMaxMs = Math.max(...pauses)
  await release(b)

  gc()
  // Restore the full snapshot into a fresh backend.
  const r = await create(kind)
  const [, restoreMs] = time(() => r.restore([full]))
  out.restoreMs = restoreMs
  r.setCurrentKey(12345)
  if (r.getValueState(descriptor).value() === undefined) throw new Error('restore lost key 12345')
  await release(r)
  await windowRuns(kind, run, out)
  return out
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function main(): Promise<void> {
  const all: Record<Kind, Record<string, number>[]> = { memory: [], rocksdb: [] }
  try {
    for (let run = 0; run < RUNS; run++) {
      for (const kind of ['memory', 'rocksdb'] as const) {
        all[kind].push(await runOnce(kind, run))
        gc()
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
  const medians: Record<string, Record<string, number>> = {}
  for (const kind of ['memory', 'rocksdb'] as const) {
    medians[kind] = {}
    for (const metric of Object.keys(all[kind][0])) medians[kind][metric] = Math.round(median(all[kind].map((r) => r[metric])) * 10) / 10
  }
  const ratio = (m: string) => Math.round((medians.rocksdb[m] / medians.memory[m]) * 1000) / 1000
  console.log(
    JSON.stringify(
      {
        keys: KEYS,
        node: process.version,
        loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100),
        hotKeys: HOT,
        rocksdbCacheEntries: CACHE,
        runs: RUNS,
        medians,
        rocksdbVsMemory: {
          hot: ratio('hotGetUpdateOpsPerSec'),
          uniform: ratio('uniformGetUpdateOpsPerSec'),
          tumbling: ratio('tumblingRecordsPerSec'),
          hop: ratio('hopRecordsPerSec'),
          tumblingOverCache: ratio('tumblingOverCacheRecordsPerSec'),
        },
        all,
      },
      null,
      2,
    ),
  )
}

await main()
