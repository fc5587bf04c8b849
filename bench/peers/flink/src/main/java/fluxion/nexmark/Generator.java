package fluxion.nexmark;

import fluxion.nexmark.Model.Auction;
import fluxion.nexmark.Model.Bid;
import fluxion.nexmark.Model.Event;
import fluxion.nexmark.Model.Person;
import java.io.Serializable;

/**
 * The Java port of bench/nexmark/generator.ts: the same seed and configuration give exactly the
 * same events (GeneratorTest compares them with the TypeScript generator's JSON). Read the
 * TypeScript file for what is Nexmark's and what differs; the arithmetic here is kept step by step
 * identical (32-bit integer PRNG, double timestamps, price tables built by multiplication).
 */
public final class Generator implements Serializable {
  private static final long serialVersionUID = 1L;

  /** The generator's parameters (NexmarkConfig in generator.ts), with its defaults. */
  public static final class Config implements Serializable {
    private static final long serialVersionUID = 1L;
    public int seed = 1;
    public long baseTime = 1735689600000L; // 2025-01-01T00:00:00Z
    public double eventsPerSecond = 100_000;
    public long outOfOrderGroupSize = 1000;
    public int personProportion = 1;
    public int auctionProportion = 3;
    public int bidProportion = 46;
    public int avgPersonByteSize = 200;
    public int avgAuctionByteSize = 500;
    public int avgBidByteSize = 100;
    public int hotAuctionRatio = 2;
    public int hotSellersRatio = 4;
    public int hotBiddersRatio = 4;
    public int numInFlightAuctions = 100;
    public int numActivePeople = 1000;
  }

  private static final long FIRST_PERSON_ID = 1000;
  private static final long FIRST_AUCTION_ID = 1000;
  private static final long FIRST_CATEGORY_ID = 10;
  private static final int NUM_CATEGORIES = 5;
  private static final int PERSON_ID_LEAD = 10;
  private static final int AUCTION_ID_LEAD = 10;
  private static final long HOT_SELLER_RATIO = 100;
  private static final long HOT_AUCTION_RATIO = 100;
  private static final long HOT_BIDDER_RATIO = 100;
  private static final int MIN_STRING_LENGTH = 3;
  private static final long OUT_OF_ORDER_MULTIPLIER = 953;
  private static final String[] US_STATES = {"AZ", "CA", "ID", "OR", "WA", "WY"};
  private static final String[] US_CITIES = {"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"};
  private static final String[] FIRST_NAMES = {"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"};
  private static final String[] LAST_NAMES = {"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"};
  private static final int POOL_OFFSETS = 1 << 16;
  private static final int POOL_SLACK = 1024;

  private final Config config;
  private final int totalProportion;
  private final double interEventDelayUs;
  private final long numEventsForAuctions;
  private final String letters;
  private final String spaced;
  /** The PRNG state (one generator per source subtask: not thread-safe). */
  private int state;

  public Generator(Config config) {
    this.config = config;
    this.totalProportion = config.personProportion + config.auctionProportion + config.bidProportion;
    this.interEventDelayUs = 1e6 / config.eventsPerSecond;
    this.numEventsForAuctions = ((long) config.numInFlightAuctions * totalProportion) / config.auctionProportion;
    this.letters = makePool(config.seed, 0x1b873593, false);
    this.spaced = makePool(config.seed, 0x5bd1e995, true);
  }

  public Config config() {
    return config;
  }

  static int fmix32(int h) {
    h ^= h >>> 16;
    h *= 0x85ebca6b;
    h ^= h >>> 13;
    h *= 0xc2b2ae35;
    h ^= h >>> 16;
    return h;
  }

  static int eventSeed(int seed, long eventId) {
    int lo = (int) eventId;
    int hi = (int) (eventId >>> 32);
    return fmix32(fmix32(lo ^ seed) + hi);
  }

  /** mulberry32: an unsigned 32-bit value. */
  private long next() {
    int a = state + 0x6d2b79f5;
    state = a;
    int t = (a ^ (a >>> 15)) * (1 | a);
    t = (t + ((t ^ (t >>> 7)) * (61 | t))) ^ t;
    return (t ^ (t >>> 14)) & 0xFFFFFFFFL;
  }

  /** floor(u * n / 2^32), n < 2^31. */
  private long nextInt(long n) {
    return (next() * n) >>> 32;
  }

  private static String makePool(int seed, int salt, boolean spaced) {
    Generator g = new Generator();
    g.state = fmix32(seed ^ salt);
    char[] chars = new char[POOL_OFFSETS + POOL_SLACK];
    for (int i = 0; i < chars.length; i++) {
      if (spaced && g.nextInt(13) == 0) chars[i] = ' ';
      else chars[i] = (char) ('a' + g.nextInt(26));
    }
    return new String(chars);
  }

  /** Only for makePool. */
  private Generator() {
    this.config = null;
    this.totalProportion = 0;
    this.interEventDelayUs = 0;
    this.numEventsForAuctions = 0;
    this.letters = null;
    this.spaced = null;
  }

  /** Price tables: see PRICE_HI / PRICE_MID / PRICE_LO in generator.ts (10^(6·a/2^11), 10^(6·b/2^22), 10^(6·c/2^32)). */
  static final double[] PRICE_HI = powerTable(2048, 0x3ff01bb97424ccd6L);
  static final double[] PRICE_MID = powerTable(2048, 0x3ff000037431b2a1L);
  static final double[] PRICE_LO = powerTable(1024, 0x3ff0000000dd0c55L);

  private static double[] powerTable(int length, long stepBits) {
    double step = Double.longBitsToDouble(stepBits);
    double[] table = new double[length];
    table[0] = 1;
    for (int i = 1; i < length; i++) table[i] = table[i - 1] * step;
    return table;
  }

  private long nextPrice() {
    long u = next();
    return Math.round(PRICE_HI[(int) (u >>> 21)] * PRICE_MID[(int) ((u >>> 10) & 2047)] * PRICE_LO[(int) (u & 1023)] * 100.0);
  }

  private String nextExactString(int length) {
    if (length > POOL_SLACK) throw new IllegalStateException("string longer than the pool allows: " + length);
    int from = (int) nextInt(POOL_OFFSETS);
    return letters.substring(from, from + length);
  }

  private String nextString(int maxLength) {
    int length = MIN_STRING_LENGTH + (int) nextInt(maxLength - MIN_STRING_LENGTH);
    int from = (int) nextInt(POOL_OFFSETS);
    return spaced.substring(from, from + length).trim();
  }

  private String nextExtra(int currentSize, int desiredAverageSize) {
    if (currentSize > desiredAverageSize) return "";
    int desired = desiredAverageSize - currentSize;
    int delta = (int) Math.round(desired * 0.2);
    int minSize = desired - delta;
    return nextExactString(minSize + (delta == 0 ? 0 : (int) nextInt(2L * delta)));
  }

  long timestampForEvent(long eventNumber) {
    return config.baseTime + ((long) (eventNumber * interEventDelayUs)) / 1000L;
  }

  /** See lastBase0PersonId in generator.ts: epoch and offset of the event id are computed once, in generate. */
  private long lastBase0PersonId(long epoch, long offset) {
    if (offset >= config.personProportion) offset = config.personProportion - 1;
    return epoch * config.personProportion + offset;
  }

  private long lastBase0AuctionId(long epoch, long offset) {
    if (offset < config.personProportion) {
      epoch--;
      offset = config.auctionProportion - 1;
    } else if (offset >= config.personProportion + config.auctionProportion) {
      offset = config.auctionProportion - 1;
    } else {
      offset -= config.personProportion;
    }
    return epoch * config.auctionProportion + offset;
  }

  private long nextBase0PersonId(long lastPersonId) {
    long numPeople = lastPersonId + 1;
    long activePeople = Math.min(numPeople, config.numActivePeople);
    return numPeople - activePeople + nextInt(activePeople + PERSON_ID_LEAD);
  }

  private long nextBase0AuctionId(long lastAuctionId) {
    long maxAuction = lastAuctionId;
    long minAuction = Math.max(maxAuction - config.numInFlightAuctions, 0);
    return minAuction + nextInt(maxAuction - minAuction + 1 + AUCTION_ID_LEAD);
  }

  private Person nextPerson(long epoch, long offset, long timestamp) {
    Person p = new Person();
    p.id = lastBase0PersonId(epoch, offset) + FIRST_PERSON_ID;
    p.name = FIRST_NAMES[(int) nextInt(FIRST_NAMES.length)] + " " + LAST_NAMES[(int) nextInt(LAST_NAMES.length)];
    p.emailAddress = nextString(7) + "@" + nextString(5) + ".com";
    StringBuilder cc = new StringBuilder(19);
    for (int i = 0; i < 4; i++) {
      if (i > 0) cc.append(' ');
      String digits = Long.toString(nextInt(10000));
      for (int k = digits.length(); k < 4; k++) cc.append('0');
      cc.append(digits);
    }
    p.creditCard = cc.toString();
    p.city = US_CITIES[(int) nextInt(US_CITIES.length)];
    p.state = US_STATES[(int) nextInt(US_STATES.length)];
    int currentSize = 8 + p.name.length() + p.emailAddress.length() + p.creditCard.length() + p.city.length() + p.state.length();
    p.extra = nextExtra(currentSize, config.avgPersonByteSize);
    p.dateTime = timestamp;
    return p;
  }

  private Auction nextAuction(long eventId, long epoch, long offset, long timestamp) {
    Auction a = new Auction();
    a.id = lastBase0AuctionId(epoch, offset) + FIRST_AUCTION_ID;
    long lastPersonId = lastBase0PersonId(epoch, offset);
    long seller;
    if (nextInt(config.hotSellersRatio) > 0) seller = (lastPersonId / HOT_SELLER_RATIO) * HOT_SELLER_RATIO;
    else seller = nextBase0PersonId(lastPersonId);
    a.seller = seller + FIRST_PERSON_ID;
    a.category = FIRST_CATEGORY_ID + nextInt(NUM_CATEGORIES);
    a.initialBid = nextPrice();
    long horizonMs = timestampForEvent(eventId + numEventsForAuctions) - timestamp;
    a.expires = timestamp + 1 + nextInt(Math.max(horizonMs * 2, 1L));
    a.itemName = nextString(20);
    a.description = nextString(100);
    a.reserve = a.initialBid + nextPrice();
    int currentSize = 8 + a.itemName.length() + a.description.length() + 8 + 8 + 8 + 8 + 8;
    a.extra = nextExtra(currentSize, config.avgAuctionByteSize);
    a.dateTime = timestamp;
    return a;
  }

  private Bid nextBid(long epoch, long offset, long timestamp) {
    Bid b = new Bid();
    long lastAuctionId = lastBase0AuctionId(epoch, offset);
    long auction;
    if (nextInt(config.hotAuctionRatio) > 0) auction = (lastAuctionId / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO;
    else auction = nextBase0AuctionId(lastAuctionId);
    b.auction = auction + FIRST_AUCTION_ID;
    long lastPersonId = lastBase0PersonId(epoch, offset);
    long bidder;
    if (nextInt(config.hotBiddersRatio) > 0) bidder = (lastPersonId / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1;
    else bidder = nextBase0PersonId(lastPersonId);
    b.bidder = bidder + FIRST_PERSON_ID;
    b.price = nextPrice();
    b.extra = nextExtra(8 + 8 + 8 + 8, config.avgBidByteSize);
    b.dateTime = timestamp;
    return b;
  }

  /** The event at position `index` (a function of the index only). */
  public Event generate(long index) {
    long groupSize = config.outOfOrderGroupSize;
    long eventId = groupSize == 1 ? index : index - (index % groupSize) + ((index * OUT_OF_ORDER_MULTIPLIER) % groupSize);
    long timestamp = timestampForEvent(eventId);
    state = eventSeed(config.seed, eventId);
    long epoch = eventId / totalProportion;
    long offset = eventId - epoch * totalProportion;
    Event e = new Event();
    if (offset < config.personProportion) {
      e.kind = Model.PERSON;
      e.person = nextPerson(epoch, offset, timestamp);
    } else if (offset < config.personProportion + config.auctionProportion) {
      e.kind = Model.AUCTION;
      e.auction = nextAuction(eventId, epoch, offset, timestamp);
    } else {
      e.kind = Model.BID;
      e.bid = nextBid(epoch, offset, timestamp);
    }
    return e;
  }
}
