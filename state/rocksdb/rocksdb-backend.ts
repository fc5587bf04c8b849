/**
 * KeyedStateBackend on RocksDB (@nxtedition/rocksdb), for state larger than memory.
 *
 * Every call on the hot path is synchronous: entries live in a bounded write-back cache
 * (cache-table.ts); misses are read with `_getManySync`, and dirty entries reach RocksDB in
 * synchronous write batches (`_writeSync`) when the cache overflows with dirty entries (a full
 * snapshot scans RocksDB and overlays the dirty entries without writing them).
 * Keys follow key-layout.ts (key group first), values are the codec's bytes (the descriptor's
 * serializer inside a small frame), the same bytes that snapshot rows carry.
 *
 * The directory is the backend's working copy, rebuilt from snapshots by `restore`: `open` wipes
 * a RocksDB left there by an earlier run, and `close` removes it (unless keepDir).
 *
 * Lifecycle: `new` → `await open()` (or `await RocksDbKeyedStateBackend.open(options)`) → use →
 * `dispose()` (synchronous; starts closing) or `await close()` (waits until RocksDB is closed).
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { RocksLevel, type RocksChainedBatch } from '@nxtedition/rocksdb'
import { FluxionError } from '../../engine/errors.ts'
import { keyGroupOfStateKey } from '../../engine/keys.ts'
import type { Clock } from '../../engine/time.ts'
import type { StateKind } from '../api.ts'
import type { KeyedStateSnapshot, KeyGroupRange, Namespace, SnapshotOptions, SnapshotRow } from '../backend.ts'
import { AvroSchemas } from '../internal/avro.ts'
import { AbstractKeyedStateBackend } from '../internal/base-backend.ts'
import type { StateTable } from '../internal/handles.ts'
import { mapKeyOfStateKey, stateKeyOfMapKey, type MapKey } from '../internal/keys.ts'
import { CacheEntry, CacheTable, type CacheHost, type RocksState } from './cache-table.ts'
import { decodeKey, encodeKey, keyGroupBound } from './key-layout.ts'

export interface RocksDbBackendOptions {
  /** Directory of this backend's RocksDB (one per operator subtask). Created if missing. */
  dir: string
  maxParallelism: number
  keyGroupRange: KeyGroupRange
  /** Bound of the cache, in entries (default 100 000). */
  cacheEntries?: number
  /** Processing-time clock for TTL (default: the system clock). */
  clock?: Clock
  /** Record changes for snapshotIncremental (default true). */
  trackChanges?: boolean
  /** RocksDB block cache, in bytes (default 64 MiB). */
  blockCacheBytes?: number
  /** Keep the directory on close (default false: it is removed). */
  keepDir?: boolean
  /**
   * Namespaces per state whose presence in RocksDB is tracked (default 65 536), so that a miss in
   * any other namespace (a new window) is known absent without a read. Above it, every miss of
   * that state reads until the next full snapshot rebuilds the set. Windows use one namespace per
   * window; session windows one per session. 0 turns known absence off (every miss reads).
   */
  diskNamespacesLimit?: number
}

/** What the backend asked of RocksDB since it was opened (for tests and benchmarks). */
export interface RocksIoStats {
  /** Keys read with _getManySync (misses and delta read-backs). */
  keysRead: number
  /** Puts and deletes written in batches (flushes and restores). */
  puts: number
  deletes: number
}

/** Operations per synchronous write batch, and keys per multi-get. */
const BATCH = 10_000
const MULTI_GET = 1_000
/** An overflowing cache is swept down to this fraction of its bound. */
const EVICT_TO = 0.75

export class RocksDbKeyedStateBackend extends AbstractKeyedStateBackend<RocksState> implements CacheHost {
  /** Opens a backend (the constructor plus `open`). */
  static async open(options: RocksDbBackendOptions): Promise<RocksDbKeyedStateBackend> {
    const backend = new RocksDbKeyedStateBackend(options)
    await backend.open()
    return backend
  }

  readonly dir: string
  epoch = 0
  readonly diskNamespacesLimit: number
  private readonly io: RocksIoStats = { keysRead: 0, puts: 0, deletes: 0 }
  private readonly capacity: number
  private readonly tracking: boolean
  private db: RocksLevel | undefined
  private opening: Promise<void> | undefined
  private closing: Promise<void> | undefined
  private readonly byId: RocksState[] = []
  private cached = 0
  private keyGroup = -1
  private stateKey = ''
  /** Whether RocksDB may hold rows (a full snapshot restored later must then clear its key groups). */
  private mayHoldRows = false

  constructor(private readonly options: RocksDbBackendOptions) {
    super(options.maxParallelism, options.keyGroupRange, options.clock)
    const capacity = options.cacheEntries ?? 100_000
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new FluxionError('FLX_INVALID_CONFIG', `cacheEntries must be a positive integer, got ${String(options.cacheEntries)}`)
    }
    if (!options.dir) throw new FluxionError('FLX_INVALID_CONFIG', 'the RocksDB state backend needs a dir')
    this.dir = options.dir
    this.capacity = capacity
    const limit = options.diskNamespacesLimit ?? 65_536
    if (!Number.isInteger(limit) || limit < 0) {
      throw new FluxionError('FLX_INVALID_CONFIG', `diskNamespacesLimit must be a non-negative integer, got ${String(options.diskNamespacesLimit)}`)
    }
    this.diskNamespacesLimit = limit
    this.tracking = options.trackChanges !== false
  }

  /** Creates or wipes the directory and opens RocksDB. Idempotent. */
  open(): Promise<void> {
    this.opening ??= this.doOpen()
    return this.opening
  }

  private async doOpen(): Promise<void> {
    const dir = this.dir
    if (existsSync(dir) && readdirSync(dir).length > 0) {
      if (!existsSync(join(dir, 'CURRENT'))) {
        throw new FluxionError('FLX_INVALID_CONFIG', `state directory ${dir} is not empty and holds no RocksDB; give each backend an empty directory of its own`)
      }
      rmSync(dir, { recursive: true, force: true }) // a working copy left by an earlier run
    }
    mkdirSync(dir, { recursive: true })
    const db = new RocksLevel(dir)
    await db.open({
      createIfMissing: true,
      compression: false,
      walCompression: false,
      cacheSize: this.options.blockCacheBytes ?? 64 << 20,
    })
    this.db = db
    // The directory is empty: nothing of any state is on disk (tables treat every namespace as
    // possibly on disk until now, so that use before open reaches rocks() and fails).
    for (const state of this.byId) if (state !== undefined) state.table.diskNamespaces = new Set()
  }

  private rocks(): RocksLevel {
    if (this.db === undefined || this.closing !== undefined) {
      throw new FluxionError('FLX_INTERNAL', this.closing ? 'the RocksDB state backend was disposed' : 'the RocksDB state backend is not open: await open() first')
    }
    return this.db
  }

  override setCurrentKey(key: unknown): void {
    if (key === this.currentKey) return
    super.setCurrentKey(key)
    this.keyGroup = -1
  }

  /** The current key's key group (and `stateKey`), computed once per key. */
  private currentKeyGroup(): number {
    if (this.keyGroup < 0) {
      this.stateKey = stateKeyOfMapKey(this.mapKey)
      this.keyGroup = keyGroupOfStateKey(this.stateKey, this.maxParallelism)
    }
    return this.keyGroup
  }

  protected createState(name: string, kind: StateKind): RocksState {
    const id = this.byId.length + 1
    if (id > 0xffff) throw new FluxionError('FLX_INVALID_CONFIG', 'a RocksDB state backend holds at most 65535 states')
    const state = { name, kind, id, codec: undefined, ttl: undefined, schemas: new AvroSchemas(name), plainRows: false } as unknown as RocksState
    state.table = new CacheTable(this, state, this.tracking)
    if (this.db === undefined || this.closing !== undefined) state.table.diskNamespaces = undefined
    this.byId[id] = state
    return state
  }

  protected tableOf(state: RocksState): StateTable {
    return state.table
  }

  protected onRegistered(): void {}

  // --- cache ------------------------------------------------------------------------------------

  load(table: CacheTable, namespace: Namespace): CacheEntry {
    const keyGroup = this.currentKeyGroup()
    const codec = table.state.codec!
    const bytes = this.getMany([encodeKey(keyGroup, table.state.id, namespace, this.stateKey)])[0]
    const entry = new CacheEntry(bytes === undefined ? undefined : codec.decode(bytes, this.clock.now()), false, bytes !== undefined)
    table.insert(namespace, this.mapKey, entry)
    // A TTL that starts now (restored without one) must be written back, or it would restart on every load.
    if (bytes !== undefined && codec.startsTtl(bytes)) table.set(namespace, entry.v)
    return entry
  }

  reserve(): void {
    if (this.cached >= this.capacity) this.evict()
  }

  added(delta: number): void {
    this.cached += delta
  }

  /**
   * Brings the cache down to EVICT_TO of its bound: drops clean entries first (second chance:
   * those not used since the previous sweep, then any), and only when that is not enough flushes
   * every dirty entry and sweeps again. So the live entries of a window that fits the cache stay
   * dirty in memory, and their namespace stays known absent on disk.
   */
  private evict(): void {
    const target = Math.floor(this.capacity * EVICT_TO)
    this.sweep(target, true)
    if (this.cached <= target) return
    this.flush()
    this.sweep(target, false)
  }

  /** Drops entries (clean ones only when `cleanOnly`) until `target` remain; two passes. */
  private sweep(target: number, cleanOnly: boolean): void {
    for (let pass = 0; pass < 2 && this.cached > target; pass++) {
      for (const state of this.byId) {
        if (state === undefined) continue
        for (const [ns, inner] of state.table.entries) {
          for (const [mk, e] of inner) {
            if (e.dirty) {
              if (cleanOnly) continue
              throw new FluxionError('FLX_INTERNAL', 'the RocksDB state cache would drop an entry that was not written')
            }
            if (pass === 0 && e.ref) {
              e.ref = false
              continue
            }
            inner.delete(mk)
            if (e.v !== undefined) {
              e.v = undefined // clean, so RocksDB holds it; a delta that lists it reads it back
              e.evicted = true
            }
            if (--this.cached <= target) break
          }
          if (inner.size === 0) state.table.entries.delete(ns)
          if (this.cached <= target) return
        }
      }
    }
  }

  /**
   * Writes every dirty entry to RocksDB in synchronous write batches. Deletions of entries that
   * RocksDB cannot hold (never flushed) are only marked clean.
   */
  private flush(): void {
    const writer = new BatchWriter(this.rocks(), this.io)
    for (const state of this.byId) {
      if (state === undefined) continue
      const table = state.table
      for (const [ns, inner] of table.entries) {
        for (const [mk, e] of inner) {
          if (!e.dirty) continue
          if (e.v === undefined) {
            if (e.disk) writer.del(this.keyOf(state, ns, mk), e)
            else e.dirty = false
          } else {
            table.addDiskNamespace(ns) // before the write: a failed batch leaves it conservative
            writer.put(this.keyOf(state, ns, mk), this.encode(state, e.v), e)
          }
        }
      }
    }
    writer.end()
    if (writer.count > 0) this.mayHoldRows = true
  }

  private keyOf(state: RocksState, ns: Namespace, mk: MapKey): Buffer {
    const sk = stateKeyOfMapKey(mk)
    return encodeKey(keyGroupOfStateKey(sk, this.maxParallelism), state.id, ns, sk)
  }

  private getMany(keys: Buffer[]): (Buffer | undefined)[] {
    const values = this.rocks()._getManySync(keys)
    this.io.keysRead += keys.length
    for (const v of values) if (v === null) throw new FluxionError('FLX_INTERNAL', 'a RocksDB read timed out')
    return values as (Buffer | undefined)[]
  }

  // --- snapshots --------------------------------------------------------------------------------

  /**
   * Every row of RocksDB's key-group range, overlaid with the dirty cache entries (which it does
   * not write: the live entries of current windows stay in memory and their namespaces off disk).
   */
  snapshot(options: SnapshotOptions = {}): KeyedStateSnapshot {
    const snap = this.emptySnapshot('full')
    const now = this.clock.now()
    // The scan sees every row RocksDB holds (a restore keeps rows of this range only), so it
    // rebuilds each state's namespaces exactly (taken only once the scan has completed).
    const found: (Set<Namespace> | undefined)[] = this.byId.map(() => new Set())
    this.scan(this.keyGroupRange, true, (key, value) => {
      const { keyGroup, stateId, namespace, stateKey } = decodeKey(key)
      const state = this.byId[stateId]
      const namespaces = found[stateId]
      if (namespaces !== undefined && !namespaces.has(namespace)) {
        if (namespaces.size >= this.diskNamespacesLimit) found[stateId] = undefined
        else namespaces.add(namespace)
      }
      const cached = state.table.entries.get(namespace)
      if (cached !== undefined && cached.get(mapKeyOfStateKey(stateKey))?.dirty === true) return // newer in the cache: below
      let bytes: Uint8Array | null = value
      if (state.ttl) bytes = this.encodeLive(state, state.codec!.decode(value, now), now)
      if (bytes !== null) this.rowsOf(snap, state).push([keyGroup, stateKey, namespace, bytes])
    })
    for (const state of this.byId) {
      if (state === undefined) continue
      state.table.diskNamespaces = found[state.id]
      for (const [ns, inner] of state.table.entries) {
        for (const [mk, e] of inner) {
          if (!e.dirty || e.v === undefined) continue // a dirty deletion: its row was left out above
          const bytes = this.encodeLive(state, e.v, now)
          if (bytes === null) continue
          const sk = stateKeyOfMapKey(mk)
          this.rowsOf(snap, state).push([keyGroupOfStateKey(sk, this.maxParallelism), sk, ns, bytes])
        }
      }
    }
    // The snapshot changed neither the cache nor `changes`, so a kept epoch loses nothing.
    if (options.keepChanges !== true) this.newEpoch()
    return this.addAvroSchemas(snap)
  }

  snapshotIncremental(): KeyedStateSnapshot {
    this.requireTracking(this.tracking)
    const snap = this.emptySnapshot('incremental')
    const now = this.clock.now()
    // Changed entries that were evicted since: read back from RocksDB, in multi-gets.
    const missing: { state: RocksState; row: SnapshotRow; key: Buffer }[] = []
    for (const state of this.byId) {
      if (state === undefined || state.table.changes!.size === 0) continue
      const rows = this.rowsOf(snap, state)
      for (const [ns, keys] of state.table.changes!) {
        for (const [mk, e] of keys) {
          const sk = stateKeyOfMapKey(mk)
          const keyGroup = keyGroupOfStateKey(sk, this.maxParallelism)
          const row: SnapshotRow = [keyGroup, sk, ns, null]
          if (e.evicted) missing.push({ state, row, key: encodeKey(keyGroup, state.id, ns, sk) })
          else if (e.v !== undefined) row[3] = this.encodeLive(state, e.v, now)
          rows.push(row)
        }
      }
    }
    for (let i = 0; i < missing.length; i += MULTI_GET) {
      const chunk = missing.slice(i, i + MULTI_GET)
      const values = this.getMany(chunk.map((m) => m.key))
      chunk.forEach(({ state, row }, j) => {
        const v = values[j]
        if (v !== undefined) row[3] = state.ttl ? this.encodeLive(state, state.codec!.decode(v, now), now) : v
      })
    }
    this.newEpoch()
    return this.addAvroSchemas(snap)
  }

  private newEpoch(): void {
    this.epoch++
    for (const state of this.byId) state?.table.changes?.clear()
  }

  restore(snapshots: readonly KeyedStateSnapshot[]): void {
    this.flush()
    for (const state of this.byId) {
      if (state === undefined) continue
      state.table.entries.clear()
      // Changes recorded before keep their keys, but their values are what RocksDB holds after the restore.
      for (const keys of state.table.changes?.values() ?? []) {
        for (const e of keys.values()) {
          e.v = undefined
          e.evicted = true
        }
      }
    }
    this.cached = 0
    const writer = new BatchWriter(this.rocks(), this.io)
    for (const snap of snapshots) {
      this.checkRestorable(snap)
      if (snap.type === 'full' && this.mayHoldRows) {
        writer.end()
        this.clearKeyGroups(snap.keyGroupRange)
      }
      for (const [name, stateSnap] of Object.entries(snap.states)) {
        const state = this.stateForRestore(name, stateSnap.kind)
        this.restoreAvroSchemas(state, stateSnap)
        for (const [keyGroup, sk, ns, value] of stateSnap.rows) {
          if (!this.owns(keyGroup)) continue
          const key = encodeKey(keyGroup, state.id, ns, sk)
          if (value === null) writer.del(key)
          else {
            writer.put(key, value)
            state.table.addDiskNamespace(ns)
          }
        }
      }
      this.mayHoldRows = true
    }
    writer.end()
  }

  /** Deletes the rows of the key groups in `range` (within this backend's range). */
  private clearKeyGroups(range: KeyGroupRange): void {
    const start = Math.max(range.start, this.keyGroupRange.start)
    const end = Math.min(range.end, this.keyGroupRange.end)
    if (start > end) return
    const writer = new BatchWriter(this.rocks(), this.io)
    this.scan({ start, end }, false, (key) => writer.del(key))
    writer.end()
  }

  /** Calls `visit` for every row of the key groups in `range`, in key order. */
  private scan(range: KeyGroupRange, values: boolean, visit: (key: Buffer, value: Buffer) => void): void {
    if (range.start > range.end) return
    const it = this.rocks()._iterator({
      gte: keyGroupBound(range.start),
      lt: keyGroupBound(range.end + 1),
      keys: true,
      values,
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
    })
    try {
      for (;;) {
        const { rows, finished } = it._nextvSync(1000)
        for (let i = 0; i < rows.length; i += 2) visit(rows[i]!, rows[i + 1]!)
        if (finished) break
      }
    } finally {
      it._closeSync()
    }
  }

  size(): number {
    this.flush()
    let n = 0
    this.scan(this.keyGroupRange, false, () => n++)
    return n
  }

  /** Starts closing RocksDB; `close()` waits for it. */
  dispose(): void {
    if (this.closing) return
    for (const state of this.byId) {
      if (state === undefined) continue
      state.table.entries.clear()
      state.table.diskNamespaces = undefined // every read goes to rocks(), which fails
    }
    this.states.clear()
    this.cached = 0
    this.closing = (async () => {
      await this.opening?.catch(() => undefined)
      const db = this.db
      this.db = undefined
      await db?.close()
      if (!this.options.keepDir) rmSync(this.dir, { recursive: true, force: true })
    })()
  }

  /** Closes RocksDB (and removes the directory unless keepDir). */
  close(): Promise<void> {
    this.dispose()
    return this.closing!
  }

  /** @internal for tests: the number of cached entries. */
  cachedEntries(): number {
    return this.cached
  }

  /** @internal for tests and benchmarks: a copy of the RocksDB operations so far. */
  ioStats(): RocksIoStats {
    return { ...this.io }
  }
}

/** Puts and deletes in synchronous write batches of BATCH operations; marks flushed entries clean. */
class BatchWriter {
  private batch: RocksChainedBatch | undefined
  private flushed: CacheEntry[] = []
  /** Operations written so far. */
  count = 0

  constructor(
    private readonly db: RocksLevel,
    private readonly io: RocksIoStats,
  ) {}

  put(key: Buffer, value: Uint8Array, entry?: CacheEntry): void {
    this.open()._put(key, value)
    this.io.puts++
    this.written(entry)
  }

  del(key: Buffer, entry?: CacheEntry): void {
    this.open()._del(key)
    this.io.deletes++
    this.written(entry)
  }

  private open(): RocksChainedBatch {
    return (this.batch ??= this.db._chainedBatch())
  }

  private written(entry: CacheEntry | undefined): void {
    this.count++
    if (entry !== undefined) this.flushed.push(entry)
    if (this.batch!.length >= BATCH) this.end()
  }

  /** Writes what is pending. */
  end(): void {
    const batch = this.batch
    if (batch === undefined) return
    this.batch = undefined
    try {
      batch._writeSync()
    } finally {
      batch._closeSync()
    }
    for (const e of this.flushed) {
      e.dirty = false
      e.disk = e.v !== undefined
    }
    this.flushed = []
  }
}
