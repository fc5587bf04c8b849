/**
 * Nexmark q0, pass-through: SELECT auction, bidder, price, dateTime, extra FROM bid.
 */
import type { DataStream, StreamExecutionEnvironment } from '../../../index.ts'
import type { NexmarkEvent } from '../model.ts'
import { bidRow, bids, type BidRow, type NexmarkQuery } from './common.ts'

export function q0(_env: StreamExecutionEnvironment, events: DataStream<NexmarkEvent>): DataStream<BidRow> {
  return bids(events).map(bidRow, 'q0-project')
}

export const Q0: NexmarkQuery<BidRow> = { name: 'q0', latency: 'record', build: q0 }
