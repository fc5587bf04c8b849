package fluxion.nexmark;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What one run measures, exactly as bench/nexmark/metrics.ts (read it for the definitions).
 * One instance per run, shared by the source and sink subtasks of the MiniCluster (same JVM):
 * each subtask writes only its own slots; the results are read after env.execute() returned.
 */
public final class Metrics {
  private static final int PROGRESS_EVERY = 256;
  private static final int MAX_SAMPLES = 1 << 16;

  /** The run in progress (static: Flink copies functions, so they find it here). */
  public static volatile Metrics current;

  final int parallelism;
  final String mode;
  private final long[] counts;
  private final long[] maxTs;
  private final DoubleList[] progressTs;
  private final DoubleList[] progressAt;
  private final Sampler[] samplers;
  /** Per sink subtask, when result digests are on (null otherwise). */
  private final Digest[] digests;
  private volatile double firstEventAt = Double.NaN;
  private double lastSinkEndAt = Double.NaN;
  /** Process CPU time (ns, all threads) at the first event and at the last sink's end. */
  private long cpuAtFirst;
  private long cpuAtEnd;

  private static final com.sun.management.OperatingSystemMXBean OS =
      (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();

  public Metrics(int parallelism, String mode, boolean digest) {
    this.parallelism = parallelism;
    this.digests = digest ? new Digest[parallelism] : null;
    if (digest) for (int i = 0; i < parallelism; i++) digests[i] = new Digest();
    this.mode = mode;
    this.counts = new long[parallelism];
    this.maxTs = new long[parallelism];
    Arrays.fill(maxTs, Long.MIN_VALUE);
    this.progressTs = new DoubleList[parallelism];
    this.progressAt = new DoubleList[parallelism];
    this.samplers = new Sampler[parallelism];
    for (int i = 0; i < parallelism; i++) {
      progressTs[i] = new DoubleList();
      progressAt[i] = new DoubleList();
      samplers[i] = new Sampler();
    }
  }

  static double nowMs() {
    return System.nanoTime() / 1e6;
  }

  /** Source subtask `s` generated an event with time `ts`. */
  public void observe(int s, long ts) {
    if (ts > maxTs[s]) maxTs[s] = ts;
    if (counts[s]++ % PROGRESS_EVERY == 0) {
      double now = nowMs();
      synchronized (this) {
        if (Double.isNaN(firstEventAt)) {
          firstEventAt = now;
          cpuAtFirst = OS.getProcessCpuTime();
        }
      }
      progressTs[s].add(maxTs[s]);
      progressAt[s].add(now);
    }
  }

  /** Sink subtask `s` received an output with timestamp `ts` (null: none). */
  public void output(int s, Object value, Long ts) {
    if (digests != null) digests[s].add(value);
    Sampler sm = samplers[s];
    if (sm.outputs++ % sm.stride != 0 || ts == null) return;
    sm.wall.add("processing".equals(mode) ? (double) System.currentTimeMillis() : nowMs());
    sm.ts.add(ts);
    if (sm.wall.size >= MAX_SAMPLES) {
      sm.wall.keepEven();
      sm.ts.keepEven();
      sm.stride *= 2;
    }
  }

  public synchronized void sinkEnded() {
    double now = nowMs();
    if (!(now <= lastSinkEndAt)) {
      lastSinkEndAt = now;
      cpuAtEnd = OS.getProcessCpuTime();
    }
  }

  /** CPU time of the JVM from the first event to the last sink's end, ms. */
  public synchronized double cpuMs() {
    return (cpuAtEnd - cpuAtFirst) / 1e6;
  }

  public double elapsedMs() {
    return lastSinkEndAt - firstEventAt;
  }

  public long outputs() {
    long n = 0;
    for (Sampler s : samplers) n += s.outputs;
    return n;
  }

  private double reached(int s, double t) {
    DoubleList ts = progressTs[s];
    int lo = 0;
    int hi = ts.size;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (ts.data[mid] >= t) hi = mid;
      else lo = mid + 1;
    }
    return lo < ts.size ? progressAt[s].data[lo] : Double.POSITIVE_INFINITY;
  }

  /** Latencies of the sampled outputs, ms, ascending. */
  public double[] latencies(long watermarkDelayMs) {
    List<Double> out = new ArrayList<>();
    for (Sampler sm : samplers) {
      for (int i = 0; i < sm.wall.size; i++) {
        double ts = sm.ts.data[i];
        double wall = sm.wall.data[i];
        if ("processing".equals(mode)) {
          out.add(wall - (ts + 1));
          continue;
        }
        boolean record = "record".equals(mode);
        double trigger = record ? ts : ts + 1 + watermarkDelayMs;
        double from = record ? Double.POSITIVE_INFINITY : Double.NEGATIVE_INFINITY;
        for (int s = 0; s < parallelism; s++) {
          double at = reached(s, trigger);
          from = record ? Math.min(from, at) : Math.max(from, at);
        }
        if (!Double.isInfinite(from)) out.add(Math.max(0, wall - from));
      }
    }
    double[] a = new double[out.size()];
    for (int i = 0; i < a.length; i++) a[i] = out.get(i);
    Arrays.sort(a);
    return a;
  }

  /** Nearest-rank quantile. */
  public static double quantile(double[] sorted, double q) {
    if (sorted.length == 0) return Double.NaN;
    int rank = (int) Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
    return sorted[rank];
  }

  /** The digest of every output (bench/nexmark/metrics.ts Digest), or null when off. */
  public String digest() {
    if (digests == null) return null;
    long count = 0;
    long a = 0;
    long b = 0;
    for (Digest d : digests) {
      count += d.count;
      a = (a + d.sumA) & 0xFFFFFFFFL;
      b = (b + d.sumB) & 0xFFFFFFFFL;
    }
    return count + ":" + Long.toHexString(a) + ":" + Long.toHexString(b);
  }

  /** Order-independent digest of result rows: see metrics.ts. Fields in declaration order. */
  static final class Digest {
    long count;
    long sumA;
    long sumB;
    private int a;
    private int b;

    private void word(int x) {
      a = (a ^ x) * 0x01000193;
      b = (b ^ x) * 0x01000193;
    }

    void add(Object row) {
      a = 0x811c9dc5;
      b = 0x12345678;
      for (java.lang.reflect.Field f : row.getClass().getDeclaredFields()) {
        if (java.lang.reflect.Modifier.isStatic(f.getModifiers())) continue;
        Object v;
        try {
          v = f.get(row);
        } catch (IllegalAccessException e) {
          throw new IllegalStateException(e);
        }
        if (v instanceof Number) {
          long bits = Double.doubleToRawLongBits(((Number) v).doubleValue());
          word(1);
          word((int) bits);
          word((int) (bits >>> 32));
        } else {
          String s = String.valueOf(v);
          word(2);
          word(s.length());
          for (int i = 0; i < s.length(); i++) word(s.charAt(i));
        }
      }
      count++;
      sumA = (sumA + (a & 0xFFFFFFFFL)) & 0xFFFFFFFFL;
      sumB = (sumB + (b & 0xFFFFFFFFL)) & 0xFFFFFFFFL;
    }
  }

  private static final class Sampler {
    long outputs;
    long stride = 1;
    final DoubleList wall = new DoubleList();
    final DoubleList ts = new DoubleList();
  }

  private static final class DoubleList {
    double[] data = new double[1024];
    int size;

    void add(double v) {
      if (size == data.length) data = Arrays.copyOf(data, size * 2);
      data[size++] = v;
    }

    void keepEven() {
      int n = 0;
      for (int i = 0; i < size; i += 2) data[n++] = data[i];
      size = n;
    }
  }
}
