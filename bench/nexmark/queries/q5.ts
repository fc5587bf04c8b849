/**
 * Nexmark q5, hot items: the auctions with the most bids in each hop window of 10 s every 2 s.
 *
 *   SELECT AuctionBids.auction, AuctionBids.num FROM (
 *     SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
 *     FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
 *     GROUP BY auction, window_start, window_end) AS AuctionBids
 *   JOIN (SELECT max(num) AS maxn, starttime, endtime FROM (…the same counts…) GROUP BY starttime, endtime) AS MaxBids
 *   ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
 *      AND AuctionBids.num >= MaxBids.maxn
 *
 *  1. bids keyed by auction, sliding windows (10 s, 2 s), count — sliced, as Flink SQL runs HOP
 *     windows: one count per auction and 2 s slice, each window the sum of its 5 slices;
 *  2. the counts keyed by window end, in tumbling 2 s windows (a count of window [s, e) has
 *     timestamp e − 1, so each window's counts fall in one 2 s window): the highest count and every
 *     auction that has it (ties all qualify, as num >= maxn).
 */
import { SlidingEventTimeWindows, TumblingEventTimeWindows } from '../../../index.ts'
import type { AggregateFunction, DataStream, StreamExecutionEnvironment } from '../../../index.ts'
import type { NexmarkEvent } from '../model.ts'
import { bids, COUNT, type NexmarkQuery } from './common.ts'

export interface Q5Row {
  auction: number
  num: number
}

interface AuctionCount {
  auction: number
  num: number
  end: number
}

interface HottestAccumulator {
  max: number
  auctions: number[]
}

const HOTTEST: AggregateFunction<AuctionCount, HottestAccumulator, HottestAccumulator> = {
  createAccumulator: () => ({ max: 0, auctions: [] }),
  add(c, acc) {
    if (c.num > acc.max) {
      acc.max = c.num
      acc.auctions = [c.auction]
    } else if (c.num === acc.max) {
      acc.auctions.push(c.auction)
    }
    return acc
  },
  getResult: (acc) => acc,
  merge(a, b) {
    if (a.max !== b.max) return a.max > b.max ? a : b
    return { max: a.max, auctions: [...a.auctions, ...b.auctions] }
  },
}

export function q5(_env: StreamExecutionEnvironment, events: DataStream<NexmarkEvent>): DataStream<Q5Row> {
  return bids(events)
    .keyBy((b) => b.auction, 'q5-keyBy-auction')
    .window(SlidingEventTimeWindows.of(10_000, 2_000))
    .sliced()
    .aggregate(COUNT, (auction, w, num): AuctionCount => ({ auction, num, end: w.end }))
    .keyBy((c) => c.end, 'q5-keyBy-window')
    .window(TumblingEventTimeWindows.of(2_000))
    .aggregate(HOTTEST)
    .flatMap<Q5Row>((h, out) => {
      for (const auction of h.auctions) out.collect({ auction, num: h.max })
    }, 'q5-hot-items')
}

export const Q5: NexmarkQuery<Q5Row> = { name: 'q5', latency: 'watermark', build: q5 }
