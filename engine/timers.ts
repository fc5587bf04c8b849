/**
 * Timer service (Flink's InternalTimerService): event-time and processing-time timers scoped to a
 * key and a namespace, deduplicated, fired in timestamp order. Timers of equal timestamp fire
 * grouped by key, keys in the order they first registered one (Flink leaves this order open).
 */
import { keyGroupOfStateKey, stateKeyOf } from './keys.ts'
import type { KeyedStateBackend, KeyGroupRange, Namespace } from '../state/backend.ts'

export interface Timer<N = unknown> {
  readonly timestamp: number
  readonly key: unknown
  readonly namespace: N
}

/** Tells keys apart without building strings for number keys (the common case). */
type KeyId = string | number

function keyIdOf(key: unknown): KeyId {
  return typeof key === 'number' && !Number.isNaN(key) ? key : stateKeyOf(key)
}

/** The timers due at one timestamp: key → namespace → timer. */
type Due<N> = Map<KeyId, Map<Namespace, Timer<N>>>

/** Min-heap of distinct timestamps with the timers due at each. */
class TimerQueue<N> {
  private readonly byTime = new Map<number, Due<N>>()
  private readonly heap: number[] = []

  get size(): number {
    let n = 0
    for (const due of this.byTime.values()) for (const perKey of due.values()) n += perKey.size
    return n
  }

  /** Adds the timer (timestamp, key, namespace) unless it exists; allocates only when it is new. */
  add(timestamp: number, key: unknown, namespace: N, keyId: KeyId, ns: Namespace): void {
    let due = this.byTime.get(timestamp)
    if (!due) {
      due = new Map()
      this.byTime.set(timestamp, due)
      this.push(timestamp)
    }
    let perKey = due.get(keyId)
    if (!perKey) due.set(keyId, (perKey = new Map()))
    if (!perKey.has(ns)) perKey.set(ns, { timestamp, key, namespace })
  }

  delete(timestamp: number, key: KeyId, ns: Namespace): void {
    const perKey = this.byTime.get(timestamp)?.get(key)
    if (!perKey) return
    perKey.delete(ns)
    // An emptied timestamp stays in the heap and is skipped when polled.
  }

  /** Earliest timestamp with timers, or +Infinity. */
  peek(): number {
    while (this.heap.length > 0) {
      const t = this.heap[0]
      const due = this.byTime.get(t)
      if (due && due.size > 0) {
        for (const [k, perKey] of due) {
          if (perKey.size > 0) return t
          due.delete(k)
        }
      }
      this.pop()
      this.byTime.delete(t)
    }
    return Number.POSITIVE_INFINITY
  }

  /**
   * The timers of the earliest timestamp if it is <= `upTo`, still in the queue. The caller
   * removes each one before firing it, with one live iterator: a timer deleted (or added at the
   * same time) while earlier ones fire is honoured, and draining stays linear.
   */
  dueAt(upTo: number): Due<N> | undefined {
    const t = this.peek()
    if (t > upTo || this.heap.length === 0) return undefined
    return this.byTime.get(t)
  }

  all(): Timer<N>[] {
    const out: Timer<N>[] = []
    for (const t of [...this.byTime.keys()].sort((a, b) => a - b)) for (const perKey of this.byTime.get(t)!.values()) out.push(...perKey.values())
    return out
  }

  private push(t: number): void {
    const h = this.heap
    h.push(t)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (h[parent] <= t) break
      h[i] = h[parent]
      i = parent
    }
    h[i] = t
  }

  private pop(): void {
    const h = this.heap
    const last = h.pop()!
    if (h.length === 0) return
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= h.length) break
      const r = l + 1
      const c = r < h.length && h[r] < h[l] ? r : l
      if (h[c] >= last) break
      h[i] = h[c]
      i = c
    }
    h[i] = last
  }
}

export interface TimerServiceSnapshot {
  eventTime: [number, string, unknown, unknown, number][]
  processingTime: [number, string, unknown, unknown, number][]
}

/** Receives fired timers. The key is set on the state backend before each call. */
export interface Triggerable<N> {
  onEventTime(timer: Timer<N>): void
  onProcessingTime(timer: Timer<N>): void
}

/**
 * Timers of one operator subtask. `namespaceKey` maps a namespace to the primitive that tells
 * namespaces apart (the window's start for fixed-size windows, for example).
 */
export class InternalTimerService<N = unknown> {
  private readonly eventTimers = new TimerQueue<N>()
  private readonly processingTimers = new TimerQueue<N>()
  private watermark = Number.NEGATIVE_INFINITY

  constructor(
    private readonly backend: KeyedStateBackend,
    private readonly target: Triggerable<N>,
    private readonly namespaceKey: (namespace: N) => Namespace,
  ) {}

  currentWatermark(): number {
    return this.watermark
  }

  registerEventTimeTimer(namespace: N, time: number): void {
    const key = this.backend.getCurrentKey()
    this.eventTimers.add(time, key, namespace, keyIdOf(key), this.namespaceKey(namespace))
  }

  deleteEventTimeTimer(namespace: N, time: number): void {
    this.eventTimers.delete(time, keyIdOf(this.backend.getCurrentKey()), this.namespaceKey(namespace))
  }

  registerProcessingTimeTimer(namespace: N, time: number): void {
    const key = this.backend.getCurrentKey()
    this.processingTimers.add(time, key, namespace, keyIdOf(key), this.namespaceKey(namespace))
  }

  deleteProcessingTimeTimer(namespace: N, time: number): void {
    this.processingTimers.delete(time, keyIdOf(this.backend.getCurrentKey()), this.namespaceKey(namespace))
  }

  /** Fires, in order, every event-time timer with timestamp <= watermark. */
  advanceWatermark(watermark: number): void {
    this.watermark = watermark
    for (;;) {
      const due = this.eventTimers.dueAt(watermark)
      if (!due) return
      this.fire(due, (timer) => this.target.onEventTime(timer))
    }
  }

  /** Fires, in order, every processing-time timer with timestamp <= time. */
  advanceProcessingTime(time: number): void {
    for (;;) {
      const due = this.processingTimers.dueAt(time)
      if (!due) return
      this.fire(due, (timer) => this.target.onProcessingTime(timer))
    }
  }

  /** Fires every timer of one timestamp, removing each first; live iteration sees additions and deletions. */
  private fire(due: Due<N>, onTimer: (timer: Timer<N>) => void): void {
    for (const [key, perKey] of due) {
      for (const [ns, timer] of perKey) {
        perKey.delete(ns)
        this.backend.setCurrentKey(timer.key)
        onTimer(timer)
      }
      if (perKey.size === 0 && due.get(key) === perKey) due.delete(key)
    }
  }

  nextProcessingTime(): number {
    return this.processingTimers.peek()
  }

  numEventTimeTimers(): number {
    return this.eventTimers.size
  }

  numProcessingTimeTimers(): number {
    return this.processingTimers.size
  }

  snapshot(maxParallelism: number): TimerServiceSnapshot {
    const rows = (q: TimerQueue<N>) =>
      q.all().map((t): [number, string, unknown, unknown, number] => {
        const sk = stateKeyOf(t.key)
        return [keyGroupOfStateKey(sk, maxParallelism), sk, t.key, structuredClone(t.namespace), t.timestamp]
      })
    return { eventTime: rows(this.eventTimers), processingTime: rows(this.processingTimers) }
  }

  restore(snapshots: readonly TimerServiceSnapshot[], range: KeyGroupRange): void {
    for (const snap of snapshots) {
      for (const [queue, rows] of [
        [this.eventTimers, snap.eventTime],
        [this.processingTimers, snap.processingTime],
      ] as const) {
        for (const [group, sk, key, namespace, timestamp] of rows) {
          if (group < range.start || group > range.end) continue
          const ns = namespace as N
          void sk
          queue.add(timestamp, key, ns, keyIdOf(key), this.namespaceKey(ns))
        }
      }
    }
  }
}
