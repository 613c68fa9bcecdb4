package io.periscope.agent.span;

import io.periscope.bpf.Libc;

/**
 * Converts kernel timestamps (CLOCK_MONOTONIC, from {@code bpf_ktime_get_ns()}) to epoch time with
 * one offset measured at startup, so every span of a run shares the same conversion and durations
 * are exact. (Wall-clock steps after startup shift new spans by the step; durations stay right.)
 */
public final class ClockAnchor {
  private static final int SAMPLES = 9;
  private final long offsetNanos;

  private ClockAnchor(long offsetNanos) {
    this.offsetNanos = offsetNanos;
  }

  /** Measures the offset: of several (monotonic, realtime, monotonic) readings, the tightest bracket. */
  public static ClockAnchor measure() {
    long best = Long.MAX_VALUE;
    long offset = 0;
    for (int i = 0; i < SAMPLES; i++) {
      long before = Libc.monotonicNanos();
      long wall = Libc.realtimeNanos();
      long after = Libc.monotonicNanos();
      if (after - before < best) {
        best = after - before;
        offset = wall - (before + (after - before) / 2);
      }
    }
    return new ClockAnchor(offset);
  }

  /** For tests and replays: epoch = monotonic + offset. */
  public static ClockAnchor ofOffset(long offsetNanos) {
    return new ClockAnchor(offsetNanos);
  }

  public long toEpochNanos(long monotonicNanos) {
    return monotonicNanos + offsetNanos;
  }
}
