/**
 * What the Nexmark queries share: narrowing the event stream to one kind, and a count aggregate.
 */
import type { AggregateFunction, DataStream, StreamExecutionEnvironment } from '../../../index.ts'
import { isAuction, isBid, isPerson, type Auction, type Bid, type NexmarkEvent, type Person } from '../model.ts'

/** The bids of the event stream (`isBid` is a type guard, so the filter narrows the type). */
export function bids(events: DataStream<NexmarkEvent>): DataStream<Bid> {
  return events.filter(isBid, 'bids')
}

export function auctions(events: DataStream<NexmarkEvent>): DataStream<Auction> {
  return events.filter(isAuction, 'auctions')
}

export function persons(events: DataStream<NexmarkEvent>): DataStream<Person> {
  return events.filter(isPerson, 'persons')
}

/** COUNT(*) as an AggregateFunction. */
export const COUNT: AggregateFunction<unknown, number, number> = {
  createAccumulator: () => 0,
  add: (_value, acc) => acc + 1,
  getResult: (acc) => acc,
  merge: (a, b) => a + b,
}

/** The bid columns Nexmark's q0 and q7 return. */
export interface BidRow {
  auction: number
  bidder: number
  price: number
  dateTime: number
  extra: string
}

export function bidRow(b: Bid): BidRow {
  return { auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime, extra: b.extra }
}

/**
 * How the benchmark measures a query's latency (bench/nexmark/README.md):
 *  - 'record': an output carries the event time of the event it came from; latency counts from the
 *    moment the sources first reached that event time;
 *  - 'watermark': an output is a window or timer result with timestamp T; it can only appear once
 *    the watermark passed T, i.e. once the sources reached event time T + 1 + 4 s; latency counts
 *    from then;
 *  - 'processing': processing-time windows; latency counts from the end of the window.
 */
export type LatencyMode = 'record' | 'watermark' | 'processing'

export interface QueryOptions {
  /** q12 only: 'processing' (Nexmark's, the benchmark's) or 'event' time windows (deterministic, for tests). */
  q12TimeDomain?: 'processing' | 'event'
}

export interface NexmarkQuery<OUT = unknown> {
  readonly name: string
  readonly latency: LatencyMode
  build(env: StreamExecutionEnvironment, events: DataStream<NexmarkEvent>, options?: QueryOptions): DataStream<OUT>
}
