/**
 * In-memory KeyedStateBackend: per state, a table namespace → state key → entry. Values are kept
 * by reference; snapshots deep-copy them with structuredClone.
 */
import { keyGroupOfStateKey, stateKeyOf } from '../../engine/keys.ts'
import type { ListStateDescriptor, MapStateDescriptor, StateDescriptor, ValueStateDescriptor } from '../api.ts'
import {
  VOID_NAMESPACE,
  type InternalListState,
  type InternalMapState,
  type InternalValueState,
  type KeyedStateBackend,
  type KeyedStateSnapshot,
  type KeyGroupRange,
  type Namespace,
} from '../backend.ts'

interface Entry {
  key: unknown
  value: unknown
}

/**
 * Identity of a key inside the memory tables: numbers stay numbers (cheap to hash), everything
 * else is its canonical state key string. Distinct keys never share a map key.
 */
type MapKey = string | number

function mapKeyOf(key: unknown): MapKey {
  return typeof key === 'number' && !Number.isNaN(key) ? key : stateKeyOf(key)
}

type Table = Map<Namespace, Map<MapKey, Entry>>

interface RegisteredState {
  kind: StateDescriptor['kind']
  table: Table
}

export class MemoryKeyedStateBackend implements KeyedStateBackend {
  private currentKey: unknown = undefined
  private currentMapKey: MapKey = ''
  private readonly states = new Map<string, RegisteredState>()

  constructor(
    readonly maxParallelism: number,
    readonly keyGroupRange: KeyGroupRange,
  ) {}

  setCurrentKey(key: unknown): void {
    if (key === this.currentKey) return
    this.currentKey = key
    this.currentMapKey = mapKeyOf(key)
  }

  getCurrentKey(): unknown {
    return this.currentKey
  }

  /** @internal state handles read the current key through this. */
  mapKey(): MapKey {
    return this.currentMapKey
  }

  private register(descriptor: StateDescriptor<any>): Table {
    const existing = this.states.get(descriptor.name)
    if (existing) {
      if (existing.kind !== descriptor.kind) {
        throw new TypeError(`state "${descriptor.name}" was registered as ${existing.kind} state and cannot be used as ${descriptor.kind} state`)
      }
      return existing.table
    }
    const table: Table = new Map()
    this.states.set(descriptor.name, { kind: descriptor.kind, table })
    return table
  }

  getValueState<T>(descriptor: ValueStateDescriptor<T>): InternalValueState<T> {
    return new MemoryValueState<T>(this, this.register(descriptor), descriptor.options.defaultValue)
  }

  getListState<T>(descriptor: ListStateDescriptor<T>): InternalListState<T> {
    return new MemoryListState<T>(this, this.register(descriptor))
  }

  getMapState<K, V>(descriptor: MapStateDescriptor<K, V>): InternalMapState<K, V> {
    return new MemoryMapState<K, V>(this, this.register(descriptor))
  }

  snapshot(): KeyedStateSnapshot {
    const states: KeyedStateSnapshot['states'] = {}
    for (const [name, { kind, table }] of this.states) {
      const rows: KeyedStateSnapshot['states'][string]['rows'] = []
      for (const [ns, inner] of table) {
        for (const entry of inner.values()) {
          const sk = stateKeyOf(entry.key)
          rows.push([keyGroupOfStateKey(sk, this.maxParallelism), sk, entry.key, ns, structuredClone(entry.value)])
        }
      }
      states[name] = { kind, rows }
    }
    return { maxParallelism: this.maxParallelism, states }
  }

  restore(snapshots: readonly KeyedStateSnapshot[]): void {
    for (const snap of snapshots) {
      if (snap.maxParallelism !== this.maxParallelism) {
        throw new TypeError(`snapshot was taken with maxParallelism ${snap.maxParallelism}, the job now has ${this.maxParallelism}; maxParallelism cannot change`)
      }
      for (const [name, { kind, rows }] of Object.entries(snap.states)) {
        let registered = this.states.get(name)
        if (!registered) {
          registered = { kind: kind as RegisteredState['kind'], table: new Map() }
          this.states.set(name, registered)
        }
        for (const [group, , key, ns, value] of rows) {
          if (group < this.keyGroupRange.start || group > this.keyGroupRange.end) continue
          let inner = registered.table.get(ns)
          if (!inner) registered.table.set(ns, (inner = new Map()))
          inner.set(mapKeyOf(key), { key, value: structuredClone(value) })
        }
      }
    }
  }

  size(): number {
    let n = 0
    for (const { table } of this.states.values()) for (const inner of table.values()) n += inner.size
    return n
  }

  dispose(): void {
    this.states.clear()
  }
}

abstract class MemoryState {
  protected namespace: Namespace = VOID_NAMESPACE

  constructor(
    protected readonly backend: MemoryKeyedStateBackend,
    protected readonly table: Table,
  ) {}

  setCurrentNamespace(namespace: Namespace): void {
    this.namespace = namespace
  }

  protected entry(): Entry | undefined {
    return this.table.get(this.namespace)?.get(this.backend.mapKey())
  }

  protected store(value: unknown, namespace: Namespace = this.namespace): void {
    let inner = this.table.get(namespace)
    if (!inner) this.table.set(namespace, (inner = new Map()))
    const sk = this.backend.mapKey()
    const entry = inner.get(sk)
    if (entry) entry.value = value
    else inner.set(sk, { key: this.backend.getCurrentKey(), value })
  }

  clear(): void {
    this.clearNamespace(this.namespace)
  }

  protected clearNamespace(namespace: Namespace): void {
    const inner = this.table.get(namespace)
    if (!inner) return
    inner.delete(this.backend.mapKey())
    if (inner.size === 0) this.table.delete(namespace)
  }
}

class MemoryValueState<T> extends MemoryState implements InternalValueState<T> {
  constructor(
    backend: MemoryKeyedStateBackend,
    table: Table,
    private readonly defaultValue: T | undefined,
  ) {
    super(backend, table)
  }

  value(): T | undefined {
    const e = this.entry()
    return e === undefined ? this.defaultValue : (e.value as T)
  }

  update(value: T): void {
    if (value === undefined) this.clear()
    else this.store(value)
  }
}

class MemoryListState<T> extends MemoryState implements InternalListState<T> {
  get(): readonly T[] {
    return (this.entry()?.value as T[] | undefined) ?? []
  }

  add(value: T): void {
    const e = this.entry()
    if (e) (e.value as T[]).push(value)
    else this.store([value])
  }

  addAll(values: readonly T[]): void {
    if (values.length === 0) return
    const e = this.entry()
    if (e) (e.value as T[]).push(...values)
    else this.store([...values])
  }

  update(values: readonly T[]): void {
    if (values.length === 0) this.clear()
    else this.store([...values])
  }

  mergeNamespaces(target: Namespace, sources: readonly Namespace[]): void {
    const merged: T[] = []
    const sk = this.backend.mapKey()
    for (const ns of [target, ...sources]) {
      const e = this.table.get(ns)?.get(sk)
      if (e) merged.push(...(e.value as T[]))
      if (ns !== target) this.clearNamespace(ns)
    }
    if (merged.length > 0) this.store(merged, target)
  }
}

class MemoryMapState<K, V> extends MemoryState implements InternalMapState<K, V> {
  private map(): Map<K, V> | undefined {
    return this.entry()?.value as Map<K, V> | undefined
  }

  private mapForWrite(): Map<K, V> {
    const m = this.map()
    if (m) return m
    const fresh = new Map<K, V>()
    this.store(fresh)
    return fresh
  }

  get(key: K): V | undefined {
    return this.map()?.get(key)
  }

  put(key: K, value: V): void {
    this.mapForWrite().set(key, value)
  }

  putAll(entries: Iterable<[K, V]>): void {
    const m = this.mapForWrite()
    for (const [k, v] of entries) m.set(k, v)
  }

  remove(key: K): void {
    const m = this.map()
    if (!m) return
    m.delete(key)
    if (m.size === 0) this.clear()
  }

  contains(key: K): boolean {
    return this.map()?.has(key) ?? false
  }

  entries(): IterableIterator<[K, V]> {
    return (this.map() ?? new Map<K, V>()).entries()
  }

  keys(): IterableIterator<K> {
    return (this.map() ?? new Map<K, V>()).keys()
  }

  values(): IterableIterator<V> {
    return (this.map() ?? new Map<K, V>()).values()
  }

  isEmpty(): boolean {
    const m = this.map()
    return m === undefined || m.size === 0
  }
}
