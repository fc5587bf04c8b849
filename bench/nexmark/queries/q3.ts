/**
 * Nexmark q3, local item suggestion (an incremental join):
 *
 *   SELECT P.name, P.city, P.state, A.id
 *   FROM auction AS A INNER JOIN person AS P ON A.seller = P.id
 *   WHERE A.category = 10 AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')
 *
 * Keyed by person id: the person's (name, city, state) is kept for good, as a regular SQL join
 * keeps its input; auctions that arrive before their seller wait in a list until the seller
 * arrives (person ids are unique, so an auction never needs to be kept after its match).
 */
import { ListStateDescriptor, ValueStateDescriptor } from '../../../index.ts'
import type { Collector, DataStream, KeyedProcessContext, KeyedProcessFunction, ListState, RuntimeContext, StreamExecutionEnvironment, ValueState } from '../../../index.ts'
import type { Auction, NexmarkEvent, Person } from '../model.ts'
import type { NexmarkQuery } from './common.ts'

export interface Q3Row {
  name: string
  city: string
  state: string
  id: number
}

interface Seller {
  name: string
  city: string
  state: string
}

const LOCAL_STATES = new Set(['OR', 'ID', 'CA'])

class Q3Join implements KeyedProcessFunction<number, Person | Auction, Q3Row> {
  private seller!: ValueState<Seller>
  private waiting!: ListState<number>

  open(ctx: RuntimeContext): void {
    this.seller = ctx.getState(new ValueStateDescriptor<Seller>('q3-seller'))
    this.waiting = ctx.getListState(new ListStateDescriptor<number>('q3-waiting-auctions'))
  }

  processElement(e: Person | Auction, _ctx: KeyedProcessContext<number>, out: Collector<Q3Row>): void {
    if (e.kind === 'person') {
      const s: Seller = { name: e.name, city: e.city, state: e.state }
      this.seller.update(s)
      const waiting = this.waiting.get()
      if (waiting.length > 0) {
        for (const id of waiting) out.collect({ name: s.name, city: s.city, state: s.state, id })
        this.waiting.clear()
      }
    } else {
      const s = this.seller.value()
      if (s !== undefined) out.collect({ name: s.name, city: s.city, state: s.state, id: e.id })
      else this.waiting.add(e.id)
    }
  }
}

export function q3(_env: StreamExecutionEnvironment, events: DataStream<NexmarkEvent>): DataStream<Q3Row> {
  return (
    events
      .filter((e) => (e.kind === 'auction' && e.category === 10) || (e.kind === 'person' && LOCAL_STATES.has(e.state)), 'q3-filter')
      // The filter leaves persons and auctions only.
      .keyBy((e) => (e.kind === 'person' ? e.id : (e as Auction).seller), 'q3-keyBy-person')
      .process(new Q3Join() as KeyedProcessFunction<number, NexmarkEvent, Q3Row>, 'q3-join')
  )
}

export const Q3: NexmarkQuery<Q3Row> = { name: 'q3', latency: 'record', build: q3 }
