package io.periscope.exporter.otlp;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class RetryAfterTest {
  // Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example.
  private static final Instant NOW = Instant.parse("1994-11-06T08:49:37Z");

  @Test
  void readsDelaySeconds() {
    assertThat(RetryAfter.parse("120", NOW)).contains(Duration.ofSeconds(120));
    assertThat(RetryAfter.parse(" 0 ", NOW)).contains(Duration.ZERO);
  }

  @Test
  void readsAnHttpDateAsTheWaitUntilIt() {
    assertThat(RetryAfter.parse("Sun, 06 Nov 1994 08:49:40 GMT", NOW)).contains(Duration.ofSeconds(3));
  }

  @Test
  void aDateAlreadyPastAsksForNoWait() {
    assertThat(RetryAfter.parse("Sun, 06 Nov 1994 08:49:00 GMT", NOW)).contains(Duration.ZERO);
  }

  @Test
  void aHugeValueIsReadAsADay() {
    assertThat(RetryAfter.parse("99999999999999999999999", NOW)).contains(Duration.ofDays(1));
    assertThat(RetryAfter.parse("Fri, 31 Dec 9999 23:59:59 GMT", NOW)).contains(Duration.ofDays(1));
  }

  @Test
  void anythingElseIsNotRead() {
    assertThat(RetryAfter.parse(null, NOW)).isEmpty();
    assertThat(RetryAfter.parse("", NOW)).isEmpty();
    assertThat(RetryAfter.parse("soon", NOW)).isEmpty();
    assertThat(RetryAfter.parse("-5", NOW)).isEmpty();
    assertThat(RetryAfter.parse("1.5", NOW)).isEmpty();
    // RFC 850 and asctime dates: obsolete, which senders must not generate (RFC 9110 section 5.6.7).
    assertThat(RetryAfter.parse("Sunday, 06-Nov-94 08:49:37 GMT", NOW)).isEmpty();
    assertThat(RetryAfter.parse("Sun Nov  6 08:49:37 1994", NOW)).isEmpty();
  }
}
