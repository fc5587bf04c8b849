/**
 * Timer service (Flink's InternalTimerService): event-time and processing-time timers scoped to a
 * key and a namespace, deduplicated, fired in timestamp order. Timers of equal timestamp fire in
 * the order they were registered (see TimerQueue; Flink leaves this order open), also after a
 * restore. A timer deleted before its turn (also by another timer firing at the same time) never
 * fires; a timer registered while timers fire fires in the same advance if it is due.
 */
import { keyGroupOfStateKey, stateKeyOf } from './keys.ts'
import { TimerQueue, type KeyId, type NamespaceIdentity, type Timer } from './timer-queue.ts'
import type { KeyedStateBackend, KeyGroupRange, Namespace } from '../state/backend.ts'

export type { Timer } from './timer-queue.ts'

function keyIdOf(key: unknown): KeyId {
  return typeof key === 'number' && !Number.isNaN(key) ? key : stateKeyOf(key)
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
 * Timers of one operator subtask. `namespaces` tells namespaces apart: a function mapping a
 * namespace to its primitive name (the window's start for fixed-size windows, for example), or a
 * NamespaceIdentity that adds a cheaper equality.
 */
export class InternalTimerService<N = unknown> {
  private readonly eventTimers: TimerQueue<N>
  private readonly processingTimers: TimerQueue<N>
  private watermark = Number.NEGATIVE_INFINITY

  constructor(
    private readonly backend: KeyedStateBackend,
    private readonly target: Triggerable<N>,
    namespaces: ((namespace: N) => Namespace) | NamespaceIdentity<N>,
  ) {
    const identity = typeof namespaces === 'function' ? { key: namespaces } : namespaces
    this.eventTimers = new TimerQueue<N>(identity)
    this.processingTimers = new TimerQueue<N>(identity)
  }

  currentWatermark(): number {
    return this.watermark
  }

  registerEventTimeTimer(namespace: N, time: number): void {
    const key = this.backend.getCurrentKey()
    this.eventTimers.add(time, key, namespace, keyIdOf(key))
  }

  deleteEventTimeTimer(namespace: N, time: number): void {
    this.eventTimers.delete(time, keyIdOf(this.backend.getCurrentKey()), namespace)
  }

  registerProcessingTimeTimer(namespace: N, time: number): void {
    const key = this.backend.getCurrentKey()
    this.processingTimers.add(time, key, namespace, keyIdOf(key))
  }

  deleteProcessingTimeTimer(namespace: N, time: number): void {
    this.processingTimers.delete(time, keyIdOf(this.backend.getCurrentKey()), namespace)
  }

  /** Fires, in order, every event-time timer with timestamp <= watermark, one at a time. */
  advanceWatermark(watermark: number): void {
    this.watermark = watermark
    for (;;) {
      const timer = this.eventTimers.pollDue(watermark)
      if (timer === undefined) return
      this.backend.setCurrentKey(timer.key)
      this.target.onEventTime(timer)
    }
  }

  /** Fires, in order, every processing-time timer with timestamp <= time, one at a time. */
  advanceProcessingTime(time: number): void {
    for (;;) {
      const timer = this.processingTimers.pollDue(time)
      if (timer === undefined) return
      this.backend.setCurrentKey(timer.key)
      this.target.onProcessingTime(timer)
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

  /** Rows (key group, state key, key, namespace copy, timestamp) of each domain, in firing order. */
  snapshot(maxParallelism: number): TimerServiceSnapshot {
    const rows = (q: TimerQueue<N>) =>
      q.all().map((t): [number, string, unknown, unknown, number] => {
        const sk = stateKeyOf(t.key)
        return [keyGroupOfStateKey(sk, maxParallelism), sk, t.key, structuredClone(t.namespace), t.timestamp]
      })
    return { eventTime: rows(this.eventTimers), processingTime: rows(this.processingTimers) }
  }

  /**
   * Adds the timers of `range` from the snapshots of one or more former subtasks, in their order
   * (equal timestamps keep their firing order; several snapshots follow each other).
   */
  restore(snapshots: readonly TimerServiceSnapshot[], range: KeyGroupRange): void {
    for (const snap of snapshots) {
      for (const [queue, rows] of [
        [this.eventTimers, snap.eventTime],
        [this.processingTimers, snap.processingTime],
      ] as const) {
        for (const [group, , key, namespace, timestamp] of rows) {
          if (group < range.start || group > range.end) continue
          queue.add(timestamp, key, namespace as N, keyIdOf(key))
        }
      }
    }
  }
}
