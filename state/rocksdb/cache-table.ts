/**
 * The RocksDB backend's per-state table: a write-back, read-through cache in front of RocksDB.
 *
 * Entries are stored forms (objects), as in the memory backend. A read that misses loads the entry
 * with a synchronous get (caching absence too); a write never reads. Written entries are dirty
 * until the backend flushes them in a synchronous write batch, which it does when the cache
 * exceeds its bound — so RocksDB sees one batch per epoch (or per overflow), never a write per
 * record. Changed (namespace, key)s are recorded separately from dirtiness, so that flushing
 * never hides a change from the next incremental snapshot.
 *
 * Known absence (what keeps new windows off RocksDB):
 *  - each table keeps the set of namespaces RocksDB may hold rows of (`diskNamespaces`: added to
 *    by every flushed put and restored row, rebuilt exactly by a full snapshot's scan). A miss in
 *    any other namespace is absent without a read — the first access to a new window never reads;
 *  - each entry knows whether RocksDB may hold a row for it (`disk`), so deleting an entry that
 *    never reached RocksDB writes no tombstone: in a known-absent namespace it leaves the cache at
 *    once (a fired window's state costs nothing after it is cleared).
 */
import type { Namespace } from '../backend.ts'
import type { RegisteredState } from '../internal/base-backend.ts'
import type { StateTable } from '../internal/handles.ts'
import type { MapKey } from '../internal/keys.ts'

export class CacheEntry {
  /**
   * Whether RocksDB may hold a row for this entry. False only when known: loaded and found
   * absent, created in a namespace known absent, or deleted by a flush.
   */
  disk: boolean
  /**
   * Dropped from the cache with its value released (eviction of a clean entry, or a restore):
   * RocksDB holds its current value, so a delta that lists it reads it back.
   */
  evicted = false
  /** The epoch in which the entry was last recorded as changed. */
  epoch = -1

  constructor(
    /** The stored form; undefined when the entry is absent (a cached miss or a deletion). */
    public v: unknown,
    /** Written since the last flush. */
    public dirty: boolean,
    disk: boolean,
  ) {
    this.disk = disk
  }

  /** Accessed since the last eviction sweep (second chance). */
  ref = true
}

/** What a table needs from its backend. */
export interface CacheHost {
  /** The current key's identity. */
  readonly mapKey: MapKey
  /** Incremented by every snapshot; changes are recorded once per entry and epoch. */
  readonly epoch: number
  /** Namespaces a table tracks at most (then `diskNamespaces` becomes undefined). */
  readonly diskNamespacesLimit: number
  /** Loads (namespace, current key) of `table` from RocksDB into the cache. */
  load(table: CacheTable, namespace: Namespace): CacheEntry
  /** Makes room before an entry is added (may flush and evict). */
  reserve(): void
  /** Called after an entry was added (+1) or removed by the table (−1). */
  added(delta: number): void
}

export interface RocksState extends RegisteredState {
  readonly id: number
  table: CacheTable
}

export class CacheTable implements StateTable {
  readonly entries = new Map<Namespace, Map<MapKey, CacheEntry>>()
  /**
   * namespace → key → entry written or deleted since the last snapshot; undefined when not
   * tracking. The entry object is what a delta reads (its value, or RocksDB when `evicted`); a
   * later entry object of the same key replaces it at its first write.
   */
  readonly changes: Map<Namespace, Map<MapKey, CacheEntry>> | undefined
  /**
   * Namespaces RocksDB may hold rows of; undefined when unknown: any may (before open, after
   * dispose, and above the host's limit until a full snapshot rebuilds the set).
   */
  diskNamespaces: Set<Namespace> | undefined = new Set()

  constructor(
    private readonly host: CacheHost,
    readonly state: RocksState,
    tracking: boolean,
  ) {
    if (tracking) this.changes = new Map()
  }

  /** Whether RocksDB may hold rows of `namespace`. */
  mayHold(namespace: Namespace): boolean {
    return this.diskNamespaces === undefined || this.diskNamespaces.has(namespace)
  }

  /** Notes that RocksDB may now hold rows of `namespace`. */
  addDiskNamespace(namespace: Namespace): void {
    const set = this.diskNamespaces
    if (set === undefined || set.has(namespace)) return
    if (set.size >= this.host.diskNamespacesLimit) this.diskNamespaces = undefined
    else set.add(namespace)
  }

  get(namespace: Namespace): unknown {
    let e = this.entries.get(namespace)?.get(this.host.mapKey)
    if (e === undefined) {
      if (!this.mayHold(namespace)) return undefined // known absent: nothing to read or cache
      e = this.host.load(this, namespace)
    }
    e.ref = true
    return e.v
  }

  set(namespace: Namespace, stored: unknown): void {
    const host = this.host
    const mk = host.mapKey
    let e = this.entries.get(namespace)?.get(mk)
    if (e === undefined) {
      e = new CacheEntry(stored, true, this.mayHold(namespace))
      this.insert(namespace, mk, e)
    } else {
      e.v = stored
      e.dirty = true
      e.ref = true
    }
    if (this.changes !== undefined && e.epoch !== host.epoch) this.record(namespace, mk, e)
  }

  delete(namespace: Namespace): void {
    const host = this.host
    const mk = host.mapKey
    const inner = this.entries.get(namespace)
    let e = inner?.get(mk)
    if (e === undefined) {
      if (!this.mayHold(namespace)) return // nothing cached, nothing on disk: nothing to delete
      e = new CacheEntry(undefined, true, true) // blind: RocksDB may hold a row, write a tombstone
      this.insert(namespace, mk, e)
    } else {
      e.v = undefined
      e.ref = true
      if (e.disk) e.dirty = true
      else {
        // Never reached RocksDB: no tombstone. In a known-absent namespace a read finds it absent
        // without the cache, so the entry leaves at once; otherwise it stays as a cached miss.
        e.dirty = false
        if (!this.mayHold(namespace)) {
          inner!.delete(mk)
          if (inner!.size === 0) this.entries.delete(namespace)
          host.added(-1)
        }
      }
    }
    if (this.changes !== undefined && e.epoch !== host.epoch) this.record(namespace, mk, e)
  }

  private record(namespace: Namespace, mk: MapKey, e: CacheEntry): void {
    e.epoch = this.host.epoch
    let keys = this.changes!.get(namespace)
    if (keys === undefined) this.changes!.set(namespace, (keys = new Map()))
    keys.set(mk, e)
  }

  /** Adds an entry for (namespace, current key), making room first. */
  insert(namespace: Namespace, mk: MapKey, entry: CacheEntry): void {
    this.host.reserve()
    let inner = this.entries.get(namespace)
    if (inner === undefined) this.entries.set(namespace, (inner = new Map()))
    inner.set(mk, entry)
    this.host.added(1)
  }
}
