package fluxion.nexmark;

import fluxion.nexmark.Model.Event;
import java.util.HashMap;
import java.util.Map;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.contrib.streaming.state.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.RichSinkFunction;
import org.apache.flink.streaming.api.functions.source.RichParallelSourceFunction;

/**
 * One Flink Nexmark run on a local MiniCluster, the peer of bench/nexmark/job.ts: warm-up (two jobs), then
 * the measured run, then one line `NEXMARK_RESULT {json}` on stdout.
 *
 *   java -cp target/nexmark-flink-peer-0.1.0.jar:target/lib/* fluxion.nexmark.NexmarkJob
 *        --query q5 --events 2000000 --parallelism 2 [--state memory|rocksdb] [--batch-size 1024]
 *        [--warmup-events N] [--rate 100000] [--ooo-group 1000] [--seed 1] [--digest true]
 *        [--q5-mode sliced|windows]   (q5's count per auction: one count per 2 s slice, merged per
 *                                      10 s window as Flink SQL's HOP slicing does, the default; or
 *                                      DataStream's sliding window operator, 5 accumulators per bid)
 *        [--source kafka --topic T --warmup-topic W --brokers B --registry URL]   (KafkaEvents: read the events from Kafka)
 */
public final class NexmarkJob {
  private NexmarkJob() {}

  static final long WATERMARK_DELAY_MS = 4000;

  /** Source subtask s generates positions s, s + p, … below count (as Fluxion's fromGenerator). */
  public static final class NexmarkSource extends RichParallelSourceFunction<Event> {
    private final long count;
    private final Generator.Config config;
    private volatile boolean running = true;

    NexmarkSource(long count, Generator.Config config) {
      this.count = count;
      this.config = config;
    }

    @Override
    public void run(SourceContext<Event> ctx) {
      int s = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
      int p = getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks();
      Generator g = new Generator(config);
      Metrics m = Metrics.current;
      for (long i = s; i < count && running; i += p) {
        Event e = g.generate(i);
        if (m != null) m.observe(s, e.dateTime());
        ctx.collect(e);
      }
    }

    @Override
    public void cancel() {
      running = false;
    }
  }

  /** Bounded out-of-orderness 4 s, emitted after every `batch` events and periodically (Fluxion's cadence). */
  static WatermarkStrategy<Event> watermarks(int batch) {
    return WatermarkStrategy.<Event>forGenerator(ctx -> new WatermarkGenerator<Event>() {
      private long max = Long.MIN_VALUE + WATERMARK_DELAY_MS + 1;
      private long n;

      @Override
      public void onEvent(Event e, long ts, WatermarkOutput out) {
        if (ts > max) max = ts;
        if (++n % batch == 0) out.emitWatermark(new Watermark(max - WATERMARK_DELAY_MS - 1));
      }

      @Override
      public void onPeriodicEmit(WatermarkOutput out) {
        out.emitWatermark(new Watermark(max - WATERMARK_DELAY_MS - 1));
      }
    }).withTimestampAssigner((e, t) -> e.dateTime());
  }

  public static final class MetricsSink<T> extends RichSinkFunction<T> {
    private transient int subtask;
    private transient Metrics metrics;

    @Override
    public void open(OpenContext ctx) {
      subtask = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
      metrics = Metrics.current;
    }

    @Override
    public void invoke(T value, Context ctx) {
      if (metrics != null) metrics.output(subtask, value, ctx.timestamp());
    }

    @Override
    public void finish() {
      if (metrics != null) metrics.sinkEnded();
    }
  }

  /** One job on a fresh MiniCluster; `topic` non-null: the events are read from that Kafka topic instead of generated. */
  static void runOnce(Map<String, String> args, long events, String topic, Metrics metrics) throws Exception {
    runOnce(args, events, topic, metrics, false);
  }

  /**
   * `warmUp`: the generator runs at a tenth of the rate (as job.ts's warmUpConfig, so that windows fire
   * within the warm-up), unless its shuffle would then span more than 3 000 ms of event time.
   */
  static void runOnce(Map<String, String> args, long events, String topic, Metrics metrics, boolean warmUp) throws Exception {
    int parallelism = Integer.parseInt(args.getOrDefault("parallelism", "1"));
    StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, new Configuration());
    env.getConfig().enableObjectReuse();
    if ("rocksdb".equals(args.get("state"))) env.setStateBackend(new EmbeddedRocksDBStateBackend());
    Metrics.current = metrics;
    Generator.Config config = new Generator.Config();
    if (args.containsKey("rate")) config.eventsPerSecond = Double.parseDouble(args.get("rate"));
    if (args.containsKey("ooo-group")) config.outOfOrderGroupSize = Long.parseLong(args.get("ooo-group"));
    if (args.containsKey("seed")) config.seed = Integer.parseInt(args.get("seed"));
    if (warmUp && Math.ceil((config.outOfOrderGroupSize - 1) * 1e6 / (config.eventsPerSecond / 10) / 1000) + 1 <= 3000) config.eventsPerSecond /= 10;
    int batch = Integer.parseInt(args.getOrDefault("batch-size", "1024"));
    DataStream<Event> source = topic != null
        ? KafkaEvents.source(env, args.getOrDefault("brokers", "127.0.0.1:19092"), args.getOrDefault("registry", "http://127.0.0.1:18081/apis/ccompat/v7"), topic, batch)
        : env.addSource(new NexmarkSource(events, config)).name("nexmark-source").assignTimestampsAndWatermarks(watermarks(batch)).name("watermarks");
    String query = args.get("query");
    @SuppressWarnings("unchecked")
    DataStream<Object> out = (DataStream<Object>) Queries.build(query, source, args.getOrDefault("q5-mode", "sliced"));
    out.addSink(new MetricsSink<>()).name("nexmark-sink");
    env.execute("nexmark-" + query);
  }

  static String num(double v) {
    return Double.isFinite(v) ? Double.toString(v) : "null";
  }

  public static void main(String[] argv) throws Exception {
    Map<String, String> args = new HashMap<>();
    for (int i = 0; i + 1 < argv.length; i += 2) {
      if (!argv[i].startsWith("--")) throw new IllegalArgumentException("expected --name value, got " + argv[i]);
      args.put(argv[i].substring(2), argv[i + 1]);
    }
    String query = args.get("query");
    if (query == null) throw new IllegalArgumentException("--query is required");
    String q5Mode = args.getOrDefault("q5-mode", "sliced");
    if (!q5Mode.equals("sliced") && !q5Mode.equals("windows")) throw new IllegalArgumentException("--q5-mode must be sliced or windows, got " + q5Mode);
    long events = Long.parseLong(args.getOrDefault("events", "1000000"));
    long warmup = Long.parseLong(args.getOrDefault("warmup-events", "0"));
    int parallelism = Integer.parseInt(args.getOrDefault("parallelism", "1"));
    String state = args.getOrDefault("state", "memory");
    boolean kafka = "kafka".equals(args.getOrDefault("source", "generator"));
    if (kafka && !args.containsKey("topic")) throw new IllegalArgumentException("--source kafka needs --topic");
    boolean digest = "true".equals(args.get("digest"));
    if (warmup > 0 && kafka && args.containsKey("warmup-topic")) runOnce(args, warmup, args.get("warmup-topic"), null);
    if (warmup > 0 && !kafka) {
      // As job.ts's warmUp: two jobs of half the events each, at a tenth of the rate, with metrics that are thrown away.
      long first = (warmup + 1) / 2;
      runOnce(args, first, null, new Metrics(parallelism, Queries.latencyMode(query), false), true);
      if (warmup > first) runOnce(args, warmup - first, null, new Metrics(parallelism, Queries.latencyMode(query), false), true);
    }
    Metrics metrics = new Metrics(parallelism, Queries.latencyMode(query), digest);
    KafkaEvents.Decoder.DEAD_LETTERS.set(0);
    runOnce(args, events, kafka ? args.get("topic") : null, metrics);
    Metrics.current = null;
    double elapsed = metrics.elapsedMs();
    double[] lat = metrics.latencies(WATERMARK_DELAY_MS);
    String json = "{\"query\":\"" + query + "\",\"system\":\"flink\",\"source\":\"" + (kafka ? "kafka" : "generator") + "\",\"state\":\"" + state + "\",\"parallelism\":" + parallelism
        + ",\"events\":" + events + ",\"eventsPerSecond\":" + num(events / elapsed * 1000) + ",\"elapsedMs\":" + num(elapsed)
        + ",\"cpuMs\":" + num(metrics.cpuMs()) + ",\"outputs\":" + metrics.outputs()
        + ",\"p50Ms\":" + num(Metrics.quantile(lat, 0.5)) + ",\"p99Ms\":" + num(Metrics.quantile(lat, 0.99))
        + ",\"latencySamples\":" + lat.length + ",\"latencyMode\":\"" + metrics.mode + "\",\"flinkVersion\":\""
        + org.apache.flink.runtime.util.EnvironmentInformation.getVersion() + "\""
        + (kafka ? ",\"deadLetters\":" + KafkaEvents.Decoder.DEAD_LETTERS.get() : "")
        + (digest ? ",\"digest\":\"" + metrics.digest() + "\"" : "") + "}";
    System.out.println("NEXMARK_RESULT " + json);
    System.out.flush();
    System.exit(0);
  }
}
