package io.periscope.exporter;

import static java.util.Objects.requireNonNull;

import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.time.Duration;

/** Configures a {@link SpanBatcher}; get one from {@link SpanBatcher#builder(SpanExporter)}. */
public final class SpanBatcherBuilder {
  private final SpanExporter exporter;
  private int maxQueueSize = SpanBatcher.DEFAULT_MAX_QUEUE_SIZE;
  private int maxBatchSize = SpanBatcher.DEFAULT_MAX_BATCH_SIZE;
  private Duration scheduleDelay = SpanBatcher.DEFAULT_SCHEDULE_DELAY;
  private Duration exportTimeout = SpanBatcher.DEFAULT_EXPORT_TIMEOUT;
  private int maxConcurrentExports = SpanBatcher.DEFAULT_MAX_CONCURRENT_EXPORTS;

  SpanBatcherBuilder(SpanExporter exporter) {
    this.exporter = requireNonNull(exporter, "exporter");
  }

  /**
   * How many spans may wait for export; further offers are dropped. Defaults to {@value
   * SpanBatcher#DEFAULT_MAX_QUEUE_SIZE}.
   */
  public SpanBatcherBuilder setMaxQueueSize(int maxQueueSize) {
    this.maxQueueSize = positive(maxQueueSize, "maxQueueSize");
    return this;
  }

  /**
   * The most spans handed to one {@code export} call; a full batch is exported without waiting for
   * the schedule delay. Defaults to {@value SpanBatcher#DEFAULT_MAX_BATCH_SIZE}.
   */
  public SpanBatcherBuilder setMaxBatchSize(int maxBatchSize) {
    this.maxBatchSize = positive(maxBatchSize, "maxBatchSize");
    return this;
  }

  /**
   * The longest a span waits for its batch to fill before it is exported anyway. Defaults to {@link
   * SpanBatcher#DEFAULT_SCHEDULE_DELAY} (1 s).
   */
  public SpanBatcherBuilder setScheduleDelay(Duration scheduleDelay) {
    this.scheduleDelay = positive(scheduleDelay, "scheduleDelay");
    return this;
  }

  /**
   * How long one export may take before it is counted as failed; also bounds the final flush in
   * {@link SpanBatcher#close()}. Defaults to {@link SpanBatcher#DEFAULT_EXPORT_TIMEOUT} (10 s).
   */
  public SpanBatcherBuilder setExportTimeout(Duration exportTimeout) {
    this.exportTimeout = positive(exportTimeout, "exportTimeout");
    return this;
  }

  /**
   * How many exports may be in flight at once, each on its own thread. More than one keeps a
   * collector busy while another batch waits for its answer. Defaults to {@value
   * SpanBatcher#DEFAULT_MAX_CONCURRENT_EXPORTS}.
   */
  public SpanBatcherBuilder setMaxConcurrentExports(int maxConcurrentExports) {
    this.maxConcurrentExports = positive(maxConcurrentExports, "maxConcurrentExports");
    return this;
  }

  /**
   * Starts the export threads. The caller owns the result and must {@link SpanBatcher#close()} it.
   *
   * @throws IllegalArgumentException if the batch size exceeds the queue size
   */
  public SpanBatcher build() {
    if (maxBatchSize > maxQueueSize) {
      // The queue could never hold a full batch, so batches would only leave on the timer.
      throw new IllegalArgumentException(
          "maxBatchSize ("
              + maxBatchSize
              + ") must not exceed maxQueueSize ("
              + maxQueueSize
              + ")");
    }
    return new SpanBatcher(exporter, maxQueueSize, maxBatchSize, scheduleDelay, exportTimeout,
        maxConcurrentExports);
  }

  private static int positive(int value, String name) {
    if (value <= 0) {
      throw new IllegalArgumentException(name + " must be positive, got " + value);
    }
    return value;
  }

  private static Duration positive(Duration value, String name) {
    requireNonNull(value, name);
    if (value.isNegative() || value.isZero()) {
      throw new IllegalArgumentException(name + " must be positive, got " + value);
    }
    return value;
  }
}
