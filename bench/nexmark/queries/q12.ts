/**
 * Nexmark q12, processing-time windows: bids per bidder in tumbling 10 s windows of processing time.
 *
 *   SELECT bidder, count(*) AS bid_count, window_start AS starttime, window_end AS endtime
 *   FROM TABLE(TUMBLE(TABLE B, DESCRIPTOR(p_time), INTERVAL '10' SECOND))   -- p_time = PROCTIME()
 *   GROUP BY bidder, window_start, window_end
 *
 * The benchmark runs it in processing time, as Nexmark does (windows still open when a bounded run
 * ends never fire, in Fluxion as in Flink). Processing time depends on the machine, so the
 * correctness test runs the same job with event-time windows (`q12TimeDomain: 'event'`).
 */
import { TumblingEventTimeWindows, TumblingProcessingTimeWindows } from '../../../index.ts'
import type { DataStream, StreamExecutionEnvironment } from '../../../index.ts'
import type { NexmarkEvent } from '../model.ts'
import { bids, COUNT, type NexmarkQuery, type QueryOptions } from './common.ts'
import type { BidderCount } from './q11.ts'

export function q12(_env: StreamExecutionEnvironment, events: DataStream<NexmarkEvent>, options: QueryOptions = {}): DataStream<BidderCount> {
  const windows = options.q12TimeDomain === 'event' ? TumblingEventTimeWindows.of(10_000) : TumblingProcessingTimeWindows.of(10_000)
  return bids(events)
    .keyBy((b) => b.bidder, 'q12-keyBy-bidder')
    .window(windows)
    .aggregate(COUNT, (bidder, w, n): BidderCount => ({ bidder, bid_count: n, starttime: w.start, endtime: w.end }))
}

export const Q12: NexmarkQuery<BidderCount> = { name: 'q12', latency: 'processing', build: q12 }
