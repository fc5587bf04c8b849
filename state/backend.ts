/**
 * The KeyedStateBackend contract (DESIGN.md §4). The memory backend implements it now; the RocksDB
 * backend implements the same contract, and one contract suite runs against both.
 *
 * A backend holds the state of one operator subtask, for the key groups that subtask owns. The
 * task sets the current key before every record and timer; state handles read and write the entry
 * of (current key, current namespace). The namespace is the window for window operators and
 * VOID_NAMESPACE elsewhere.
 */
import type { ListState, ListStateDescriptor, MapState, MapStateDescriptor, ValueState, ValueStateDescriptor } from './api.ts'

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

export interface InternalValueState<T> extends ValueState<T>, InternalKvState {}
export interface InternalListState<T> extends ListState<T>, InternalKvState {
  /** Moves the lists of `sources` into `target` (appending), used when session windows merge. */
  mergeNamespaces(target: Namespace, sources: readonly Namespace[]): void
}
export interface InternalMapState<K, V> extends MapState<K, V>, InternalKvState {}

/** A self-contained copy of a backend's state: rows of (state, namespace, key, value). */
export interface KeyedStateSnapshot {
  maxParallelism: number
  /** One entry per state name; each row is [keyGroup, stateKey, key, namespace, value]. */
  states: Record<string, { kind: string; rows: [number, string, unknown, Namespace, unknown][] }>
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
  /** A consistent, deep copy of every state, taken synchronously. */
  snapshot(): KeyedStateSnapshot
  /** Loads the rows of `snapshots` whose key group this backend owns (used for rescaling). */
  restore(snapshots: readonly KeyedStateSnapshot[]): void
  /** Number of (state, namespace, key) entries; for tests and metrics. */
  size(): number
  dispose(): void
}
