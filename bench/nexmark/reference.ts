/**
 * Plain reference computations of the Nexmark queries over a list of events: what each query's SQL
 * returns on a bounded input, computed with arrays and maps (no engine). The tests compare the
 * Fluxion jobs with these as multisets.
 */
import type { Auction, Bid, NexmarkEvent, Person } from './model.ts'
import type { BidRow } from './queries/common.ts'
import { dollarsToEuros } from './queries/q1.ts'
import type { Q2Row } from './queries/q2.ts'
import type { Q3Row } from './queries/q3.ts'
import type { Q4Row } from './queries/q4.ts'
import type { Q5Row } from './queries/q5.ts'
import type { Q8Row } from './queries/q8.ts'
import type { BidderCount } from './queries/q11.ts'

const bidsOf = (events: readonly NexmarkEvent[]): Bid[] => events.filter((e): e is Bid => e.kind === 'bid')
const auctionsOf = (events: readonly NexmarkEvent[]): Auction[] => events.filter((e): e is Auction => e.kind === 'auction')
const personsOf = (events: readonly NexmarkEvent[]): Person[] => events.filter((e): e is Person => e.kind === 'person')
const row = (b: Bid): BidRow => ({ auction: b.auction, bidder: b.bidder, price: b.price, dateTime: b.dateTime, extra: b.extra })
const floorTo = (t: number, size: number): number => t - (((t % size) + size) % size)

function groupBy<T, K>(items: readonly T[], key: (t: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>()
  for (const t of items) {
    const k = key(t)
    const list = m.get(k)
    if (list) list.push(t)
    else m.set(k, [t])
  }
  return m
}

export function refQ0(events: readonly NexmarkEvent[]): BidRow[] {
  return bidsOf(events).map(row)
}

export function refQ1(events: readonly NexmarkEvent[]): BidRow[] {
  return bidsOf(events).map((b) => ({ ...row(b), price: dollarsToEuros(b.price) }))
}

export function refQ2(events: readonly NexmarkEvent[]): Q2Row[] {
  return bidsOf(events)
    .filter((b) => b.auction % 123 === 0)
    .map((b) => ({ auction: b.auction, price: b.price }))
}

export function refQ3(events: readonly NexmarkEvent[]): Q3Row[] {
  const people = new Map(personsOf(events).filter((p) => ['OR', 'ID', 'CA'].includes(p.state)).map((p) => [p.id, p]))
  const out: Q3Row[] = []
  for (const a of auctionsOf(events)) {
    const p = people.get(a.seller)
    if (a.category === 10 && p) out.push({ name: p.name, city: p.city, state: p.state, id: a.id })
  }
  return out
}

/** The changelog of q4's result: per category, the running AVG after each auction closes, in (expires, id) order. */
export function refQ4(events: readonly NexmarkEvent[]): Q4Row[] {
  const bidsByAuction = groupBy(bidsOf(events), (b) => b.auction)
  const closed: { auction: number; category: number; final: number; expires: number }[] = []
  for (const a of auctionsOf(events)) {
    let max = -1
    for (const b of bidsByAuction.get(a.id) ?? []) if (b.dateTime >= a.dateTime && b.dateTime <= a.expires && b.price > max) max = b.price
    if (max >= 0) closed.push({ auction: a.id, category: a.category, final: max, expires: a.expires })
  }
  const out: Q4Row[] = []
  for (const [category, list] of groupBy(closed, (c) => c.category)) {
    list.sort((x, y) => x.expires - y.expires || x.auction - y.auction)
    let sum = 0
    let n = 0
    for (const c of list) {
      sum += c.final
      n++
      out.push({ id: category, final: Math.trunc(sum / n) })
    }
  }
  return out
}

export function refQ5(events: readonly NexmarkEvent[]): Q5Row[] {
  const counts = new Map<number, Map<number, number>>() // window start → auction → count
  for (const b of bidsOf(events)) {
    for (let start = floorTo(b.dateTime, 2000); start > b.dateTime - 10_000; start -= 2000) {
      let m = counts.get(start)
      if (!m) counts.set(start, (m = new Map()))
      m.set(b.auction, (m.get(b.auction) ?? 0) + 1)
    }
  }
  const out: Q5Row[] = []
  for (const m of counts.values()) {
    const max = Math.max(...m.values())
    for (const [auction, num] of m) if (num >= max) out.push({ auction, num })
  }
  return out
}

/** The SQL join: for each window with bids, the bids in [end − 10 s, end] priced at the window's max. */
export function refQ7(events: readonly NexmarkEvent[]): BidRow[] {
  const bids = bidsOf(events)
  const maxByEnd = new Map<number, number>()
  for (const b of bids) {
    const end = floorTo(b.dateTime, 10_000) + 10_000
    maxByEnd.set(end, Math.max(maxByEnd.get(end) ?? -1, b.price))
  }
  const out: BidRow[] = []
  for (const [end, max] of maxByEnd) for (const b of bids) if (b.price === max && b.dateTime >= end - 10_000 && b.dateTime <= end) out.push(row(b))
  return out
}

export function refQ8(events: readonly NexmarkEvent[]): Q8Row[] {
  const sellers = new Set(auctionsOf(events).map((a) => `${a.seller}@${floorTo(a.dateTime, 10_000)}`))
  return personsOf(events)
    .filter((p) => sellers.has(`${p.id}@${floorTo(p.dateTime, 10_000)}`))
    .map((p) => ({ id: p.id, name: p.name, stime: floorTo(p.dateTime, 10_000) }))
}

/** Session windows as Flink merges them: windows [t, t + gap) that overlap or touch merge. */
export function refQ11(events: readonly NexmarkEvent[]): BidderCount[] {
  const out: BidderCount[] = []
  for (const [bidder, list] of groupBy(bidsOf(events), (b) => b.bidder)) {
    const times = list.map((b) => b.dateTime).sort((x, y) => x - y)
    let start = times[0]
    let end = times[0] + 10_000
    let n = 0
    for (const t of times) {
      if (t > end) {
        out.push({ bidder, bid_count: n, starttime: start, endtime: end })
        start = t
        n = 0
      }
      end = Math.max(end, t + 10_000)
      n++
    }
    out.push({ bidder, bid_count: n, starttime: start, endtime: end })
  }
  return out
}

/** q12 with event-time windows (the deterministic variant the tests run). */
export function refQ12EventTime(events: readonly NexmarkEvent[]): BidderCount[] {
  const counts = new Map<string, BidderCount>()
  for (const b of bidsOf(events)) {
    const start = floorTo(b.dateTime, 10_000)
    const k = `${b.bidder}@${start}`
    const c = counts.get(k)
    if (c) c.bid_count++
    else counts.set(k, { bidder: b.bidder, bid_count: 1, starttime: start, endtime: start + 10_000 })
  }
  return [...counts.values()]
}
