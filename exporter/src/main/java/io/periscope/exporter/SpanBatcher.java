package io.periscope.exporter;

import static java.util.Objects.requireNonNull;
import static java.util.concurrent.TimeUnit.NANOSECONDS;

import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.periscope.exporter.otlp.OtlpSpanExporter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A bounded queue in front of a {@link SpanExporter}: {@link #offer} never blocks, and daemon
 * threads named {@code periscope-export} (one per export allowed in flight) hand batches to the
 * exporter when a batch is full or the schedule delay has passed. When the queue is full, new spans are dropped and counted, the same
 * trade-off as the SDK's {@code BatchSpanProcessor}: a slow collector costs spans, never the
 * agent's ability to keep up with the kernel.
 *
 * <p>An eighth of the queue is kept for {@link #offerParent parents}: a child span ends, and is
 * offered, before the span of the request that caused it, so a queue that fills between the two
 * would export the child and drop its parent. Other spans are refused once the queue holds seven
 * eighths; parents only when it is full. The room is for the parents of requests in flight on the
 * node when the collector falls behind, not for a rate.
 *
 * <p>Spans that do not reach the collector are counted by why ({@link FailureReason}), from the
 * failure an export ends with, or, for an {@link OtlpSpanExporter}, the spans the collector said it
 * rejected from a request it took.
 *
 * <p>The batcher owns the exporter: {@link #close()} flushes, then shuts the exporter down. Whoever
 * builds the batcher must call {@link #close()}.
 */
public final class SpanBatcher implements SpanSink {
  /** Default for {@link SpanBatcherBuilder#setMaxQueueSize}. */
  public static final int DEFAULT_MAX_QUEUE_SIZE = 8192;

  /** Default for {@link SpanBatcherBuilder#setMaxBatchSize}. */
  public static final int DEFAULT_MAX_BATCH_SIZE = 512;

  /** Default for {@link SpanBatcherBuilder#setScheduleDelay}: 1 s. */
  public static final Duration DEFAULT_SCHEDULE_DELAY = Duration.ofSeconds(1);

  /** Default for {@link SpanBatcherBuilder#setMaxConcurrentExports}. */
  public static final int DEFAULT_MAX_CONCURRENT_EXPORTS = 1;

  /** Default for {@link SpanBatcherBuilder#setExportTimeout}: 10 s. */
  public static final Duration DEFAULT_EXPORT_TIMEOUT = Duration.ofSeconds(10);

  // How long close() waits for the interrupted worker to count the spans it gives up on.
  private static final Duration ABANDON_GRACE = Duration.ofSeconds(1);

  private static final Logger logger = Logger.getLogger(SpanBatcher.class.getName());

  private final SpanExporter exporter;
  private final BlockingQueue<SpanData> queue;
  /** Past this many queued spans, only parents are taken. */
  private final int parentsOnlyAbove;
  private final int maxBatchSize;
  private final long scheduleDelayNanos;
  private final long exportTimeoutNanos;

  // Holds at most one token per worker, so producers wake workers once per batch rather than once
  // per span.
  private final BlockingQueue<Boolean> wakeUp;
  // How many queued spans would complete the worker's batch while it sleeps; MAX_VALUE while it is
  // busy so producers do not bother signalling.
  private volatile int spansNeeded = Integer.MAX_VALUE;
  private final AtomicInteger sleepers = new AtomicInteger();

  private final AtomicBoolean closed = new AtomicBoolean();
  private final LongAdder accepted = new LongAdder();
  private final LongAdder dropped = new LongAdder();
  private final LongAdder exported = new LongAdder();
  private final LongAdder exportFailures = new LongAdder();
  // Spans not exported, by why; indexed by FailureReason.ordinal().
  private final LongAdder[] failed = new LongAdder[FailureReason.values().length];
  private final ExportLatency latency = new ExportLatency();
  private final List<Thread> workers = new ArrayList<>();

  // Log the first failure of a streak loudly, the rest quietly. Workers race on it harmlessly.
  private volatile boolean failing;
  // Set once close() shuts the exporter down: an export still running then fails because of it.
  private volatile boolean exporterShutDown;

  /** Starts configuring a batcher that takes ownership of {@code exporter}. */
  public static SpanBatcherBuilder builder(SpanExporter exporter) {
    return new SpanBatcherBuilder(exporter);
  }

  SpanBatcher(
      SpanExporter exporter,
      int maxQueueSize,
      int maxBatchSize,
      Duration scheduleDelay,
      Duration exportTimeout,
      int maxConcurrentExports) {
    this.exporter = exporter;
    this.queue = new ArrayBlockingQueue<>(maxQueueSize);
    this.parentsOnlyAbove = maxQueueSize - maxQueueSize / 8;
    this.maxBatchSize = maxBatchSize;
    this.scheduleDelayNanos = saturatedNanos(scheduleDelay);
    this.exportTimeoutNanos = saturatedNanos(exportTimeout);
    this.wakeUp = new ArrayBlockingQueue<>(maxConcurrentExports);
    for (int i = 0; i < failed.length; i++) {
      failed[i] = new LongAdder();
    }
    // One worker per export allowed in flight: each exports synchronously, so a second worker
    // keeps the collector busy while the first waits for its answer.
    for (int i = 1; i <= maxConcurrentExports; i++) {
      String name = i == 1 ? "periscope-export" : "periscope-export-" + i;
      workers.add(Thread.ofPlatform().name(name).daemon().unstarted(this::exportLoop));
    }
    workers.forEach(Thread::start);
  }

  @Override
  public boolean offer(SpanData span) {
    requireNonNull(span, "span");
    if (queue.size() >= parentsOnlyAbove) {
      dropped.increment();
      return false;
    }
    return enqueue(span);
  }

  @Override
  public boolean offerParent(SpanData span) {
    requireNonNull(span, "span");
    return enqueue(span);
  }

  private boolean enqueue(SpanData span) {
    if (closed.get() || !queue.offer(span)) {
      dropped.increment();
      return false;
    }
    // close() may have drained the queue for the last time between our check and our offer; take
    // the span back so it is counted as dropped instead of waiting in a queue nobody reads.
    if (closed.get() && queue.remove(span)) {
      dropped.increment();
      return false;
    }
    accepted.increment();
    if (queue.size() >= spansNeeded) {
      wakeUp.offer(Boolean.TRUE);
    }
    return true;
  }

  @Override
  public ExportStats stats() {
    Map<FailureReason, Long> failedByReason = new EnumMap<>(FailureReason.class);
    long failedSpans = 0;
    for (FailureReason reason : FailureReason.values()) {
      long spans = failed[reason.ordinal()].sum();
      failedByReason.put(reason, spans);
      failedSpans += spans;
    }
    return new ExportStats(
        accepted.sum(), dropped.sum(), exported.sum(), exportFailures.sum(), failedSpans, failedByReason);
  }

  /** How long export calls took, successful or not (a timed-out call counts its timeout). */
  public ExportLatency.Snapshot exportLatency() {
    return latency.snapshot();
  }

  /** Spans waiting in the queue now. */
  public int queuedSpans() {
    return queue.size();
  }

  /**
   * Exports everything still queued, waiting at most the export timeout, then shuts the exporter
   * down. Spans the flush could not export in time are counted in {@link
   * ExportStats#spansFailed()}, as {@link FailureReason#SHUTDOWN}. Idempotent; a concurrent second
   * call returns without waiting.
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    long deadline = System.nanoTime() + exportTimeoutNanos;
    try {
      for (int i = 0; i < workers.size(); i++) {
        wakeUp.offer(Boolean.TRUE); // one token per sleeping worker
      }
      for (Thread worker : workers) {
        long left = Math.max(0, deadline - System.nanoTime());
        if (!worker.join(Duration.ofNanos(left))) {
          // An export started before close() may have used up the time; interrupting makes the
          // worker stop waiting and count what it still holds as failed, which it does at once
          // unless the exporter blocks inside export() itself.
          logger.warning("flushing spans did not finish within the export timeout; abandoning it");
          worker.interrupt();
          worker.join(ABANDON_GRACE);
        }
      }
    } catch (InterruptedException e) {
      workers.forEach(Thread::interrupt);
      Thread.currentThread().interrupt();
    }
    exporterShutDown = true;
    try {
      CompletableResultCode shutdown = exporter.shutdown().join(exportTimeoutNanos, NANOSECONDS);
      if (!shutdown.isSuccess()) {
        logger.warning("span exporter did not shut down cleanly");
      }
    } catch (RuntimeException e) {
      logger.log(Level.WARNING, "span exporter shutdown threw", e);
    }
  }

  private void exportLoop() {
    List<SpanData> batch = new ArrayList<>(maxBatchSize);
    long deadline = System.nanoTime() + scheduleDelayNanos;
    try {
      while (!closed.get()) {
        queue.drainTo(batch, maxBatchSize - batch.size());
        long now = System.nanoTime();
        boolean due = now - deadline >= 0;
        if (batch.size() >= maxBatchSize || (due && !batch.isEmpty())) {
          if (sleepers.get() > 0 && queue.size() >= maxBatchSize) {
            wakeUp.offer(Boolean.TRUE); // another full batch is waiting: hand it to a sleeping worker
          }
          export(batch, exportTimeoutNanos);
          batch.clear();
          deadline = System.nanoTime() + scheduleDelayNanos;
        } else if (due) {
          deadline = now + scheduleDelayNanos;
        } else {
          sleepers.incrementAndGet();
          spansNeeded = maxBatchSize - batch.size();
          // Re-check after publishing spansNeeded: a producer that read the old value did not
          // signal, and its span must not wait for the timer.
          try {
            if (queue.size() < spansNeeded) {
              wakeUp.poll(deadline - now, NANOSECONDS);
            }
          } finally {
            if (sleepers.decrementAndGet() == 0) {
              spansNeeded = Integer.MAX_VALUE; // nobody sleeps: producers need not signal
            }
          }
        }
      }
      flush(batch);
    } catch (InterruptedException e) {
      abandon(batch);
    }
  }

  private void flush(List<SpanData> batch) {
    long flushDeadline = System.nanoTime() + exportTimeoutNanos;
    while (true) {
      queue.drainTo(batch, maxBatchSize - batch.size());
      if (batch.isEmpty()) {
        return;
      }
      long remaining = flushDeadline - System.nanoTime();
      if (remaining <= 0 || Thread.currentThread().isInterrupted()) {
        abandon(batch);
        return;
      }
      export(batch, remaining);
      batch.clear();
    }
  }

  private void abandon(List<SpanData> batch) {
    List<SpanData> rest = new ArrayList<>();
    queue.drainTo(rest);
    int lost = batch.size() + rest.size();
    batch.clear();
    if (lost > 0) {
      failed[FailureReason.SHUTDOWN.ordinal()].add(lost);
      logger.warning("gave up flushing " + lost + " spans: the export timeout ran out");
    }
  }

  private void export(List<SpanData> batch, long timeoutNanos) {
    // Copied because an exporter may still read the collection after a timed-out join, while the
    // worker reuses its batch list.
    List<SpanData> spans = List.copyOf(batch);
    boolean closing = closed.get();
    // Set by an OTLP exporter before the result completes; the join below orders it before our read.
    AtomicLong rejected = new AtomicLong();
    CompletableResultCode result;
    long started = System.nanoTime();
    try {
      result = exporter instanceof OtlpSpanExporter otlp ? otlp.export(spans, rejected::set) : exporter.export(spans);
    } catch (RuntimeException e) {
      latency.record(System.nanoTime() - started);
      recordFailure(spans.size(), FailureReason.OTHER, "threw " + e);
      return;
    }
    result.join(timeoutNanos, NANOSECONDS);
    latency.record(System.nanoTime() - started);
    if (result.isSuccess()) {
      // The collector's own count; one that claims more than the batch held is believed up to it.
      long lost = Math.clamp(rejected.get(), 0, spans.size());
      exported.add(spans.size() - lost);
      failed[FailureReason.PARTIALLY_REJECTED.ordinal()].add(lost); // the exporter logged why
      failing = false;
    } else if (!result.isDone()) {
      recordFailure(spans.size(), lostTo(FailureReason.TIMEOUT, closing), "did not finish within " + Duration.ofNanos(timeoutNanos));
    } else {
      Throwable cause = result.getFailureThrowable();
      recordFailure(spans.size(), lostTo(FailureReason.of(cause), closing), cause == null ? "failed" : "failed: " + cause);
    }
  }

  /**
   * What an export that failed for {@code reason} is counted as: an export of the final flush
   * ({@code closing}) that ran out of time ran out of close()'s time, and one that fails once the
   * exporter was shut down failed because of it, both {@link FailureReason#SHUTDOWN}.
   */
  private FailureReason lostTo(FailureReason reason, boolean closing) {
    boolean cutOff = closing && reason == FailureReason.TIMEOUT;
    return cutOff || exporterShutDown ? FailureReason.SHUTDOWN : reason;
  }

  private void recordFailure(int spans, FailureReason reason, String what) {
    exportFailures.increment();
    failed[reason.ordinal()].add(spans);
    // A collector that is down fails every batch; one warning per outage is enough, the counters
    // carry the rest.
    Level level = failing ? Level.FINE : Level.WARNING;
    failing = true;
    logger.log(level, () -> "export of " + spans + " spans " + what + " (" + reason.label() + "; spans lost, see stats)");
  }

  private static long saturatedNanos(Duration duration) {
    try {
      return duration.toNanos();
    } catch (ArithmeticException e) {
      return Long.MAX_VALUE;
    }
  }
}
