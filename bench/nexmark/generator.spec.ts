/**
 * The Nexmark generator: Nexmark's proportions, sizes, hot items, in-flight and active sets,
 * bounded disorder; determinism; and equality with the Java port (same golden file and checksums
 * as bench/peers/flink/src/test/java/fluxion/nexmark/GeneratorTest.java).
 */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { adjustedEventId, createGenerator, DEFAULT_CONFIG, eventToJson, MAX_DISORDER_MS, PRICE_HI, PRICE_LO, PRICE_MID, resolveConfig, warmUpConfig, warmUpJobCounts, type NexmarkConfig } from './generator.ts'
import type { Auction, Bid, NexmarkEvent, Person } from './model.ts'

const GOLDEN = new URL('./testdata/events-default-first-1000.jsonl', import.meta.url)

function fnv(config: Partial<NexmarkConfig>, n: number): string {
  const g = createGenerator(config)
  let h = 0x811c9dc5
  for (let i = 0; i < n; i++) {
    const s = eventToJson(g(i)) + '\n'
    for (let k = 0; k < s.length; k++) {
      h ^= s.charCodeAt(k)
      h = Math.imul(h, 0x01000193)
    }
  }
  return (h >>> 0).toString(16)
}

const take = (config: Partial<NexmarkConfig>, n: number): NexmarkEvent[] => {
  const g = createGenerator(config)
  return Array.from({ length: n }, (_, i) => g(i))
}

describe('Nexmark generator', () => {
  it('produces the golden events (the Java port checks the same file)', () => {
    const expected = readFileSync(GOLDEN, 'utf8').trimEnd().split('\n')
    expect(expected).toHaveLength(1000)
    const g = createGenerator()
    expected.forEach((line, i) => expect(eventToJson(g(i)), `event ${i}`).toBe(line))
  })

  it('matches the Java port on 200k events of three configurations (checksums)', () => {
    expect(fnv({}, 200_000)).toBe('5741ca79')
    expect(fnv({ seed: 7, eventsPerSecond: 200, outOfOrderGroupSize: 250 }, 200_000)).toBe('75ab4d34')
    expect(fnv({ seed: 123456789, eventsPerSecond: 333333, outOfOrderGroupSize: 977 }, 200_000)).toBe('eaeb413e')
  })

  it('builds the same price tables as the Java port (digest of their bits)', () => {
    const u = new Uint32Array(2)
    const f = new Float64Array(u.buffer)
    let h = 0x811c9dc5
    for (const table of [PRICE_HI, PRICE_MID, PRICE_LO]) {
      for (const v of table) {
        f[0] = v
        h = Math.imul(h ^ u[0], 0x01000193)
        h = Math.imul(h ^ u[1], 0x01000193)
      }
    }
    expect((h >>> 0).toString(16)).toBe('1c901c13')
  })

  it("shuffles positions as Nexmark's nextAdjustedEventNumber at any position below 2^53 (BigInt reference)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }), fc.integer({ min: 1, max: 400_000 }), (index, groupSize) => {
        const g = BigInt(groupSize)
        const expected = groupSize === 1 ? index : index - (index % g) + ((index * 953n) % g)
        expect(adjustedEventId(Number(index), groupSize)).toBe(Number(expected))
      }),
      { numRuns: 2000 },
    )
    for (const index of [2_253_000, 2_253_001, 2 ** 31, 2 ** 32 + 7]) expect(adjustedEventId(index, 1000)).toBe(index - (index % 1000) + ((index * 953) % 1000))
  })

  it("warms up at a tenth of the rate, so that 250k events span the 10 s windows and the watermark's 4 s; not where the shuffle would then pass the watermark", () => {
    expect(warmUpConfig({})).toEqual({ eventsPerSecond: DEFAULT_CONFIG.eventsPerSecond / 10 })
    expect(warmUpConfig({ eventsPerSecond: 50_000, seed: 3 })).toEqual({ eventsPerSecond: 5_000, seed: 3 })
    const warm = createGenerator(warmUpConfig({}))
    expect(warm(250_000).dateTime - warm(0).dateTime).toBeGreaterThan(14_000)
    // 1000 events shuffled at 100 events/s would span 10 s of event time, more than the watermark's delay.
    expect(warmUpConfig({ eventsPerSecond: 1_000 })).toEqual({ eventsPerSecond: 1_000 })
    expect(warmUpJobCounts(500_000)).toEqual([250_000, 250_000])
    expect(warmUpJobCounts(5)).toEqual([3, 2])
    expect(warmUpJobCounts(1)).toEqual([1])
    expect(warmUpJobCounts(0)).toEqual([])
  })

  it('is a pure function of the position', () => {
    const a = createGenerator({ seed: 3 })
    const b = createGenerator({ seed: 3 })
    for (const i of [0, 1, 49, 50, 12_345, 999_999, 7_000_000_001]) expect(eventToJson(b(i))).toBe(eventToJson(a(i)))
    expect(eventToJson(createGenerator({ seed: 4 })(60))).not.toBe(eventToJson(a(60)))
  })

  it('keeps person : auction : bid = 1 : 3 : 46 and Nexmark record sizes (200 / 500 / 100 bytes)', () => {
    const events = take({}, 100_000)
    const people = events.filter((e): e is Person => e.kind === 'person')
    const auctions = events.filter((e): e is Auction => e.kind === 'auction')
    const bids = events.filter((e): e is Bid => e.kind === 'bid')
    expect([people.length, auctions.length, bids.length]).toEqual([2000, 6000, 92000])
    const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
    // Nexmark's own size accounting (8 bytes per number, characters of strings).
    const personSize = avg(people.map((p) => 8 + p.name.length + p.emailAddress.length + p.creditCard.length + p.city.length + p.state.length + p.extra.length))
    const auctionSize = avg(auctions.map((a) => 8 + a.itemName.length + a.description.length + 40 + a.extra.length))
    const bidSize = avg(bids.map((b) => 32 + b.extra.length))
    expect(Math.abs(personSize - 200)).toBeLessThan(5)
    expect(Math.abs(auctionSize - 500)).toBeLessThan(10)
    expect(Math.abs(bidSize - 100)).toBeLessThan(2)
  })

  it('has hot auctions, bidders and sellers, 100 auctions in flight and 1000 active people', () => {
    // In order (group size 1), so "so far" is by event id.
    const events = take({ outOfOrderGroupSize: 1 }, 200_000)
    let lastAuction = 999
    let lastPerson = 999
    let hotAuctionBids = 0
    let hotBidderBids = 0
    let hotSellerAuctions = 0
    let bids = 0
    let auctions = 0
    const violations: string[] = []
    const check = (ok: boolean, what: string, e: NexmarkEvent): void => void (ok || violations.push(`${what}: ${eventToJson(e)}`))
    for (const e of events) {
      if (e.kind === 'person') lastPerson = e.id
      else if (e.kind === 'auction') {
        lastAuction = e.id
        auctions++
        if ((e.seller - 1000) % 100 === 0) hotSellerAuctions++
        check(e.seller <= lastPerson + 10, 'seller beyond the lead', e)
        check(e.expires > e.dateTime, 'expires before it starts', e)
      } else {
        bids++
        if ((e.auction - 1000) % 100 === 0) hotAuctionBids++
        if ((e.bidder - 1000) % 100 === 1) hotBidderBids++
        check(e.auction >= Math.max(lastAuction - 100, 1000) && e.auction <= lastAuction + 10, 'auction not in flight', e)
        check(e.bidder >= Math.max(lastPerson - 999, 1000) && e.bidder <= lastPerson + 10, 'bidder not active', e)
        check(e.price >= 100 && e.price <= 100_000_000, 'price out of range', e)
      }
    }
    expect(violations.slice(0, 5)).toEqual([])
    // Default ratios 2, 4, 4: at least 1/2, 3/4 and 3/4 are hot (random picks can hit hot ones too).
    expect(hotAuctionBids / bids).toBeGreaterThan(0.5)
    expect(hotAuctionBids / bids).toBeLessThan(0.53)
    expect(hotBidderBids / bids).toBeGreaterThan(0.75)
    expect(hotSellerAuctions / auctions).toBeGreaterThan(0.74)
  })

  it('advances event time at the configured rate, out of order but never more than the watermark allows', () => {
    const { baseTime } = DEFAULT_CONFIG
    const g = createGenerator({ eventsPerSecond: 100_000, outOfOrderGroupSize: 1 })
    expect(g(0).dateTime).toBe(baseTime)
    expect(g(100_000).dateTime).toBe(baseTime + 1000)
    expect(g(250).dateTime).toBe(baseTime + 2)
    for (const p of [1, 2, 3]) {
      const events = take({ eventsPerSecond: 2000, outOfOrderGroupSize: 3000 }, 60_000)
      for (let s = 0; s < p; s++) {
        let max = Number.NEGATIVE_INFINITY
        let maxLag = 0
        let outOfOrder = 0
        for (let i = s; i < events.length; i += p) {
          const t = events[i].dateTime
          if (t < max) outOfOrder++
          maxLag = Math.max(maxLag, max - t)
          max = Math.max(max, t)
        }
        expect(outOfOrder).toBeGreaterThan(1000)
        expect(maxLag).toBeGreaterThan(1000)
        expect(maxLag).toBeLessThanOrEqual(MAX_DISORDER_MS)
      }
    }
  })

  it('refuses configurations that would produce late events or make no sense', () => {
    expect(() => resolveConfig({ eventsPerSecond: 1000, outOfOrderGroupSize: 5000 })).toThrow(/outOfOrderGroupSize/)
    expect(() => resolveConfig({ outOfOrderGroupSize: 953 })).toThrow(/divisible/)
    expect(() => resolveConfig({ eventsPerSecond: 0 })).toThrow(/eventsPerSecond/)
    expect(() => resolveConfig({ hotAuctionRatio: 0 })).toThrow(/hotAuctionRatio/)
  })
})
