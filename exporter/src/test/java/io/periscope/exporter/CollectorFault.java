package io.periscope.exporter;

import io.opentelemetry.proto.collector.trace.v1.ExportTracePartialSuccess;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
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

  /**
   * Takes the request but rejects its last {@code rejectedSpans} spans: HTTP 200, or gRPC OK, with an
   * {@code ExportTraceServiceResponse} whose {@code partial_success} says so (OTLP, "Partial Success").
   */
  record PartialSuccess(long rejectedSpans, String errorMessage) implements CollectorFault {
    /** The answer's body, or the gRPC answer's message. */
    byte[] response() {
      return ExportTraceServiceResponse.newBuilder()
          .setPartialSuccess(
              ExportTracePartialSuccess.newBuilder().setRejectedSpans(rejectedSpans).setErrorMessage(errorMessage))
          .build()
          .toByteArray();
    }
  }

  /** Takes the spans, but answers only after {@code delay}. */
  record Slow(Duration delay) implements CollectorFault {}

  /** Answers bytes that are not the protocol at all, then closes the connection. */
  record Garbage() implements CollectorFault {
    /**
     * Writes {@code bytes} to {@code socket} and hangs up cleanly: a FIN, then whatever the client
     * still sends is read until it hangs up too. Closing with the client's frames unread would
     * send an RST instead, which can reach the client before the garbage and turn a malformed
     * answer into a reset connection, a different fault that the exporter retries.
     */
    static void answer(Socket socket, byte[] bytes) throws IOException {
      OutputStream out = socket.getOutputStream();
      out.write(bytes);
      out.flush();
      socket.shutdownOutput();
      socket.setSoTimeout(5_000); // a client that keeps the connection open gets cut after this
      InputStream in = socket.getInputStream();
      byte[] discard = new byte[4096];
      try {
        while (in.read(discard) >= 0) {
          // the client's late frames: not answered
        }
      } catch (SocketTimeoutException e) {
        // it did not hang up: the caller's close cuts it
      }
    }
  }

  /** Resets the connection (TCP RST) instead of answering. */
  record Reset() implements CollectorFault {}

  CollectorFault HEALTHY = new Healthy();
  CollectorFault GARBAGE = new Garbage();
  CollectorFault RESET = new Reset();

  static CollectorFault partialSuccess(long rejectedSpans, String errorMessage) {
    return new PartialSuccess(rejectedSpans, errorMessage);
  }

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
