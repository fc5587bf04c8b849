/**
 * What the window operators' tests share: the record and row types, a step runner on the
 * OperatorTestHarness (optionally restoring after every step), random step sequences, and a plain
 * model of Flink's non-merging event-time windows with EventTimeTrigger to compare against.
 */
import fc from 'fast-check'
import type { OperatorTestHarness } from '../../../engine/testing/operator-harness.ts'
import type { OutputTag } from '../../../engine/output-tag.ts'
import type { AggregateFunction } from '../window-functions.ts'

export interface Ev {
  key: string
  v: number
  id?: number
}

export interface Row<R> {
  key: string
  start: number
  end: number
  result: R
}

export interface CountSum {
  n: number
  sum: number
}

export const countSumAgg: AggregateFunction<Ev, CountSum, CountSum> = {
  createAccumulator: () => ({ n: 0, sum: 0 }),
  add: (e, acc) => ({ n: acc.n + 1, sum: acc.sum + e.v }),
  getResult: (acc) => acc,
  merge: (a, b) => ({ n: a.n + b.n, sum: a.sum + b.sum }),
}

export type Step = { el: Ev; ts?: number } | { wm: number } | { pt: number } | { restore: true }


export interface Outcome<R> {
  out: { value: Row<R>; timestamp: number | undefined }[]
  late: Ev[]
  dropped: number
  stateSize: number
}

/**
 * Runs `steps` on the harness `create()` makes; with `restoreEverywhere`, snapshot → close → restore
 * after every step (the last watermark re-sent after each restore, as upstream does after recovery).
 * The operator must count dropped late records in `numLateRecordsDropped`.
 */
export function runSteps<R>(create: () => OperatorTestHarness<Ev, Row<R>>, steps: readonly Step[], options: { lateDataTag?: OutputTag<Ev>; restoreEverywhere?: boolean } = {}): Outcome<R> {
  let h = create()
  let dropped = 0
  let lastWm: number | undefined
  const droppedBy = (harness: OperatorTestHarness<Ev, Row<R>>) => (harness.operator as unknown as { numLateRecordsDropped: number }).numLateRecordsDropped
  const restore = () => {
    dropped += droppedBy(h)
    h = h.snapshotAndRestore()
    if (lastWm !== undefined) h.processWatermark(lastWm)
  }
  for (const step of steps) {
    if ('el' in step) h.processElement(step.el, step.ts)
    else if ('wm' in step) {
      h.processWatermark(step.wm)
      lastWm = step.wm
    } else if ('pt' in step) h.setProcessingTime(step.pt)
    else restore()
    if (options.restoreEverywhere && !('restore' in step)) restore()
  }
  dropped += droppedBy(h)
  return {
    out: h.getOutput().map((r) => ({ value: r.value, timestamp: r.timestamp })),
    late: options.lateDataTag ? h.getSideOutput(options.lateDataTag) : [],
    dropped,
    stateSize: h.stateSize(),
  }
}

export type RawStep = { kind: 'el'; key: string; delta: number; v: number } | { kind: 'wm'; adv: number } | { kind: 'restore' }

export const rawSteps = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('el' as const), key: fc.constantFrom('a', 'b', 'c'), delta: fc.integer({ min: -30, max: 40 }), v: fc.integer({ min: 0, max: 9 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('wm' as const), adv: fc.integer({ min: 1, max: 25 }) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'restore' as const }) },
  ),
  { maxLength: 45 },
)

/** Concrete steps: timestamps around the current watermark (negative ones included), rising watermarks, a final +∞. */
export function concretise(raw: readonly RawStep[]): Step[] {
  let cursor = -40
  let id = 0
  const steps: Step[] = []
  for (const r of raw) {
    if (r.kind === 'el') steps.push({ el: { key: r.key, v: r.v, id: id++ }, ts: cursor + r.delta })
    else if (r.kind === 'wm') steps.push({ wm: (cursor += r.adv) })
    else steps.push({ restore: true })
  }
  steps.push({ wm: Number.POSITIVE_INFINITY })
  return steps
}

export interface ModelOutcome {
  out: { value: Row<CountSum>; timestamp: number }[]
  late: Ev[]
  dropped: number
}

export interface ModelWindow {
  key: string
  start: number
  end: number
  n: number
  sum: number
}

export const emitRow = (w: ModelWindow) => ({ value: { key: w.key, start: w.start, end: w.end, result: { n: w.n, sum: w.sum } }, timestamp: w.end - 1 })

/** Flink's semantics for non-merging event-time windows with EventTimeTrigger, written plainly. */
export function modelFixedWindows(steps: readonly Step[], windowsOf: (ts: number) => { start: number; end: number }[], lateness: number, withTag: boolean): ModelOutcome {
  let watermark = Number.NEGATIVE_INFINITY
  const live = new Map<string, ModelWindow>()
  const res: ModelOutcome = { out: [], late: [], dropped: 0 }
  for (const step of steps) {
    if ('el' in step) {
      const ts = step.ts!
      let accepted = false
      for (const w of windowsOf(ts)) {
        if (w.end - 1 + lateness <= watermark) continue
        accepted = true
        const id = `${step.el.key}|${w.start}`
        let mw = live.get(id)
        if (!mw) live.set(id, (mw = { key: step.el.key, start: w.start, end: w.end, n: 0, sum: 0 }))
        mw.n++
        mw.sum += step.el.v
        if (w.end - 1 <= watermark) res.out.push(emitRow(mw))
      }
      if (!accepted && ts + lateness <= watermark) {
        if (withTag) res.late.push(step.el)
        else res.dropped++
      }
    } else if ('wm' in step) {
      for (const mw of live.values()) if (mw.end - 1 > watermark && mw.end - 1 <= step.wm) res.out.push(emitRow(mw))
      for (const [id, mw] of live) if (mw.end - 1 + lateness <= step.wm) live.delete(id)
      watermark = step.wm
    }
  }
  return res
}

/** The windows of size `size` every `slide` ms (offset `offset`) that contain `ts`, plainly. */
export function fixedWindowsOf(size: number, slide: number, offset: number): (ts: number) => { start: number; end: number }[] {
  return (ts) => {
    const out: { start: number; end: number }[] = []
    const first = Math.floor((ts - size + 1 - offset) / slide) * slide + offset
    for (let start = first; start <= ts; start += slide) if (start + size > ts) out.push({ start, end: start + size })
    return out
  }
}

export const byContent = (a: { value: Row<CountSum>; timestamp: number | undefined }, b: { value: Row<CountSum>; timestamp: number | undefined }) =>
  a.value.key.localeCompare(b.value.key) || a.value.start - b.value.start || a.value.end - b.value.end || a.value.result.n - b.value.result.n || a.value.result.sum - b.value.result.sum

/** A random fixed-window setup: slide, size = k · slide, offset (a fraction of the slide), lateness, late side output or not. */
export const fixedWindowConfig = fc.record({
  slide: fc.integer({ min: 1, max: 15 }),
  k: fc.integer({ min: 1, max: 5 }),
  offsetFrac: fc.double({ min: -0.99, max: 0.99, noNaN: true }),
  lateness: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 30 })),
  withTag: fc.boolean(),
})
