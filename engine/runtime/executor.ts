/**
 * Runs a job's tasks on the current thread: a cooperative loop that gives each runnable task a
 * bounded slice, fires processing-time timers from the injected clock, and yields to the event
 * loop between slices so I/O (HTTP, Kafka, files) keeps going.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { FluxionError } from '../errors.ts'
import { sleepUntilWoken, type Clock } from '../time.ts'
import type { Task } from './task.ts'

export interface ExecutorOptions {
  /** Records a task may process per slice. */
  sliceRecords: number
  /** Longest time (ms) the loop runs before yielding to the event loop. */
  yieldAfterMs: number
}

/** Periodic work of the checkpoint coordinator, run between slices. */
export interface ExecutorTimer {
  nextTimerTime(): number
  onTimer(now: number): void
  /** A failure to fail the job with (e.g. too many failed checkpoints). */
  readonly failure: Error | null
}

export class LocalExecutor {
  private wakeUp: (() => void) | null = null
  private cancelled: FluxionError | null = null

  constructor(
    /** Tasks in topological order (sources first). */
    private readonly tasks: readonly Task[],
    private readonly clock: Clock,
    private readonly options: ExecutorOptions,
    private readonly timer?: ExecutorTimer,
  ) {}

  /** Wakes the loop when it waits for input, timers or availability. */
  readonly wake = (): void => {
    const w = this.wakeUp
    this.wakeUp = null
    w?.()
  }

  /** Stops the job at the next slice boundary; `run` rejects with FLX_JOB_CANCELLED. */
  cancel(reason = 'the job was cancelled'): void {
    this.cancelled ??= new FluxionError('FLX_JOB_CANCELLED', reason)
    this.wake()
  }

  async run(): Promise<void> {
    const ordered = [...this.tasks].reverse() // drain downstream first: keeps queues short
    try {
      for (const t of this.tasks) t.open()
      let lastYield = performance.now()
      for (;;) {
        if (this.cancelled) throw this.cancelled
        let worked = false
        let allFinished = true
        const now = this.clock.now()
        if (this.timer) {
          if (this.timer.failure) throw this.timer.failure
          if (this.timer.nextTimerTime() <= now) this.timer.onTimer(now)
        }
        for (const task of ordered) {
          if (task.finished) continue
          allFinished = false
          if (task.nextTimerTime() <= now) {
            task.fireTimers(now)
            worked = true
          }
          if (task.isRunnable()) {
            task.runSlice(this.options.sliceRecords)
            worked = true
          }
        }
        if (allFinished) return
        if (worked) {
          if (performance.now() - lastYield >= this.options.yieldAfterMs) {
            await yieldToEventLoop()
            lastYield = performance.now()
          }
          continue
        }
        await this.waitForWork()
        lastYield = performance.now()
      }
    } finally {
      for (const t of this.tasks) t.close()
    }
  }

  /** Sleeps until a source becomes available, a timer is due, or `wake` is called. */
  private async waitForWork(): Promise<void> {
    let nextTimer = this.timer ? this.timer.nextTimerTime() : Number.POSITIVE_INFINITY
    let anyWaiting = false
    for (const t of this.tasks) {
      if (t.finished) continue
      nextTimer = Math.min(nextTimer, t.nextTimerTime())
      if (t.waiting) anyWaiting = true
    }
    if (!anyWaiting && nextTimer === Number.POSITIVE_INFINITY && !this.timer) {
      const stuck = this.tasks.filter((t) => !t.finished).map((t) => `${t.name}#${t.subtaskIndex}`)
      throw new FluxionError('FLX_INTERNAL', `the job cannot make progress: no input, timer or source is pending, yet tasks ${stuck.join(', ')} have not finished`)
    }
    await sleepUntilWoken(this.clock, new Promise<void>((resolve) => (this.wakeUp = resolve)), nextTimer)
    this.wakeUp = null
  }
}
