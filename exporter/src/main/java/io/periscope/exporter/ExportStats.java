package io.periscope.exporter;

/**
 * Counters of a {@link SpanSink}, all monotonic since it was created. Every accepted span ends up
 * in exactly one of {@code spansExported}, {@code spansFailed} or, while the sink runs, its queue;
 * the agent reports these so that lost spans are visible, never silent.
 *
 * @param spansAccepted spans taken by {@link SpanSink#offer}
 * @param spansDropped spans refused by {@link SpanSink#offer} because the queue was full or the
 *     sink was closed
 * @param spansExported spans in batches the exporter reported as exported
 * @param exportFailures export calls that failed, threw, or did not finish within the timeout
 * @param spansFailed spans in those failed export calls, plus spans still queued when {@link
 *     SpanSink#close()} ran out of time
 */
public record ExportStats(
    long spansAccepted,
    long spansDropped,
    long spansExported,
    long exportFailures,
    long spansFailed) {}
