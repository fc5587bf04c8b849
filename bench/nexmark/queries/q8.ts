/**
 * Nexmark q8, monitor new users: people who created an auction in the 10 s window they registered in.
 *
 *   SELECT P.id, P.name, P.starttime FROM
 *     (SELECT id, name, window_start AS starttime, window_end AS endtime
 *      FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
 *      GROUP BY id, name, window_start, window_end) P
 *   JOIN (SELECT seller, window_start AS starttime, window_end AS endtime
 *      FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
 *      GROUP BY seller, window_start, window_end) A
 *   ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime
 *
 * The auctions' GROUP BY is a tumbling window per seller (one row per seller and window, with
 * timestamp window_end − 1, so it stays in its window); then a tumbling 10 s window join with the
 * persons. Person ids are unique, so P's GROUP BY changes nothing and is left out.
 */
import { TumblingEventTimeWindows } from '../../../index.ts'
import type { AggregateFunction, DataStream, StreamExecutionEnvironment } from '../../../index.ts'
import type { NexmarkEvent } from '../model.ts'
import { auctions, persons, type NexmarkQuery } from './common.ts'

const WINDOW_MS = 10_000

export interface Q8Row {
  id: number
  name: string
  stime: number
}

interface SellerWindow {
  seller: number
  start: number
}

const ANY: AggregateFunction<unknown, number, number> = {
  createAccumulator: () => 0,
  add: () => 0,
  getResult: () => 0,
  merge: () => 0,
}

export function q8(_env: StreamExecutionEnvironment, events: DataStream<NexmarkEvent>): DataStream<Q8Row> {
  const sellers = auctions(events)
    .keyBy((a) => a.seller, 'q8-keyBy-seller')
    .window(TumblingEventTimeWindows.of(WINDOW_MS))
    .aggregate(ANY, (seller, w): SellerWindow => ({ seller, start: w.start }))
  return persons(events)
    .join(sellers)
    .where((p) => p.id)
    .equalTo((s) => s.seller)
    .window(TumblingEventTimeWindows.of(WINDOW_MS))
    .apply((p, s): Q8Row => ({ id: p.id, name: p.name, stime: s.start }), 'q8-join')
}

export const Q8: NexmarkQuery<Q8Row> = { name: 'q8', latency: 'watermark', build: q8 }
