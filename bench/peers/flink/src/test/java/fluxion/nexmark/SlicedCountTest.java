package fluxion.nexmark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import fluxion.nexmark.Model.AuctionCount;
import fluxion.nexmark.Model.Bid;
import fluxion.nexmark.Model.Event;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.contrib.streaming.state.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.CloseableIterator;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.Test;

/**
 * q5's sliced count (Queries.SlicedCount) must give exactly what the sliding window operator gives
 * (Queries.q5CountWindows): the same (auction, count, window end) rows with the same timestamps
 * (end − 1), including records that are late for some or all of their windows.
 */
class SlicedCountTest {
  /** A bid with this auction is not a bid: its dateTime is the watermark to emit at this point of the stream. */
  static final long MARK = -1;

  /** One job at parallelism p on a local MiniCluster: the first stage's rows as "auction num end timestamp", sorted. */
  static List<String> run(int p, boolean rocksdb, Function<StreamExecutionEnvironment, DataStream<Bid>> bids, Function<DataStream<Bid>, DataStream<AuctionCount>> stage) throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(p, new Configuration());
    env.getConfig().enableObjectReuse();
    if (rocksdb) env.setStateBackend(new EmbeddedRocksDBStateBackend());
    DataStream<String> rows = stage.apply(bids.apply(env)).process(new ProcessFunction<AuctionCount, String>() {
      @Override
      public void processElement(AuctionCount c, Context ctx, Collector<String> out) {
        out.collect(c.auction + " " + c.num + " " + c.end + " " + ctx.timestamp());
      }
    }).returns(Types.STRING);
    List<String> out = new ArrayList<>();
    try (CloseableIterator<String> it = rows.executeAndCollect()) {
      while (it.hasNext()) out.add(it.next());
    }
    Collections.sort(out);
    return out;
  }

  /** Bids in the given order; watermarks only where the list has a MARK. */
  static DataStream<Bid> scripted(StreamExecutionEnvironment env, List<Bid> script) {
    WatermarkStrategy<Bid> marks = WatermarkStrategy.<Bid>forGenerator(ctx -> new WatermarkGenerator<Bid>() {
      @Override
      public void onEvent(Bid b, long ts, WatermarkOutput out) {
        if (b.auction == MARK) out.emitWatermark(new Watermark(b.dateTime));
      }

      @Override
      public void onPeriodicEmit(WatermarkOutput out) {}
    }).withTimestampAssigner((b, t) -> b.dateTime);
    return env.fromData(script).assignTimestampsAndWatermarks(marks).filter(b -> b.auction != MARK);
  }

  static Bid bid(long auction, long dateTime) {
    Bid b = new Bid();
    b.auction = auction;
    b.dateTime = dateTime;
    b.extra = "";
    return b;
  }

  /** Random bids on 5 auctions around an advancing clock, a quarter of them up to 14 s behind it, and a watermark 0–3 s behind the clock now and then. */
  static List<Bid> randomScript(long seed, int n, int[] lateCounts) {
    Random r = new Random(seed);
    List<Bid> script = new ArrayList<>();
    long clock = 1_000_000 + r.nextInt(2000);
    long watermark = Long.MIN_VALUE;
    for (int i = 0; i < n; i++) {
      clock += r.nextInt(40);
      if (r.nextInt(20) == 0) {
        long w = clock - r.nextInt(3000);
        if (w > watermark) {
          watermark = w;
          script.add(bid(MARK, w));
        }
      }
      long ts = clock - (r.nextInt(4) == 0 ? r.nextInt(14_000) : r.nextInt(500));
      script.add(bid(r.nextInt(5), ts));
      long slice = ts - Math.floorMod(ts, 2000);
      if (slice + 10_000 - 1 <= watermark) lateCounts[0]++; // every window late: dropped
      else if (slice + 2000 - 1 <= watermark) lateCounts[1]++; // late for its first windows only
    }
    return script;
  }

  @Test
  void slicedCountEqualsTheWindowOperatorWithLateRecords() throws Exception {
    for (long seed = 1; seed <= 3; seed++) {
      int[] late = new int[2];
      List<Bid> script = randomScript(seed, 4000, late);
      assertTrue(late[0] > 20 && late[1] > 20, "the script must have late records: " + late[0] + " dropped, " + late[1] + " partly late");
      List<String> windows = run(1, false, env -> scripted(env, script), Queries::q5CountWindows);
      List<String> sliced = run(1, false, env -> scripted(env, script), Queries::q5CountSliced);
      assertTrue(windows.size() > 100, "rows: " + windows.size());
      assertEquals(windows, sliced, "seed " + seed);
      if (seed == 1) assertEquals(windows, run(1, true, env -> scripted(env, script), Queries::q5CountSliced), "RocksDB, seed 1");
    }
  }

  @Test
  void slicedCountEqualsTheWindowOperatorOnTheGenerator() throws Exception {
    Generator.Config config = new Generator.Config();
    config.eventsPerSecond = 2000;
    config.outOfOrderGroupSize = 2000;
    Function<StreamExecutionEnvironment, DataStream<Bid>> bids = env -> Queries.bids(
        env.addSource(new NexmarkJob.NexmarkSource(60_000, config)).assignTimestampsAndWatermarks(NexmarkJob.watermarks(256)));
    List<String> windows = run(2, false, bids, Queries::q5CountWindows);
    assertTrue(windows.size() > 1000, "rows: " + windows.size());
    assertEquals(windows, run(2, false, bids, Queries::q5CountSliced));
  }

  @Test
  void unknownModeIsRefused() {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(1, new Configuration());
    DataStream<Event> none = env.fromData(new Event()).returns(Event.class);
    IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> Queries.build("q5", none, "panes"));
    assertTrue(e.getMessage().contains("sliced or windows"));
  }
}
