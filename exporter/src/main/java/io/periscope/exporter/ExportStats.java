package io.periscope.exporter;

import static java.util.Objects.requireNonNull;

import java.util.Map;
import java.util.stream.Collectors;

/**
 * Counters of a {@link SpanSink}, all monotonic since it was created. Every accepted span ends up
 * in exactly one of {@code spansExported}, {@code spansFailed} or, while the sink runs, its queue;
 * the agent reports these so that lost spans are visible, never silent.
 *
 * @param spansAccepted spans taken by {@link SpanSink#offer}
 * @param spansDropped spans refused by {@link SpanSink#offer} because the queue was full or the
 *     sink was closed
 * @param spansExported spans the collector took: those of batches exported, less any it said it
 *     rejected ({@link FailureReason#PARTIALLY_REJECTED})
 * @param exportFailures export calls that failed, threw, or did not finish within the timeout (a
 *     call the collector answered with a partial success did not fail)
 * @param spansFailed spans not exported: those in failed export calls, those a collector rejected
 *     from a request it took, and spans still queued when {@link SpanSink#close()} ran out of time
 * @param spansFailedByReason {@code spansFailed} by why, each reason with spans only; the values add
 *     up to {@code spansFailed}
 */
public record ExportStats(
    long spansAccepted,
    long spansDropped,
    long spansExported,
    long exportFailures,
    long spansFailed,
    Map<FailureReason, Long> spansFailedByReason) {

  /** Stats of a sink that has seen nothing. */
  public static final ExportStats NONE = new ExportStats(0, 0, 0, 0, 0, Map.of());

  /**
   * @throws IllegalArgumentException if the spans by reason do not add up to {@code spansFailed}
   */
  public ExportStats {
    requireNonNull(spansFailedByReason, "spansFailedByReason");
    // Reasons without spans are left out, so that equal counts make equal stats.
    spansFailedByReason =
        spansFailedByReason.entrySet().stream()
            .filter(entry -> entry.getValue() != 0)
            .collect(Collectors.toUnmodifiableMap(Map.Entry::getKey, Map.Entry::getValue));
    long sum = spansFailedByReason.values().stream().mapToLong(Long::longValue).sum();
    if (sum != spansFailed) {
      throw new IllegalArgumentException(
          "spans failed by reason " + spansFailedByReason + " add up to " + sum + ", not " + spansFailed);
    }
  }

  /** Spans that failed for {@code reason}; 0 when none did. */
  public long spansFailed(FailureReason reason) {
    return spansFailedByReason.getOrDefault(reason, 0L);
  }
}
