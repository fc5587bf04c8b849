/**
 * The timer queue of one time domain (Flink's HeapPriorityQueueSet): a binary min-heap of timer
 * objects ordered by (timestamp, registration sequence), and an index (key → its only timer, or
 * timestamp → timer) that deduplicates (key, namespace, timestamp) and finds a timer to delete in O(1); a deletion
 * then removes it from the heap in O(log n) (each timer knows its heap position).
 *
 * Order contract: timers fire by timestamp; timers of equal timestamp fire in the order they were
 * registered (registering an existing timer again keeps its place; a deleted timer registered
 * again is new). `all()` lists the timers in firing order, so re-adding them in that order (a
 * restore) keeps it.
 */
import type { Namespace } from '../state/backend.ts'

/** Tells keys apart without building strings for number keys (the common case). */
export type KeyId = string | number

export interface Timer<N = unknown> {
  readonly timestamp: number
  readonly key: unknown
  readonly namespace: N
}

/** How the queue tells namespaces apart. `equals(a, b)` must hold exactly when `key(a) === key(b)`. */
export interface NamespaceIdentity<N> {
  /** The primitive that names a namespace (used when one key has several namespaces at one time). */
  key(namespace: N): Namespace
  /** Optional cheaper equality (e.g. two numbers of a window instead of building its name). */
  equals?: (a: N, b: N) => boolean
}

/** A queued timer; `index` is its heap position (-1 once it left the queue). */
class QueuedTimer<N> implements Timer<N> {
  index = -1
  /** `identity.key(namespace)`, computed when first needed. */
  nsKey: Namespace | undefined = undefined

  constructor(
    readonly timestamp: number,
    readonly key: unknown,
    readonly namespace: N,
    readonly keyId: KeyId,
    readonly seq: number,
  ) {}
}

/** The timers of one key at one timestamp: one timer (the usual case), or several by namespace key. */
type Slot<N> = QueuedTimer<N> | Map<Namespace, QueuedTimer<N>>

function before<N>(a: QueuedTimer<N>, b: QueuedTimer<N>): boolean {
  return a.timestamp < b.timestamp || (a.timestamp === b.timestamp && a.seq < b.seq)
}

export class TimerQueue<N> {
  private readonly heap: QueuedTimer<N>[] = []
  /** A key's only timer, or its timers by timestamp (kept, once made, until the key has none). */
  private readonly byKey = new Map<KeyId, QueuedTimer<N> | Map<number, Slot<N>>>()
  private nextSeq = 0
  /**
   * The timer the last add() found or created: operators often register the same timer several
   * times in a row (a window's trigger timer, then its cleanup timer at the same time), which then
   * costs no lookup. Valid while the timer is queued (index >= 0).
   */
  private lastAdded: QueuedTimer<N> | undefined = undefined

  constructor(private readonly identity: NamespaceIdentity<N>) {}

  get size(): number {
    return this.heap.length
  }

  /** Earliest timestamp, or +Infinity. */
  peek(): number {
    return this.heap.length > 0 ? this.heap[0].timestamp : Number.POSITIVE_INFINITY
  }

  /** Adds the timer (timestamp, key, namespace) unless it exists; allocates only when it is new. */
  add(timestamp: number, key: unknown, namespace: N, keyId: KeyId): void {
    const last = this.lastAdded
    if (last !== undefined && last.index >= 0 && last.timestamp === timestamp && last.keyId === keyId && this.same(last, namespace)) return
    const entry = this.byKey.get(keyId)
    if (entry === undefined) {
      this.byKey.set(keyId, (this.lastAdded = this.push(timestamp, key, namespace, keyId)))
      return
    }
    let perKey: Map<number, Slot<N>>
    if (entry instanceof QueuedTimer) {
      if (entry.timestamp === timestamp && this.same(entry, namespace)) {
        this.lastAdded = entry
        return
      }
      perKey = new Map()
      perKey.set(entry.timestamp, entry)
      this.byKey.set(keyId, perKey)
    } else perKey = entry
    const slot = perKey.get(timestamp)
    if (slot === undefined) {
      perKey.set(timestamp, (this.lastAdded = this.push(timestamp, key, namespace, keyId)))
    } else if (slot instanceof QueuedTimer) {
      if (this.same(slot, namespace)) {
        this.lastAdded = slot
        return
      }
      const several = new Map<Namespace, QueuedTimer<N>>()
      several.set(this.nsKeyOf(slot), slot)
      const timer = (this.lastAdded = this.push(timestamp, key, namespace, keyId))
      several.set(this.nsKeyOf(timer), timer)
      perKey.set(timestamp, several)
    } else {
      const nsKey = this.identity.key(namespace)
      let timer = slot.get(nsKey)
      if (timer === undefined) {
        timer = this.push(timestamp, key, namespace, keyId)
        timer.nsKey = nsKey
        slot.set(nsKey, timer)
      }
      this.lastAdded = timer
    }
  }

  /** Removes the timer (timestamp, key, namespace) if it exists. */
  delete(timestamp: number, keyId: KeyId, namespace: N): void {
    const entry = this.byKey.get(keyId)
    if (entry === undefined) return
    if (entry instanceof QueuedTimer) {
      if (entry.timestamp !== timestamp || !this.same(entry, namespace)) return
      this.byKey.delete(keyId)
      this.removeAt(entry.index)
      return
    }
    const perKey = entry
    const slot = perKey.get(timestamp)
    if (slot === undefined) return
    let timer: QueuedTimer<N> | undefined
    if (slot instanceof QueuedTimer) {
      if (!this.same(slot, namespace)) return
      timer = slot
    } else {
      const nsKey = this.identity.key(namespace)
      timer = slot.get(nsKey)
      if (timer === undefined) return
    }
    this.unindex(timer, perKey, slot)
    this.removeAt(timer.index)
  }

  /** Removes and returns the earliest timer if its timestamp is <= `upTo`. */
  pollDue(upTo: number): Timer<N> | undefined {
    const h = this.heap
    if (h.length === 0) return undefined
    const timer = h[0]
    if (!(timer.timestamp <= upTo)) return undefined
    const entry = this.byKey.get(timer.keyId)!
    if (entry === timer) this.byKey.delete(timer.keyId)
    else this.unindex(timer, entry as Map<number, Slot<N>>, (entry as Map<number, Slot<N>>).get(timer.timestamp)!)
    this.removeAt(0)
    return timer
  }

  /** Every timer, in firing order. */
  all(): Timer<N>[] {
    return this.heap.slice().sort((a, b) => a.timestamp - b.timestamp || a.seq - b.seq)
  }

  private same(timer: QueuedTimer<N>, namespace: N): boolean {
    const equals = this.identity.equals
    return equals !== undefined ? equals(timer.namespace, namespace) : this.nsKeyOf(timer) === this.identity.key(namespace)
  }

  private nsKeyOf(timer: QueuedTimer<N>): Namespace {
    return (timer.nsKey ??= this.identity.key(timer.namespace))
  }

  /** Drops the timer from a key's timers by timestamp (not from the heap). */
  private unindex(timer: QueuedTimer<N>, perKey: Map<number, Slot<N>>, slot: Slot<N>): void {
    if (slot === timer) perKey.delete(timer.timestamp)
    else {
      const several = slot as Map<Namespace, QueuedTimer<N>>
      several.delete(this.nsKeyOf(timer))
      if (several.size === 1) perKey.set(timer.timestamp, several.values().next().value!)
    }
    if (perKey.size === 0) this.byKey.delete(timer.keyId)
  }

  private push(timestamp: number, key: unknown, namespace: N, keyId: KeyId): QueuedTimer<N> {
    const timer = new QueuedTimer(timestamp, key, namespace, keyId, this.nextSeq++)
    this.heap.push(timer)
    this.siftUp(timer, this.heap.length - 1)
    return timer
  }

  private removeAt(i: number): void {
    const h = this.heap
    const removed = h[i]
    removed.index = -1
    const last = h.pop()!
    if (i === h.length) return
    // The last timer takes the hole, then moves up or down to its place.
    if (i > 0 && before(last, h[(i - 1) >> 1])) this.siftUp(last, i)
    else this.siftDown(last, i)
  }

  private siftUp(timer: QueuedTimer<N>, i: number): void {
    const h = this.heap
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = h[parent]
      if (!before(timer, p)) break
      h[i] = p
      p.index = i
      i = parent
    }
    h[i] = timer
    timer.index = i
  }

  private siftDown(timer: QueuedTimer<N>, i: number): void {
    const h = this.heap
    const n = h.length
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && before(h[r], h[l]) ? r : l
      const child = h[c]
      if (!before(child, timer)) break
      h[i] = child
      child.index = i
      i = c
    }
    h[i] = timer
    timer.index = i
  }
}
