/**
 * Timer service (Flink's InternalTimerService): event-time and processing-time timers scoped to a
 * key and a namespace, deduplicated, fired in timestamp order (and in registration order for equal
 * timestamps).
 */
import { keyGroupOfStateKey, stateKeyOf } from './keys.ts'
import type { KeyedStateBackend, KeyGroupRange, Namespace } from '../state/backend.ts'

export interface Timer<N = unknown> {
  readonly timestamp: number
  readonly key: unknown
  readonly namespace: N
}

/** Min-heap of distinct timestamps with the timers due at each. */
class TimerQueue<N> {
  private readonly byTime = new Map<number, Map<string, Timer<N>>>()
  private readonly heap: number[] = []

  get size(): number {
    let n = 0
    for (const m of this.byTime.values()) n += m.size
    return n
  }

  add(timer: Timer<N>, id: string): void {
    let due = this.byTime.get(timer.timestamp)
    if (!due) {
      due = new Map()
      this.byTime.set(timer.timestamp, due)
      this.push(timer.timestamp)
    }
    if (!due.has(id)) due.set(id, timer)
  }

  delete(timestamp: number, id: string): void {
    const due = this.byTime.get(timestamp)
    if (!due) return
    due.delete(id)
    // An emptied timestamp stays in the heap and is skipped when polled.
  }

  /** Earliest timestamp with timers, or +Infinity. */
  peek(): number {
    while (this.heap.length > 0) {
      const t = this.heap[0]
      const due = this.byTime.get(t)
      if (due && due.size > 0) return t
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
  dueAt(upTo: number): Map<string, Timer<N>> | undefined {
    const t = this.peek()
    if (t > upTo || this.heap.length === 0) return undefined
    return this.byTime.get(t)
  }

  all(): Timer<N>[] {
    const out: Timer<N>[] = []
    for (const t of [...this.byTime.keys()].sort((a, b) => a - b)) out.push(...this.byTime.get(t)!.values())
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

  private id(namespace: N): string {
    return stateKeyOf(this.backend.getCurrentKey()) + '\u0001' + String(this.namespaceKey(namespace))
  }

  registerEventTimeTimer(namespace: N, time: number): void {
    this.eventTimers.add({ timestamp: time, key: this.backend.getCurrentKey(), namespace }, this.id(namespace))
  }

  deleteEventTimeTimer(namespace: N, time: number): void {
    this.eventTimers.delete(time, this.id(namespace))
  }

  registerProcessingTimeTimer(namespace: N, time: number): void {
    this.processingTimers.add({ timestamp: time, key: this.backend.getCurrentKey(), namespace }, this.id(namespace))
  }

  deleteProcessingTimeTimer(namespace: N, time: number): void {
    this.processingTimers.delete(time, this.id(namespace))
  }

  /** Fires, in order, every event-time timer with timestamp <= watermark. */
  advanceWatermark(watermark: number): void {
    this.watermark = watermark
    for (;;) {
      const due = this.eventTimers.dueAt(watermark)
      if (!due) return
      for (const [id, timer] of due) {
        due.delete(id)
        this.backend.setCurrentKey(timer.key)
        this.target.onEventTime(timer)
      }
    }
  }

  /** Fires, in order, every processing-time timer with timestamp <= time. */
  advanceProcessingTime(time: number): void {
    for (;;) {
      const due = this.processingTimers.dueAt(time)
      if (!due) return
      for (const [id, timer] of due) {
        due.delete(id)
        this.backend.setCurrentKey(timer.key)
        this.target.onProcessingTime(timer)
      }
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
          queue.add({ timestamp, key, namespace: ns }, sk + '\u0001' + String(this.namespaceKey(ns)))
        }
      }
    }
  }
}
