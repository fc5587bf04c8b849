/**
 * Nexmark q4, average price for a category:
 *
 *   SELECT Q.category, AVG(Q.final) FROM (
 *     SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
 *     WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
 *     GROUP BY A.id, A.category) Q
 *   GROUP BY Q.category
 *
 * As an event-time job (Nexmark's original q4 closes an auction when it expires):
 *  1. keyed by auction id: the auction's highest bid within [dateTime, expires]; when the watermark
 *     passes `expires` the auction closes and emits (auction, category, final, expires) if it had a
 *     bid (inner join). Bids that arrive before their auction wait until the watermark passes their
 *     own time: an auction that has not arrived by then starts later, so they cannot match. A closed
 *     auction keeps a flag so that later bids for it are dropped at once.
 *  2. keyed by category: AVG over the closed auctions (BIGINT average: truncated, as Flink SQL's
 *     AVG of BIGINT), updated in event-time order (expires, then auction id), one output row per
 *     closed auction — the changelog of the SQL query's result, without retractions. The last row
 *     of a category is the SQL result.
 */
import { ListStateDescriptor, ValueStateDescriptor } from '../../../index.ts'
import type { Collector, DataStream, KeyedProcessContext, KeyedProcessFunction, ListState, OnTimerContext, RuntimeContext, StreamExecutionEnvironment, ValueState } from '../../../index.ts'
import type { Auction, Bid, NexmarkEvent } from '../model.ts'
import type { NexmarkQuery } from './common.ts'

export interface Q4Row {
  id: number
  final: number
}

export interface ClosedAuction {
  auction: number
  category: number
  final: number
  expires: number
}

interface OpenAuction {
  dateTime: number
  expires: number
  category: number
  /** Highest bid price in range so far, -1 for none. */
  max: number
}

interface EarlyBid {
  dateTime: number
  price: number
}

class WinningBids implements KeyedProcessFunction<number, Auction | Bid, ClosedAuction> {
  private open_!: ValueState<OpenAuction>
  private closed!: ValueState<boolean>
  private early!: ListState<EarlyBid>

  open(ctx: RuntimeContext): void {
    this.open_ = ctx.getState(new ValueStateDescriptor<OpenAuction>('q4-auction'))
    this.closed = ctx.getState(new ValueStateDescriptor<boolean>('q4-closed'))
    this.early = ctx.getListState(new ListStateDescriptor<EarlyBid>('q4-early-bids'))
  }

  processElement(e: Auction | Bid, ctx: KeyedProcessContext<number>, _out: Collector<ClosedAuction>): void {
    if (e.kind === 'auction') {
      let max = -1
      const early = this.early.get()
      if (early.length > 0) {
        for (const b of early) if (b.dateTime >= e.dateTime && b.dateTime <= e.expires && b.price > max) max = b.price
        this.early.clear()
      }
      this.open_.update({ dateTime: e.dateTime, expires: e.expires, category: e.category, max })
      ctx.timerService().registerEventTimeTimer(e.expires)
      return
    }
    const a = this.open_.value()
    if (a !== undefined) {
      if (e.dateTime >= a.dateTime && e.dateTime <= a.expires && e.price > a.max) {
        a.max = e.price
        this.open_.update(a)
      }
    } else if (this.closed.value() !== true) {
      this.early.add({ dateTime: e.dateTime, price: e.price })
      ctx.timerService().registerEventTimeTimer(e.dateTime)
    }
  }

  onTimer(timestamp: number, _ctx: OnTimerContext<number>, out: Collector<ClosedAuction>): void {
    const a = this.open_.value()
    if (a !== undefined) {
      if (timestamp !== a.expires) return
      if (a.max >= 0) out.collect({ auction: _ctx.getCurrentKey(), category: a.category, final: a.max, expires: a.expires })
      this.open_.clear()
      this.closed.update(true)
      return
    }
    const early = this.early.get()
    if (early.length === 0) return
    const keep = early.filter((b) => b.dateTime > timestamp)
    if (keep.length === 0) this.early.clear()
    else this.early.update(keep)
  }
}

interface CategoryAverage {
  sum: number
  count: number
}

class AveragePerCategory implements KeyedProcessFunction<number, ClosedAuction, Q4Row> {
  private pending!: ListState<ClosedAuction>
  private avg!: ValueState<CategoryAverage>

  open(ctx: RuntimeContext): void {
    this.pending = ctx.getListState(new ListStateDescriptor<ClosedAuction>('q4-pending'))
    this.avg = ctx.getState(new ValueStateDescriptor<CategoryAverage>('q4-average'))
  }

  processElement(c: ClosedAuction, ctx: KeyedProcessContext<number>): void {
    this.pending.add(c)
    ctx.timerService().registerEventTimeTimer(c.expires)
  }

  onTimer(timestamp: number, ctx: OnTimerContext<number>, out: Collector<Q4Row>): void {
    const pending = this.pending.get()
    const ready = pending.filter((c) => c.expires <= timestamp).sort((x, y) => x.expires - y.expires || x.auction - y.auction)
    if (ready.length === 0) return
    const rest = pending.filter((c) => c.expires > timestamp)
    if (rest.length === 0) this.pending.clear()
    else this.pending.update(rest)
    const avg = this.avg.value() ?? { sum: 0, count: 0 }
    const category = ctx.getCurrentKey()
    for (const c of ready) {
      avg.sum += c.final
      avg.count++
      out.collect({ id: category, final: Math.trunc(avg.sum / avg.count) })
    }
    this.avg.update(avg)
  }
}

export function q4(_env: StreamExecutionEnvironment, events: DataStream<NexmarkEvent>): DataStream<Q4Row> {
  return events
    .filter((e) => e.kind !== 'person', 'q4-auctions-and-bids')
    .keyBy((e) => (e.kind === 'bid' ? e.auction : (e as Auction).id), 'q4-keyBy-auction')
    .process(new WinningBids() as KeyedProcessFunction<number, NexmarkEvent, ClosedAuction>, 'q4-winning-bids')
    .keyBy((c) => c.category, 'q4-keyBy-category')
    .process(new AveragePerCategory(), 'q4-average')
}

export const Q4: NexmarkQuery<Q4Row> = { name: 'q4', latency: 'watermark', build: q4 }
