package io.periscope.exporter.otlp;

import java.nio.charset.StandardCharsets;
import java.util.logging.Logger;

/**
 * Reads the {@code partial_success} of an {@code ExportTraceServiceResponse}: a collector that
 * accepted the request but rejected some of its spans says how many, and why. Anything it cannot
 * read is ignored: the answer was a success either way, and no spans are taken as rejected.
 */
final class PartialSuccess {
  private static final int RESPONSE_PARTIAL_SUCCESS = 1;
  private static final int REJECTED_SPANS = 1;
  private static final int ERROR_MESSAGE = 2;

  private final byte[] buf;
  private int pos;
  private long rejected;
  private String message = "";

  private PartialSuccess(byte[] buf) {
    this.buf = buf;
  }

  /**
   * How many spans a successful answer says the collector rejected, 0 when it says none or cannot
   * be read; logs what it says, rejections or a warning alone (a message with no rejected spans).
   */
  static long rejectedSpans(byte[] response, Logger logger) {
    if (response.length == 0) {
      return 0;
    }
    PartialSuccess answer = new PartialSuccess(response);
    if (!answer.read() || (answer.rejected <= 0 && answer.message.isEmpty())) {
      return 0;
    }
    logger.warning(
        "the collector rejected " + answer.rejected + " spans"
            + (answer.message.isEmpty() ? "" : ": " + answer.message));
    return Math.max(answer.rejected, 0);
  }

  /** False if the response is not the protobuf it should be. */
  private boolean read() {
    try {
      while (pos < buf.length) {
        long key = varint();
        if (key == (RESPONSE_PARTIAL_SUCCESS << 3 | ReverseProtoWriter.LENGTH_DELIMITED)) {
          int end = length();
          while (pos < end) {
            long inner = varint();
            if (inner == (REJECTED_SPANS << 3 | ReverseProtoWriter.VARINT)) {
              rejected = varint();
            } else if (inner == (ERROR_MESSAGE << 3 | ReverseProtoWriter.LENGTH_DELIMITED)) {
              int messageEnd = length();
              message = new String(buf, pos, messageEnd - pos, StandardCharsets.UTF_8);
              pos = messageEnd;
            } else {
              skip(inner);
            }
          }
        } else {
          skip(key);
        }
      }
      return pos == buf.length;
    } catch (IndexOutOfBoundsException | IllegalArgumentException e) {
      return false;
    }
  }

  private void skip(long key) {
    switch ((int) (key & 7)) {
      case ReverseProtoWriter.VARINT -> varint();
      case ReverseProtoWriter.FIXED64 -> pos += 8;
      case ReverseProtoWriter.LENGTH_DELIMITED -> pos = length();
      case ReverseProtoWriter.FIXED32 -> pos += 4;
      default -> throw new IllegalArgumentException("wire type " + (key & 7));
    }
  }

  /** Reads a length and returns where the field it prefixes ends. */
  private int length() {
    long length = varint();
    if (length < 0 || length > buf.length - pos) {
      throw new IllegalArgumentException("length " + length);
    }
    return pos + (int) length;
  }

  private long varint() {
    long value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      byte b = buf[pos++];
      value |= (long) (b & 0x7f) << shift;
      if (b >= 0) {
        return value;
      }
    }
    throw new IllegalArgumentException("varint too long");
  }
}
