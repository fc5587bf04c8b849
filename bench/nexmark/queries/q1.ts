/**
 * Nexmark q1, currency conversion: SELECT auction, bidder, 0.908 * price AS price, dateTime, extra FROM bid.
 * The price is computed as price * 908 / 1000 (exact product, one rounding), the same in the Java peer.
 */
import type { DataStream, StreamExecutionEnvironment } from '../../../index.ts'
import type { NexmarkEvent } from '../model.ts'
import { bids, type BidRow, type NexmarkQuery } from './common.ts'

export function dollarsToEuros(price: number): number {
  return (price * 908) / 1000
}

export function q1(_env: StreamExecutionEnvironment, events: DataStream<NexmarkEvent>): DataStream<BidRow> {
  return bids(events).map((b) => ({ auction: b.auction, bidder: b.bidder, price: dollarsToEuros(b.price), dateTime: b.dateTime, extra: b.extra }), 'q1-convert')
}

export const Q1: NexmarkQuery<BidRow> = { name: 'q1', latency: 'record', build: q1 }
