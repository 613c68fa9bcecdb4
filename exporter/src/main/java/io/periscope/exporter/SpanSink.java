package io.periscope.exporter;

import io.opentelemetry.sdk.trace.data.SpanData;

/**
 * Where the agent pipeline hands finished spans. Implementations must never block the caller: the
 * caller is the thread draining the kernel ring buffer, and a stalled collector must not make the
 * kernel drop events.
 *
 * <p>The creator of a sink owns it and must call {@link #close()}.
 */
public interface SpanSink extends AutoCloseable {

  /**
   * Hands over one finished span without blocking.
   *
   * @return {@code true} if the sink took the span, {@code false} if it dropped it (counted in
   *     {@link ExportStats#spansDropped()})
   */
  boolean offer(SpanData span);

  /**
   * Hands over a span that spans already handed over name as their parent. A sink with a bounded
   * queue keeps room for these when it refuses others: a child exported without its parent shows
   * in every backend as a trace with a missing span.
   *
   * @return as {@link #offer}
   */
  default boolean offerParent(SpanData span) {
    return offer(span);
  }

  /** A snapshot of the counters since the sink was created. */
  ExportStats stats();

  /**
   * Exports what the sink still holds, then shuts the underlying exporter down. Calling it again
   * does nothing; spans offered afterwards are dropped.
   */
  @Override
  void close();
}
