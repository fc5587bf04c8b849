/**
 * The timer queue of one time domain (the role of Flink's HeapPriorityQueueSet): the timers of
 * each timestamp in a bucket, in registration order, and a binary min-heap of the buckets'
 * timestamps (plain numbers); an index (key → its only timer, or timestamp → timer) deduplicates
 * (key, namespace, timestamp) and finds a timer to delete in O(1). Window operators register the
 * timers of all keys at a few timestamps (window ends): firing them walks one array instead of
 * sifting a heap of timer objects once per timer. A deletion leaves a hole in its bucket; a bucket
 * whose holes outnumber its timers twice over is compacted.
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

/** A queued timer; `queued` turns false once it fired or was deleted (it never returns). */
class QueuedTimer<N> implements Timer<N> {
  queued = true
  /** Its position in `bucket.timers`. */
  pos = 0
  /** `identity.key(namespace)`, computed when first needed. */
  nsKey: Namespace | undefined = undefined

  constructor(
    readonly timestamp: number,
    readonly key: unknown,
    readonly namespace: N,
    readonly keyId: KeyId,
    readonly bucket: Bucket<N>,
  ) {}
}

/**
 * The timers of one timestamp in registration order. A fired or deleted timer leaves a hole
 * (undefined: the timer itself becomes garbage at once) until the bucket is compacted or fired
 * past; `next` is the position of the first timer not yet fired.
 */
class Bucket<N> {
  timers: (QueuedTimer<N> | undefined)[] = []
  next = 0
  /** Queued timers in `timers`. */
  live = 0
  /** Set when the bucket left the queue (its timestamp fired past). */
  dropped = false

  constructor(readonly timestamp: number) {}
}

/** The timers of one key at one timestamp: one timer (the usual case), or several by namespace key. */
type Slot<N> = QueuedTimer<N> | Map<Namespace, QueuedTimer<N>>

export class TimerQueue<N> {
  /** Bucket by timestamp: exactly the timestamps in `times`. */
  private readonly buckets = new Map<number, Bucket<N>>()
  /** Min-heap of the timestamps that have a bucket. */
  private readonly times: number[] = []
  private live = 0
  /** The bucket of the last push: timers are registered in runs of one timestamp. */
  private lastBucket: Bucket<N> | undefined = undefined
  /** The bucket of times[0] while it is being fired (saves a lookup per fired timer). */
  private headBucket: Bucket<N> | undefined = undefined
  /** A key's only timer, or its timers by timestamp (kept, once made, until the key has none). */
  private readonly byKey = new Map<KeyId, QueuedTimer<N> | Map<number, Slot<N>> | null>()
  /**
   * Keys whose entry in `byKey` is null: a key that loses its last timer keeps its entry, set to
   * null, because V8's Map keeps a deleted entry in its bucket's chain until the next rehash, so
   * deleting and re-adding one key over and over (a session window's timer moving on every record
   * of a hot key) makes that chain, and every lookup through it, longer and longer (measured: a
   * Map with 16 hot keys deleted and re-added 1.5M times among 20k others, 2 µs per operation).
   * The null entries are swept when they are most of the map.
   */
  private emptyKeys = 0
  /**
   * The timer the last add() found or created: operators often register the same timer several
   * times in a row (a window's trigger timer, then its cleanup timer at the same time), which then
   * costs no lookup. Valid while the timer is queued.
   */
  private lastAdded: QueuedTimer<N> | undefined = undefined

  constructor(private readonly identity: NamespaceIdentity<N>) {}

  get size(): number {
    return this.live
  }

  /** Earliest timestamp, or +Infinity. */
  peek(): number {
    const times = this.times
    while (times.length > 0) {
      const bucket = this.buckets.get(times[0])!
      if (bucket.live > 0) return bucket.timestamp
      this.dropHead()
    }
    return Number.POSITIVE_INFINITY
  }

  /** Adds the timer (timestamp, key, namespace) unless it exists; allocates only when it is new. */
  add(timestamp: number, key: unknown, namespace: N, keyId: KeyId): void {
    const last = this.lastAdded
    if (last !== undefined && last.queued && last.timestamp === timestamp && last.keyId === keyId && this.same(last, namespace)) return
    const entry = this.byKey.get(keyId)
    if (entry === undefined || entry === null) {
      if (entry === null) this.emptyKeys--
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
    if (entry === undefined || entry === null) return
    if (entry instanceof QueuedTimer) {
      if (entry.timestamp !== timestamp || !this.same(entry, namespace)) return
      this.forgetKey(keyId)
      this.dequeue(entry)
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
    this.dequeue(timer)
  }

  /** Removes and returns the earliest timer if its timestamp is <= `upTo`. */
  pollDue(upTo: number): Timer<N> | undefined {
    const times = this.times
    while (times.length > 0 && times[0] <= upTo) {
      let bucket = this.headBucket
      if (bucket === undefined || bucket.timestamp !== times[0]) bucket = this.headBucket = this.buckets.get(times[0])!
      const timers = bucket.timers
      while (bucket.next < timers.length) {
        const timer = timers[bucket.next]
        timers[bucket.next++] = undefined
        if (timer === undefined) continue
        timer.queued = false
        bucket.live--
        this.live--
        const entry = this.byKey.get(timer.keyId)!
        if (entry === timer) this.forgetKey(timer.keyId)
        else this.unindex(timer, entry as Map<number, Slot<N>>, (entry as Map<number, Slot<N>>).get(timer.timestamp)!)
        return timer
      }
      this.dropHead()
    }
    return undefined
  }

  /** Every timer, in firing order. */
  all(): Timer<N>[] {
    const out: Timer<N>[] = []
    for (const time of [...this.times].sort((a, b) => a - b)) {
      const bucket = this.buckets.get(time)!
      for (let i = bucket.next; i < bucket.timers.length; i++) {
        const timer = bucket.timers[i]
        if (timer !== undefined) out.push(timer)
      }
    }
    return out
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
    if (perKey.size === 0) this.forgetKey(timer.keyId)
  }

  /** The key has no timers left: its entry becomes null (see `emptyKeys`). */
  private forgetKey(keyId: KeyId): void {
    this.byKey.set(keyId, null)
    if (++this.emptyKeys > 4096 && this.emptyKeys > this.byKey.size / 2) {
      for (const [k, entry] of this.byKey) if (entry === null) this.byKey.delete(k)
      this.emptyKeys = 0
    }
  }

  private push(timestamp: number, key: unknown, namespace: N, keyId: KeyId): QueuedTimer<N> {
    let bucket = this.lastBucket
    if (bucket === undefined || bucket.timestamp !== timestamp || bucket.dropped) {
      bucket = this.buckets.get(timestamp)
      if (bucket === undefined) {
        bucket = new Bucket<N>(timestamp)
        this.buckets.set(timestamp, bucket)
        this.pushTime(timestamp)
      }
      this.lastBucket = bucket
    }
    const timer = new QueuedTimer(timestamp, key, namespace, keyId, bucket)
    timer.pos = bucket.timers.length
    bucket.timers.push(timer)
    bucket.live++
    this.live++
    return timer
  }

  /** Takes a deleted timer out of the count; compacts its bucket when mostly deleted timers are left. */
  private dequeue(timer: QueuedTimer<N>): void {
    timer.queued = false
    const bucket = timer.bucket
    bucket.timers[timer.pos] = undefined
    bucket.live--
    this.live--
    const waiting = bucket.timers.length - bucket.next
    if (bucket.live === 0) {
      bucket.timers = []
      bucket.next = 0
    } else if (waiting > 2 * bucket.live + 16) {
      const kept: QueuedTimer<N>[] = []
      for (let i = bucket.next; i < bucket.timers.length; i++) {
        const t = bucket.timers[i]
        if (t === undefined) continue
        t.pos = kept.length
        kept.push(t)
      }
      bucket.timers = kept
      bucket.next = 0
    }
  }

  /** Removes the earliest timestamp and its bucket (every timer of it fired or was deleted). */
  private dropHead(): void {
    const times = this.times
    const head = this.buckets.get(times[0])!
    head.dropped = true
    this.buckets.delete(times[0])
    if (this.headBucket === head) this.headBucket = undefined
    const last = times.pop()!
    if (times.length === 0) return
    // Sift the last timestamp down from the root.
    const n = times.length
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const c = l + 1 < n && times[l + 1] < times[l] ? l + 1 : l
      if (!(times[c] < last)) break
      times[i] = times[c]
      i = c
    }
    times[i] = last
  }

  private pushTime(time: number): void {
    const times = this.times
    let i = times.length
    times.push(time)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!(time < times[parent])) break
      times[i] = times[parent]
      i = parent
    }
    times[i] = time
  }
}
