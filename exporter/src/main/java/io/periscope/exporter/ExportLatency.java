package io.periscope.exporter;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * How long export calls took, as a histogram with fixed bounds: one export call is one OTLP
 * request, so a slow or distant collector shows here before it costs spans. Recorded by every
 * export worker, read by whoever reports (the agent's {@code /metrics}); no locks.
 */
public final class ExportLatency {
  /**
   * Upper bounds of the buckets, in milliseconds: from a collector on the same node (a few ms) to
   * one at the edge of the default 10 s export timeout.
   */
  static final long[] BOUNDS_MILLIS = {5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000};

  private final LongAdder[] buckets = new LongAdder[BOUNDS_MILLIS.length + 1];
  private final LongAdder sumNanos = new LongAdder();

  ExportLatency() {
    for (int i = 0; i < buckets.length; i++) {
      buckets[i] = new LongAdder();
    }
  }

  void record(long nanos) {
    long clamped = Math.max(0, nanos);
    int i = 0;
    while (i < BOUNDS_MILLIS.length && clamped > TimeUnit.MILLISECONDS.toNanos(BOUNDS_MILLIS[i])) {
      i++;
    }
    buckets[i].increment();
    sumNanos.add(clamped);
  }

  /** The histogram now; the buckets are read one by one, so a concurrent export may be half in it. */
  public Snapshot snapshot() {
    long[] counts = new long[buckets.length];
    for (int i = 0; i < buckets.length; i++) {
      counts[i] = buckets[i].sum();
    }
    return new Snapshot(BOUNDS_MILLIS.clone(), counts, sumNanos.sum());
  }

  /**
   * @param boundsMillis the upper bound of each bucket but the last, which has none
   * @param counts export calls per bucket (not cumulative), one more than {@code boundsMillis}
   * @param sumNanos the total time of all export calls
   */
  public record Snapshot(long[] boundsMillis, long[] counts, long sumNanos) {
    /** Export calls recorded. */
    public long count() {
      long total = 0;
      for (long c : counts) {
        total += c;
      }
      return total;
    }
  }
}
