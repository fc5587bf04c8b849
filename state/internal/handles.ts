/**
 * The state handles both backends hand out. They read and write stored forms (codec.ts) through a
 * StateTable, which each backend implements for the current key; TTL is applied here, so both
 * backends share its semantics (Flink's StateTtlConfig).
 */
import type { Clock } from '../../engine/time.ts'
import type { AggregateFunction, ReduceFunction } from '../api.ts'
import {
  VOID_NAMESPACE,
  type InternalAggregatingState,
  type InternalListState,
  type InternalMapState,
  type InternalReducingState,
  type InternalValueState,
  type Namespace,
} from '../backend.ts'
import { TtlCell } from './codec.ts'

/** The stored forms of one state for the backend's current key, by namespace. */
export interface StateTable {
  /** The stored form, or undefined when absent. */
  get(namespace: Namespace): unknown
  /** Stores `stored` (also after mutating the stored object in place, so the change is seen). */
  set(namespace: Namespace, stored: unknown): void
  delete(namespace: Namespace): void
}

export interface TtlPolicy {
  ttlMs: number
  updateOnRead: boolean
  returnExpired: boolean
  clock: Clock
}

/** For value-like states: wraps values in TtlCells and applies expiry on reads. */
export class TtlValueTable implements StateTable {
  constructor(
    private readonly inner: StateTable,
    private readonly ttl: TtlPolicy,
  ) {}

  get(namespace: Namespace): unknown {
    const cell = this.inner.get(namespace) as TtlCell | undefined
    if (cell === undefined) return undefined
    const now = this.ttl.clock.now()
    if (cell.ts + this.ttl.ttlMs <= now) {
      this.inner.delete(namespace)
      return this.ttl.returnExpired ? cell.v : undefined
    }
    if (this.ttl.updateOnRead && cell.ts !== now) {
      cell.ts = now
      this.inner.set(namespace, cell)
    }
    return cell.v
  }

  set(namespace: Namespace, value: unknown): void {
    this.inner.set(namespace, new TtlCell(value, this.ttl.clock.now()))
  }

  delete(namespace: Namespace): void {
    this.inner.delete(namespace)
  }
}

abstract class Handle {
  protected ns: Namespace = VOID_NAMESPACE

  constructor(protected readonly table: StateTable) {}

  setCurrentNamespace(namespace: Namespace): void {
    this.ns = namespace
  }

  clear(): void {
    this.table.delete(this.ns)
  }
}

export class ValueHandle<T> extends Handle implements InternalValueState<T> {
  constructor(
    table: StateTable,
    private readonly defaultValue: T | undefined,
  ) {
    super(table)
  }

  value(): T | undefined {
    const v = this.table.get(this.ns)
    return v === undefined ? this.defaultValue : (v as T)
  }

  update(value: T): void {
    if (value === undefined) this.table.delete(this.ns)
    else this.table.set(this.ns, value)
  }
}

/** Shared by reducing and aggregating state: one mergeable item per entry. */
abstract class FoldingHandle<S> extends Handle {
  protected abstract combine(a: S, b: S): S

  getInternal(): S | undefined {
    return this.table.get(this.ns) as S | undefined
  }

  updateInternal(value: S | undefined): void {
    if (value === undefined) this.table.delete(this.ns)
    else this.table.set(this.ns, value)
  }

  mergeNamespaces(target: Namespace, sources: readonly Namespace[]): void {
    let merged: S | undefined
    for (const ns of sources) {
      if (ns === target) continue
      const v = this.table.get(ns) as S | undefined
      if (v === undefined) continue
      merged = merged === undefined ? v : this.combine(merged, v)
      this.table.delete(ns)
    }
    if (merged === undefined) return
    const current = this.table.get(target) as S | undefined
    this.table.set(target, current === undefined ? merged : this.combine(current, merged))
  }
}

export class ReducingHandle<T> extends FoldingHandle<T> implements InternalReducingState<T> {
  constructor(
    table: StateTable,
    private readonly reduce: ReduceFunction<T>,
  ) {
    super(table)
  }

  protected combine(a: T, b: T): T {
    return this.reduce(a, b)
  }

  get(): T | undefined {
    return this.table.get(this.ns) as T | undefined
  }

  add(value: T): void {
    const current = this.table.get(this.ns) as T | undefined
    this.table.set(this.ns, current === undefined ? value : this.reduce(current, value))
  }
}

export class AggregatingHandle<IN, ACC, OUT> extends FoldingHandle<ACC> implements InternalAggregatingState<IN, ACC, OUT> {
  constructor(
    table: StateTable,
    private readonly fn: AggregateFunction<IN, ACC, OUT>,
  ) {
    super(table)
  }

  protected combine(a: ACC, b: ACC): ACC {
    return this.fn.merge(a, b)
  }

  get(): OUT | undefined {
    const acc = this.table.get(this.ns) as ACC | undefined
    return acc === undefined ? undefined : this.fn.getResult(acc)
  }

  add(value: IN): void {
    const acc = this.table.get(this.ns) as ACC | undefined
    this.table.set(this.ns, this.fn.add(value, acc === undefined ? this.fn.createAccumulator() : acc))
  }
}

/** List state; stored form: an array of values. */
export class ListHandle<T> extends Handle implements InternalListState<T> {
  get(): readonly T[] {
    return (this.table.get(this.ns) as T[] | undefined) ?? []
  }

  add(value: T): void {
    const list = this.table.get(this.ns) as T[] | undefined
    if (list === undefined) return this.table.set(this.ns, [value])
    list.push(value)
    this.table.set(this.ns, list)
  }

  addAll(values: readonly T[]): void {
    if (values.length === 0) return
    const list = this.table.get(this.ns) as T[] | undefined
    if (list === undefined) return this.table.set(this.ns, values.slice())
    for (const v of values) list.push(v)
    this.table.set(this.ns, list)
  }

  update(values: readonly T[]): void {
    if (values.length === 0) this.table.delete(this.ns)
    else this.table.set(this.ns, values.slice())
  }

  mergeNamespaces(target: Namespace, sources: readonly Namespace[]): void {
    mergeLists(this.table, target, sources)
  }
}

/** Appends the lists of `sources` to the list of `target` (target first), clearing the sources. */
function mergeLists(table: StateTable, target: Namespace, sources: readonly Namespace[]): void {
  let merged = table.get(target) as unknown[] | undefined
  let changed = false
  for (const ns of sources) {
    if (ns === target) continue
    const list = table.get(ns) as unknown[] | undefined
    if (list === undefined) continue
    table.delete(ns)
    if (merged === undefined) merged = list
    else for (const v of list) merged.push(v)
    changed = true
  }
  if (changed) table.set(target, merged)
}

/** List state with TTL; stored form: an array of TtlCells (each element expires on its own). */
export class TtlListHandle<T> extends Handle implements InternalListState<T> {
  constructor(
    table: StateTable,
    private readonly ttl: TtlPolicy,
  ) {
    super(table)
  }

  get(): readonly T[] {
    const cells = this.table.get(this.ns) as TtlCell<T>[] | undefined
    if (cells === undefined) return []
    const { ttlMs, updateOnRead, returnExpired, clock } = this.ttl
    const now = clock.now()
    const live = cells.filter((c) => c.ts + ttlMs > now)
    const visible = (returnExpired ? cells : live).map((c) => c.v)
    if (updateOnRead) for (const c of live) c.ts = now
    if (live.length === 0) this.table.delete(this.ns)
    else if (live.length < cells.length || updateOnRead) this.table.set(this.ns, live)
    return visible
  }

  add(value: T): void {
    this.addAll([value])
  }

  addAll(values: readonly T[]): void {
    if (values.length === 0) return
    const now = this.ttl.clock.now()
    const cells = (this.table.get(this.ns) as TtlCell<T>[] | undefined) ?? []
    for (const v of values) cells.push(new TtlCell(v, now))
    this.table.set(this.ns, cells)
  }

  update(values: readonly T[]): void {
    if (values.length === 0) return this.table.delete(this.ns)
    const now = this.ttl.clock.now()
    this.table.set(
      this.ns,
      values.map((v) => new TtlCell(v, now)),
    )
  }

  /** Moves the elements with their timestamps; expired ones are dropped when next read. */
  mergeNamespaces(target: Namespace, sources: readonly Namespace[]): void {
    mergeLists(this.table, target, sources)
  }
}

/** Map state; stored form: a Map. An empty map is not stored. */
export class MapHandle<K, V> extends Handle implements InternalMapState<K, V> {
  private map(): Map<K, V> | undefined {
    return this.table.get(this.ns) as Map<K, V> | undefined
  }

  get(key: K): V | undefined {
    return this.map()?.get(key)
  }

  put(key: K, value: V): void {
    const m = this.map() ?? new Map<K, V>()
    m.set(key, value)
    this.table.set(this.ns, m)
  }

  putAll(entries: Iterable<[K, V]>): void {
    const m = this.map() ?? new Map<K, V>()
    for (const [k, v] of entries) m.set(k, v)
    if (m.size > 0) this.table.set(this.ns, m)
  }

  remove(key: K): void {
    const m = this.map()
    if (m === undefined || !m.delete(key)) return
    if (m.size === 0) this.table.delete(this.ns)
    else this.table.set(this.ns, m)
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

/** Map state with TTL; stored form: a Map of TtlCells (each entry expires on its own). */
export class TtlMapHandle<K, V> extends Handle implements InternalMapState<K, V> {
  constructor(
    table: StateTable,
    private readonly ttl: TtlPolicy,
  ) {
    super(table)
  }

  private map(): Map<K, TtlCell<V>> | undefined {
    return this.table.get(this.ns) as Map<K, TtlCell<V>> | undefined
  }

  /** Writes back `m` (or clears the entry when it became empty). */
  private store(m: Map<K, TtlCell<V>>): void {
    if (m.size === 0) this.table.delete(this.ns)
    else this.table.set(this.ns, m)
  }

  /** The cell of `key` after the TTL check, or undefined when absent or invisible. */
  private lookup(key: K): TtlCell<V> | undefined {
    const m = this.map()
    const cell = m?.get(key)
    if (m === undefined || cell === undefined) return undefined
    const now = this.ttl.clock.now()
    if (cell.ts + this.ttl.ttlMs <= now) {
      m.delete(key)
      this.store(m)
      return this.ttl.returnExpired ? cell : undefined
    }
    if (this.ttl.updateOnRead && cell.ts !== now) {
      cell.ts = now
      this.store(m)
    }
    return cell
  }

  get(key: K): V | undefined {
    return this.lookup(key)?.v
  }

  contains(key: K): boolean {
    return this.lookup(key) !== undefined
  }

  put(key: K, value: V): void {
    this.putAll([[key, value]])
  }

  putAll(entries: Iterable<[K, V]>): void {
    const now = this.ttl.clock.now()
    const m = this.map() ?? new Map<K, TtlCell<V>>()
    for (const [k, v] of entries) m.set(k, new TtlCell(v, now))
    if (m.size > 0) this.table.set(this.ns, m)
  }

  remove(key: K): void {
    const m = this.map()
    if (m !== undefined && m.delete(key)) this.store(m)
  }

  /** Every visible entry; removes the expired ones and refreshes the others on read if configured. */
  private visible(): [K, V][] {
    const m = this.map()
    if (m === undefined) return []
    const { ttlMs, updateOnRead, returnExpired, clock } = this.ttl
    const now = clock.now()
    const out: [K, V][] = []
    let changed = false
    for (const [k, cell] of m) {
      if (cell.ts + ttlMs <= now) {
        m.delete(k)
        changed = true
        if (!returnExpired) continue
      } else if (updateOnRead && cell.ts !== now) {
        cell.ts = now
        changed = true
      }
      out.push([k, cell.v])
    }
    if (changed) this.store(m)
    return out
  }

  entries(): IterableIterator<[K, V]> {
    return this.visible().values()
  }

  keys(): IterableIterator<K> {
    return this.visible()
      .map(([k]) => k)
      .values()
  }

  values(): IterableIterator<V> {
    return this.visible()
      .map(([, v]) => v)
      .values()
  }

  isEmpty(): boolean {
    return this.visible().length === 0
  }
}
