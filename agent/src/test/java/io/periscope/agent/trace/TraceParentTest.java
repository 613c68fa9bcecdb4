package io.periscope.agent.trace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class TraceParentTest {
  private static final String TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
  private static final String SPAN_ID = "b7ad6b7169203331";
  private static final String VALID = "00-" + TRACE_ID + "-" + SPAN_ID + "-01";

  @Test
  void parsesValidHeader() {
    SpanContext context = TraceParent.parse(VALID, null);

    assertThat(context).isNotNull();
    assertThat(context.getTraceId()).isEqualTo(TRACE_ID);
    assertThat(context.getSpanId()).isEqualTo(SPAN_ID);
    assertThat(context.isRemote()).isTrue();
    assertThat(context.isValid()).isTrue();
    assertThat(context.isSampled()).isTrue();
    assertThat(context.getTraceState()).isEqualTo(TraceState.getDefault());
  }

  @Test
  void acceptsAnyCharSequence() {
    SpanContext context = TraceParent.parse(new StringBuilder(VALID), null);

    assertThat(context).isNotNull();
    assertThat(context.getTraceId()).isEqualTo(TRACE_ID);
    assertThat(context.getSpanId()).isEqualTo(SPAN_ID);
  }

  @ParameterizedTest
  @ValueSource(strings = {" ", "\t", "  \t ", " \t"})
  void toleratesSurroundingWhitespace(String ows) {
    assertThat(TraceParent.parse(ows + VALID, null)).isNotNull();
    assertThat(TraceParent.parse(VALID + ows, null)).isNotNull();
    assertThat(TraceParent.parse(ows + VALID + ows, null)).isNotNull();
  }

  @ParameterizedTest(name = "flags {0} -> sampled={1}")
  @CsvSource({
      "00, false",
      "01, true",
      "02, false", // undefined bits are dropped, not rejected (§3.2.2.5)
      "03, true",
      "fe, false",
      "ff, true",
  })
  void keepsOnlyTheSampledFlag(String flags, boolean sampled) {
    SpanContext context = TraceParent.parse("00-" + TRACE_ID + "-" + SPAN_ID + "-" + flags, null);

    assertThat(context).isNotNull();
    assertThat(context.getTraceFlags())
        .isEqualTo(sampled ? TraceFlags.getSampled() : TraceFlags.getDefault());
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "cc-" + TRACE_ID + "-" + SPAN_ID + "-01",
      "01-" + TRACE_ID + "-" + SPAN_ID + "-01-what-the-future-holds",
      "fe-" + TRACE_ID + "-" + SPAN_ID + "-01-",
  })
  void acceptsFutureVersionsAndIgnoresExtraFields(String header) {
    SpanContext context = TraceParent.parse(header, null);

    assertThat(context).isNotNull();
    assertThat(context.getTraceId()).isEqualTo(TRACE_ID);
    assertThat(context.getSpanId()).isEqualTo(SPAN_ID);
    assertThat(context.isSampled()).isTrue();
  }

  @ParameterizedTest
  @ValueSource(strings = {
      // version ff is forbidden (§3.2.2.1)
      "ff-" + TRACE_ID + "-" + SPAN_ID + "-01",
      // a future version longer than 55 chars must continue with '-'
      "cc-" + TRACE_ID + "-" + SPAN_ID + "-01.what-the-future-holds",
      "cc-" + TRACE_ID + "-" + SPAN_ID + "-010",
      // all-zero ids
      "00-00000000000000000000000000000000-" + SPAN_ID + "-01",
      "00-" + TRACE_ID + "-0000000000000000-01",
      // uppercase hex: the spec requires lowercase
      "00-0AF7651916CD43DD8448EB211C80319C-" + SPAN_ID + "-01",
      "00-" + TRACE_ID + "-B7AD6B7169203331-01",
      "00-" + TRACE_ID + "-" + SPAN_ID + "-0A",
      "0A-" + TRACE_ID + "-" + SPAN_ID + "-01",
      // non-hex characters
      "00-0af7651916cd43dd8448eb211c80319g-" + SPAN_ID + "-01",
      "00-" + TRACE_ID + "-b7ad6b716920333z-01",
      "00-" + TRACE_ID + "-" + SPAN_ID + "-0g",
      "00-" + TRACE_ID + "-" + SPAN_ID + "-.1",
      "0g-" + TRACE_ID + "-" + SPAN_ID + "-01",
      "00-0af7651916cd43dd-448eb211c80319c-" + SPAN_ID + "-01",
      // wrong separators
      "00_" + TRACE_ID + "-" + SPAN_ID + "-01",
      "00-" + TRACE_ID + "_" + SPAN_ID + "-01",
      "00-" + TRACE_ID + "-" + SPAN_ID + "_01",
      // wrong lengths
      "",
      "00",
      "00-" + TRACE_ID + "-" + SPAN_ID + "-1",
      "00-" + TRACE_ID + "-" + SPAN_ID,
      "00-0af7651916cd43dd8448eb211c80319-" + SPAN_ID + "-01",
      "00-" + TRACE_ID + "-b7ad6b716920333-01",
      "00-" + TRACE_ID + "-" + SPAN_ID + "-01-",
      "00-" + TRACE_ID + "-" + SPAN_ID + "-010",
      "00-" + TRACE_ID + "-" + SPAN_ID + "-01-extra",
      "00-" + TRACE_ID + "a-" + SPAN_ID + "-01",
      // whitespace inside the value is not OWS
      "00- " + TRACE_ID + "-" + SPAN_ID + "-01",
      "00-" + TRACE_ID + "-" + SPAN_ID + "-01\n",
      "   ",
  })
  void rejectsInvalidHeader(String header) {
    assertThat(TraceParent.parse(header, null)).isNull();
    assertThat(TraceParent.parse(header, "vendor=value")).isNull();
  }

  @Test
  void keepsTraceStateInOrder() {
    SpanContext context = TraceParent.parse(VALID, "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE,a@b-c=x y");

    assertThat(context).isNotNull();
    assertThat(context.getTraceState().asMap()).containsExactly(
        Map.entry("rojo", "00f067aa0ba902b7"),
        Map.entry("congo", "t61rcWkgMzE"),
        Map.entry("a@b-c", "x y"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", " ", ",", " , \t,", "rojo=1,,congo=2", "\trojo=1 ,congo=2\t"})
  void toleratesEmptyTraceStateMembers(String tracestate) {
    SpanContext context = TraceParent.parse(VALID, tracestate);

    assertThat(context).isNotNull();
    int expected = tracestate.contains("=") ? 2 : 0;
    assertThat(context.getTraceState().size()).isEqualTo(expected);
    if (expected == 2) {
      assertThat(context.getTraceState().get("rojo")).isEqualTo("1");
      assertThat(context.getTraceState().get("congo")).isEqualTo("2");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "rojo",
      "=value",
      "rojo=",
      "Rojo=1",
      "rojo=1,congo",
      "rojo=1,rojo=2",
      "rojo=a=b",
      "ro jo=1",
      "rojo=1,co\u00e9ngo=2",
      "rojo=caf\u00e9",
      "@vendor=1",
  })
  void ignoresInvalidTraceStateButKeepsTheParent(String tracestate) {
    SpanContext context = TraceParent.parse(VALID, tracestate);

    assertThat(context).isNotNull();
    assertThat(context.getTraceId()).isEqualTo(TRACE_ID);
    assertThat(context.getTraceState()).isEqualTo(TraceState.getDefault());
  }

  @Test
  void ignoresTraceStateWithTooManyMembers() {
    String members = IntStream.rangeClosed(1, TraceParent.MAX_TRACESTATE_MEMBERS)
        .mapToObj(i -> "k" + i + "=" + i)
        .collect(Collectors.joining(","));

    assertThat(TraceParent.parse(VALID, members).getTraceState().size())
        .isEqualTo(TraceParent.MAX_TRACESTATE_MEMBERS);
    assertThat(TraceParent.parse(VALID, members + ",k33=33").getTraceState())
        .isEqualTo(TraceState.getDefault());
  }

  @ParameterizedTest
  @ValueSource(strings = {"00", "01"})
  void formatRoundTrips(String flags) {
    String header = "00-" + TRACE_ID + "-" + SPAN_ID + "-" + flags;

    assertThat(TraceParent.format(TraceParent.parse(header, null))).isEqualTo(header);
  }

  @Test
  void formatWritesVersion00ForFutureVersions() {
    SpanContext context = TraceParent.parse("cc-" + TRACE_ID + "-" + SPAN_ID + "-01-extra", null);

    assertThat(TraceParent.format(context)).isEqualTo(VALID);
  }

  @Test
  void formatRejectsInvalidContext() {
    assertThatIllegalArgumentException().isThrownBy(() -> TraceParent.format(SpanContext.getInvalid()));
  }
}
