package io.periscope.exporter.otlp;

import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * Reads an HTTP {@code Retry-After} value (RFC 9110 section 10.2.3): either delay-seconds, a
 * non-negative decimal integer, or an HTTP-date in its preferred form ({@code Sun, 06 Nov 1994
 * 08:49:37 GMT}). The two obsolete date forms, which RFC 9110 asks senders not to generate, are
 * not read: nor is anything else; the caller then backs off as it would without the header.
 */
final class RetryAfter {
  // delay-seconds beyond this (a day) are read as a day: the export timeout caps the wait anyway,
  // and a value this large must not overflow a Duration's nanoseconds.
  private static final long MAX_SECONDS = 86_400;

  private RetryAfter() {}

  /**
   * How long the collector asked to wait, counted from {@code now} for a date; a date already
   * past asks for no wait. Empty for no value or one that is neither form.
   */
  static Optional<Duration> parse(@Nullable String value, Instant now) {
    if (value == null) {
      return Optional.empty();
    }
    String text = value.strip();
    if (text.isEmpty()) {
      return Optional.empty();
    }
    if (isDigits(text)) {
      // Up to 18 digits fit a long; longer is a day all the same.
      long seconds = text.length() > 18 ? MAX_SECONDS : Math.min(Long.parseLong(text), MAX_SECONDS);
      return Optional.of(Duration.ofSeconds(seconds));
    }
    try {
      Instant when = ZonedDateTime.parse(text, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant();
      Duration wait = Duration.between(now, when);
      return Optional.of(wait.isNegative() ? Duration.ZERO : min(wait, Duration.ofSeconds(MAX_SECONDS)));
    } catch (DateTimeParseException e) {
      return Optional.empty();
    }
  }

  private static boolean isDigits(String text) {
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c < '0' || c > '9') {
        return false;
      }
    }
    return true;
  }

  private static Duration min(Duration a, Duration b) {
    return a.compareTo(b) <= 0 ? a : b;
  }
}
