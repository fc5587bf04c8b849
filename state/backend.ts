/**
 * The KeyedStateBackend contract (DESIGN.md §4). The memory and RocksDB backends implement it, and
 * one contract suite (state/testing/backend-contract.ts) runs against both.
 *
 * A backend holds the state of one operator subtask, for the key groups that subtask owns. The
 * task sets the current key before every record and timer; state handles read and write the entry
 * of (current key, current namespace). The namespace is the window for window operators and
 * VOID_NAMESPACE elsewhere. Every method is synchronous and runs on the task's thread; a method
 * that throws leaves the backend usable only for `dispose`.
 */
import type {
  AggregatingState,
  AggregatingStateDescriptor,
  ListState,
  ListStateDescriptor,
  MapState,
  MapStateDescriptor,
  ReducingState,
  ReducingStateDescriptor,
  StateKind,
  ValueState,
  ValueStateDescriptor,
} from './api.ts'

export type Namespace = string | number
export const VOID_NAMESPACE: Namespace = ''

export interface KeyGroupRange {
  /** First key group, inclusive. */
  start: number
  /** Last key group, inclusive. */
  end: number
}

/** State handle with a settable namespace, used by operators (users only see the plain interface). */
export interface InternalKvState {
  setCurrentNamespace(namespace: Namespace): void
}

/** State whose namespaces can be merged (session windows). Sources are cleared. */
export interface InternalMergingState extends InternalKvState {
  /** Merges the entries of `sources` (for the current key) into `target` and clears `sources`. */
  mergeNamespaces(target: Namespace, sources: readonly Namespace[]): void
}

export interface InternalValueState<T> extends ValueState<T>, InternalKvState {}
export interface InternalListState<T> extends ListState<T>, InternalMergingState {}
export interface InternalMapState<K, V> extends MapState<K, V>, InternalKvState {}
export interface InternalReducingState<T> extends ReducingState<T>, InternalMergingState {
  /** The stored value itself (same as get). */
  getInternal(): T | undefined
  /** Replaces the stored value; undefined clears. */
  updateInternal(value: T | undefined): void
}
export interface InternalAggregatingState<IN, ACC, OUT> extends AggregatingState<IN, OUT>, InternalMergingState {
  /** The stored accumulator, or undefined. */
  getInternal(): ACC | undefined
  /** Replaces the stored accumulator; undefined clears. */
  updateInternal(accumulator: ACC | undefined): void
}

/**
 * One entry: [keyGroup, stateKey (engine/keys.ts stateKeyOf), namespace, value]. The value is the
 * stored item encoded with the descriptor's serializer inside a small frame (state/internal/codec.ts);
 * null marks a deletion and only occurs in incremental snapshots.
 */
export type SnapshotRow = [keyGroup: number, stateKey: string, namespace: Namespace, value: Uint8Array | null]

export interface StateSnapshot {
  kind: StateKind
  rows: SnapshotRow[]
  /**
   * For states declared with an `avroSchema`: the writer schemas (JSON of their Parsing Canonical
   * Form) that the rows' frames name by fingerprint — one, or several when entries written before
   * a schema change were not rewritten yet. Absent when no row holds Avro.
   */
  avroSchemas?: string[]
}

/**
 * A backend's state, or the changes to it, as plain data (numbers, strings, arrays, plain objects
 * and Uint8Arrays): it can be written with v8.serialize and restored by any backend.
 */
export interface KeyedStateSnapshot {
  version: 1
  /**
   * 'full': every entry of `keyGroupRange`; restoring it replaces what those key groups held.
   * 'incremental': the entries written or deleted since the previous snapshot of the same backend.
   */
  type: 'full' | 'incremental'
  maxParallelism: number
  /** The key groups of the backend that took the snapshot. */
  keyGroupRange: KeyGroupRange
  /** Per state name; states without rows may be left out. */
  states: Record<string, StateSnapshot>
}

export interface SnapshotOptions {
  /** Leave change tracking as it is (default false: the snapshot starts a new epoch). */
  keepChanges?: boolean
}

export interface KeyedStateBackend {
  readonly maxParallelism: number
  readonly keyGroupRange: KeyGroupRange
  /** Sets the key that state handles read and write. Called once per record and timer. */
  setCurrentKey(key: unknown): void
  getCurrentKey(): unknown
  getValueState<T>(descriptor: ValueStateDescriptor<T>): InternalValueState<T>
  getListState<T>(descriptor: ListStateDescriptor<T>): InternalListState<T>
  getMapState<K, V>(descriptor: MapStateDescriptor<K, V>): InternalMapState<K, V>
  getReducingState<T>(descriptor: ReducingStateDescriptor<T>): InternalReducingState<T>
  getAggregatingState<IN, ACC, OUT>(descriptor: AggregatingStateDescriptor<IN, ACC, OUT>): InternalAggregatingState<IN, ACC, OUT>
  /**
   * Every entry, encoded, taken synchronously; later writes do not change it. Cost proportional
   * to the state size. Also starts a new epoch for snapshotIncremental, unless `keepChanges`
   * (savepoints, which are not part of the checkpoint chain): then the next snapshotIncremental
   * still holds every change since the previous epoch. Expired TTL entries are left out.
   */
  snapshot(options?: SnapshotOptions): KeyedStateSnapshot
  /**
   * The entries written or deleted since the previous snapshot or snapshotIncremental (deletions
   * as null rows), taken synchronously; cost proportional to the changes. Throws FLX_INVALID_CONFIG
   * when the backend was created without change tracking.
   */
  snapshotIncremental(): KeyedStateSnapshot
  /**
   * Applies `snapshots` in order — full ones replace the key groups they cover, incremental ones
   * apply their writes and deletions — keeping only rows of this backend's key groups (rescaling).
   * Called before the state is used. Throws when a snapshot has another maxParallelism, and
   * FLX_STATE_INCOMPATIBLE when a state already registered with an `avroSchema` cannot read the
   * restored entries (otherwise that check happens when the state is registered).
   */
  restore(snapshots: readonly KeyedStateSnapshot[]): void
  /** Number of (state, namespace, key) entries; for tests and metrics (may cost O(state)). */
  size(): number
  /**
   * Backends with files (RocksDB) open them here: the runtime awaits it once, before `restore`
   * and the first access. Absent on the memory backend.
   */
  open?(): Promise<void>
  /** Releases the state; the backend must not be used afterwards. */
  dispose(): void
  /** Like dispose, and resolves once files are closed (RocksDB). Absent on the memory backend. */
  close?(): Promise<void>
}
