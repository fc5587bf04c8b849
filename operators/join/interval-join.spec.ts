/**
 * IntervalJoinOperator unit tests (after Flink's IntervalJoinOperatorTest): a left record l joins
 * right records r of its key with l.ts + lower <= r.ts <= l.ts + upper, output timestamp
 * max(l.ts, r.ts); records behind the watermark are late; buffers are cleaned by the watermark.
 *
 * Scenarios run with and without snapshot → close → restore between steps; the watermark is not
 * part of a snapshot (as in Flink), so the runner re-sends the last one after a restore.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FluxionError } from '../../engine/errors.ts'
import { OutputTag } from '../../engine/output-tag.ts'
import { OperatorTestHarness } from '../../engine/testing/operator-harness.ts'
import { IntervalJoinOperator, type ProcessJoinFunction } from './interval-join.ts'

interface Side {
  key: string
  id: string
}

interface Joined {
  l: string
  r: string
  lt: number
  rt: number
}

interface Bounds {
  lower: number
  upper: number
  leftLate?: OutputTag<Side>
  rightLate?: OutputTag<Side>
  fn?: ProcessJoinFunction<Side, Side, Joined, string>
  name?: string
}

const pairUp: ProcessJoinFunction<Side, Side, Joined, string> = (l, r, ctx, out) => out.collect({ l: l.id, r: r.id, lt: ctx.leftTimestamp(), rt: ctx.rightTimestamp() })

function harness(b: Bounds): OperatorTestHarness<Side, Joined> {
  return new OperatorTestHarness<Side, Joined>(
    () => new IntervalJoinOperator<string, Side, Side, Joined>(b.fn ?? pairUp, { lowerBound: b.lower, upperBound: b.upper, leftLateTag: b.leftLate, rightLateTag: b.rightLate }),
    { keySelector: (s) => s.key, keySelector2: (s: Side) => s.key, name: b.name },
  )
}

type Step = { left: Side; ts: number } | { right: Side; ts: number } | { wm: number } | { restore: true }

const L = (id: string, ts: number, key = 'k'): Step => ({ left: { key, id }, ts })
const R = (id: string, ts: number, key = 'k'): Step => ({ right: { key, id }, ts })
const W = (wm: number): Step => ({ wm })

interface Outcome {
  out: { value: Joined; timestamp: number | undefined }[]
  leftLate: Side[]
  rightLate: Side[]
  stateSize: number
  sizes: number[]
}

/** Runs the steps; `sizes` is stateSize() after every watermark. */
function run(b: Bounds, steps: readonly Step[], restoreEverywhere = false): Outcome {
  let h = harness(b)
  let lastWm: number | undefined
  const sizes: number[] = []
  const restore = () => {
    h = h.snapshotAndRestore()
    if (lastWm !== undefined) h.processWatermark(lastWm)
  }
  for (const s of steps) {
    if ('left' in s) h.processElement(s.left, s.ts)
    else if ('right' in s) h.processElement2(s.right, s.ts)
    else if ('wm' in s) {
      h.processWatermark((lastWm = s.wm))
      sizes.push(h.stateSize())
    } else restore()
    if (restoreEverywhere && !('restore' in s)) restore()
  }
  return {
    out: h.getOutput().map((r) => ({ value: r.value, timestamp: r.timestamp })),
    leftLate: b.leftLate ? h.getSideOutput(b.leftLate) : [],
    rightLate: b.rightLate ? h.getSideOutput(b.rightLate) : [],
    stateSize: h.stateSize(),
    sizes,
  }
}

function runChecked(b: Bounds, steps: readonly Step[]): Outcome {
  const plain = run(b, steps)
  expect(run(b, steps, true)).toEqual(plain)
  return plain
}

const pairs = (o: Outcome) => o.out.map((r) => `${r.value.l}-${r.value.r}@${r.timestamp}`).sort()

function thrown(fn: () => unknown): FluxionError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(FluxionError)
    return e as FluxionError
  }
  throw new Error('expected a FluxionError, nothing was thrown')
}

describe('IntervalJoinOperator: bounds', () => {
  it('joins with both bounds inclusive, whichever side arrives first', () => {
    const rights = [R('r7', 7), R('r8', 8), R('r13', 13), R('r14', 14)]
    const leftFirst = runChecked({ lower: -2, upper: 3 }, [L('l10', 10), ...rights])
    expect(pairs(leftFirst)).toEqual(['l10-r13@13', 'l10-r8@10'])
    const rightFirst = runChecked({ lower: -2, upper: 3 }, [...rights, L('l10', 10)])
    expect(pairs(rightFirst)).toEqual(pairs(leftFirst))
  })

  it('emits max(left, right) as the output timestamp and gives both timestamps to the function', () => {
    const r = runChecked({ lower: -5, upper: 5 }, [L('l', 10), R('early', 6), R('late', 14)])
    expect(r.out).toEqual([
      { value: { l: 'l', r: 'early', lt: 10, rt: 6 }, timestamp: 10 },
      { value: { l: 'l', r: 'late', lt: 10, rt: 14 }, timestamp: 14 },
    ])
  })

  it('supports negative bounds: right records before the left one', () => {
    const r = runChecked({ lower: -5, upper: -1 }, [L('l10', 10), R('r4', 4), R('r5', 5), R('r9', 9), R('r10', 10)])
    expect(pairs(r)).toEqual(['l10-r5@10', 'l10-r9@10'])
  })

  it('supports positive bounds: right records after the left one', () => {
    const r = runChecked({ lower: 2, upper: 5 }, [R('r11', 11), R('r12', 12), L('l10', 10), R('r15', 15), R('r16', 16)])
    expect(pairs(r)).toEqual(['l10-r12@12', 'l10-r15@15'])
  })

  it('supports a zero-width interval (equal timestamps)', () => {
    const r = runChecked({ lower: 0, upper: 0 }, [L('a', 5), R('b', 5), R('c', 6), L('d', 5)])
    expect(pairs(r)).toEqual(['a-b@5', 'd-b@5'])
  })

  it('joins only records of the same key', () => {
    const r = runChecked({ lower: -10, upper: 10 }, [L('x1', 1, 'x'), R('y1', 1, 'y'), R('x2', 2, 'x'), L('y2', 2, 'y')])
    expect(pairs(r)).toEqual(['x1-x2@2', 'y2-y1@2'])
  })
})

describe('IntervalJoinOperator: lateness and cleanup', () => {
  it('drops records behind the watermark, or sends them to the late side outputs', () => {
    const leftLate = new OutputTag<Side>('left-late')
    const rightLate = new OutputTag<Side>('right-late')
    const steps = [L('l5', 5), R('r5', 5), W(10), L('l9', 9), R('r9', 9), L('l10', 10), R('r10', 10)]
    const r = runChecked({ lower: -10, upper: 10, leftLate, rightLate }, steps)
    expect(pairs(r)).toEqual(['l10-r10@10', 'l10-r5@10', 'l5-r10@10', 'l5-r5@5'])
    expect(r.leftLate).toEqual([{ key: 'k', id: 'l9' }])
    expect(r.rightLate).toEqual([{ key: 'k', id: 'r9' }])
    const untagged = runChecked({ lower: -10, upper: 10 }, steps)
    expect(pairs(untagged)).toEqual(pairs(r))
  })

  it('keeps each record exactly as long as it can still join, then leaves no state', () => {
    // [-2, 3]: left@10 can join rights up to 13; right@10 can join lefts up to 12.
    const r = runChecked({ lower: -2, upper: 3 }, [L('l10', 10), R('r10', 10), W(11), W(12), R('r12', 12), W(13), W(14)])
    expect(pairs(r)).toEqual(['l10-r10@10', 'l10-r12@12'])
    expect(r.sizes).toEqual([2, 1, 1, 0]) // r10 goes at 12, r12 joins l10 and stays until 14, l10 goes at 13
    expect(r.stateSize).toBe(0)
  })

  it('cleans up with negative bounds', () => {
    // [-5, -1]: a left record only joins earlier rights, so it can go once the watermark reaches it.
    const r = runChecked({ lower: -5, upper: -1 }, [L('l10', 10), R('r10', 10), W(9), W(10), W(14), W(15)])
    expect(r.sizes).toEqual([2, 1, 1, 0])
    expect(r.stateSize).toBe(0)
  })

  it('cleans up with positive bounds', () => {
    // [2, 5]: a right record only joins earlier lefts.
    const r = runChecked({ lower: 2, upper: 5 }, [L('l10', 10), R('r10', 10), W(10), W(14), W(15)])
    expect(r.sizes).toEqual([1, 1, 0])
    expect(r.stateSize).toBe(0)
  })

  it('does not join a record with one whose buffer the watermark has cleaned', () => {
    const r = runChecked({ lower: -2, upper: 3 }, [L('l10', 10), W(13), R('r13', 13)])
    expect(r.out).toEqual([])
  })
})

describe('IntervalJoinOperator: context and errors', () => {
  it('gives the key and side outputs to the join function (object form)', () => {
    const big = new OutputTag<string>('big-gap')
    const fn: ProcessJoinFunction<Side, Side, Joined, string> = {
      processElement(l, r, ctx, out) {
        if (Math.abs(ctx.leftTimestamp() - ctx.rightTimestamp()) > 2) ctx.output(big, `${ctx.getCurrentKey()}:${l.id}-${r.id}@${ctx.timestamp()}`)
        else out.collect({ l: l.id, r: r.id, lt: ctx.leftTimestamp(), rt: ctx.rightTimestamp() })
      },
    }
    let h = harness({ lower: -5, upper: 5, fn })
    h.processElement({ key: 'u1', id: 'a' }, 10)
    h = h.snapshotAndRestore()
    h.processElement2({ key: 'u1', id: 'b' }, 11).processElement2({ key: 'u1', id: 'c' }, 14)
    expect(h.getSideOutput(big)).toEqual(['u1:a-c@14'])
    expect(h.extractOutputValues()).toEqual([{ l: 'a', r: 'b', lt: 10, rt: 11 }])
  })

  it('fails with FLX_MISSING_TIMESTAMP on a record without timestamp on either input', () => {
    const h = harness({ lower: 0, upper: 1, name: 'join' })
    const e1 = thrown(() => h.processElement({ key: 'k', id: 'l' }))
    expect(e1.code).toBe('FLX_MISSING_TIMESTAMP')
    expect(e1.operator).toBe('join')
    expect(thrown(() => h.processElement2({ key: 'k', id: 'r' })).code).toBe('FLX_MISSING_TIMESTAMP')
  })

  it('wraps a throwing join function in FLX_USER_FUNCTION_FAILED with operator and key', () => {
    let h = harness({
      lower: -1,
      upper: 1,
      name: 'joiner',
      fn: (l) => {
        throw new RangeError(`cannot join ${l.id}`)
      },
    })
    h.processElement({ key: 'acct-7', id: 'l1' }, 5)
    h = h.snapshotAndRestore()
    const e = thrown(() => h.processElement2({ key: 'acct-7', id: 'r1' }, 5))
    expect(e.code).toBe('FLX_USER_FUNCTION_FAILED')
    expect(e.operator).toBe('joiner')
    expect(e.key).toBe('acct-7')
    expect(e.message).toContain('"acct-7"')
    expect(e.cause).toBeInstanceOf(RangeError)
  })
})

// --- property against a reference model --------------------------------------------------------

interface ModelEntry {
  key: string
  id: string
  ts: number
  cleanup: number
}

/** Flink's IntervalJoinOperator, written as plainly as possible. */
function model(b: Bounds, steps: readonly Step[]) {
  let watermark = Number.NEGATIVE_INFINITY
  let lefts: ModelEntry[] = []
  let rights: ModelEntry[] = []
  const out: string[] = []
  const leftLate: Side[] = []
  const rightLate: Side[] = []
  for (const s of steps) {
    if ('wm' in s) {
      lefts = lefts.filter((e) => e.cleanup > s.wm)
      rights = rights.filter((e) => e.cleanup > s.wm)
      watermark = s.wm
    } else if ('left' in s) {
      if (s.ts < watermark) {
        if (b.leftLate) leftLate.push(s.left)
        continue
      }
      for (const r of rights) if (r.key === s.left.key && s.ts + b.lower <= r.ts && r.ts <= s.ts + b.upper) out.push(`${s.left.id}-${r.id}@${Math.max(s.ts, r.ts)}`)
      lefts.push({ ...s.left, ts: s.ts, cleanup: s.ts + Math.max(0, b.upper) })
    } else if ('right' in s) {
      if (s.ts < watermark) {
        if (b.rightLate) rightLate.push(s.right)
        continue
      }
      for (const l of lefts) if (l.key === s.right.key && l.ts + b.lower <= s.ts && s.ts <= l.ts + b.upper) out.push(`${l.id}-${s.right.id}@${Math.max(s.ts, l.ts)}`)
      rights.push({ ...s.right, ts: s.ts, cleanup: s.ts + Math.max(0, -b.lower) })
    }
  }
  return { out: out.sort(), leftLate, rightLate }
}

describe('IntervalJoinOperator: property', () => {
  it('equals the reference model for random bounds and in-order watermarks, with and without restores', () => {
    const bounds = fc
      .tuple(fc.integer({ min: -15, max: 15 }), fc.integer({ min: 0, max: 20 }), fc.boolean())
      .map(([lower, width, tags]) => ({ lower, upper: lower + width, tags }))
    const raw = fc.array(
      fc.oneof(
        { weight: 4, arbitrary: fc.record({ kind: fc.constantFrom('left' as const, 'right' as const), key: fc.constantFrom('a', 'b'), delta: fc.integer({ min: -10, max: 25 }) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('wm' as const), adv: fc.integer({ min: 0, max: 12 }), restore: fc.boolean() }) },
      ),
      { maxLength: 50 },
    )
    fc.assert(
      fc.property(bounds, raw, (bd, rs) => {
        const b: Bounds = { lower: bd.lower, upper: bd.upper, leftLate: bd.tags ? new OutputTag('ll') : undefined, rightLate: bd.tags ? new OutputTag('rl') : undefined }
        let cursor = -20
        let n = 0
        const steps: Step[] = []
        for (const r of rs) {
          if (r.kind === 'wm') {
            cursor += r.adv
            steps.push(W(cursor))
            // Restore right after a watermark: re-sending it then changes nothing.
            if (r.restore) steps.push({ restore: true })
          } else steps.push(r.kind === 'left' ? L(`l${n++}`, cursor + r.delta, r.key) : R(`r${n++}`, cursor + r.delta, r.key))
        }
        steps.push(W(Number.POSITIVE_INFINITY))
        const expected = model(b, steps)
        const plain = run(b, steps.filter((s) => !('restore' in s)))
        const restored = run(b, steps)
        for (const got of [plain, restored]) {
          expect(pairs(got)).toEqual(expected.out)
          expect(got.leftLate).toEqual(expected.leftLate)
          expect(got.rightLate).toEqual(expected.rightLate)
          expect(got.stateSize).toBe(0)
        }
        expect(restored.out).toEqual(plain.out)
      }),
      { numRuns: 200 },
    )
  })
})
