package fluxion.nexmark;

import fluxion.nexmark.Model.Auction;
import fluxion.nexmark.Model.AuctionCount;
import fluxion.nexmark.Model.AuctionPrice;
import fluxion.nexmark.Model.Bid;
import fluxion.nexmark.Model.BidRow;
import fluxion.nexmark.Model.BidderCount;
import fluxion.nexmark.Model.CategoryAverage;
import fluxion.nexmark.Model.ClosedAuction;
import fluxion.nexmark.Model.EuroBidRow;
import fluxion.nexmark.Model.Event;
import fluxion.nexmark.Model.HotItem;
import fluxion.nexmark.Model.LocalItem;
import fluxion.nexmark.Model.NewUser;
import fluxion.nexmark.Model.Person;
import fluxion.nexmark.Model.SellerWindow;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeHint;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.windowing.WindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.EventTimeSessionWindows;
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingProcessingTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

/**
 * The Nexmark queries on Flink's DataStream API: the same dataflows as bench/nexmark/queries/*.ts
 * (read those for the SQL each implements and why it is built this way).
 */
public final class Queries {
  private Queries() {}

  public static String latencyMode(String query) {
    switch (query) {
      case "q0": case "q1": case "q2": case "q3": return "record";
      case "q12": return "processing";
      default: return "watermark";
    }
  }

  public static DataStream<?> build(String query, DataStream<Event> events) {
    return build(query, events, "sliced");
  }

  /** q5Mode: how q5 counts bids per auction and window, "sliced" or "windows" (NexmarkJob --q5-mode). */
  public static DataStream<?> build(String query, DataStream<Event> events, String q5Mode) {
    switch (query) {
      case "q0": return q0(events);
      case "q1": return q1(events);
      case "q2": return q2(events);
      case "q3": return q3(events);
      case "q4": return q4(events);
      case "q5": return q5(events, q5Mode);
      case "q7": return q7(events);
      case "q8": return q8(events);
      case "q11": return q11(events);
      case "q12": return q12(events);
      default: throw new IllegalArgumentException("unknown query " + query);
    }
  }

  static DataStream<Bid> bids(DataStream<Event> events) {
    return events.filter(e -> e.kind == Model.BID).name("bids").map(e -> e.bid).returns(Bid.class).name("bid");
  }

  /** COUNT(*). */
  public static final class Count<T> implements AggregateFunction<T, Long, Long> {
    @Override public Long createAccumulator() { return 0L; }
    @Override public Long add(T value, Long acc) { return acc + 1; }
    @Override public Long getResult(Long acc) { return acc; }
    @Override public Long merge(Long a, Long b) { return a + b; }
  }

  // ---- q0 q1 q2: stateless ------------------------------------------------------------------

  static DataStream<BidRow> q0(DataStream<Event> events) {
    return events.filter(e -> e.kind == Model.BID).name("bids").map(e -> BidRow.of(e.bid)).returns(BidRow.class).name("q0-project");
  }

  static DataStream<EuroBidRow> q1(DataStream<Event> events) {
    return events.filter(e -> e.kind == Model.BID).name("bids").map(e -> {
      EuroBidRow r = new EuroBidRow();
      r.auction = e.bid.auction;
      r.bidder = e.bid.bidder;
      r.price = (double) (e.bid.price * 908) / 1000.0;
      r.dateTime = e.bid.dateTime;
      r.extra = e.bid.extra;
      return r;
    }).returns(EuroBidRow.class).name("q1-convert");
  }

  static DataStream<AuctionPrice> q2(DataStream<Event> events) {
    return events.filter(e -> e.kind == Model.BID).name("bids")
        .filter(e -> e.bid.auction % 123 == 0).name("q2-select")
        .map(e -> {
          AuctionPrice r = new AuctionPrice();
          r.auction = e.bid.auction;
          r.price = e.bid.price;
          return r;
        }).returns(AuctionPrice.class).name("q2-project");
  }

  // ---- q3: incremental join -----------------------------------------------------------------

  static final Set<String> LOCAL_STATES = Set.of("OR", "ID", "CA");

  static DataStream<LocalItem> q3(DataStream<Event> events) {
    return events
        .filter(e -> (e.kind == Model.AUCTION && e.auction.category == 10) || (e.kind == Model.PERSON && LOCAL_STATES.contains(e.person.state))).name("q3-filter")
        .keyBy(e -> e.kind == Model.PERSON ? e.person.id : e.auction.seller, Types.LONG)
        .process(new Q3Join()).returns(LocalItem.class).name("q3-join");
  }

  static final class Q3Join extends KeyedProcessFunction<Long, Event, LocalItem> {
    private transient ValueState<Tuple3<String, String, String>> seller;
    private transient ListState<Long> waiting;

    @Override
    public void open(OpenContext ctx) {
      seller = getRuntimeContext().getState(new ValueStateDescriptor<>("q3-seller", TypeInformation.of(new TypeHint<Tuple3<String, String, String>>() {})));
      waiting = getRuntimeContext().getListState(new ListStateDescriptor<>("q3-waiting-auctions", Types.LONG));
    }

    @Override
    public void processElement(Event e, Context ctx, Collector<LocalItem> out) throws Exception {
      if (e.kind == Model.PERSON) {
        Tuple3<String, String, String> s = Tuple3.of(e.person.name, e.person.city, e.person.state);
        seller.update(s);
        boolean any = false;
        for (Long id : waiting.get()) {
          out.collect(item(s, id));
          any = true;
        }
        if (any) waiting.clear();
      } else {
        Tuple3<String, String, String> s = seller.value();
        if (s != null) out.collect(item(s, e.auction.id));
        else waiting.add(e.auction.id);
      }
    }

    private static LocalItem item(Tuple3<String, String, String> s, long id) {
      LocalItem r = new LocalItem();
      r.name = s.f0;
      r.city = s.f1;
      r.state = s.f2;
      r.id = id;
      return r;
    }
  }

  // ---- q4: average winning price per category ------------------------------------------------

  static DataStream<CategoryAverage> q4(DataStream<Event> events) {
    return events
        .filter(e -> e.kind != Model.PERSON).name("q4-auctions-and-bids")
        .keyBy(e -> e.kind == Model.BID ? e.bid.auction : e.auction.id, Types.LONG)
        .process(new WinningBids()).returns(ClosedAuction.class).name("q4-winning-bids")
        .keyBy(c -> c.category, Types.LONG)
        .process(new AveragePerCategory()).returns(CategoryAverage.class).name("q4-average");
  }

  public static class OpenAuction {
    public long dateTime;
    public long expires;
    public long category;
    public long max;

    public OpenAuction() {}
  }

  static final class WinningBids extends KeyedProcessFunction<Long, Event, ClosedAuction> {
    private transient ValueState<OpenAuction> open;
    private transient ValueState<Boolean> closed;
    private transient ListState<Tuple2<Long, Long>> early;

    @Override
    public void open(OpenContext ctx) {
      open = getRuntimeContext().getState(new ValueStateDescriptor<>("q4-auction", OpenAuction.class));
      closed = getRuntimeContext().getState(new ValueStateDescriptor<>("q4-closed", Types.BOOLEAN));
      early = getRuntimeContext().getListState(new ListStateDescriptor<>("q4-early-bids", TypeInformation.of(new TypeHint<Tuple2<Long, Long>>() {})));
    }

    @Override
    public void processElement(Event e, Context ctx, Collector<ClosedAuction> out) throws Exception {
      if (e.kind == Model.AUCTION) {
        Auction a = e.auction;
        long max = -1;
        boolean any = false;
        for (Tuple2<Long, Long> b : early.get()) {
          any = true;
          if (b.f0 >= a.dateTime && b.f0 <= a.expires && b.f1 > max) max = b.f1;
        }
        if (any) early.clear();
        OpenAuction o = new OpenAuction();
        o.dateTime = a.dateTime;
        o.expires = a.expires;
        o.category = a.category;
        o.max = max;
        open.update(o);
        ctx.timerService().registerEventTimeTimer(a.expires);
        return;
      }
      Bid b = e.bid;
      OpenAuction o = open.value();
      if (o != null) {
        if (b.dateTime >= o.dateTime && b.dateTime <= o.expires && b.price > o.max) {
          o.max = b.price;
          open.update(o);
        }
      } else if (!Boolean.TRUE.equals(closed.value())) {
        early.add(Tuple2.of(b.dateTime, b.price));
        ctx.timerService().registerEventTimeTimer(b.dateTime);
      }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<ClosedAuction> out) throws Exception {
      OpenAuction o = open.value();
      if (o != null) {
        if (timestamp != o.expires) return;
        if (o.max >= 0) {
          ClosedAuction c = new ClosedAuction();
          c.auction = ctx.getCurrentKey();
          c.category = o.category;
          c.fin = o.max;
          c.expires = o.expires;
          out.collect(c);
        }
        open.clear();
        closed.update(true);
        return;
      }
      List<Tuple2<Long, Long>> keep = new ArrayList<>();
      boolean any = false;
      for (Tuple2<Long, Long> b : early.get()) {
        any = true;
        if (b.f0 > timestamp) keep.add(b);
      }
      if (!any) return;
      if (keep.isEmpty()) early.clear();
      else early.update(keep);
    }
  }

  static final class AveragePerCategory extends KeyedProcessFunction<Long, ClosedAuction, CategoryAverage> {
    private transient ListState<ClosedAuction> pending;
    private transient ValueState<Tuple2<Long, Long>> avg;

    @Override
    public void open(OpenContext ctx) {
      pending = getRuntimeContext().getListState(new ListStateDescriptor<>("q4-pending", ClosedAuction.class));
      avg = getRuntimeContext().getState(new ValueStateDescriptor<>("q4-average", TypeInformation.of(new TypeHint<Tuple2<Long, Long>>() {})));
    }

    @Override
    public void processElement(ClosedAuction c, Context ctx, Collector<CategoryAverage> out) throws Exception {
      pending.add(c);
      ctx.timerService().registerEventTimeTimer(c.expires);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<CategoryAverage> out) throws Exception {
      List<ClosedAuction> ready = new ArrayList<>();
      List<ClosedAuction> rest = new ArrayList<>();
      for (ClosedAuction c : pending.get()) (c.expires <= timestamp ? ready : rest).add(c);
      if (ready.isEmpty()) return;
      ready.sort(Comparator.<ClosedAuction>comparingLong(c -> c.expires).thenComparingLong(c -> c.auction));
      if (rest.isEmpty()) pending.clear();
      else pending.update(rest);
      Tuple2<Long, Long> a = avg.value();
      long sum = a == null ? 0 : a.f0;
      long count = a == null ? 0 : a.f1;
      for (ClosedAuction c : ready) {
        sum += c.fin;
        count++;
        CategoryAverage r = new CategoryAverage();
        r.id = ctx.getCurrentKey();
        r.fin = sum / count;
        out.collect(r);
      }
      avg.update(Tuple2.of(sum, count));
    }
  }

  // ---- q5: hot items ---------------------------------------------------------------------------

  public static class Hottest {
    public long max;
    public List<Long> auctions = new ArrayList<>();

    public Hottest() {}
  }

  static final class HottestAgg implements AggregateFunction<AuctionCount, Hottest, Hottest> {
    @Override public Hottest createAccumulator() { return new Hottest(); }

    @Override
    public Hottest add(AuctionCount c, Hottest acc) {
      if (c.num > acc.max) {
        acc.max = c.num;
        acc.auctions = new ArrayList<>();
        acc.auctions.add(c.auction);
      } else if (c.num == acc.max) {
        acc.auctions.add(c.auction);
      }
      return acc;
    }

    @Override public Hottest getResult(Hottest acc) { return acc; }

    @Override
    public Hottest merge(Hottest a, Hottest b) {
      if (a.max != b.max) return a.max > b.max ? a : b;
      a.auctions.addAll(b.auctions);
      return a;
    }
  }

  static final long Q5_SIZE = 10_000;
  static final long Q5_SLIDE = 2_000;

  /** q5's first stage as Flink's window operator runs it: every bid is added to its 5 sliding windows' accumulators. */
  static DataStream<AuctionCount> q5CountWindows(DataStream<Bid> bids) {
    return bids
        .keyBy(b -> b.auction, Types.LONG)
        .window(SlidingEventTimeWindows.of(Duration.ofMillis(Q5_SIZE), Duration.ofMillis(Q5_SLIDE)))
        .aggregate(new Count<Bid>(), new WindowFunction<Long, AuctionCount, Long, TimeWindow>() {
          @Override
          public void apply(Long auction, TimeWindow w, Iterable<Long> counts, Collector<AuctionCount> out) {
            AuctionCount c = new AuctionCount();
            c.auction = auction;
            c.num = counts.iterator().next();
            c.end = w.getEnd();
            out.collect(c);
          }
        }).name("q5-count");
  }

  /** q5's first stage sliced, as Flink SQL runs a HOP window aggregation (SlicingWindowOperator, SliceSharedAssigner): see SlicedCount. */
  static DataStream<AuctionCount> q5CountSliced(DataStream<Bid> bids) {
    return bids
        .keyBy(b -> b.auction, Types.LONG)
        .process(new SlicedCount(Q5_SIZE, Q5_SLIDE)).returns(AuctionCount.class).name("q5-count-sliced");
  }

  /**
   * COUNT(*) per key over sliding event-time windows (size a multiple of slide, offset 0, allowed
   * lateness 0), with one count per key and slice (slide-long, aligned to the epoch) instead of one
   * per window: a record updates one count; a window's count is the sum of its size / slide slices
   * when its timer fires. The DataStream API has no sliced window assigner, hence this function.
   *
   * <p>State: one {@code long[]} per key, pairs (slice start, count), in the order the slices were
   * first seen (at most a few live slices per key, so a linear scan from the end, where the current
   * slice usually is, beats a MapState's hashing and boxing on the heap backend; on RocksDB it is one
   * small value per key). When a slice gets its first record, an event-time timer is registered at
   * end − 1 of every window containing it that is not already late (the timer service deduplicates
   * the same timer registered by other slices). onTimer(t): window end = t + 1; the slices in
   * [end − size, end) are summed and, when the sum is positive (a window exists only if a record was
   * added to it), {@code AuctionCount{key, sum, end}} is emitted with timestamp t (end − 1: the
   * window operator's window.maxTimestamp()); then the slice starting at end − size is removed, no
   * later window containing it.
   *
   * <p>Lateness as the window operator: a window is late when end − 1 ≤ the current watermark; a
   * record whose every window is late (the one ending at slice start + size) is dropped. A record in
   * an existing slice whose earliest windows are late changes only the windows still to fire (the
   * late ones have fired already: their timers were due at or before the watermark), exactly the
   * windows the window operator would add it to.
   */
  static final class SlicedCount extends KeyedProcessFunction<Long, Bid, AuctionCount> {
    private final long size;
    private final long slide;
    private transient ValueState<long[]> slices;

    SlicedCount(long size, long slide) {
      if (size <= 0 || slide <= 0 || size % slide != 0) throw new IllegalArgumentException("size must be a positive multiple of slide");
      this.size = size;
      this.slide = slide;
    }

    @Override
    public void open(OpenContext ctx) {
      slices = getRuntimeContext().getState(new ValueStateDescriptor<>("q5-slices", PrimitiveArrayTypeInfo.LONG_PRIMITIVE_ARRAY_TYPE_INFO));
    }

    @Override
    public void processElement(Bid b, Context ctx, Collector<AuctionCount> out) throws Exception {
      long slice = TimeWindow.getWindowStartWithOffset(ctx.timestamp(), 0, slide);
      long[] a = slices.value();
      if (a != null) {
        for (int i = a.length - 2; i >= 0; i -= 2) {
          if (a[i] == slice) {
            a[i + 1]++;
            slices.update(a);
            return;
          }
        }
      }
      long watermark = ctx.timerService().currentWatermark();
      if (slice + size - 1 <= watermark) return; // every window of the record is late: dropped
      int n = a == null ? 0 : a.length;
      long[] grown = new long[n + 2];
      if (n > 0) System.arraycopy(a, 0, grown, 0, n);
      grown[n] = slice;
      grown[n + 1] = 1;
      slices.update(grown);
      for (long end = slice + slide; end <= slice + size; end += slide) {
        if (end - 1 > watermark) ctx.timerService().registerEventTimeTimer(end - 1);
      }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<AuctionCount> out) throws Exception {
      long[] a = slices.value();
      if (a == null) return;
      long end = timestamp + 1;
      long start = end - size;
      long sum = 0;
      int expired = -1;
      for (int i = 0; i < a.length; i += 2) {
        if (a[i] >= start && a[i] < end) sum += a[i + 1];
        if (a[i] == start) expired = i;
      }
      if (sum > 0) {
        AuctionCount c = new AuctionCount();
        c.auction = ctx.getCurrentKey();
        c.num = sum;
        c.end = end;
        out.collect(c);
      }
      if (expired < 0) return;
      if (a.length == 2) {
        slices.clear();
        return;
      }
      long[] rest = new long[a.length - 2];
      System.arraycopy(a, 0, rest, 0, expired);
      System.arraycopy(a, expired + 2, rest, expired, a.length - expired - 2);
      slices.update(rest);
    }
  }

  /** q5's first stage: "sliced" (default; Flink SQL's HOP slicing, like Fluxion's q5) or "windows" (the window operator). */
  static DataStream<AuctionCount> q5Count(DataStream<Bid> bids, String mode) {
    switch (mode) {
      case "sliced": return q5CountSliced(bids);
      case "windows": return q5CountWindows(bids);
      default: throw new IllegalArgumentException("--q5-mode must be sliced or windows, got " + mode);
    }
  }

  static DataStream<HotItem> q5(DataStream<Event> events, String mode) {
    return q5Count(bids(events), mode)
        .keyBy(c -> c.end, Types.LONG)
        .window(TumblingEventTimeWindows.of(Duration.ofSeconds(2)))
        .aggregate(new HottestAgg()).name("q5-hottest")
        .flatMap((Hottest h, Collector<HotItem> out) -> {
          for (Long a : h.auctions) {
            HotItem r = new HotItem();
            r.auction = a;
            r.num = h.max;
            out.collect(r);
          }
        }).returns(HotItem.class).name("q5-hot-items");
  }

  // ---- q7: highest bid -------------------------------------------------------------------------

  static final long Q7_WINDOW = 10_000;

  public static class Partial {
    public long max = -1;
    public List<Bid> top = new ArrayList<>();
    public List<Bid> starts = new ArrayList<>();
    public long end;

    public Partial() {}
  }

  static Partial mergePartials(Partial a, Partial b) {
    Partial r = new Partial();
    r.end = a.end;
    r.max = Math.max(a.max, b.max);
    if (a.max == b.max) {
      r.top.addAll(a.top);
      r.top.addAll(b.top);
    } else {
      r.top.addAll(a.max > b.max ? a.top : b.top);
    }
    r.starts.addAll(a.starts);
    r.starts.addAll(b.starts);
    return r;
  }

  static final class MaxWithTies implements AggregateFunction<Bid, Partial, Partial> {
    @Override public Partial createAccumulator() { return new Partial(); }

    @Override
    public Partial add(Bid b, Partial acc) {
      if (b.price > acc.max) {
        acc.max = b.price;
        acc.top = new ArrayList<>();
        acc.top.add(b);
      } else if (b.price == acc.max) {
        acc.top.add(b);
      }
      if (b.dateTime % Q7_WINDOW == 0) acc.starts.add(b);
      return acc;
    }

    @Override public Partial getResult(Partial acc) { return acc; }
    @Override public Partial merge(Partial a, Partial b) { return mergePartials(a, b); }
  }

  static final class JoinHighest extends KeyedProcessFunction<Long, Partial, BidRow> {
    private transient MapState<Long, Partial> partials;
    private transient ValueState<Tuple2<Long, Long>> last;

    @Override
    public void open(OpenContext ctx) {
      partials = getRuntimeContext().getMapState(new MapStateDescriptor<>("q7-partials", Types.LONG, TypeInformation.of(Partial.class)));
      last = getRuntimeContext().getState(new ValueStateDescriptor<>("q7-last-window", TypeInformation.of(new TypeHint<Tuple2<Long, Long>>() {})));
    }

    @Override
    public void processElement(Partial p, Context ctx, Collector<BidRow> out) throws Exception {
      Partial seen = partials.get(p.end);
      partials.put(p.end, seen == null ? p : mergePartials(seen, p));
      ctx.timerService().registerEventTimeTimer(p.end - 1);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<BidRow> out) throws Exception {
      long end = timestamp + 1;
      Partial p = partials.get(end);
      if (p == null) return;
      partials.remove(end);
      for (Bid b : p.top) out.collect(BidRow.of(b));
      Tuple2<Long, Long> l = last.value();
      if (l != null && l.f0 == end - Q7_WINDOW) {
        for (Bid b : p.starts) if (b.price == l.f1) out.collect(BidRow.of(b));
      }
      last.update(Tuple2.of(end, p.max));
    }
  }

  static DataStream<BidRow> q7(DataStream<Event> events) {
    return bids(events)
        .keyBy(b -> b.auction, Types.LONG)
        .window(TumblingEventTimeWindows.of(Duration.ofMillis(Q7_WINDOW)))
        .aggregate(new MaxWithTies(), new WindowFunction<Partial, Partial, Long, TimeWindow>() {
          @Override
          public void apply(Long auction, TimeWindow w, Iterable<Partial> ps, Collector<Partial> out) {
            Partial p = ps.iterator().next();
            p.end = w.getEnd();
            out.collect(p);
          }
        }).name("q7-max-per-auction")
        .keyBy(p -> 0L, Types.LONG)
        .process(new JoinHighest()).returns(BidRow.class).name("q7-join-highest");
  }

  // ---- q8: new users ---------------------------------------------------------------------------

  static final class Any<T> implements AggregateFunction<T, Long, Long> {
    @Override public Long createAccumulator() { return 0L; }
    @Override public Long add(T value, Long acc) { return 0L; }
    @Override public Long getResult(Long acc) { return 0L; }
    @Override public Long merge(Long a, Long b) { return 0L; }
  }

  static DataStream<NewUser> q8(DataStream<Event> events) {
    DataStream<Person> persons = events.filter(e -> e.kind == Model.PERSON).name("persons").map(e -> e.person).returns(Person.class);
    DataStream<SellerWindow> sellers = events.filter(e -> e.kind == Model.AUCTION).name("auctions").map(e -> e.auction).returns(Auction.class)
        .keyBy(a -> a.seller, Types.LONG)
        .window(TumblingEventTimeWindows.of(Duration.ofSeconds(10)))
        .aggregate(new Any<Auction>(), new WindowFunction<Long, SellerWindow, Long, TimeWindow>() {
          @Override
          public void apply(Long seller, TimeWindow w, Iterable<Long> ignored, Collector<SellerWindow> out) {
            SellerWindow s = new SellerWindow();
            s.seller = seller;
            s.start = w.getStart();
            out.collect(s);
          }
        }).name("q8-sellers");
    return persons.join(sellers)
        .where(p -> p.id, Types.LONG)
        .equalTo(s -> s.seller, Types.LONG)
        .window(TumblingEventTimeWindows.of(Duration.ofSeconds(10)))
        .apply((Person p, SellerWindow s) -> {
          NewUser u = new NewUser();
          u.id = p.id;
          u.name = p.name;
          u.stime = s.start;
          return u;
        }, TypeInformation.of(NewUser.class));
  }

  // ---- q11, q12: sessions and processing-time windows per bidder -------------------------------

  static final class ToBidderCount implements WindowFunction<Long, BidderCount, Long, TimeWindow> {
    @Override
    public void apply(Long bidder, TimeWindow w, Iterable<Long> counts, Collector<BidderCount> out) {
      BidderCount c = new BidderCount();
      c.bidder = bidder;
      c.bidCount = counts.iterator().next();
      c.starttime = w.getStart();
      c.endtime = w.getEnd();
      out.collect(c);
    }
  }

  static DataStream<BidderCount> q11(DataStream<Event> events) {
    return bids(events)
        .keyBy(b -> b.bidder, Types.LONG)
        .window(EventTimeSessionWindows.withGap(Duration.ofSeconds(10)))
        .aggregate(new Count<Bid>(), new ToBidderCount()).name("q11-sessions");
  }

  static DataStream<BidderCount> q12(DataStream<Event> events) {
    return bids(events)
        .keyBy(b -> b.bidder, Types.LONG)
        .window(TumblingProcessingTimeWindows.of(Duration.ofSeconds(10)))
        .aggregate(new Count<Bid>(), new ToBidderCount()).name("q12-windows");
  }
}
