package io.periscope.bench;

/**
 * Counts the spans in an encoded {@code ExportTraceServiceRequest} by walking the protobuf
 * framing only: request field 1 (ResourceSpans) -> field 2 (ScopeSpans) -> field 2 (Span).
 * Everything else is skipped by its length. Throws IllegalArgumentException on malformed input.
 */
final class SpanCounter {
  private static final int RESOURCE_SPANS = 1;
  private static final int SCOPE_SPANS = 2;
  private static final int SPANS = 2;
  private static final int LENGTH_DELIMITED = 2;

  private final byte[] buf;
  private int pos;

  private SpanCounter(byte[] buf) {
    this.buf = buf;
  }

  static long count(byte[] request) {
    SpanCounter c = new SpanCounter(request);
    return c.countIn(request.length, 0);
  }

  /** Counts within [pos, end): depth 0 = request, 1 = ResourceSpans, 2 = ScopeSpans. */
  private long countIn(int end, int depth) {
    long spans = 0;
    while (pos < end) {
      long key = varint();
      int field = (int) (key >>> 3);
      int type = (int) (key & 7);
      if (type != LENGTH_DELIMITED) {
        skip(type);
        continue;
      }
      int length = (int) varint();
      int fieldEnd = pos + length;
      if (length < 0 || fieldEnd > end) {
        throw new IllegalArgumentException("truncated field");
      }
      if (depth == 0 && field == RESOURCE_SPANS || depth == 1 && field == SCOPE_SPANS) {
        spans += countIn(fieldEnd, depth + 1);
      } else if (depth == 2 && field == SPANS) {
        spans++;
      }
      pos = fieldEnd;
    }
    return spans;
  }

  private void skip(int type) {
    switch (type) {
      case 0 -> varint();
      case 1 -> pos += 8;
      case 5 -> pos += 4;
      default -> throw new IllegalArgumentException("unsupported wire type " + type);
    }
  }

  private long varint() {
    long value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= buf.length) {
        throw new IllegalArgumentException("truncated varint");
      }
      byte b = buf[pos++];
      value |= (long) (b & 0x7f) << shift;
      if (b >= 0) {
        return value;
      }
    }
    throw new IllegalArgumentException("varint too long");
  }
}
