/**
 * Nexmark q2, selection: SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0.
 */
import type { DataStream, StreamExecutionEnvironment } from '../../../index.ts'
import type { NexmarkEvent } from '../model.ts'
import { bids, type NexmarkQuery } from './common.ts'

export interface Q2Row {
  auction: number
  price: number
}

export function q2(_env: StreamExecutionEnvironment, events: DataStream<NexmarkEvent>): DataStream<Q2Row> {
  return bids(events)
    .filter((b) => b.auction % 123 === 0, 'q2-select')
    .map((b) => ({ auction: b.auction, price: b.price }), 'q2-project')
}

export const Q2: NexmarkQuery<Q2Row> = { name: 'q2', latency: 'record', build: q2 }
