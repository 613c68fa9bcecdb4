package io.periscope.exporter;

import java.time.Duration;
import org.jspecify.annotations.Nullable;

/** What a {@link ScriptedCollector} does with one export request. */
sealed interface CollectorFault {
  /** Takes the spans: HTTP 200, or gRPC OK. */
  record Healthy() implements CollectorFault {}

  /**
   * Answers an error: over HTTP {@code httpStatus} with {@code retryAfter} and {@code body}, over
   * gRPC {@code grpcStatus} with {@code retryDelay} as a RetryInfo in {@code grpc-status-details-bin}.
   */
  record Refusal(
      int httpStatus,
      @Nullable String retryAfter,
      byte[] body,
      int grpcStatus,
      @Nullable Duration retryDelay)
      implements CollectorFault {}

  /** Takes the spans, but answers only after {@code delay}. */
  record Slow(Duration delay) implements CollectorFault {}

  /** Answers bytes that are not the protocol at all, then closes the connection. */
  record Garbage() implements CollectorFault {}

  /** Resets the connection (TCP RST) instead of answering. */
  record Reset() implements CollectorFault {}

  CollectorFault HEALTHY = new Healthy();
  CollectorFault GARBAGE = new Garbage();
  CollectorFault RESET = new Reset();

  static CollectorFault slow(Duration delay) {
    return new Slow(delay);
  }

  /** HTTP 429 with {@code Retry-After: retryAfter}; gRPC RESOURCE_EXHAUSTED (8). */
  static CollectorFault tooManyRequests(@Nullable String retryAfter) {
    return new Refusal(429, retryAfter, new byte[0], 8, null);
  }

  /** HTTP 503 with {@code Retry-After: retryAfter}; gRPC UNAVAILABLE (14). */
  static CollectorFault unavailable(@Nullable String retryAfter) {
    return new Refusal(503, retryAfter, new byte[0], 14, null);
  }

  /** gRPC RESOURCE_EXHAUSTED with a RetryInfo asking for {@code retryDelay}; HTTP 429 without Retry-After. */
  static CollectorFault exhaustedWithRetryInfo(Duration retryDelay) {
    return new Refusal(429, null, new byte[0], 8, retryDelay);
  }

  /** HTTP 400 with {@code body}; gRPC INVALID_ARGUMENT (3). */
  static CollectorFault badRequest(byte[] body) {
    return new Refusal(400, null, body, 3, null);
  }
}
