/**
 * The RocksDB backend's per-state table: a write-back, read-through cache in front of RocksDB.
 *
 * Entries are stored forms (objects), as in the memory backend. A read that misses loads the entry
 * with a synchronous get (caching absence too); a write never reads. Written entries are dirty
 * until the backend flushes them in a synchronous write batch, which it does when the cache
 * exceeds its bound — so RocksDB sees one batch per epoch (or per overflow), never a write per
 * record. Changed (namespace, key)s are recorded separately from dirtiness, so that flushing
 * never hides a change from the next incremental snapshot.
 */
import type { Namespace } from '../backend.ts'
import type { RegisteredState } from '../internal/base-backend.ts'
import type { StateTable } from '../internal/handles.ts'
import type { MapKey } from '../internal/keys.ts'

export class CacheEntry {
  constructor(
    /** The stored form; undefined when the entry is absent (a cached miss or a deletion). */
    public v: unknown,
    /** Written since the last flush. */
    public dirty: boolean,
    /** Accessed since the last eviction sweep (second chance). */
    public ref: boolean,
    /** The epoch in which the entry was last recorded as changed. */
    public epoch: number,
    public readonly keyGroup: number,
  ) {}
}

/** What a table needs from its backend. */
export interface CacheHost {
  /** The current key's identity and key group. */
  readonly mapKey: MapKey
  currentKeyGroup(): number
  /** Incremented by every snapshot; changes are recorded once per entry and epoch. */
  readonly epoch: number
  /** Loads (namespace, current key) of `table` from RocksDB into the cache. */
  load(table: CacheTable, namespace: Namespace): CacheEntry
  /** Makes room before an entry is added (may flush and evict). */
  reserve(): void
  /** Called after an entry was added. */
  added(): void
}

export interface RocksState extends RegisteredState {
  readonly id: number
  table: CacheTable
}

export class CacheTable implements StateTable {
  readonly entries = new Map<Namespace, Map<MapKey, CacheEntry>>()
  /** namespace → keys written or deleted since the last snapshot; undefined when not tracking. */
  readonly changes: Map<Namespace, Set<MapKey>> | undefined

  constructor(
    private readonly host: CacheHost,
    readonly state: RocksState,
    tracking: boolean,
  ) {
    if (tracking) this.changes = new Map()
  }

  get(namespace: Namespace): unknown {
    let e = this.entries.get(namespace)?.get(this.host.mapKey)
    if (e === undefined) e = this.host.load(this, namespace)
    e.ref = true
    return e.v
  }

  set(namespace: Namespace, stored: unknown): void {
    this.write(namespace, stored)
  }

  delete(namespace: Namespace): void {
    this.write(namespace, undefined)
  }

  private write(namespace: Namespace, stored: unknown): void {
    const host = this.host
    const mk = host.mapKey
    let e = this.entries.get(namespace)?.get(mk)
    if (e === undefined) {
      e = new CacheEntry(stored, true, true, -1, host.currentKeyGroup())
      this.insert(namespace, mk, e)
    } else {
      e.v = stored
      e.dirty = true
      e.ref = true
    }
    if (this.changes !== undefined && e.epoch !== host.epoch) {
      e.epoch = host.epoch
      let keys = this.changes.get(namespace)
      if (keys === undefined) this.changes.set(namespace, (keys = new Set()))
      keys.add(mk)
    }
  }

  /** Adds an entry for (namespace, current key), making room first. */
  insert(namespace: Namespace, mk: MapKey, entry: CacheEntry): void {
    this.host.reserve()
    let inner = this.entries.get(namespace)
    if (inner === undefined) this.entries.set(namespace, (inner = new Map()))
    inner.set(mk, entry)
    this.host.added()
  }
}
