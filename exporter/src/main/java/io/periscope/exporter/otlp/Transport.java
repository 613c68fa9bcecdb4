package io.periscope.exporter.otlp;

import java.io.IOException;
import java.time.Duration;

/** How an OTLP request reaches the collector: one POST of a protobuf body, and its answer. */
interface Transport extends AutoCloseable {
  /** What the collector answered. */
  record Answer(int status, byte[] body) {}

  /** The answer was not there in time: not worth another attempt, the timeout is spent. */
  final class Timeout extends IOException {
    Timeout(String message, Throwable cause) {
      super(message, cause);
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
