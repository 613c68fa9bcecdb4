package io.periscope.agent.http2;

import org.jspecify.annotations.Nullable;

/**
 * The fields tracing keeps from one decoded header block. One instance per decoder, reused: take
 * what is needed before the next block is decoded into it.
 */
public final class HeaderBlock {
  private final @Nullable String[] values = new String[HeaderField.values().length];
  private boolean incomplete;

  public void clear() {
    java.util.Arrays.fill(values, null);
    incomplete = false;
  }

  /** The first value of a field wins: a repeated pseudo-header is malformed, a repeated traceparent ambiguous. */
  void put(HeaderField field, String value) {
    if (values[field.ordinal()] == null) {
      values[field.ordinal()] = value;
    }
  }

  public @Nullable String get(HeaderField field) {
    return values[field.ordinal()];
  }

  /** A field referred to compression state the decoder never saw: its name and value are unknown. */
  public void markIncomplete() {
    incomplete = true;
  }

  public boolean incomplete() {
    return incomplete;
  }
}
