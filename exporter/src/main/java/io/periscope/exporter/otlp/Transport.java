package io.periscope.exporter.otlp;

import java.io.IOException;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/** How an OTLP request reaches the collector: one POST of a protobuf body, and its answer. */
interface Transport extends AutoCloseable {
  /**
   * What the collector answered.
   *
   * @param retryAfter the {@code Retry-After} header's value as sent, if there was one: a
   *     throttling collector says with it when to try again (OTLP/HTTP, "Throttling")
   */
  record Answer(int status, byte[] body, @Nullable String retryAfter) {
    Answer(int status, byte[] body) {
      this(status, body, null);
    }
  }

  /**
   * The answer was not there in time: not worth another attempt, the timeout is spent. An {@link
   * HttpTimeoutException}, as the JDK's client says the same, so that callers tell a timeout from a
   * broken connection by type alone.
   */
  final class Timeout extends HttpTimeoutException {
    Timeout(String message, Throwable cause) {
      super(message);
      initCause(cause);
    }
  }

  /**
   * Posts {@code body[offset .. offset + length)}.
   *
   * @throws Timeout when {@code timeout} passed before the answer
   * @throws IOException when the collector could not be reached or the connection broke: another
   *     attempt may succeed
   */
  Answer post(byte[] body, int offset, int length, Duration timeout) throws IOException, InterruptedException;

  @Override
  void close();
}
