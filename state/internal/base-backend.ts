/**
 * What the memory and RocksDB backends share: the current key, the registry of states, the
 * handles, and the checks and encoding of snapshots. A backend supplies the StateTable of each
 * state and its own snapshot and restore.
 */
import { FluxionError } from '../../engine/errors.ts'
import { SystemClock, type Clock } from '../../engine/time.ts'
import {
  V8_SERIALIZER,
  type AggregatingStateDescriptor,
  type ListStateDescriptor,
  type MapStateDescriptor,
  type MapStateDescriptorOptions,
  type ReducingStateDescriptor,
  type StateDescriptor,
  type StateKind,
  type ValueStateDescriptor,
} from '../api.ts'
import type {
  InternalAggregatingState,
  InternalListState,
  InternalMapState,
  InternalReducingState,
  InternalValueState,
  KeyedStateBackend,
  KeyedStateSnapshot,
  KeyGroupRange,
  SnapshotOptions,
  StateSnapshot,
} from '../backend.ts'
import { AvroSchemas, AvroStateCodec, notAvroError } from './avro.ts'
import { isAvroFrame, StateCodec, withoutExpired } from './codec.ts'
import { AggregatingHandle, ListHandle, MapHandle, ReducingHandle, TtlListHandle, TtlMapHandle, TtlValueTable, ValueHandle, type StateTable, type TtlPolicy } from './handles.ts'
import { mapKeyOf, type MapKey } from './keys.ts'

export interface RegisteredState {
  readonly name: string
  readonly kind: StateKind
  /** Set when a descriptor registers the state; until then restored entries stay encoded. */
  codec: StateCodec | undefined
  ttl: TtlPolicy | undefined
  /**
   * Avro writer schemas that stored entries of this state may name (from restored snapshots and
   * the descriptor); kept for the backend's lifetime, so entries of any of them stay readable.
   */
  schemas: AvroSchemas
  /** Whether a restored snapshot held entries of this state written without an Avro schema. */
  plainRows: boolean
}

const KINDS: readonly StateKind[] = ['value', 'list', 'map', 'reducing', 'aggregating']

export abstract class AbstractKeyedStateBackend<S extends RegisteredState> implements KeyedStateBackend {
  /** @internal read by the tables on every access. */
  currentKey: unknown = undefined
  /** @internal the current key's identity in the tables (keys.ts). */
  mapKey: MapKey = ''
  protected readonly states = new Map<string, S>()
  readonly clock: Clock

  constructor(
    readonly maxParallelism: number,
    readonly keyGroupRange: KeyGroupRange,
    clock: Clock | undefined,
  ) {
    if (!Number.isInteger(maxParallelism) || maxParallelism < 1 || maxParallelism > 32768) {
      throw new FluxionError('FLX_INVALID_CONFIG', `maxParallelism must be an integer in [1, 32768], got ${maxParallelism}`)
    }
    if (!(keyGroupRange.start >= 0 && keyGroupRange.end < maxParallelism && keyGroupRange.start <= keyGroupRange.end + 1)) {
      throw new FluxionError('FLX_INVALID_CONFIG', `keyGroupRange [${keyGroupRange.start}, ${keyGroupRange.end}] is not inside [0, ${maxParallelism - 1}]`)
    }
    this.clock = clock ?? new SystemClock()
  }

  setCurrentKey(key: unknown): void {
    if (key === this.currentKey) return
    this.mapKey = mapKeyOf(key)
    this.currentKey = key
  }

  getCurrentKey(): unknown {
    return this.currentKey
  }

  /** A state seen for the first time, by registration or in a restored snapshot. */
  protected abstract createState(name: string, kind: StateKind): S
  /** The table of a state for the current key. */
  protected abstract tableOf(state: S): StateTable
  /** Called once when a descriptor registers a state (after its codec is set). */
  protected abstract onRegistered(state: S): void

  abstract snapshot(options?: SnapshotOptions): KeyedStateSnapshot
  abstract snapshotIncremental(): KeyedStateSnapshot
  abstract restore(snapshots: readonly KeyedStateSnapshot[]): void
  abstract size(): number
  abstract dispose(): void

  /**
   * The first descriptor that registers a state fixes its serializers (or Avro schema) and TTL.
   * With an Avro schema, every writer schema restored for the state must resolve against it
   * (FLX_STATE_INCOMPATIBLE otherwise).
   */
  private register(descriptor: StateDescriptor<any>): S {
    const { name, kind, options } = descriptor
    let state = this.states.get(name)
    if (state === undefined) {
      state = this.createState(name, kind)
      this.states.set(name, state)
    } else if (state.kind !== kind) {
      throw new FluxionError('FLX_INVALID_CONFIG', `state "${name}" was registered as ${state.kind} state and cannot be used as ${kind} state; give each state its own name`)
    }
    if (state.codec === undefined) {
      const own = descriptor.avro
      if (own !== undefined && state.plainRows) throw notAvroError(name)
      const avro = new AvroStateCodec(name, own, state.schemas)
      if (own !== undefined) for (const writer of state.schemas.values()) avro.check(writer)
      const keySerializer = (options as MapStateDescriptorOptions<unknown, unknown>).keySerializer ?? V8_SERIALIZER
      state.codec = new StateCodec(kind, options.serializer ?? V8_SERIALIZER, keySerializer, options.ttl !== undefined, avro)
      state.ttl = options.ttl && {
        ttlMs: options.ttl.ttlMs,
        updateOnRead: options.ttl.updateType === 'onReadAndWrite',
        returnExpired: options.ttl.visibility === 'returnExpiredIfNotCleanedUp',
        clock: this.clock,
      }
      this.onRegistered(state)
    } else if (state.codec.ttl !== (options.ttl !== undefined)) {
      throw new FluxionError('FLX_INVALID_CONFIG', `state "${name}" was registered ${state.codec.ttl ? 'with' : 'without'} a TTL; every descriptor of one state must agree on having a TTL`)
    } else if (state.codec.avro?.own?.key !== descriptor.avro?.key) {
      const was = state.codec.avro?.own === undefined ? 'without an avroSchema' : descriptor.avro === undefined ? 'with an avroSchema' : 'with another avroSchema'
      throw new FluxionError('FLX_INVALID_CONFIG', `state "${name}" was registered ${was}; every descriptor of one state must use the same avroSchema`)
    }
    return state
  }

  private valueTable(state: S): StateTable {
    const table = this.tableOf(state)
    return state.ttl ? new TtlValueTable(table, state.ttl) : table
  }

  getValueState<T>(descriptor: ValueStateDescriptor<T>): InternalValueState<T> {
    return new ValueHandle<T>(this.valueTable(this.register(descriptor)), descriptor.options.defaultValue)
  }

  getListState<T>(descriptor: ListStateDescriptor<T>): InternalListState<T> {
    const state = this.register(descriptor)
    return state.ttl ? new TtlListHandle<T>(this.tableOf(state), state.ttl) : new ListHandle<T>(this.tableOf(state))
  }

  getMapState<K, V>(descriptor: MapStateDescriptor<K, V>): InternalMapState<K, V> {
    const state = this.register(descriptor)
    return state.ttl ? new TtlMapHandle<K, V>(this.tableOf(state), state.ttl) : new MapHandle<K, V>(this.tableOf(state))
  }

  getReducingState<T>(descriptor: ReducingStateDescriptor<T>): InternalReducingState<T> {
    return new ReducingHandle<T>(this.valueTable(this.register(descriptor)), descriptor.reduceFn)
  }

  getAggregatingState<IN, ACC, OUT>(descriptor: AggregatingStateDescriptor<IN, ACC, OUT>): InternalAggregatingState<IN, ACC, OUT> {
    return new AggregatingHandle<IN, ACC, OUT>(this.valueTable(this.register(descriptor)), descriptor.aggregateFunction)
  }

  // --- snapshot helpers ---------------------------------------------------------------------------

  protected emptySnapshot(type: KeyedStateSnapshot['type']): KeyedStateSnapshot {
    return { version: 1, type, maxParallelism: this.maxParallelism, keyGroupRange: { ...this.keyGroupRange }, states: {} }
  }

  protected rowsOf(snapshot: KeyedStateSnapshot, state: S): StateSnapshot['rows'] {
    let s = snapshot.states[state.name]
    if (s === undefined) snapshot.states[state.name] = s = { kind: state.kind, rows: [] }
    return s.rows
  }

  /** The bytes of a stored form for a snapshot row, or null when every item has expired. */
  protected encodeLive(state: S, stored: unknown, now: number): Uint8Array | null {
    const live = state.ttl ? withoutExpired(state.kind, stored, now, state.ttl.ttlMs) : stored
    return live === undefined ? null : this.encode(state, live)
  }

  /** Encodes with the state's serializer; a failure names the state. */
  protected encode(state: S, stored: unknown): Uint8Array {
    try {
      return state.codec!.encode(stored)
    } catch (e) {
      const hint = state.codec!.avro?.own
        ? 'Write values that match the avroSchema (records as objects with every field, null only where a union allows it).'
        : 'The default serializer (node:v8) cannot serialize functions, symbols or class instances with private fields; give the descriptor a serializer.'
      throw new FluxionError('FLX_USER_FUNCTION_FAILED', `cannot serialize a value of state "${state.name}": ${e instanceof Error ? e.message : String(e)}. ${hint}`, { cause: e })
    }
  }

  /**
   * Adds to each Avro state of `snapshot` the writer schemas its rows name (call once the rows are
   * in). Costs a look at each row's header, for states that have seen an Avro schema only.
   */
  protected addAvroSchemas(snapshot: KeyedStateSnapshot): KeyedStateSnapshot {
    for (const [name, s] of Object.entries(snapshot.states)) {
      const state = this.states.get(name)
      if (state === undefined || state.schemas.size === 0) continue
      const schemas = state.schemas.canonicalsOf(s.rows)
      if (schemas.length > 0) s.avroSchemas = schemas
    }
    return snapshot
  }

  /**
   * Takes in the Avro writer schemas of a restored state snapshot (before its rows), and notes rows
   * written without one. A registered state checks them at once: FLX_STATE_INCOMPATIBLE fails
   * the restore.
   */
  protected restoreAvroSchemas(state: S, snapshot: StateSnapshot): void {
    const { avroSchemas, rows } = snapshot
    if (avroSchemas !== undefined) {
      if (!Array.isArray(avroSchemas)) throw new FluxionError('FLX_CHECKPOINT_CORRUPT', `cannot restore state "${state.name}": avroSchemas is not an array`)
      for (const canonical of avroSchemas) {
        const writer = state.schemas.add(canonical)
        if (state.codec?.avro?.own) state.codec.avro.check(writer)
      }
    }
    if (!state.plainRows && rows.some((r) => r[3] !== null && !isAvroFrame(r[3]))) {
      state.plainRows = true
      if (state.codec?.avro?.own) throw notAvroError(state.name)
    }
  }

  protected requireTracking(tracking: boolean): void {
    if (!tracking) {
      throw new FluxionError('FLX_INVALID_CONFIG', 'snapshotIncremental() needs change tracking: create the backend with { trackChanges: true } (jobs with checkpoints do)')
    }
  }

  /** Checks a snapshot before restoring it and returns the state it restores into, per name. */
  protected checkRestorable(snapshot: KeyedStateSnapshot): void {
    if (snapshot === null || typeof snapshot !== 'object' || snapshot.version !== 1 || typeof snapshot.states !== 'object') {
      throw new FluxionError('FLX_INTERNAL', 'cannot restore keyed state: the snapshot is not a version 1 keyed state snapshot (corrupt or from another version)')
    }
    if (snapshot.maxParallelism !== this.maxParallelism) {
      throw new FluxionError(
        'FLX_INVALID_CONFIG',
        `snapshot was taken with maxParallelism ${snapshot.maxParallelism}, the job now has ${this.maxParallelism}; maxParallelism cannot change`,
      )
    }
  }

  /** The state a restored snapshot's `name` goes to, created when unknown. */
  protected stateForRestore(name: string, kind: StateKind): S {
    if (!KINDS.includes(kind)) throw new FluxionError('FLX_INTERNAL', `cannot restore state "${name}": unknown kind "${String(kind)}"`)
    let state = this.states.get(name)
    if (state === undefined) {
      state = this.createState(name, kind)
      this.states.set(name, state)
    } else if (state.kind !== kind) {
      throw new FluxionError('FLX_INVALID_CONFIG', `cannot restore state "${name}": it was snapshotted as ${kind} state but is registered as ${state.kind} state`)
    }
    return state
  }

  /** Whether `keyGroup` is in both ranges. */
  protected owns(keyGroup: number, other: KeyGroupRange = this.keyGroupRange): boolean {
    return keyGroup >= this.keyGroupRange.start && keyGroup <= this.keyGroupRange.end && keyGroup >= other.start && keyGroup <= other.end
  }
}
