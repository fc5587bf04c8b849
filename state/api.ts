/**
 * The keyed state API that user functions see (Flink's ValueState, ListState, MapState), and the
 * descriptors that declare state up front.
 *
 * State is always scoped to the current key (and, inside window operators, the current window).
 * Values are stored by reference in the memory backend: do not mutate an object after `update`
 * unless you `update` it again.
 */

export interface StateDescriptorOptions<T> {
  /** Value returned by ValueState.value() when nothing is stored. */
  defaultValue?: T
}

export abstract class StateDescriptor<T = unknown> {
  abstract readonly kind: 'value' | 'list' | 'map'
  constructor(
    readonly name: string,
    readonly options: StateDescriptorOptions<T> = {},
  ) {
    if (!name) throw new TypeError('a state descriptor needs a non-empty name')
  }
}

export class ValueStateDescriptor<T> extends StateDescriptor<T> {
  readonly kind = 'value' as const
}

export class ListStateDescriptor<T> extends StateDescriptor<T[]> {
  readonly kind = 'list' as const
}

export class MapStateDescriptor<K, V> extends StateDescriptor<Map<K, V>> {
  readonly kind = 'map' as const
}

/** A single value per key. */
export interface ValueState<T> {
  /** The stored value, or the descriptor's defaultValue (undefined if none). */
  value(): T | undefined
  update(value: T): void
  clear(): void
}

/** A list per key. */
export interface ListState<T> {
  /** The stored elements (an empty array when nothing is stored). Do not mutate the result. */
  get(): readonly T[]
  add(value: T): void
  addAll(values: readonly T[]): void
  update(values: readonly T[]): void
  clear(): void
}

/** A map per key. Map keys follow JavaScript Map equality (use primitives). */
export interface MapState<K, V> {
  get(key: K): V | undefined
  put(key: K, value: V): void
  putAll(entries: Iterable<[K, V]>): void
  remove(key: K): void
  contains(key: K): boolean
  entries(): IterableIterator<[K, V]>
  keys(): IterableIterator<K>
  values(): IterableIterator<V>
  isEmpty(): boolean
  clear(): void
}

/** What a keyed user function can ask of its runtime in `open`. */
export interface KeyedStateStore {
  getState<T>(descriptor: ValueStateDescriptor<T>): ValueState<T>
  getListState<T>(descriptor: ListStateDescriptor<T>): ListState<T>
  getMapState<K, V>(descriptor: MapStateDescriptor<K, V>): MapState<K, V>
}
