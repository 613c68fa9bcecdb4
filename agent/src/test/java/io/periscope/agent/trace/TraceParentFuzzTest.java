package io.periscope.agent.trace;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.TraceState;
import io.periscope.agent.testing.FuzzInput;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Coverage-guided fuzzing of {@code traceparent} and {@code tracestate} as a request carries them.
 * The data is the two header values separated by a line feed (no line feed: no tracestate).
 */
class TraceParentFuzzTest {
  @FuzzTest
  void traceparentAndTracestate(byte[] raw) {
    FuzzInput input = FuzzInput.of(raw);
    String text = new String(input.data(), StandardCharsets.ISO_8859_1);
    int lf = text.indexOf('\n');
    String traceparent = lf < 0 ? text : text.substring(0, lf);
    String tracestate = lf < 0 ? null : text.substring(lf + 1);

    SpanContext context = TraceParent.parse(traceparent, tracestate);
    if (context == null) {
      return;
    }
    // Valid: the ids are the header's own lowercase hex, at their places (W3C Trace Context §3.2).
    String value = traceparent.strip();
    assertThat(context.isValid()).isTrue();
    assertThat(context.isRemote()).isTrue();
    assertThat(value.substring(3, 35)).isEqualTo(context.getTraceId());
    assertThat(value.substring(36, 52)).isEqualTo(context.getSpanId());
    assertThat(value.substring(0, 2)).isNotEqualTo("ff").matches("[0-9a-f]{2}");
    assertThat(value.substring(53, 55)).matches("[0-9a-f]{2}");
    if (value.startsWith("00")) {
      assertThat(value).hasSize(55);
    }
    // Formatted again, it is the same header but for the flags it does not define (§3.2.2.5).
    String formatted = TraceParent.format(context);
    assertThat(formatted.substring(0, 53)).isEqualTo("00" + value.substring(2, 53));
    assertThat(TraceParent.parse(formatted, null)).isEqualTo(SpanContext.createFromRemoteParent(
        context.getTraceId(), context.getSpanId(), context.getTraceFlags(), TraceState.getDefault()));

    // tracestate: all of it or none (§3.3.1.1): at most 32 members, each from the header, in order.
    TraceState state = context.getTraceState();
    assertThat(state.size()).isLessThanOrEqualTo(TraceParent.MAX_TRACESTATE_MEMBERS);
    if (state.isEmpty()) {
      return;
    }
    List<String> members = new ArrayList<>();
    state.forEach((key, member) -> members.add(key + "=" + member));
    List<String> sent = new ArrayList<>();
    for (String member : tracestate.split(",")) {
      if (!member.isBlank()) {
        sent.add(member.strip());
      }
    }
    assertThat(members).containsExactlyElementsOf(sent);
    assertThat(TraceParent.parseTraceState(String.join(",", members)).asMap()).isEqualTo(state.asMap());
  }
}
