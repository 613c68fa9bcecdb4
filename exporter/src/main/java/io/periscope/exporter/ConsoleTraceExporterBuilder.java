package io.periscope.exporter;

import static java.util.Objects.requireNonNull;

import java.io.PrintStream;
import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * Configures a {@link ConsoleTraceExporter}; get one from {@link ConsoleTraceExporter#builder()}.
 */
public final class ConsoleTraceExporterBuilder {
  private PrintStream output = System.out;
  private Duration quietPeriod = ConsoleTraceExporter.DEFAULT_QUIET_PERIOD;
  private int maxTraces = ConsoleTraceExporter.DEFAULT_MAX_TRACES;
  private int maxSpansPerTrace = ConsoleTraceExporter.DEFAULT_MAX_SPANS_PER_TRACE;
  private LongSupplier nanoTime = System::nanoTime;
  private boolean sweeperThread = true;

  ConsoleTraceExporterBuilder() {}

  /** Where traces are printed. Defaults to {@link System#out}; the exporter never closes it. */
  public ConsoleTraceExporterBuilder setOutput(PrintStream output) {
    this.output = requireNonNull(output, "output");
    return this;
  }

  /**
   * How long a trace must go without a new span before it counts as finished and is printed.
   * Defaults to {@link ConsoleTraceExporter#DEFAULT_QUIET_PERIOD} (2 s).
   */
  public ConsoleTraceExporterBuilder setQuietPeriod(Duration quietPeriod) {
    requireNonNull(quietPeriod, "quietPeriod");
    if (quietPeriod.isNegative() || quietPeriod.isZero()) {
      throw new IllegalArgumentException("quietPeriod must be positive, got " + quietPeriod);
    }
    this.quietPeriod = quietPeriod;
    return this;
  }

  /**
   * How many unfinished traces are held; beyond that the least recently active one is printed
   * early. Defaults to {@value ConsoleTraceExporter#DEFAULT_MAX_TRACES}.
   */
  public ConsoleTraceExporterBuilder setMaxTraces(int maxTraces) {
    this.maxTraces = positive(maxTraces, "maxTraces");
    return this;
  }

  /**
   * How many spans of one trace are held; a trace that reaches it is printed early and its later
   * spans start a new group. Defaults to {@value ConsoleTraceExporter#DEFAULT_MAX_SPANS_PER_TRACE}.
   */
  public ConsoleTraceExporterBuilder setMaxSpansPerTrace(int maxSpansPerTrace) {
    this.maxSpansPerTrace = positive(maxSpansPerTrace, "maxSpansPerTrace");
    return this;
  }

  // For tests, which move time by hand instead of sleeping.
  ConsoleTraceExporterBuilder setNanoTime(LongSupplier nanoTime) {
    this.nanoTime = requireNonNull(nanoTime, "nanoTime");
    return this;
  }

  // For tests: a thread sweeping on wall-clock time would race a test that moves time by hand.
  ConsoleTraceExporterBuilder setSweeperThread(boolean sweeperThread) {
    this.sweeperThread = sweeperThread;
    return this;
  }

  /**
   * Creates the exporter and, unless disabled for tests, its {@code periscope-console} daemon
   * thread. The caller owns it and must call {@link ConsoleTraceExporter#shutdown()}.
   */
  public ConsoleTraceExporter build() {
    return new ConsoleTraceExporter(
        output, quietPeriod, maxTraces, maxSpansPerTrace, nanoTime, sweeperThread);
  }

  private static int positive(int value, String name) {
    if (value <= 0) {
      throw new IllegalArgumentException(name + " must be positive, got " + value);
    }
    return value;
  }
}
