package io.periscope.exporter;

import static java.util.concurrent.TimeUnit.NANOSECONDS;

import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The exporter used when no OTLP endpoint is configured: it prints each trace as a waterfall (see
 * {@link TraceWaterfall}) once the trace is finished.
 *
 * <p>Spans of one trace arrive over several batches, from several processes, in no particular
 * order, and no span says "this trace is complete". So a trace counts as finished when no span of
 * it arrived for the quiet period ({@link #DEFAULT_QUIET_PERIOD} by default). Arrivals are checked
 * on every {@link #export} call and by a daemon thread named {@code periscope-console}, so the last
 * trace is printed even when traffic stops; {@link #flush()} and {@link #shutdown()} print whatever
 * is left.
 *
 * <p>Memory is bounded: at most {@link #DEFAULT_MAX_TRACES} traces and {@link
 * #DEFAULT_MAX_SPANS_PER_TRACE} spans per trace are held by default. Past either limit a trace is
 * printed early, marked as such in its header line, so no span is lost.
 *
 * <p>Whoever builds it must call {@link #shutdown()} (or hand it to a {@link SpanBatcher}, which
 * does).
 */
public final class ConsoleTraceExporter implements SpanExporter {
  /** Default for {@link ConsoleTraceExporterBuilder#setQuietPeriod}: 2 s. */
  public static final Duration DEFAULT_QUIET_PERIOD = Duration.ofSeconds(2);

  /** Default for {@link ConsoleTraceExporterBuilder#setMaxTraces}. */
  public static final int DEFAULT_MAX_TRACES = 1000;

  /** Default for {@link ConsoleTraceExporterBuilder#setMaxSpansPerTrace}. */
  public static final int DEFAULT_MAX_SPANS_PER_TRACE = 500;

  private static final Logger logger = Logger.getLogger(ConsoleTraceExporter.class.getName());

  private final PrintStream output;
  private final long quietNanos;
  private final int maxTraces;
  private final int maxSpansPerTrace;
  private final LongSupplier nanoTime;

  private final Object lock = new Object();

  // Access order, so the eldest entry is the trace that has been quiet longest: the sweep can stop
  // at the first trace that is still active, and eviction picks the trace most likely finished.
  private final LinkedHashMap<String, PendingTrace> pending = new LinkedHashMap<>(16, 0.75f, true);

  private final AtomicBoolean shutdown = new AtomicBoolean();
  private final CountDownLatch stopSweeper = new CountDownLatch(1);

  private static final class PendingTrace {
    private final List<SpanData> spans = new ArrayList<>();
    private long lastArrivalNanos;
  }

  private record ReadyTrace(List<SpanData> spans, String note) {}

  /** Starts configuring an exporter that prints to {@link System#out}. */
  public static ConsoleTraceExporterBuilder builder() {
    return new ConsoleTraceExporterBuilder();
  }

  ConsoleTraceExporter(
      PrintStream output,
      Duration quietPeriod,
      int maxTraces,
      int maxSpansPerTrace,
      LongSupplier nanoTime,
      boolean sweeperThread) {
    this.output = output;
    // Saturate: a quiet period of centuries means "only on flush", not an overflow.
    this.quietNanos =
        quietPeriod.compareTo(Duration.ofNanos(Long.MAX_VALUE)) >= 0
            ? Long.MAX_VALUE
            : quietPeriod.toNanos();
    this.maxTraces = maxTraces;
    this.maxSpansPerTrace = maxSpansPerTrace;
    this.nanoTime = nanoTime;
    if (sweeperThread) {
      Thread.ofPlatform().name("periscope-console").daemon().start(this::sweepLoop);
    }
  }

  @Override
  public CompletableResultCode export(Collection<SpanData> spans) {
    if (shutdown.get()) {
      return CompletableResultCode.ofFailure();
    }
    List<ReadyTrace> ready = new ArrayList<>();
    synchronized (lock) {
      long now = nanoTime.getAsLong();
      for (SpanData span : spans) {
        add(span, now, ready);
      }
      collectQuiet(now, ready);
    }
    print(ready);
    return CompletableResultCode.ofSuccess();
  }

  /** Prints every held trace, finished or not. */
  @Override
  public CompletableResultCode flush() {
    List<ReadyTrace> ready = new ArrayList<>();
    synchronized (lock) {
      for (PendingTrace trace : pending.values()) {
        ready.add(new ReadyTrace(trace.spans, ""));
      }
      pending.clear();
    }
    print(ready);
    return CompletableResultCode.ofSuccess();
  }

  /** Stops the sweeper thread and prints every held trace. Idempotent. */
  @Override
  public CompletableResultCode shutdown() {
    if (shutdown.compareAndSet(false, true)) {
      stopSweeper.countDown();
      flush();
    }
    return CompletableResultCode.ofSuccess();
  }

  /**
   * Prints the traces that have been quiet for the quiet period. The sweeper thread calls it; tests
   * call it directly after moving their clock.
   */
  void printQuietTraces() {
    List<ReadyTrace> ready = new ArrayList<>();
    synchronized (lock) {
      collectQuiet(nanoTime.getAsLong(), ready);
    }
    print(ready);
  }

  private void add(SpanData span, long now, List<ReadyTrace> ready) {
    String traceId = span.getTraceId();
    PendingTrace trace = pending.get(traceId);
    if (trace == null) {
      if (pending.size() >= maxTraces) {
        Iterator<PendingTrace> eldest = pending.values().iterator();
        ready.add(
            new ReadyTrace(
                eldest.next().spans, "(printed early: more than " + maxTraces + " open traces)"));
        eldest.remove();
      }
      trace = new PendingTrace();
      pending.put(traceId, trace);
    }
    trace.spans.add(span);
    trace.lastArrivalNanos = now;
    if (trace.spans.size() >= maxSpansPerTrace) {
      pending.remove(traceId);
      ready.add(
          new ReadyTrace(
              trace.spans,
              "(printed early: " + maxSpansPerTrace + " spans held, later ones print separately)"));
    }
  }

  private void collectQuiet(long now, List<ReadyTrace> ready) {
    Iterator<PendingTrace> traces = pending.values().iterator();
    while (traces.hasNext()) {
      PendingTrace trace = traces.next();
      if (now - trace.lastArrivalNanos < quietNanos) {
        return; // access order: every later trace had a span arrive even more recently
      }
      ready.add(new ReadyTrace(trace.spans, ""));
      traces.remove();
    }
  }

  private void print(List<ReadyTrace> ready) {
    for (ReadyTrace trace : ready) {
      // One print call per trace: PrintStream locks per call, so traces printed from the export
      // and sweeper threads never interleave line by line.
      output.print(TraceWaterfall.render(trace.spans(), trace.note()));
    }
    if (!ready.isEmpty()) {
      output.flush();
    }
  }

  private void sweepLoop() {
    // A quarter of the quiet period: a finished trace prints at most 25% later than it could.
    long intervalNanos = Math.max(quietNanos / 4, Duration.ofMillis(10).toNanos());
    try {
      while (!stopSweeper.await(intervalNanos, NANOSECONDS)) {
        try {
          printQuietTraces();
        } catch (RuntimeException e) {
          logger.log(Level.WARNING, "printing finished traces failed", e);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public String toString() {
    return "ConsoleTraceExporter{quietPeriod=" + Duration.ofNanos(quietNanos) + "}";
  }
}
