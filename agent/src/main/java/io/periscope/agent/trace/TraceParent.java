package io.periscope.agent.trace;

import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.api.trace.TraceStateBuilder;
import java.util.Objects;

/**
 * The W3C Trace Context {@code traceparent} header (https://www.w3.org/TR/trace-context/ §3.2),
 * with its companion {@code tracestate} (§3.3).
 *
 * <p>{@link #parse} runs once per captured request, so it scans the characters in place: no regex,
 * no exceptions, and the only allocations for a valid header are the two id strings and the
 * {@link SpanContext} (plus the {@link TraceState} entries when a {@code tracestate} is present).
 * An invalid header yields {@code null}, and the caller starts a new trace, as §3.2 requires.
 */
public final class TraceParent {
  /** Length of a version {@code 00} header: {@code 2 + 1 + 32 + 1 + 16 + 1 + 2}. */
  static final int VERSION_00_LENGTH = 55;

  /** §3.3.1.1: a {@code tracestate} with more list-members than this is invalid. */
  static final int MAX_TRACESTATE_MEMBERS = 32;

  private static final int TRACE_ID_OFFSET = 3;
  private static final int TRACE_ID_LENGTH = 32;
  private static final int PARENT_ID_OFFSET = 36;
  private static final int PARENT_ID_LENGTH = 16;
  private static final int FLAGS_OFFSET = 53;
  private static final int INVALID_VERSION = 0xff;
  private static final int SAMPLED = 0x01;

  private TraceParent() {}

  /**
   * Parses a {@code traceparent} value into a remote {@link SpanContext}.
   *
   * <p>Leading and trailing optional whitespace (spaces, tabs) is ignored. Hex must be lowercase.
   * Version {@code 00} must be exactly {@value #VERSION_00_LENGTH} characters; a higher version
   * must be at least that long and, if longer, continue with {@code '-'}: its first four fields are
   * read and the rest ignored (§3.2.4). Version {@code ff}, all-zero ids, and any malformed field
   * make the whole header invalid. Of the flags only the sampled bit is kept; the other bits are
   * not defined for version {@code 00}.
   *
   * <p>{@code tracestate} is read only when {@code traceparent} is valid. An invalid
   * {@code tracestate} never invalidates the {@code traceparent}: it is dropped as a whole, as
   * §3.3.1.1 requires, and the context carries {@link TraceState#getDefault()}.
   *
   * @param value the {@code traceparent} header value
   * @param tracestate the {@code tracestate} header value (several header lines joined with
   *     {@code ','}), or null when the request has none
   * @return the remote parent context, or null when {@code value} is not a valid
   *     {@code traceparent}
   */
  public static SpanContext parse(CharSequence value, CharSequence tracestate) {
    Objects.requireNonNull(value, "value");
    int start = skipLeadingOws(value, 0, value.length());
    int end = skipTrailingOws(value, start, value.length());
    int length = end - start;
    if (length < VERSION_00_LENGTH) {
      return null;
    }
    int version = hexByte(value, start);
    if (version < 0 || version == INVALID_VERSION) {
      return null;
    }
    if (version == 0 ? length != VERSION_00_LENGTH
        : length > VERSION_00_LENGTH && value.charAt(start + VERSION_00_LENGTH) != '-') {
      return null;
    }
    if (value.charAt(start + TRACE_ID_OFFSET - 1) != '-'
        || value.charAt(start + PARENT_ID_OFFSET - 1) != '-'
        || value.charAt(start + FLAGS_OFFSET - 1) != '-') {
      return null;
    }
    if (!isNonZeroHex(value, start + TRACE_ID_OFFSET, TRACE_ID_LENGTH)
        || !isNonZeroHex(value, start + PARENT_ID_OFFSET, PARENT_ID_LENGTH)) {
      return null;
    }
    int flags = hexByte(value, start + FLAGS_OFFSET);
    if (flags < 0) {
      return null;
    }
    String traceId = substring(value, start + TRACE_ID_OFFSET, TRACE_ID_LENGTH);
    String parentId = substring(value, start + PARENT_ID_OFFSET, PARENT_ID_LENGTH);
    TraceFlags traceFlags = (flags & SAMPLED) != 0 ? TraceFlags.getSampled() : TraceFlags.getDefault();
    return SpanContext.createFromRemoteParent(traceId, parentId, traceFlags, parseTraceState(tracestate));
  }

  /**
   * Formats a context as a version {@code 00} header value: {@code 00-<trace-id>-<parent-id>-<flags>}.
   *
   * @throws IllegalArgumentException if {@code context} is not valid: an all-zero id would make the
   *     receiver drop the header
   */
  public static String format(SpanContext context) {
    Objects.requireNonNull(context, "context");
    if (!context.isValid()) {
      throw new IllegalArgumentException("cannot format an invalid span context: " + context);
    }
    return "00-" + context.getTraceId() + '-' + context.getSpanId() + '-' + context.getTraceFlags().asHex();
  }

  /**
   * Reads a {@code tracestate} value (§3.3.1): comma-separated {@code key=value} list-members with
   * optional whitespace around each, empty members allowed. Any invalid member, a duplicate key, or
   * more than {@value #MAX_TRACESTATE_MEMBERS} members drops the whole value.
   */
  static TraceState parseTraceState(CharSequence tracestate) {
    if (tracestate == null) {
      return TraceState.getDefault();
    }
    TraceStateBuilder builder = null;
    int members = 0;
    // TraceStateBuilder.put adds in front, so members are read right to left to keep their order.
    int memberEnd = tracestate.length();
    while (memberEnd >= 0) {
      int comma = lastIndexOf(tracestate, ',', memberEnd);
      int start = skipLeadingOws(tracestate, comma + 1, memberEnd);
      int end = skipTrailingOws(tracestate, start, memberEnd);
      if (start < end) {
        int equals = indexOf(tracestate, '=', start, end);
        if (equals <= start || ++members > MAX_TRACESTATE_MEMBERS) {
          return TraceState.getDefault();
        }
        if (builder == null) {
          builder = TraceState.builder();
        }
        builder.put(tracestate.subSequence(start, equals).toString(),
            tracestate.subSequence(equals + 1, end).toString());
      }
      memberEnd = comma;
    }
    if (builder == null) {
      return TraceState.getDefault();
    }
    TraceState state = builder.build();
    // The builder skips keys and values that break the §3.3.1.3 grammar and replaces duplicate
    // keys; either leaves fewer entries than members, and a partial tracestate must not propagate.
    return state.size() == members ? state : TraceState.getDefault();
  }

  /** The value of two lowercase hex digits at {@code index}, or -1. */
  private static int hexByte(CharSequence value, int index) {
    int high = hexDigit(value.charAt(index));
    int low = hexDigit(value.charAt(index + 1));
    return (high | low) < 0 ? -1 : high << 4 | low;
  }

  private static boolean isNonZeroHex(CharSequence value, int offset, int length) {
    int bits = 0;
    for (int i = offset; i < offset + length; i++) {
      int digit = hexDigit(value.charAt(i));
      if (digit < 0) {
        return false;
      }
      bits |= digit;
    }
    return bits != 0;
  }

  /** §3.2.2: hex is lowercase; an uppercase digit makes the field invalid. */
  private static int hexDigit(char c) {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    return -1;
  }

  private static String substring(CharSequence value, int offset, int length) {
    return value instanceof String s
        ? s.substring(offset, offset + length)
        : value.subSequence(offset, offset + length).toString();
  }

  /** OWS is RFC 9110's {@code *( SP / HTAB )}. */
  private static boolean isOws(char c) {
    return c == ' ' || c == '\t';
  }

  private static int skipLeadingOws(CharSequence value, int start, int end) {
    while (start < end && isOws(value.charAt(start))) {
      start++;
    }
    return start;
  }

  private static int skipTrailingOws(CharSequence value, int start, int end) {
    while (end > start && isOws(value.charAt(end - 1))) {
      end--;
    }
    return end;
  }

  /** Index of the last {@code c} before {@code end}, or -1. */
  private static int lastIndexOf(CharSequence value, char c, int end) {
    for (int i = end - 1; i >= 0; i--) {
      if (value.charAt(i) == c) {
        return i;
      }
    }
    return -1;
  }

  private static int indexOf(CharSequence value, char c, int start, int end) {
    for (int i = start; i < end; i++) {
      if (value.charAt(i) == c) {
        return i;
      }
    }
    return -1;
  }
}
