/**
 * The keyed state API that user functions see (Flink's ValueState, ListState, MapState,
 * ReducingState and AggregatingState), and the descriptors that declare state up front.
 *
 * State is always scoped to the current key (and, inside window operators, the current window).
 * Backends keep live values as objects: do not mutate an object after `update` (or one returned by
 * a read) unless you write it again — a checkpoint only sees what was written.
 *
 * Each descriptor may carry a serializer (v8 serialize/deserialize by default) or an Avro schema,
 * and a TTL. With an Avro schema the state's schema can evolve between a checkpoint and a restore
 * (fields added with defaults, fields removed, promotions): see state/README.md.
 */
import { parseAvroSchema, type AvroSchemaInfo } from './internal/avro.ts'
import { v8DecodeAt, v8EncodeWithPrefix } from './internal/v8-fast.ts'

/** Turns what a state stores into bytes for checkpoints and the RocksDB backend, and back. */
export interface StateSerializer<T> {
  serialize(value: T): Uint8Array
  deserialize(bytes: Uint8Array): T
}

/**
 * The default serializer: the bytes of node:v8 serialize (structured clone: class instances come
 * back as plain objects), with a fast path for primitives.
 */
export const V8_SERIALIZER: StateSerializer<any> = Object.freeze({
  serialize: (value: unknown): Uint8Array => v8EncodeWithPrefix(value, 0),
  deserialize: (bytes: Uint8Array): any => v8DecodeAt(bytes, 0),
})

/**
 * Time-to-live of state entries (Flink's StateTtlConfig), measured with the backend's
 * processing-time clock. An entry expires `ttlMs` after its last timestamp update; list elements
 * and map entries expire one by one. Expired entries are removed when accessed and left out of
 * snapshots.
 */
export interface StateTtlConfig {
  ttlMs: number
  /** When the timestamp is refreshed: on writes only (default), or also on reads. */
  updateType?: 'onCreateAndWrite' | 'onReadAndWrite'
  /** Whether a read may still return an expired entry that has not been removed yet (default: never). */
  visibility?: 'neverReturnExpired' | 'returnExpiredIfNotCleanedUp'
}

/**
 * An Avro schema as avsc takes it: a schema object (`{ type: 'record', name, fields }`), its JSON
 * text (or a bare type name such as `'long'`), or an avsc `Type` (e.g. one with logical types).
 */
export type AvroSchema = string | object

export interface StateDescriptorOptions<T> {
  /** Value returned by ValueState.value() when nothing is stored (value state only). */
  defaultValue?: T
  /**
   * Serializer of one stored item: the value (value and reducing state), the element (list state),
   * the map value (map state), the accumulator (aggregating state). Default: V8_SERIALIZER.
   */
  serializer?: StateSerializer<T>
  /**
   * Stores each item (see `serializer`; map keys keep the key serializer) as Avro binary with this
   * schema, instead of a serializer. Checkpoints keep the writer schema; a job restored with a
   * changed schema reads the old entries through Avro schema resolution (fields added with
   * defaults, fields removed, int → long → float → double, …). A change Avro cannot resolve fails
   * the registration of the state with FLX_STATE_INCOMPATIBLE. Values follow avsc's mapping:
   * records are objects, `long` is a number, `bytes` a Buffer, unions of null and one type are
   * unwrapped. Exclusive with `serializer`.
   */
  avroSchema?: AvroSchema
  ttl?: StateTtlConfig
}

export interface MapStateDescriptorOptions<K, V> extends StateDescriptorOptions<V> {
  /** Serializer of the map's keys. Default: V8_SERIALIZER. */
  keySerializer?: StateSerializer<K>
}

export type StateKind = 'value' | 'list' | 'map' | 'reducing' | 'aggregating'

export abstract class StateDescriptor<T = unknown> {
  abstract readonly kind: StateKind
  /** @internal the parsed `options.avroSchema`. */
  readonly avro: AvroSchemaInfo | undefined

  constructor(
    readonly name: string,
    readonly options: StateDescriptorOptions<T> = {},
  ) {
    if (!name) throw new TypeError('a state descriptor needs a non-empty name')
    const ttl = options.ttl
    if (ttl !== undefined && !(Number.isFinite(ttl.ttlMs) && ttl.ttlMs > 0)) {
      throw new TypeError(`state "${name}": ttl.ttlMs must be a positive number of milliseconds, got ${String(ttl.ttlMs)}`)
    }
    if (options.avroSchema !== undefined) {
      if (options.serializer !== undefined) throw new TypeError(`state "${name}": give the descriptor either a serializer or an avroSchema, not both`)
      try {
        this.avro = parseAvroSchema(options.avroSchema)
      } catch (e) {
        throw new TypeError(`state "${name}": invalid avroSchema: ${e instanceof Error ? e.message : String(e)}`, { cause: e })
      }
    }
  }
}

export class ValueStateDescriptor<T> extends StateDescriptor<T> {
  readonly kind = 'value' as const
}

/** Declares a list state; `serializer` serializes one element. */
export class ListStateDescriptor<T> extends StateDescriptor<T> {
  readonly kind = 'list' as const
}

/** Declares a map state; `serializer` serializes one map value, `keySerializer` one map key. */
export class MapStateDescriptor<K, V> extends StateDescriptor<V> {
  readonly kind = 'map' as const
  declare readonly options: MapStateDescriptorOptions<K, V>
  constructor(name: string, options: MapStateDescriptorOptions<K, V> = {}) {
    super(name, options)
  }
}

export type ReduceFunction<T> = (a: T, b: T) => T

/** Flink's AggregateFunction: incremental aggregation with a mergeable accumulator. */
export interface AggregateFunction<IN, ACC, OUT> {
  createAccumulator(): ACC
  add(value: IN, accumulator: ACC): ACC
  getResult(accumulator: ACC): OUT
  merge(a: ACC, b: ACC): ACC
}

/** Declares a reducing state: added values are folded into one with `reduceFn`. */
export class ReducingStateDescriptor<T> extends StateDescriptor<T> {
  readonly kind = 'reducing' as const
  constructor(
    name: string,
    readonly reduceFn: ReduceFunction<T>,
    options: Omit<StateDescriptorOptions<T>, 'defaultValue'> = {},
  ) {
    super(name, options)
  }
}

/** Declares an aggregating state; `serializer` serializes the accumulator. */
export class AggregatingStateDescriptor<IN, ACC, OUT> extends StateDescriptor<ACC> {
  readonly kind = 'aggregating' as const
  constructor(
    name: string,
    readonly aggregateFunction: AggregateFunction<IN, ACC, OUT>,
    options: Omit<StateDescriptorOptions<ACC>, 'defaultValue'> = {},
  ) {
    super(name, options)
  }
}

/** A single value per key. */
export interface ValueState<T> {
  /** The stored value, or the descriptor's defaultValue (undefined if none). */
  value(): T | undefined
  /** Stores `value`; `update(undefined)` clears, as in Flink. */
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

/** One value per key, folded from every added value with the descriptor's reduce function. */
export interface ReducingState<T> {
  /** The reduced value, or undefined when nothing was added. */
  get(): T | undefined
  add(value: T): void
  clear(): void
}

/** An accumulator per key; `get` returns the aggregate function's result. */
export interface AggregatingState<IN, OUT> {
  /** getResult(accumulator), or undefined when nothing was added. */
  get(): OUT | undefined
  add(value: IN): void
  clear(): void
}

/** What a keyed user function can ask of its runtime in `open`. */
export interface KeyedStateStore {
  getState<T>(descriptor: ValueStateDescriptor<T>): ValueState<T>
  getListState<T>(descriptor: ListStateDescriptor<T>): ListState<T>
  getMapState<K, V>(descriptor: MapStateDescriptor<K, V>): MapState<K, V>
  /**
   * Optional only until the process operator's runtime context implements it (every
   * KeyedStateBackend does); then it becomes required.
   */
  getReducingState<T>(descriptor: ReducingStateDescriptor<T>): ReducingState<T>
  /** See getReducingState. */
  getAggregatingState<IN, ACC, OUT>(descriptor: AggregatingStateDescriptor<IN, ACC, OUT>): AggregatingState<IN, OUT>
}
