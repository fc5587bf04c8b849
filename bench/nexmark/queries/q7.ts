/**
 * Nexmark q7, highest bid: the bids whose price is the highest of their 10 s window.
 *
 *   SELECT B.auction, B.bidder, B.price, B.dateTime, B.extra FROM bid B
 *   JOIN (SELECT MAX(price) AS maxprice, window_end AS dateTime
 *         FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
 *         GROUP BY window_start, window_end) B1
 *   ON B.price = B1.maxprice
 *   WHERE B.dateTime BETWEEN B1.dateTime - INTERVAL '10' SECOND AND B1.dateTime
 *
 * The max is computed and joined back with a combiner, so bids are not kept for the join:
 *  1. bids keyed by auction, tumbling 10 s windows: per auction and window the highest price,
 *     the bids with that price, and the bids at exactly the window's start (BETWEEN is inclusive:
 *     a bid at window_end also joins the window that ends there);
 *  2. keyed by nothing (one key), per window end: merge the auctions' partials when the watermark
 *     passes the window; emit the window's bids at its max price, and its start bids whose price is
 *     the max of the window that ended at its start, if that window had bids.
 */
import { MapStateDescriptor, TumblingEventTimeWindows, ValueStateDescriptor } from '../../../index.ts'
import type {
  AggregateFunction,
  Collector,
  DataStream,
  KeyedProcessContext,
  KeyedProcessFunction,
  MapState,
  OnTimerContext,
  RuntimeContext,
  StreamExecutionEnvironment,
  ValueState,
} from '../../../index.ts'
import type { Bid, NexmarkEvent } from '../model.ts'
import { bidRow, bids, type BidRow, type NexmarkQuery } from './common.ts'

const WINDOW_MS = 10_000

interface Partial {
  max: number
  /** Bids priced `max`. */
  top: Bid[]
  /** Bids at the window's first millisecond. */
  starts: Bid[]
}

interface WindowPartial extends Partial {
  end: number
}

const MAX_WITH_TIES: AggregateFunction<Bid, Partial, Partial> = {
  createAccumulator: () => ({ max: -1, top: [], starts: [] }),
  add(b, acc) {
    if (b.price > acc.max) {
      acc.max = b.price
      acc.top = [b]
    } else if (b.price === acc.max) {
      acc.top.push(b)
    }
    if (b.dateTime % WINDOW_MS === 0) acc.starts.push(b)
    return acc
  },
  getResult: (acc) => acc,
  merge: (a, b) => mergePartials(a, b),
}

function mergePartials(a: Partial, b: Partial): Partial {
  const top = a.max === b.max ? [...a.top, ...b.top] : a.max > b.max ? a.top : b.top
  return { max: Math.max(a.max, b.max), top, starts: [...a.starts, ...b.starts] }
}

interface LastWindow {
  end: number
  max: number
}

class JoinHighest implements KeyedProcessFunction<number, WindowPartial, BidRow> {
  private partials!: MapState<number, Partial>
  private last!: ValueState<LastWindow>

  open(ctx: RuntimeContext): void {
    this.partials = ctx.getMapState(new MapStateDescriptor<number, Partial>('q7-partials'))
    this.last = ctx.getState(new ValueStateDescriptor<LastWindow>('q7-last-window'))
  }

  processElement(p: WindowPartial, ctx: KeyedProcessContext<number>): void {
    const seen = this.partials.get(p.end)
    this.partials.put(p.end, seen === undefined ? { max: p.max, top: p.top, starts: p.starts } : mergePartials(seen, p))
    ctx.timerService().registerEventTimeTimer(p.end - 1)
  }

  onTimer(timestamp: number, _ctx: OnTimerContext<number>, out: Collector<BidRow>): void {
    const end = timestamp + 1
    const p = this.partials.get(end)
    if (p === undefined) return
    this.partials.remove(end)
    for (const b of p.top) out.collect(bidRow(b))
    const last = this.last.value()
    if (last !== undefined && last.end === end - WINDOW_MS) {
      for (const b of p.starts) if (b.price === last.max) out.collect(bidRow(b))
    }
    this.last.update({ end, max: p.max })
  }
}

export function q7(_env: StreamExecutionEnvironment, events: DataStream<NexmarkEvent>): DataStream<BidRow> {
  return bids(events)
    .keyBy((b) => b.auction, 'q7-keyBy-auction')
    .window(TumblingEventTimeWindows.of(WINDOW_MS))
    .aggregate(MAX_WITH_TIES, (_auction, w, p): WindowPartial => ({ end: w.end, max: p.max, top: p.top, starts: p.starts }))
    .keyBy(() => 0, 'q7-keyBy-all')
    .process(new JoinHighest(), 'q7-join-highest')
}

export const Q7: NexmarkQuery<BidRow> = { name: 'q7', latency: 'watermark', build: q7 }
