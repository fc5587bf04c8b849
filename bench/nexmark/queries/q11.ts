/**
 * Nexmark q11, user sessions: bids per bidder and session (gap 10 s).
 *
 *   SELECT B.bidder, count(*) AS bid_count,
 *          SESSION_START(B.dateTime, INTERVAL '10' SECOND) AS starttime,
 *          SESSION_END(B.dateTime, INTERVAL '10' SECOND) AS endtime
 *   FROM bid B GROUP BY B.bidder, SESSION(B.dateTime, INTERVAL '10' SECOND)
 */
import { EventTimeSessionWindows } from '../../../index.ts'
import type { DataStream, StreamExecutionEnvironment } from '../../../index.ts'
import type { NexmarkEvent } from '../model.ts'
import { bids, COUNT, type NexmarkQuery } from './common.ts'

export interface BidderCount {
  bidder: number
  bid_count: number
  starttime: number
  endtime: number
}

export function q11(_env: StreamExecutionEnvironment, events: DataStream<NexmarkEvent>): DataStream<BidderCount> {
  return bids(events)
    .keyBy((b) => b.bidder, 'q11-keyBy-bidder')
    .window(EventTimeSessionWindows.withGap(10_000))
    .aggregate(COUNT, (bidder, w, n): BidderCount => ({ bidder, bid_count: n, starttime: w.start, endtime: w.end }))
}

export const Q11: NexmarkQuery<BidderCount> = { name: 'q11', latency: 'watermark', build: q11 }
