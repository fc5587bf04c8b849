/**
 * The keyed window operator (Flink's WindowOperator): assigns records to windows, keeps window data
 * in keyed state, asks the trigger when to fire, handles allowed lateness, late side output and
 * cleanup, and merges session windows.
 *
 * Lateness (event time only), as in Flink:
 *  - a window is late when maxTimestamp + allowedLateness <= watermark; records are not added to it;
 *  - a record none of whose windows accepted it is late when timestamp + allowedLateness <= watermark;
 *    it goes to the late side output, or is dropped and counted;
 *  - window state is cleared at maxTimestamp + allowedLateness (the cleanup timer).
 *
 * Session windows (Flink's MergingWindowSet): each session of a key keeps its contents under a
 * stable *state window*, the namespace of the session it first grew from (that window's start, a
 * number). A record that extends a session changes the session's window, its trigger and its
 * cleanup timer, but not where its contents live; only when two existing sessions merge are the
 * contents of one folded into the other's.
 */
import { FluxionError } from '../../engine/errors.ts'
import type { OutputTag } from '../../engine/output-tag.ts'
import { NO_TIMESTAMP } from '../../engine/time.ts'
import type { InternalTimerService, Timer } from '../../engine/timers.ts'
import { ValueStateDescriptor, type ValueState } from '../../state/api.ts'
import { VOID_NAMESPACE, type InternalValueState, type KeyedStateBackend, type Namespace } from '../../state/backend.ts'
import type { WindowAssigner, WindowAssignerContext } from './assigners.ts'
import { WindowResultOperator, type WindowEmitter } from './window-result-operator.ts'
import { EventTimeTrigger, ProcessingTimeTrigger, fires, purges, type OnMergeContext, type Trigger, type TriggerResult } from './triggers.ts'
import { mergeValues, type WindowContents } from './window-functions.ts'
import { intersects, maxTimestamp, sameWindow, type TimeWindow } from './window.ts'

export type { WindowEmitter } from './window-result-operator.ts'

export interface WindowOperatorOptions<K, IN, R, OUT> {
  assigner: WindowAssigner<IN>
  trigger: Trigger<IN>
  allowedLateness: number
  lateDataTag: OutputTag<IN> | undefined
  contents: WindowContents<IN, R>
  emit: WindowEmitter<K, R, OUT>
}

/**
 * One session of a key: its current window and the namespace of its contents (its state window).
 * Two live sessions of a key never intersect, so their state windows' starts differ.
 */
interface Session {
  readonly window: TimeWindow
  readonly state: Namespace
}

const NO_SESSIONS: readonly Session[] = []

/**
 * Reads a key's stored sessions. Snapshots taken before sessions had state windows stored plain
 * windows, whose contents live under the assigner's `${start}:${end}` namespace.
 */
function sessionsOf(stored: readonly (Session | TimeWindow)[] | undefined): readonly Session[] {
  if (stored === undefined) return NO_SESSIONS
  if (stored.length === 0 || 'window' in stored[0]) return stored as readonly Session[]
  return (stored as readonly TimeWindow[]).map((w) => ({ window: w, state: `${w.start}:${w.end}` }))
}

export class WindowOperator<K, IN, R, OUT> extends WindowResultOperator<K, IN, R, OUT> {
  private timers!: InternalTimerService<TimeWindow>
  private backend!: KeyedStateBackend
  private sessions: InternalValueState<readonly Session[]> | undefined
  private readonly assigner: WindowAssigner<IN>
  private readonly trigger: Trigger<IN>
  private readonly contents: WindowContents<IN, R>
  private readonly allowedLateness: number
  private readonly lateDataTag: OutputTag<IN> | undefined
  /** Late records dropped because no late-data side output was configured. */
  numLateRecordsDropped = 0
  /**
   * True for the built-in time triggers, whose only timer is at the window's end and is removed only
   * by clear(): for them a window that already has data already has its timers, so the per-record
   * re-registration (a no-op in Flink) is skipped. Custom triggers always get Flink's behaviour.
   */
  private readonly skipRepeatedTimers: boolean

  // Trigger context: the window it acts on is set before each trigger call.
  private triggerWindow!: TimeWindow
  private isNewWindow = false
  private mergedWindows: readonly TimeWindow[] = []
  private readonly triggerCtx: OnMergeContext
  private readonly assignerCtx: WindowAssignerContext

  constructor(options: WindowOperatorOptions<K, IN, R, OUT>) {
    super(options.emit)
    this.assigner = options.assigner
    this.trigger = options.trigger
    this.contents = options.contents
    this.allowedLateness = options.allowedLateness
    this.lateDataTag = options.lateDataTag
    this.skipRepeatedTimers = this.trigger.constructor === EventTimeTrigger || this.trigger.constructor === ProcessingTimeTrigger
    this.triggerCtx = this.createTriggerContext()
    this.assignerCtx = { getCurrentProcessingTime: () => this.ctx.clock.now() }
  }

  override open(): void {
    this.backend = this.keyedBackend()
    // Timers tell windows apart by start and end (no namespace string per session window); the
    // assigner's name of a window is needed only when one key has several windows' timers at one time.
    this.timers = this.getTimerService<TimeWindow>('window-timers', this, { key: (w) => this.assigner.namespaceOf(w), equals: sameWindow })
    this.contents.open(this.backend)
    if (this.assigner.merging) {
      if (!(this.trigger.canMerge?.() ?? false)) {
        throw new FluxionError('FLX_INVALID_WINDOW', `operator "${this.name}": the trigger cannot be used with merging (session) windows because it does not implement canMerge/onMerge`)
      }
      this.sessions = this.backend.getValueState(new ValueStateDescriptor<readonly Session[]>('session-windows'))
    }
  }

  processElement(value: IN, timestamp: number): void {
    if (this.assigner.isEventTime && timestamp === NO_TIMESTAMP) throw this.missingTimestamp(this.assigner.describe())
    let windows: readonly TimeWindow[]
    try {
      windows = this.assigner.assignWindows(value, timestamp, this.assignerCtx)
    } catch (e) {
      throw this.userError(e)
    }
    const skipped = this.sessions ? this.addToSessions(value, timestamp, windows) : this.addToWindows(value, timestamp, windows)
    if (skipped && this.isElementLate(timestamp)) {
      if (this.lateDataTag) this.output.collectSide(this.lateDataTag, value, timestamp)
      else this.numLateRecordsDropped++
    }
  }

  /** Non-merging windows. Returns true when no window accepted the record. */
  private addToWindows(value: IN, timestamp: number, windows: readonly TimeWindow[]): boolean {
    let skipped = true
    for (let i = 0; i < windows.length; i++) {
      const window = windows[i]
      if (this.isWindowLate(window)) continue
      skipped = false
      this.contents.setNamespace(this.assigner.namespaceOf(window))
      const fresh = this.addToContents(value)
      this.onElementTrigger(value, timestamp, window, fresh)
    }
    return skipped
  }

  /**
   * Session windows: merge the record's window into the key's sessions first (Flink's
   * MergingWindowSet.addWindow with WindowOperator's merge callback).
   */
  private addToSessions(value: IN, timestamp: number, windows: readonly TimeWindow[]): boolean {
    const sessionState = this.sessions!
    sessionState.setCurrentNamespace(VOID_NAMESPACE)
    const stored = sessionState.value()
    let sessions = sessionsOf(stored)
    let changed = sessions !== stored
    let skipped = true
    for (let w = 0; w < windows.length; w++) {
      const window = windows[w]
      // Sessions are sorted by start and pairwise disjoint: those the window touches are adjacent.
      let first = -1
      let count = 0
      let start = window.start
      let end = window.end
      for (let i = 0; i < sessions.length; i++) {
        const s = sessions[i].window
        if (!intersects(s, window)) {
          if (count > 0) break
          continue
        }
        if (count++ === 0) first = i
        if (s.start < start) start = s.start
        if (s.end > end) end = s.end
      }
      let session: Session
      let merged = false
      if (count === 0) {
        if (this.isWindowLate(window)) continue // a late new window is never created
        session = { window, state: window.start }
        sessions = withSession(sessions, 0, 0, session)
        changed = true
      } else if (count === 1 && sessions[first].window.start === start && sessions[first].window.end === end) {
        session = sessions[first] // inside an existing session: nothing changes
      } else {
        // The earliest session's contents stay where they are; the others' are folded into them.
        session = { window: { start, end }, state: sessions[first].state }
        this.mergeWindows(session, sessions, first, count)
        sessions = withSession(sessions, first, count, session)
        changed = true
        merged = true
      }
      const actual = session.window
      if (this.isWindowLate(actual)) continue
      skipped = false
      this.contents.setNamespace(session.state)
      const fresh = this.addToContents(value) || merged
      this.onElementTrigger(value, timestamp, actual, fresh)
    }
    if (changed) {
      sessionState.setCurrentNamespace(VOID_NAMESPACE)
      if (sessions.length === 0) sessionState.clear()
      else sessionState.update(sessions)
    }
    return skipped
  }

  /**
   * Flink's merge callback: the trigger merges into `target`, the merged windows (`sessions[first]`
   * … `sessions[first + count - 1]`) have their triggers and cleanup timers cleared, and their
   * contents are folded into the target's state window (that of the first one).
   */
  private mergeWindows(target: Session, sessions: readonly Session[], first: number, count: number): void {
    const mergedWindows: TimeWindow[] = []
    for (let i = first; i < first + count; i++) mergedWindows.push(sessions[i].window)
    const window = target.window
    this.triggerWindow = window
    this.mergedWindows = mergedWindows
    this.isNewWindow = true
    try {
      this.trigger.onMerge?.(window, this.triggerCtx)
      this.isNewWindow = false
      for (const m of mergedWindows) {
        this.triggerWindow = m
        this.trigger.clear(m, this.triggerCtx)
      }
    } catch (e) {
      throw this.userError(e)
    } finally {
      this.isNewWindow = false
    }
    // The engine's own cleanup timers: outside the try above, so an error here is not reported as the user's.
    for (const m of mergedWindows) this.deleteCleanupTimer(m)
    if (count > 1) {
      const sources: Namespace[] = []
      for (let i = first + 1; i < first + count; i++) if (sessions[i].state !== target.state) sources.push(sessions[i].state)
      if (sources.length > 0) {
        try {
          this.contents.merge(target.state, sources)
        } catch (e) {
          throw this.userError(e)
        }
      }
    }
    this.mergedWindows = []
  }

  private addToContents(value: IN): boolean {
    try {
      return this.contents.add(value)
    } catch (e) {
      throw this.userError(e)
    }
  }

  private onElementTrigger(value: IN, timestamp: number, window: TimeWindow, fresh: boolean): void {
    this.triggerWindow = window
    this.isNewWindow = fresh
    let result: TriggerResult | void
    try {
      // Called directly, not through callTrigger: no closure per record and window.
      result = this.trigger.onElement(value, timestamp, window, this.triggerCtx)
    } catch (e) {
      throw this.userError(e)
    }
    this.isNewWindow = false
    this.applyTriggerResult(result, window)
    if (fresh || !this.skipRepeatedTimers) this.registerCleanupTimer(window)
  }

  private applyTriggerResult(result: TriggerResult | void, window: TimeWindow): void {
    if (!result || result === 'CONTINUE') return
    if (fires(result)) {
      const data = this.getContents()
      if (data !== undefined) this.emitWindow(window, data)
    }
    if (purges(result)) this.contents.clear()
  }

  private getContents(): R | undefined {
    try {
      return this.contents.get()
    } catch (e) {
      throw this.userError(e)
    }
  }

  onEventTime(timer: Timer<TimeWindow>): void {
    this.onTimer(timer, true)
  }

  onProcessingTime(timer: Timer<TimeWindow>): void {
    this.onTimer(timer, false)
  }

  private onTimer(timer: Timer<TimeWindow>, eventTime: boolean): void {
    const window = timer.namespace
    let sessions: readonly Session[] | undefined
    let ns: Namespace
    if (this.sessions) {
      this.sessions.setCurrentNamespace(VOID_NAMESPACE)
      sessions = sessionsOf(this.sessions.value())
      const session = sessions.find((s) => sameWindow(s.window, window))
      // A timer of a window that was merged away: nothing to do.
      if (session === undefined) return
      ns = session.state
    } else {
      ns = this.assigner.namespaceOf(window)
    }
    this.contents.setNamespace(ns)
    this.triggerWindow = window
    const result = this.callTrigger(() =>
      eventTime ? this.trigger.onEventTime(timer.timestamp, window, this.triggerCtx) : this.trigger.onProcessingTime(timer.timestamp, window, this.triggerCtx),
    )
    this.applyTriggerResult(result, window)
    if (eventTime === this.assigner.isEventTime && timer.timestamp === this.cleanupTime(window)) {
      this.contents.setNamespace(ns)
      this.contents.clear()
      this.triggerWindow = window
      this.callTrigger(() => this.trigger.clear(window, this.triggerCtx))
      if (sessions && this.sessions) {
        const rest = sessions.filter((s) => !sameWindow(s.window, window))
        this.sessions.setCurrentNamespace(VOID_NAMESPACE)
        if (rest.length === 0) this.sessions.clear()
        else this.sessions.update(rest)
      }
    }
  }

  private callTrigger<T>(fn: () => T): T {
    try {
      return fn()
    } catch (e) {
      throw this.userError(e)
    }
  }

  private cleanupTime(window: TimeWindow): number {
    return this.assigner.isEventTime ? maxTimestamp(window) + this.allowedLateness : maxTimestamp(window)
  }

  private isWindowLate(window: TimeWindow): boolean {
    return this.assigner.isEventTime && this.cleanupTime(window) <= this.currentWatermark()
  }

  private isElementLate(timestamp: number): boolean {
    return this.assigner.isEventTime && timestamp + this.allowedLateness <= this.currentWatermark()
  }

  private registerCleanupTimer(window: TimeWindow): void {
    const time = this.cleanupTime(window)
    if (time === Number.POSITIVE_INFINITY) return
    if (this.assigner.isEventTime) this.timers.registerEventTimeTimer(window, time)
    else this.timers.registerProcessingTimeTimer(window, time)
  }

  private deleteCleanupTimer(window: TimeWindow): void {
    const time = this.cleanupTime(window)
    if (time === Number.POSITIVE_INFINITY) return
    if (this.assigner.isEventTime) this.timers.deleteEventTimeTimer(window, time)
    else this.timers.deleteProcessingTimeTimer(window, time)
  }

  private createTriggerContext(): OnMergeContext {
    const op = this
    const partitioned = new Map<string, InternalValueState<unknown>>()
    const stateFor = <S>(d: ValueStateDescriptor<S>): InternalValueState<S> => {
      let s = partitioned.get(d.name)
      if (!s) {
        s = op.backend.getValueState(new ValueStateDescriptor<unknown>(`trigger:${d.name}`, d.options))
        partitioned.set(d.name, s)
      }
      return s as InternalValueState<S>
    }
    return {
      getCurrentWatermark: () => op.currentWatermark(),
      getCurrentProcessingTime: () => op.ctx.clock.now(),
      // See skipRepeatedTimers: built-in triggers re-register the same timer on every record.
      registerEventTimeTimer(time) {
        if (op.isNewWindow || !op.skipRepeatedTimers) op.timers.registerEventTimeTimer(op.triggerWindow, time)
      },
      registerProcessingTimeTimer(time) {
        if (op.isNewWindow || !op.skipRepeatedTimers) op.timers.registerProcessingTimeTimer(op.triggerWindow, time)
      },
      deleteEventTimeTimer: (time) => op.timers.deleteEventTimeTimer(op.triggerWindow, time),
      deleteProcessingTimeTimer: (time) => op.timers.deleteProcessingTimeTimer(op.triggerWindow, time),
      getPartitionedState<S>(d: ValueStateDescriptor<S>): ValueState<S> {
        const s = stateFor(d)
        s.setCurrentNamespace(op.assigner.namespaceOf(op.triggerWindow))
        return s
      },
      get mergedWindows() {
        return op.mergedWindows
      },
      mergePartitionedState<S>(d: ValueStateDescriptor<S>, combine: (a: S, b: S) => S) {
        const s = stateFor(d)
        mergeValues(
          s,
          op.assigner.namespaceOf(op.triggerWindow),
          op.mergedWindows.map((w) => op.assigner.namespaceOf(w)),
          combine,
        )
      },
    }
  }
}

/** `sessions` with `count` entries from `at` replaced by `session`, kept sorted by window start. */
function withSession(sessions: readonly Session[], at: number, count: number, session: Session): readonly Session[] {
  const out: Session[] = []
  let placed = false
  for (let i = 0; i < sessions.length; i++) {
    if (i >= at && i < at + count) continue
    if (!placed && sessions[i].window.start > session.window.start) {
      out.push(session)
      placed = true
    }
    out.push(sessions[i])
  }
  if (!placed) out.push(session)
  return out
}
