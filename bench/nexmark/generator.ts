/**
 * Nexmark's event generator (nexmark/nexmark NexmarkGenerator, GeneratorConfig, Person/Auction/
 * BidGenerator), made a pure function of the event's position so that it runs as a parallel
 * Fluxion source: position i → event, subtask s of p generates the positions i ≡ s (mod p), as
 * `env.fromGenerator` does.
 *
 * What is Nexmark's:
 *  - event kinds person : auction : bid = 1 : 3 : 46, chosen from the event id mod 50;
 *  - ids: person and auction ids follow the event id (first ids 1000), 1000 active people,
 *    100 auctions in flight, leads of 10 not-yet-created ids;
 *  - hot items: with the default ratios 1/2 of the bids go to a hot auction, 3/4 to a hot bidder,
 *    3/4 of the auctions to a hot seller (the first auction / second / first person of the current
 *    batch of 100);
 *  - record sizes: `extra` pads a person to ~200 bytes, an auction to ~500, a bid to ~100
 *    (Nexmark's nextExtra: uniform within ±20% of what is missing);
 *  - prices log-uniform in [1, 10^6] dollars × 100, auction lengths, names, cities, states;
 *  - event time: event number n has timestamp baseTime + ⌊n · 10^6 / eventsPerSecond⌋ µs → ms;
 *  - out-of-order delivery: positions are shuffled inside groups of `outOfOrderGroupSize` events
 *    (Nexmark's nextAdjustedEventNumber: base + (n · 953) mod size); the event at position i is
 *    the event with id adjusted(i), with that event's timestamp.
 *
 * What differs: Nexmark draws from one java.util.Random per generator, so its data depends on the
 * order events are generated in. Here every event draws from its own small PRNG (mulberry32) seeded
 * from (seed, event id), so event i is the same whatever the parallelism, and the Java port in
 * bench/peers/flink produces exactly the same events (same seed → same JSON). Random strings are
 * slices of two seeded pools of random characters instead of being drawn character by character
 * (same lengths and alphabet; far cheaper in both languages).
 *
 * Watermarks: WatermarkStrategy.forBoundedOutOfOrderness(4000) on `dateTime` (NEXMARK_WATERMARK).
 * The generator refuses a configuration whose disorder could exceed 3 s, so no record is ever late.
 */
import { WatermarkStrategy, type DataStream, type StreamExecutionEnvironment } from '../../index.ts'
import type { Auction, Bid, NexmarkEvent, Person } from './model.ts'

export interface NexmarkConfig {
  /** Seed of every random choice (default 1). */
  seed: number
  /** Event time of event number 0, epoch ms (default 2025-01-01T00:00:00Z). */
  baseTime: number
  /** Event-time rate: events per second of event time (Nexmark's firstEventRate; default 100 000). */
  eventsPerSecond: number
  /** Events shuffled together (1 = in order; default 1000 = 10 ms of event time at the default rate). */
  outOfOrderGroupSize: number
  personProportion: number
  auctionProportion: number
  bidProportion: number
  avgPersonByteSize: number
  avgAuctionByteSize: number
  avgBidByteSize: number
  /** 1 − 1/ratio of the bids go to a hot auction. */
  hotAuctionRatio: number
  /** 1 − 1/ratio of the auctions are by a hot seller. */
  hotSellersRatio: number
  /** 1 − 1/ratio of the bids are by a hot bidder. */
  hotBiddersRatio: number
  numInFlightAuctions: number
  numActivePeople: number
}

export const DEFAULT_CONFIG: Readonly<NexmarkConfig> = Object.freeze({
  seed: 1,
  baseTime: Date.UTC(2025, 0, 1),
  eventsPerSecond: 100_000,
  outOfOrderGroupSize: 1000,
  personProportion: 1,
  auctionProportion: 3,
  bidProportion: 46,
  avgPersonByteSize: 200,
  avgAuctionByteSize: 500,
  avgBidByteSize: 100,
  hotAuctionRatio: 2,
  hotSellersRatio: 4,
  hotBiddersRatio: 4,
  numInFlightAuctions: 100,
  numActivePeople: 1000,
})

/** Watermark = highest event time seen − 4 s (Nexmark's), on each source subtask. */
export const WATERMARK_DELAY_MS = 4000
export const NEXMARK_WATERMARK = WatermarkStrategy.forBoundedOutOfOrderness<NexmarkEvent>(WATERMARK_DELAY_MS).withTimestampAssigner((e) => e.dateTime)

/** Largest disorder (ms of event time) the generator accepts: below the watermark delay, so nothing is late. */
export const MAX_DISORDER_MS = 3000

const FIRST_PERSON_ID = 1000
const FIRST_AUCTION_ID = 1000
const FIRST_CATEGORY_ID = 10
const NUM_CATEGORIES = 5
const PERSON_ID_LEAD = 10
const AUCTION_ID_LEAD = 10
const HOT_SELLER_RATIO = 100
const HOT_AUCTION_RATIO = 100
const HOT_BIDDER_RATIO = 100
const MIN_STRING_LENGTH = 3
const OUT_OF_ORDER_MULTIPLIER = 953

const US_STATES = ['AZ', 'CA', 'ID', 'OR', 'WA', 'WY']
const US_CITIES = ['Phoenix', 'Los Angeles', 'San Francisco', 'Boise', 'Portland', 'Bend', 'Redmond', 'Seattle', 'Kent', 'Cheyenne']
const FIRST_NAMES = ['Peter', 'Paul', 'Luke', 'John', 'Saul', 'Vicky', 'Kate', 'Julie', 'Sarah', 'Deiter', 'Walter']
const LAST_NAMES = ['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones', 'Noris']

/** Random strings are slices of these pools: offsets in [0, POOL_OFFSETS), lengths up to POOL_SLACK. */
const POOL_OFFSETS = 1 << 16
const POOL_SLACK = 1024
const TWO_32 = 4294967296
/** '0000' … '9999', the groups of a credit card number. */
const CARD_GROUPS = Array.from({ length: 10000 }, (_, i) => String(i).padStart(4, '0'))

/**
 * a mod b for a non-negative integer a < 2^53 and b ≥ 1: the same as `a % b`, but V8 compiles `%`
 * on values it cannot prove to be int32 into a call to C's fmod (≈ 20 ns); floor(a / b) is exact
 * in this range (a / b is at least 1/b away from the next integer, far more than one rounding).
 */
function mod(a: number, b: number): number {
  return a - Math.floor(a / b) * b
}

/**
 * Nexmark's nextAdjustedEventNumber: the id of the event at position `index`, shuffled within
 * groups of `groupSize` (index − index mod g + (index · 953) mod g). The product is computed as
 * ((index mod g) · 953) mod g, the same number, so that it stays a small integer: index · 953
 * passes 2^31 at index 2.25M, and V8's optimised code, specialised to small integers during a
 * benchmark's warm-up, was deoptimised in the middle of the measured run, with every function
 * eventId was passed to after it (≈ 20 deoptimisations; q0 over 10M events ran ≈ 20% slower).
 */
export function adjustedEventId(index: number, groupSize: number): number {
  if (groupSize === 1) return index
  const inGroup = mod(index, groupSize)
  return index - inGroup + mod(inGroup * OUT_OF_ORDER_MULTIPLIER, groupSize)
}

/** murmur3's 32-bit finaliser. */
function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h | 0
}

/** The PRNG state of event `eventId`: a function of the seed and the id only. */
export function eventSeed(seed: number, eventId: number): number {
  const lo = eventId >>> 0
  const hi = Math.floor(eventId / TWO_32) | 0
  return fmix32((fmix32(lo ^ seed) + hi) | 0)
}

/** mulberry32 over a one-element state; returns an unsigned 32-bit integer. */
function mulberry(state: Int32Array): number {
  const a = (state[0] + 0x6d2b79f5) | 0
  state[0] = a
  let t = Math.imul(a ^ (a >>> 15), 1 | a)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return (t ^ (t >>> 14)) >>> 0
}

/** ⌊u · n / 2^32⌋ exactly, for n < 2^31 (the Java port computes (u * n) >>> 32 on longs). */
function scale(u: number, n: number): number {
  if (n < 2097152) return Math.floor((u * n) / TWO_32)
  const q = (u >>> 16) * n
  const r = (u & 0xffff) * n
  return Math.floor((q + Math.floor(r / 65536)) / 65536)
}

function makePool(seed: number, salt: number, spaced: boolean): string {
  const state = new Int32Array([fmix32(seed ^ salt)])
  const codes = new Array<number>(POOL_OFFSETS + POOL_SLACK)
  for (let i = 0; i < codes.length; i++) {
    if (spaced && scale(mulberry(state), 13) === 0) codes[i] = 32
    else codes[i] = 97 + scale(mulberry(state), 26)
  }
  let s = ''
  for (let i = 0; i < codes.length; i += 4096) s += String.fromCharCode(...codes.slice(i, i + 4096))
  return s
}

/**
 * Prices are log-uniform, round(10^(6u) · 100) for u uniform in [0, 1) (Nexmark's PriceGenerator).
 * With u = k / 2^32 for a 32-bit k = (a << 21) | (b << 10) | c, 10^(6u) = 10^(6·a/2^11) ·
 * 10^(6·b/2^22) · 10^(6·c/2^32): three tables of 2 048, 2 048 and 1 024 powers (40 KB, they stay in
 * the CPU's cache next to the engine's data; two tables of 65 536 did not, and a price cost a cache
 * miss), built once, replace a Math.pow per price (≈100 ns in V8). The tables are built by repeated
 * multiplication from constants given by their bits, because V8's Math.pow and Java's
 * StrictMath.pow differ in the last bit for ~2% of inputs, while IEEE-754 multiplication is the
 * same everywhere (relative error after 2 048 steps < 1e-12). The Java port builds the same
 * tables; the tests compare a digest of their bits.
 */
function powerTable(length: number, stepBits: bigint): Float64Array {
  const step = new Float64Array(new BigUint64Array([stepBits]).buffer)[0]
  const table = new Float64Array(length)
  table[0] = 1
  for (let i = 1; i < table.length; i++) table[i] = table[i - 1] * step
  return table
}
/** 10^(6 · i / 2^11), i < 2^11 */
export const PRICE_HI = powerTable(2048, 0x3ff01bb97424ccd6n)
/** 10^(6 · i / 2^22), i < 2^11 */
export const PRICE_MID = powerTable(2048, 0x3ff000037431b2a1n)
/** 10^(6 · i / 2^32), i < 2^10 */
export const PRICE_LO = powerTable(1024, 0x3ff0000000dd0c55n)

export interface NexmarkGenerator {
  readonly config: Readonly<NexmarkConfig>
  /** The event at position `index` (pure). */
  (index: number): NexmarkEvent
}

/** Resolves `overrides` against the defaults and checks them. */
export function resolveConfig(overrides: Partial<NexmarkConfig> = {}): NexmarkConfig {
  const c: NexmarkConfig = { ...DEFAULT_CONFIG, ...overrides }
  for (const [k, v] of Object.entries(c)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`nexmark config: ${k} must be a finite number, got ${String(v)}`)
  }
  if (!(c.eventsPerSecond > 0)) throw new Error(`nexmark config: eventsPerSecond must be > 0, got ${c.eventsPerSecond}`)
  if (!Number.isInteger(c.outOfOrderGroupSize) || c.outOfOrderGroupSize < 1 || c.outOfOrderGroupSize % OUT_OF_ORDER_MULTIPLIER === 0) {
    throw new Error(`nexmark config: outOfOrderGroupSize must be a positive integer not divisible by ${OUT_OF_ORDER_MULTIPLIER}, got ${c.outOfOrderGroupSize}`)
  }
  const disorderMs = Math.ceil(((c.outOfOrderGroupSize - 1) * 1e6) / c.eventsPerSecond / 1000) + 1
  if (disorderMs > MAX_DISORDER_MS) {
    throw new Error(
      `nexmark config: outOfOrderGroupSize ${c.outOfOrderGroupSize} at ${c.eventsPerSecond} events/s shuffles up to ${disorderMs} ms of event time, ` +
        `more than ${MAX_DISORDER_MS} ms (the watermark lags 4 s): lower outOfOrderGroupSize below ${Math.floor((MAX_DISORDER_MS - 1) * c.eventsPerSecond / 1000)}`,
    )
  }
  for (const k of ['seed', 'baseTime', 'personProportion', 'auctionProportion', 'bidProportion', 'numInFlightAuctions', 'numActivePeople'] as const) {
    if (!Number.isInteger(c[k])) throw new Error(`nexmark config: ${k} must be an integer, got ${c[k]}`)
  }
  for (const k of ['hotAuctionRatio', 'hotSellersRatio', 'hotBiddersRatio'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new Error(`nexmark config: ${k} must be an integer >= 1, got ${c[k]}`)
  }
  return c
}

/**
 * The generator configuration of a benchmark's JIT warm-up (job.ts warmUp): a tenth of the rate, so
 * that windows fire within a short warm-up, unless the shuffle would then exceed the watermark's delay.
 */
export function warmUpConfig(config: Partial<NexmarkConfig>): Partial<NexmarkConfig> {
  const slower = { ...config, eventsPerSecond: (config.eventsPerSecond ?? DEFAULT_CONFIG.eventsPerSecond) / 10 }
  try {
    resolveConfig(slower)
    return slower
  } catch {
    return config
  }
}

/** The event counts of a warm-up's two jobs (job.ts warmUp): `total` split in halves, the empty ones left out. */
export function warmUpJobCounts(total: number): number[] {
  const first = Math.ceil(total / 2)
  return [first, total - first].filter((n) => n > 0)
}

/** Creates the generator of `overrides` (missing fields take DEFAULT_CONFIG's values). */
export function createGenerator(overrides: Partial<NexmarkConfig> = {}): NexmarkGenerator {
  const config = Object.freeze(resolveConfig(overrides))
  const events = new EventGenerator(config)
  return Object.assign((index: number): NexmarkEvent => events.generate(index), { config })
}

/**
 * The generator's state and steps, as the Java port's `Generator` class: fields, not closure
 * variables. (As closures, every generator after the first in a process ran ~40% slower: V8
 * specialises optimised code to a closure's context only while one closure of a function exists,
 * and a benchmark child creates one generator for the warm-up and one for the measured run.)
 */
class EventGenerator {
  private readonly seed: number
  private readonly baseTime: number
  private readonly personProportion: number
  private readonly auctionProportion: number
  private readonly totalProportion: number
  private readonly groupSize: number
  private readonly interEventDelayUs: number
  private readonly numEventsForAuctions: number
  private readonly numActivePeople: number
  private readonly numInFlightAuctions: number
  private readonly hotAuctionRatio: number
  private readonly hotSellersRatio: number
  private readonly hotBiddersRatio: number
  private readonly avgPersonByteSize: number
  private readonly avgAuctionByteSize: number
  private readonly avgBidByteSize: number
  private readonly letters: string
  private readonly spaced: string
  /**
   * The PRNG state (mulberry32, as `mulberry`), in an Int32Array: a field holding an int32 beyond
   * the small-integer range would be a boxed heap number.
   */
  private readonly prng = new Int32Array(1)
  /** The current event's timestamp (a field: passed as an argument, a double is boxed at every call V8 does not inline). */
  private timestamp = 0.5

  constructor(config: Readonly<NexmarkConfig>) {
    this.seed = config.seed
    this.baseTime = config.baseTime
    this.personProportion = config.personProportion
    this.auctionProportion = config.auctionProportion
    this.totalProportion = config.personProportion + config.auctionProportion + config.bidProportion
    this.groupSize = config.outOfOrderGroupSize
    this.interEventDelayUs = 1e6 / config.eventsPerSecond
    this.numEventsForAuctions = Math.floor((config.numInFlightAuctions * this.totalProportion) / config.auctionProportion)
    this.numActivePeople = config.numActivePeople
    this.numInFlightAuctions = config.numInFlightAuctions
    this.hotAuctionRatio = config.hotAuctionRatio
    this.hotSellersRatio = config.hotSellersRatio
    this.hotBiddersRatio = config.hotBiddersRatio
    this.avgPersonByteSize = config.avgPersonByteSize
    this.avgAuctionByteSize = config.avgAuctionByteSize
    this.avgBidByteSize = config.avgBidByteSize
    this.letters = makePool(config.seed, 0x1b873593, false)
    this.spaced = makePool(config.seed, 0x5bd1e995, true)
  }

  /** The next 32 random bits as a signed int32 (a small integer even where V8 does not inline it). */
  private next(): number {
    const prng = this.prng
    const a = (prng[0] + 0x6d2b79f5) | 0
    prng[0] = a
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return t ^ (t >>> 14)
  }

  private nextInt(n: number): number {
    const u = this.next() >>> 0
    return n < 2097152 ? Math.floor((u * n) / TWO_32) : scale(u, n)
  }

  private nextPrice(): number {
    const u = this.next() >>> 0
    return Math.round(PRICE_HI[u >>> 21] * PRICE_MID[(u >>> 10) & 2047] * PRICE_LO[u & 1023] * 100)
  }

  private nextExactString(length: number): string {
    if (length > POOL_SLACK) throw new Error(`nexmark: string of ${length} characters is longer than the pool allows (${POOL_SLACK})`)
    const from = this.nextInt(POOL_OFFSETS)
    return this.letters.substring(from, from + length)
  }

  private nextString(maxLength: number): string {
    const length = MIN_STRING_LENGTH + this.nextInt(maxLength - MIN_STRING_LENGTH)
    const from = this.nextInt(POOL_OFFSETS)
    return this.spaced.substring(from, from + length).trim()
  }

  private nextExtra(currentSize: number, desiredAverageSize: number): string {
    if (currentSize > desiredAverageSize) return ''
    const desired = desiredAverageSize - currentSize
    const delta = Math.round(desired * 0.2)
    const minSize = desired - delta
    return this.nextExactString(minSize + (delta === 0 ? 0 : this.nextInt(2 * delta)))
  }

  private timestampForEvent(eventNumber: number): number {
    return this.baseTime + Math.floor(Math.trunc(eventNumber * this.interEventDelayUs) / 1000)
  }

  /**
   * The ids of the last person and auction created at or before event id = epoch · total + offset
   * (epoch and offset computed once per event, in `generate`, and passed down: each division costs
   * a few ns, and a bid needs both ids).
   */
  private lastBase0PersonId(epoch: number, offset: number): number {
    if (offset >= this.personProportion) offset = this.personProportion - 1
    return epoch * this.personProportion + offset
  }

  private lastBase0AuctionId(epoch: number, offset: number): number {
    if (offset < this.personProportion) {
      epoch--
      offset = this.auctionProportion - 1
    } else if (offset >= this.personProportion + this.auctionProportion) {
      offset = this.auctionProportion - 1
    } else {
      offset -= this.personProportion
    }
    return epoch * this.auctionProportion + offset
  }

  private nextBase0PersonId(lastPersonId: number): number {
    const numPeople = lastPersonId + 1
    const activePeople = Math.min(numPeople, this.numActivePeople)
    return numPeople - activePeople + this.nextInt(activePeople + PERSON_ID_LEAD)
  }

  private nextBase0AuctionId(lastAuctionId: number): number {
    const maxAuction = lastAuctionId
    const minAuction = Math.max(maxAuction - this.numInFlightAuctions, 0)
    return minAuction + this.nextInt(maxAuction - minAuction + 1 + AUCTION_ID_LEAD)
  }

  private nextPerson(epoch: number, offset: number): Person {
    const timestamp = this.timestamp
    const id = this.lastBase0PersonId(epoch, offset) + FIRST_PERSON_ID
    const name = FIRST_NAMES[this.nextInt(FIRST_NAMES.length)] + ' ' + LAST_NAMES[this.nextInt(LAST_NAMES.length)]
    const emailAddress = this.nextString(7) + '@' + this.nextString(5) + '.com'
    const creditCard = CARD_GROUPS[this.nextInt(10000)] + ' ' + CARD_GROUPS[this.nextInt(10000)] + ' ' + CARD_GROUPS[this.nextInt(10000)] + ' ' + CARD_GROUPS[this.nextInt(10000)]
    const city = US_CITIES[this.nextInt(US_CITIES.length)]
    const st = US_STATES[this.nextInt(US_STATES.length)]
    const currentSize = 8 + name.length + emailAddress.length + creditCard.length + city.length + st.length
    const extra = this.nextExtra(currentSize, this.avgPersonByteSize)
    return { kind: 'person', id, name, emailAddress, creditCard, city, state: st, dateTime: timestamp, extra }
  }

  private nextAuction(eventId: number, epoch: number, offset: number): Auction {
    const timestamp = this.timestamp
    const id = this.lastBase0AuctionId(epoch, offset) + FIRST_AUCTION_ID
    const lastPersonId = this.lastBase0PersonId(epoch, offset)
    let seller: number
    if (this.nextInt(this.hotSellersRatio) > 0) seller = Math.floor(lastPersonId / HOT_SELLER_RATIO) * HOT_SELLER_RATIO
    else seller = this.nextBase0PersonId(lastPersonId)
    seller += FIRST_PERSON_ID
    const category = FIRST_CATEGORY_ID + this.nextInt(NUM_CATEGORIES)
    const initialBid = this.nextPrice()
    // Nexmark's nextAuctionLengthMs: on average the time until numInFlightAuctions more auctions exist.
    const horizonMs = this.timestampForEvent(eventId + this.numEventsForAuctions) - timestamp
    const expires = timestamp + 1 + this.nextInt(Math.max(horizonMs * 2, 1))
    const itemName = this.nextString(20)
    const description = this.nextString(100)
    const reserve = initialBid + this.nextPrice()
    const currentSize = 8 + itemName.length + description.length + 8 + 8 + 8 + 8 + 8
    const extra = this.nextExtra(currentSize, this.avgAuctionByteSize)
    return { kind: 'auction', id, itemName, description, initialBid, reserve, dateTime: timestamp, expires, seller, category, extra }
  }

  private nextBid(epoch: number, offset: number): Bid {
    const timestamp = this.timestamp
    const lastAuctionId = this.lastBase0AuctionId(epoch, offset)
    let auction: number
    if (this.nextInt(this.hotAuctionRatio) > 0) auction = Math.floor(lastAuctionId / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO
    else auction = this.nextBase0AuctionId(lastAuctionId)
    auction += FIRST_AUCTION_ID
    const lastPersonId = this.lastBase0PersonId(epoch, offset)
    let bidder: number
    if (this.nextInt(this.hotBiddersRatio) > 0) bidder = Math.floor(lastPersonId / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1
    else bidder = this.nextBase0PersonId(lastPersonId)
    bidder += FIRST_PERSON_ID
    const price = this.nextPrice()
    const extra = this.nextExtra(8 + 8 + 8 + 8, this.avgBidByteSize)
    return { kind: 'bid', auction, bidder, price, dateTime: timestamp, extra }
  }

  /** The event at position `index` (pure: a function of the index and the configuration). */
  generate(index: number): NexmarkEvent {
    const eventId = adjustedEventId(index, this.groupSize)
    this.timestamp = this.timestampForEvent(eventId)
    this.prng[0] = eventSeed(this.seed, eventId)
    const epoch = Math.floor(eventId / this.totalProportion)
    const offset = eventId - epoch * this.totalProportion
    if (offset < this.personProportion) return this.nextPerson(epoch, offset)
    if (offset < this.personProportion + this.auctionProportion) return this.nextAuction(eventId, epoch, offset)
    return this.nextBid(epoch, offset)
  }
}

/** The event's JSON as the Java port prints it (field order as in the model). */
export function eventToJson(e: NexmarkEvent): string {
  return JSON.stringify(e)
}

export interface NexmarkSourceOptions {
  /** Events in total, over all subtasks. */
  count: number
  config?: Partial<NexmarkConfig>
  /** Called with (index, event) for every generated event, on the generating subtask (metrics). */
  observe?: (index: number, event: NexmarkEvent) => void
}

/** The Nexmark stream as a parallel Fluxion source with Nexmark's watermarks. */
export function nexmarkSource(env: StreamExecutionEnvironment, options: NexmarkSourceOptions): DataStream<NexmarkEvent> {
  const events = new EventGenerator(Object.freeze(resolveConfig(options.config)))
  const observe = options.observe
  const fn = observe
    ? (i: number): NexmarkEvent => {
        const e = events.generate(i)
        observe(i, e)
        return e
      }
    : (i: number): NexmarkEvent => events.generate(i)
  return env.fromGenerator<NexmarkEvent>(fn, { count: options.count, name: 'nexmark-source' }, NEXMARK_WATERMARK)
}
