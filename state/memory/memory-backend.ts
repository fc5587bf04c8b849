/**
 * In-memory KeyedStateBackend: per state, a table namespace → key → stored form (objects, kept by
 * reference). Snapshots encode with each state's serializer, which makes them deep copies.
 *
 * With `trackChanges`, every write also records (namespace, key) in a per-state change set, which
 * snapshotIncremental turns into rows; without it the hot path pays nothing for checkpoints.
 */
import { keyGroupOfStateKey } from '../../engine/keys.ts'
import type { Clock } from '../../engine/time.ts'
import type { StateKind } from '../api.ts'
import type { KeyedStateSnapshot, KeyGroupRange, Namespace, SnapshotOptions } from '../backend.ts'
import { AvroSchemas } from '../internal/avro.ts'
import { AbstractKeyedStateBackend, type RegisteredState } from '../internal/base-backend.ts'
import { withoutExpired } from '../internal/codec.ts'
import type { StateTable } from '../internal/handles.ts'
import { mapKeyOfStateKey, stateKeyOfMapKey, type MapKey } from '../internal/keys.ts'

export interface MemoryBackendOptions {
  /** Record changed entries for snapshotIncremental (default false: nothing extra per write). */
  trackChanges?: boolean
  /** Processing-time clock for TTL (default: the system clock). */
  clock?: Clock
}

class MemoryTable implements StateTable {
  /** namespace → map key → stored form (raw bytes while the state is not registered). */
  readonly data = new Map<Namespace, Map<MapKey, unknown>>()
  /** namespace → keys written or deleted since the last snapshot; undefined when not tracking. */
  changes: Map<Namespace, Set<MapKey>> | undefined

  constructor(
    private readonly backend: MemoryKeyedStateBackend,
    tracking: boolean,
  ) {
    if (tracking) this.changes = new Map()
  }

  get(namespace: Namespace): unknown {
    return this.data.get(namespace)?.get(this.backend.mapKey)
  }

  set(namespace: Namespace, stored: unknown): void {
    const mk = this.backend.mapKey
    let inner = this.data.get(namespace)
    if (inner === undefined) this.data.set(namespace, (inner = new Map()))
    inner.set(mk, stored)
    if (this.changes !== undefined) this.mark(namespace, mk)
  }

  delete(namespace: Namespace): void {
    const inner = this.data.get(namespace)
    if (inner === undefined) return
    const mk = this.backend.mapKey
    if (!inner.delete(mk)) return
    if (inner.size === 0) this.data.delete(namespace)
    if (this.changes !== undefined) this.mark(namespace, mk)
  }

  private mark(namespace: Namespace, mk: MapKey): void {
    let keys = this.changes!.get(namespace)
    if (keys === undefined) this.changes!.set(namespace, (keys = new Set()))
    keys.add(mk)
  }

  /** Restore path: stores without recording a change (unless `changed`). */
  put(namespace: Namespace, mk: MapKey, stored: unknown, changed = false): void {
    let inner = this.data.get(namespace)
    if (inner === undefined) this.data.set(namespace, (inner = new Map()))
    inner.set(mk, stored)
    if (changed && this.changes !== undefined) this.mark(namespace, mk)
  }

  remove(namespace: Namespace, mk: MapKey): void {
    const inner = this.data.get(namespace)
    if (inner === undefined || !inner.delete(mk)) return
    if (inner.size === 0) this.data.delete(namespace)
  }
}

interface MemoryState extends RegisteredState {
  table: MemoryTable
}

export class MemoryKeyedStateBackend extends AbstractKeyedStateBackend<MemoryState> {
  private readonly tracking: boolean

  constructor(maxParallelism: number, keyGroupRange: KeyGroupRange, options: MemoryBackendOptions = {}) {
    super(maxParallelism, keyGroupRange, options.clock)
    this.tracking = options.trackChanges === true
  }

  protected createState(name: string, kind: StateKind): MemoryState {
    return { name, kind, codec: undefined, ttl: undefined, schemas: new AvroSchemas(name), plainRows: false, table: new MemoryTable(this, this.tracking) }
  }

  protected tableOf(state: MemoryState): StateTable {
    return state.table
  }

  /** Decodes the entries a restore left encoded (and drops those whose TTL has run out). */
  protected onRegistered(state: MemoryState): void {
    const now = this.clock.now()
    for (const [ns, inner] of state.table.data) {
      for (const [mk, bytes] of inner) this.putDecoded(state, ns, mk, bytes as Uint8Array, now)
    }
  }

  /** Stores decoded bytes; entries whose TTL starts now count as changed, so deltas carry their timestamp. */
  private putDecoded(state: MemoryState, ns: Namespace, mk: MapKey, bytes: Uint8Array, now: number): void {
    let stored = state.codec!.decode(bytes, now)
    if (state.ttl) stored = withoutExpired(state.kind, stored, now, state.ttl.ttlMs)
    if (stored === undefined) state.table.remove(ns, mk)
    else state.table.put(ns, mk, stored, state.codec!.startsTtl(bytes))
  }

  snapshot(options: SnapshotOptions = {}): KeyedStateSnapshot {
    const snap = this.emptySnapshot('full')
    const now = this.clock.now()
    for (const state of this.states.values()) {
      const rows = this.rowsOf(snap, state)
      for (const [ns, inner] of state.table.data) {
        for (const [mk, stored] of inner) {
          const value = state.codec ? this.encodeLive(state, stored, now) : (stored as Uint8Array)
          if (value === null) continue
          const sk = stateKeyOfMapKey(mk)
          rows.push([keyGroupOfStateKey(sk, this.maxParallelism), sk, ns, value])
        }
      }
      if (options.keepChanges !== true) state.table.changes?.clear()
    }
    return this.addAvroSchemas(snap)
  }

  snapshotIncremental(): KeyedStateSnapshot {
    this.requireTracking(this.tracking)
    const snap = this.emptySnapshot('incremental')
    const now = this.clock.now()
    for (const state of this.states.values()) {
      const changes = state.table.changes!
      if (changes.size === 0) continue
      const rows = this.rowsOf(snap, state)
      for (const [ns, keys] of changes) {
        const inner = state.table.data.get(ns)
        for (const mk of keys) {
          const stored = inner?.get(mk)
          const sk = stateKeyOfMapKey(mk)
          rows.push([keyGroupOfStateKey(sk, this.maxParallelism), sk, ns, stored === undefined ? null : this.encodeLive(state, stored, now)])
        }
      }
      changes.clear()
    }
    return this.addAvroSchemas(snap)
  }

  restore(snapshots: readonly KeyedStateSnapshot[]): void {
    const now = this.clock.now()
    for (const snap of snapshots) {
      this.checkRestorable(snap)
      if (snap.type === 'full') this.clearKeyGroups(snap.keyGroupRange)
      for (const [name, stateSnap] of Object.entries(snap.states)) {
        const state = this.stateForRestore(name, stateSnap.kind)
        this.restoreAvroSchemas(state, stateSnap)
        for (const [group, sk, ns, value] of stateSnap.rows) {
          if (!this.owns(group)) continue
          const mk = mapKeyOfStateKey(sk)
          if (value === null) state.table.remove(ns, mk)
          else if (state.codec) this.putDecoded(state, ns, mk, value, now)
          else state.table.put(ns, mk, value)
        }
      }
    }
  }

  /** Removes the entries of the key groups in `range` (a full snapshot replaces them). */
  private clearKeyGroups(range: KeyGroupRange): void {
    for (const state of this.states.values()) {
      for (const [ns, inner] of state.table.data) {
        for (const mk of inner.keys()) {
          if (this.owns(keyGroupOfStateKey(stateKeyOfMapKey(mk), this.maxParallelism), range)) state.table.remove(ns, mk)
        }
      }
    }
  }

  size(): number {
    let n = 0
    for (const { table } of this.states.values()) for (const inner of table.data.values()) n += inner.size
    return n
  }

  dispose(): void {
    this.states.clear()
  }
}
