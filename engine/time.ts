/**
 * Time: the injectable processing-time clock, and the constants of event time.
 *
 * Event time is a JavaScript number of epoch milliseconds. A watermark W means "no more records with
 * timestamp <= W are expected" (Flink's convention). The initial watermark is -Infinity; the final
 * watermark of a bounded input is +Infinity and fires every window.
 */

/** The watermark before any watermark was seen. */
export const MIN_WATERMARK = Number.NEGATIVE_INFINITY
/** The final watermark that ends event time (end of bounded input). */
export const MAX_WATERMARK = Number.POSITIVE_INFINITY
/** Internal marker of a record that carries no timestamp. */
export const NO_TIMESTAMP = Number.NEGATIVE_INFINITY

export function hasTimestamp(ts: number): boolean {
  return ts !== NO_TIMESTAMP
}

/**
 * Processing-time clock. Every clock read in the engine goes through one of these, so tests can
 * use a ManualClock and be deterministic.
 */
export interface Clock {
  /** Current processing time in epoch milliseconds. Cheap; may be called once per batch. */
  now(): number
  /**
   * Resolves once `now() >= time`, or when `signal` aborts (then it resolves, never rejects).
   * Must not keep the process alive on its own beyond the wait.
   */
  sleepUntil(time: number, signal?: AbortSignal): Promise<void>
}

/** The reason a sleep of `sleepUntilWoken` is cancelled with (abort() without a reason builds a DOMException, stack and all). */
const WOKEN = 'woken'

/**
 * Resolves when `woken` does or, if `until` is finite, when `clock` reaches `until`, whichever is
 * first; the clock's sleep is cancelled afterwards (its timer does not linger).
 */
export async function sleepUntilWoken(clock: Clock, woken: Promise<void>, until: number): Promise<void> {
  if (until === Number.POSITIVE_INFINITY) return woken
  const abort = new AbortController()
  await Promise.race([woken, clock.sleepUntil(until, abort.signal)])
  abort.abort(WOKEN)
}

/** The wall clock. */
export class SystemClock implements Clock {
  now(): number {
    return Date.now()
  }

  sleepUntil(time: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const delay = Math.max(0, time - Date.now())
      const timer = setTimeout(done, Math.min(delay, 2_147_483_647))
      function done() {
        clearTimeout(timer)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      signal?.addEventListener('abort', done, { once: true })
    })
  }
}

/**
 * A clock that only moves when told to. `advance` and `setTime` wake everything that sleeps until
 * a time that has now been reached.
 */
export class ManualClock implements Clock {
  private time: number
  private sleepers: { time: number; resolve: () => void }[] = []

  constructor(startTime = 0) {
    this.time = startTime
  }

  now(): number {
    return this.time
  }

  /** Moves the clock forward by `ms` (≥ 0). */
  advance(ms: number): void {
    this.setTime(this.time + ms)
  }

  /** Sets the clock; it never moves backwards. */
  setTime(time: number): void {
    if (time < this.time) throw new RangeError(`ManualClock cannot go back from ${this.time} to ${time}`)
    this.time = time
    const due = this.sleepers.filter((s) => s.time <= time)
    this.sleepers = this.sleepers.filter((s) => s.time > time)
    for (const s of due) s.resolve()
  }

  sleepUntil(time: number, signal?: AbortSignal): Promise<void> {
    if (time <= this.time) return Promise.resolve()
    return new Promise((resolve) => {
      const sleeper = { time, resolve }
      this.sleepers.push(sleeper)
      signal?.addEventListener(
        'abort',
        () => {
          this.sleepers = this.sleepers.filter((s) => s !== sleeper)
          resolve()
        },
        { once: true },
      )
    })
  }
}
