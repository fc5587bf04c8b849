/**
 * WatermarkValve (Flink's StatusWatermarkValve): the watermark of a task with several input
 * channels is the minimum over its active channels, idle channels are excluded, ended channels
 * count as +Infinity, and the output never goes backwards.
 *
 * The reference model below follows Flink's StatusWatermarkValve (flink-streaming-java,
 * runtime/watermarkstatus), with one documented Fluxion extension: a watermark that arrives on an
 * idle channel makes the channel active again (Fluxion's sources always send "active" before a
 * watermark, so this only matters for direct use of the valve).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { WatermarkValve } from './watermark-valve.ts'

type Out = { wm: number } | { idle: boolean }

function valve(channels: number): { v: WatermarkValve; out: Out[] } {
  const out: Out[] = []
  const v = new WatermarkValve(
    channels,
    (wm) => out.push({ wm }),
    (idle) => out.push({ idle }),
  )
  return { v, out }
}

const watermarks = (out: readonly Out[]): number[] => out.flatMap((o) => ('wm' in o ? [o.wm] : []))

type Step = { kind: 'wm'; ch: number; wm: number } | { kind: 'idle'; ch: number; idle: boolean } | { kind: 'end'; ch: number }

function apply(v: WatermarkValve, step: Step): void {
  if (step.kind === 'wm') v.inputWatermark(step.ch, step.wm)
  else if (step.kind === 'idle') v.inputIdle(step.ch, step.idle)
  else v.inputEnded(step.ch)
}

/** A plain model of Flink's StatusWatermarkValve (plus the extension described above). */
class ReferenceValve {
  private readonly wm: number[]
  private readonly idle: boolean[]
  private readonly aligned: boolean[]
  private readonly ended: boolean[]
  private last = Number.NEGATIVE_INFINITY
  private outIdle = false
  readonly out: Out[] = []

  constructor(n: number) {
    this.wm = Array.from({ length: n }, () => Number.NEGATIVE_INFINITY)
    this.idle = Array.from({ length: n }, () => false)
    this.aligned = Array.from({ length: n }, () => true)
    this.ended = Array.from({ length: n }, () => false)
  }

  step(s: Step): void {
    if (s.kind !== 'end' && this.ended[s.ch]) return // nothing arrives after the end of a channel
    if (s.kind === 'wm') {
      if (s.wm <= this.wm[s.ch]) return
      this.wm[s.ch] = s.wm
      if (this.idle[s.ch]) this.activate(s.ch)
      else if (!this.aligned[s.ch] && s.wm >= this.last) this.aligned[s.ch] = true
      this.findMin()
    } else if (s.kind === 'idle') {
      if (this.idle[s.ch] === s.idle) return
      if (s.idle) {
        this.idle[s.ch] = true
        this.aligned[s.ch] = false
        if (this.idle.every((i) => i)) {
          if (this.wm[s.ch] === this.last) this.emitIfHigher(Math.max(...this.wm))
          this.outIdle = true
          this.out.push({ idle: true })
        } else this.findMin()
      } else {
        this.activate(s.ch)
        this.findMin()
      }
    } else {
      this.ended[s.ch] = true
      this.wm[s.ch] = Number.POSITIVE_INFINITY
      this.activate(s.ch) // an ended channel is active (and aligned: +Infinity)
      this.findMin()
    }
  }

  private activate(ch: number): void {
    this.idle[ch] = false
    this.aligned[ch] = this.wm[ch] >= this.last
    if (this.outIdle) {
      this.outIdle = false
      this.out.push({ idle: false })
    }
  }

  private findMin(): void {
    let min = Number.POSITIVE_INFINITY
    let any = false
    for (let i = 0; i < this.wm.length; i++) {
      if (this.idle[i] || !this.aligned[i]) continue
      any = true
      min = Math.min(min, this.wm[i])
    }
    if (any) this.emitIfHigher(min)
  }

  private emitIfHigher(wm: number): void {
    if (wm > this.last) {
      this.last = wm
      this.out.push({ wm })
    }
  }
}

const stepArb = (channels: number, withIdleness: boolean): fc.Arbitrary<Step> => {
  const ch = fc.integer({ min: 0, max: channels - 1 })
  const wm = fc.record({ kind: fc.constant('wm' as const), ch, wm: fc.integer({ min: -5, max: 60 }) })
  const end = fc.record({ kind: fc.constant('end' as const), ch })
  if (!withIdleness) return fc.oneof({ arbitrary: wm, weight: 8 }, { arbitrary: end, weight: 1 })
  const idle = fc.record({ kind: fc.constant('idle' as const), ch, idle: fc.boolean() })
  return fc.oneof({ arbitrary: wm, weight: 6 }, { arbitrary: idle, weight: 3 }, { arbitrary: end, weight: 1 })
}

const scenarioArb = (withIdleness: boolean) =>
  fc.integer({ min: 1, max: 5 }).chain((channels) => fc.tuple(fc.constant(channels), fc.array(stepArb(channels, withIdleness), { maxLength: 60 })))

/** Drops steps for channels that already ended: a channel sends nothing after its end. */
function realistic(steps: readonly Step[]): Step[] {
  const ended = new Set<number>()
  return steps.filter((s) => {
    if (ended.has(s.ch)) return false
    if (s.kind === 'end') ended.add(s.ch)
    return true
  })
}

describe('WatermarkValve', () => {
  it('emits the minimum over all channels once every channel has a watermark', () => {
    const { v, out } = valve(3)
    v.inputWatermark(0, 10)
    v.inputWatermark(1, 20)
    expect(out).toEqual([])
    v.inputWatermark(2, 5)
    expect(watermarks(out)).toEqual([5])
    v.inputWatermark(2, 30)
    expect(watermarks(out)).toEqual([5, 10])
    v.inputWatermark(0, 25)
    expect(watermarks(out)).toEqual([5, 10, 20])
    expect(v.currentWatermark).toBe(20)
  })

  it('never goes backwards: lower and repeated watermarks change nothing', () => {
    const { v, out } = valve(2)
    v.inputWatermark(0, 10)
    v.inputWatermark(1, 10)
    v.inputWatermark(0, 7)
    v.inputWatermark(1, 10)
    v.inputWatermark(1, 3)
    expect(watermarks(out)).toEqual([10])
    expect(v.currentWatermark).toBe(10)
  })

  it('excludes an idle channel from the minimum, and lets it hold back again once active', () => {
    const { v, out } = valve(2)
    v.inputWatermark(0, 100)
    expect(out).toEqual([])
    v.inputIdle(1, true)
    expect(out).toEqual([{ wm: 100 }])
    v.inputWatermark(0, 200)
    expect(watermarks(out)).toEqual([100, 200])
    // Channel 1 comes back with a watermark ahead of the output: it is aligned and counts again.
    v.inputIdle(1, false)
    v.inputWatermark(1, 250)
    v.inputWatermark(0, 300)
    expect(watermarks(out)).toEqual([100, 200, 250])
    v.inputWatermark(1, 400)
    expect(watermarks(out)).toEqual([100, 200, 250, 300])
  })

  it('reports idle only when every channel is idle, and active as soon as one is active again', () => {
    const { v, out } = valve(3)
    v.inputIdle(0, true)
    v.inputIdle(1, true)
    expect(out).toEqual([])
    v.inputIdle(2, true)
    expect(out).toEqual([{ idle: true }])
    v.inputIdle(2, true) // repeated status: nothing new
    expect(out).toEqual([{ idle: true }])
    v.inputIdle(1, false)
    expect(out).toEqual([{ idle: true }, { idle: false }])
    v.inputIdle(0, false)
    expect(out).toEqual([{ idle: true }, { idle: false }])
  })

  it('a watermark on an idle channel makes the channel (and an all-idle valve) active again', () => {
    const { v, out } = valve(2)
    v.inputIdle(0, true)
    v.inputIdle(1, true)
    v.inputWatermark(0, 42)
    expect(out).toEqual([{ idle: true }, { idle: false }, { wm: 42 }])
  })

  it('an ended channel no longer holds back the others; all ended gives +Infinity', () => {
    const { v, out } = valve(3)
    v.inputWatermark(0, 10)
    v.inputWatermark(1, 20)
    v.inputEnded(2)
    expect(watermarks(out)).toEqual([10])
    v.inputEnded(0)
    expect(watermarks(out)).toEqual([10, 20])
    v.inputWatermark(1, 30)
    expect(watermarks(out)).toEqual([10, 20, 30])
    v.inputEnded(1)
    expect(watermarks(out)).toEqual([10, 20, 30, Number.POSITIVE_INFINITY])
    expect(v.currentWatermark).toBe(Number.POSITIVE_INFINITY)
  })

  it('an ended channel is not idle: the valve does not report idle while another channel ended', () => {
    const { v, out } = valve(2)
    v.inputEnded(0)
    v.inputIdle(1, true)
    expect(out).not.toContainEqual({ idle: true })
    // channel 0 is done and channel 1 is idle: event time is over for this task (as in Flink,
    // where the finished channel sent MAX_WATERMARK).
    expect(watermarks(out)).toEqual([Number.POSITIVE_INFINITY])
  })

  // Flink: when the last active channel goes idle, the valve "flushes" by emitting the highest
  // watermark across all channels (StatusWatermarkValve.findAndOutputMaxWatermarkAcrossAllChannels),
  // since no channel can hold event time back any more.
  it('when every channel becomes idle, emits the highest watermark across channels (Flink flush)', () => {
    const { v, out } = valve(2)
    v.inputWatermark(0, 10)
    v.inputWatermark(1, 5)
    expect(watermarks(out)).toEqual([5])
    v.inputIdle(0, true) // min over active = 5 (channel 1): nothing new
    v.inputIdle(1, true) // all idle: flush to max(10, 5) = 10, then report idle
    expect(out).toEqual([{ wm: 5 }, { wm: 10 }, { idle: true }])
  })

  // Flink: a channel that comes back from idleness with a watermark below the valve's output is
  // "unaligned" and does not hold back the output until its watermark catches up.
  it('a channel that returns from idleness behind the output does not hold the output back', () => {
    const { v, out } = valve(2)
    v.inputWatermark(0, 100)
    v.inputIdle(1, true)
    expect(watermarks(out)).toEqual([100])
    v.inputIdle(1, false) // channel 1 is active again, still at -Infinity
    v.inputWatermark(0, 200)
    expect(watermarks(out)).toEqual([100, 200])
    v.inputWatermark(1, 150) // still behind the output: ignored for the minimum
    v.inputWatermark(0, 300)
    expect(watermarks(out)).toEqual([100, 200, 300])
    v.inputWatermark(1, 350) // caught up: aligned and counted again
    v.inputWatermark(0, 400)
    expect(watermarks(out)).toEqual([100, 200, 300, 350])
  })

  it('without idleness, equals the running minimum over channels (property)', () => {
    fc.assert(
      fc.property(scenarioArb(false), ([channels, raw]) => {
        const steps = realistic(raw)
        const { v, out } = valve(channels)
        const current = Array.from({ length: channels }, () => Number.NEGATIVE_INFINITY)
        const expected: number[] = []
        let last = Number.NEGATIVE_INFINITY
        for (const s of steps) {
          apply(v, s)
          if (s.kind === 'wm') current[s.ch] = Math.max(current[s.ch], s.wm)
          else if (s.kind === 'end') current[s.ch] = Number.POSITIVE_INFINITY
          const min = Math.min(...current)
          if (min > last) expected.push((last = min))
          expect(v.currentWatermark).toBe(last)
        }
        expect(out).toEqual(expected.map((wm) => ({ wm })))
      }),
      { numRuns: 300 },
    )
  })

  it('with idleness and ends: output is strictly increasing, made of channel watermarks, and idle status matches (property)', () => {
    fc.assert(
      fc.property(scenarioArb(true), ([channels, raw]) => {
        const steps = realistic(raw)
        const { v, out } = valve(channels)
        const seen = new Set<number>([Number.POSITIVE_INFINITY])
        for (const s of steps) {
          apply(v, s)
          if (s.kind === 'wm') seen.add(s.wm)
        }
        const wms = watermarks(out)
        for (let i = 1; i < wms.length; i++) expect(wms[i]).toBeGreaterThan(wms[i - 1])
        for (const w of wms) expect(seen.has(w)).toBe(true)
        // idle reports alternate, starting with idle = true
        const statuses = out.flatMap((o) => ('idle' in o ? [o.idle] : []))
        statuses.forEach((st, i) => expect(st).toBe(i % 2 === 0))
      }),
      { numRuns: 300 },
    )
  })

  it('equals the reference model of Flink’s StatusWatermarkValve on random inputs (property)', () => {
    fc.assert(
      fc.property(scenarioArb(true), ([channels, raw]) => {
        const steps = realistic(raw)
        const { v, out } = valve(channels)
        const ref = new ReferenceValve(channels)
        for (const s of steps) {
          apply(v, s)
          ref.step(s)
        }
        expect(out).toEqual(ref.out)
      }),
      { numRuns: 300 },
    )
  })
})
