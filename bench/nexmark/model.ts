/**
 * Nexmark's event model (nexmark/nexmark `model/Person|Auction|Bid`), as one tagged union.
 * Times (`dateTime`, `expires`) are epoch milliseconds.
 */

export interface Person {
  readonly kind: 'person'
  readonly id: number
  readonly name: string
  readonly emailAddress: string
  readonly creditCard: string
  readonly city: string
  readonly state: string
  readonly dateTime: number
  readonly extra: string
}

export interface Auction {
  readonly kind: 'auction'
  readonly id: number
  readonly itemName: string
  readonly description: string
  readonly initialBid: number
  readonly reserve: number
  readonly dateTime: number
  readonly expires: number
  readonly seller: number
  readonly category: number
  readonly extra: string
}

export interface Bid {
  readonly kind: 'bid'
  readonly auction: number
  readonly bidder: number
  readonly price: number
  readonly dateTime: number
  readonly extra: string
}

export type NexmarkEvent = Person | Auction | Bid

export const isBid = (e: NexmarkEvent): e is Bid => e.kind === 'bid'
export const isAuction = (e: NexmarkEvent): e is Auction => e.kind === 'auction'
export const isPerson = (e: NexmarkEvent): e is Person => e.kind === 'person'
