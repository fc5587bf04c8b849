/**
 * Join builders: window joins (a.join(b).where(ka).equalTo(kb).window(w).apply(fn)) and interval
 * joins (a.keyBy(k).intervalJoin(b.keyBy(k)).between(lo, hi).process(fn)).
 */
import { FluxionError } from '../errors.ts'
import { Transformation } from '../graph/transformation.ts'
import type { OutputTag } from '../output-tag.ts'
import { IntervalJoinOperator, type ProcessJoinFunction } from '../../operators/join/interval-join.ts'
import type { WindowAssigner } from '../../operators/window/assigners.ts'
import type { Trigger } from '../../operators/window/triggers.ts'
import { DataStream, type KeyedStream, type KeySelector } from './data-stream.ts'

interface Tagged<A, B> {
  side: 0 | 1
  value: A | B
}

export class JoinBuilder<A, B> {
  constructor(
    private readonly left: DataStream<A>,
    private readonly right: DataStream<B>,
  ) {}

  where<K>(leftKey: KeySelector<A, K>): { equalTo(rightKey: KeySelector<B, K>): JoinWhereEqual<A, B, K> } {
    return { equalTo: (rightKey) => new JoinWhereEqual<A, B, K>(this.left, this.right, leftKey, rightKey) }
  }
}

export class JoinWhereEqual<A, B, K> {
  constructor(
    private readonly left: DataStream<A>,
    private readonly right: DataStream<B>,
    private readonly leftKey: KeySelector<A, K>,
    private readonly rightKey: KeySelector<B, K>,
  ) {}

  window(assigner: WindowAssigner<Tagged<A, B>>): WindowedJoin<A, B, K> {
    return new WindowedJoin<A, B, K>(this.left, this.right, this.leftKey, this.rightKey, assigner)
  }
}

/**
 * A window join is a co-group: both inputs are tagged, unioned, keyed and windowed; when a window
 * fires, every left record is paired with every right record of the same key in that window.
 */
export class WindowedJoin<A, B, K> {
  private customTrigger: Trigger<Tagged<A, B>> | undefined
  private lateness = 0

  constructor(
    private readonly left: DataStream<A>,
    private readonly right: DataStream<B>,
    private readonly leftKey: KeySelector<A, K>,
    private readonly rightKey: KeySelector<B, K>,
    private readonly assigner: WindowAssigner<Tagged<A, B>>,
  ) {}

  trigger(trigger: Trigger<Tagged<A, B>>): this {
    this.customTrigger = trigger
    return this
  }

  allowedLateness(ms: number): this {
    this.lateness = ms
    return this
  }

  apply<OUT>(fn: (left: A, right: B) => OUT, name = 'window-join'): DataStream<OUT> {
    if (typeof fn !== 'function') throw new FluxionError('FLX_INVALID_TOPOLOGY', 'apply(...) needs a join function (left, right) => output')
    const { leftKey, rightKey } = this
    const taggedLeft = this.left.map((value): Tagged<A, B> => ({ side: 0, value }), `${name}-tag-left`)
    const taggedRight = this.right.map((value): Tagged<A, B> => ({ side: 1, value }), `${name}-tag-right`)
    let windowed = taggedLeft
      .union(taggedRight)
      .keyBy((t) => (t.side === 0 ? leftKey(t.value as A) : rightKey(t.value as B)), `${name}-keyBy`)
      .window(this.assigner)
      .allowedLateness(this.lateness)
    if (this.customTrigger) windowed = windowed.trigger(this.customTrigger)
    return windowed
      .process<OUT>((_key, _ctx, elements, out) => {
        const lefts: A[] = []
        const rights: B[] = []
        for (const e of elements) {
          if (e.side === 0) lefts.push(e.value as A)
          else rights.push(e.value as B)
        }
        for (const l of lefts) for (const r of rights) out.collect(fn(l, r))
      })
      .name(name)
  }
}

export class IntervalJoinBuilder<A, B, K> {
  constructor(
    private readonly left: KeyedStream<A, K>,
    private readonly right: KeyedStream<B, K>,
  ) {}

  /** Joins when left.ts + lowerBound <= right.ts <= left.ts + upperBound (inclusive). */
  between(lowerBound: number, upperBound: number): IntervalJoined<A, B, K> {
    if (!Number.isFinite(lowerBound) || !Number.isFinite(upperBound) || lowerBound > upperBound) {
      throw new FluxionError('FLX_INVALID_CONFIG', `intervalJoin.between(lower, upper) needs finite bounds with lower <= upper, got (${lowerBound}, ${upperBound})`)
    }
    return new IntervalJoined<A, B, K>(this.left, this.right, lowerBound, upperBound)
  }
}

export class IntervalJoined<A, B, K> {
  private lowerExclusive = false
  private upperExclusive = false
  private leftLate: OutputTag<A> | undefined
  private rightLate: OutputTag<B> | undefined

  constructor(
    private readonly left: KeyedStream<A, K>,
    private readonly right: KeyedStream<B, K>,
    private readonly lowerBound: number,
    private readonly upperBound: number,
  ) {}

  lowerBoundExclusive(): this {
    this.lowerExclusive = true
    return this
  }

  upperBoundExclusive(): this {
    this.upperExclusive = true
    return this
  }

  sideOutputLeftLateData(tag: OutputTag<A>): this {
    this.leftLate = tag
    return this
  }

  sideOutputRightLateData(tag: OutputTag<B>): this {
    this.rightLate = tag
    return this
  }

  process<OUT>(fn: ProcessJoinFunction<A, B, OUT, K>, name = 'interval-join'): DataStream<OUT> {
    const lowerBound = this.lowerExclusive ? this.lowerBound + 1 : this.lowerBound
    const upperBound = this.upperExclusive ? this.upperBound - 1 : this.upperBound
    // As in Flink, between(x, x) with an exclusive bound is accepted and joins nothing.
    const options = { lowerBound, upperBound, leftLateTag: this.leftLate, rightLateTag: this.rightLate }
    const t = Transformation.operator(name, [this.left.transformation, this.right.transformation], () => new IntervalJoinOperator<K, A, B, OUT>(fn, options), {
      keyed: true,
    })
    // The join function's context has output(tag, value): any side output may be produced.
    t.sideOutputs = 'any'
    return new DataStream<OUT>(this.left.env, t)
  }
}
