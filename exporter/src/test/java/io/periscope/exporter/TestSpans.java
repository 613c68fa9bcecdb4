package io.periscope.exporter;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.testing.trace.TestSpanData;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.data.StatusData;
import org.jspecify.annotations.Nullable;

/** Builds SpanData for tests; times are milliseconds after a fixed epoch instant. */
final class TestSpans {
  static final String TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
  private static final long EPOCH_NANOS = 1_700_000_000_000_000_000L;

  private TestSpans() {}

  /** A finished INTERNAL span of {@link #TRACE_ID} from 0 to 1 ms. */
  static TestSpanData.Builder span(String spanId, @Nullable String parentSpanId) {
    return span(TRACE_ID, spanId, parentSpanId);
  }

  static TestSpanData.Builder span(String traceId, String spanId, @Nullable String parentSpanId) {
    return TestSpanData.builder()
        .setSpanContext(
            SpanContext.create(traceId, spanId, TraceFlags.getSampled(), TraceState.getDefault()))
        .setParentSpanContext(
            parentSpanId == null
                ? SpanContext.getInvalid()
                : SpanContext.create(
                    traceId, parentSpanId, TraceFlags.getSampled(), TraceState.getDefault()))
        .setName("span " + spanId)
        .setKind(SpanKind.INTERNAL)
        .setStatus(StatusData.unset())
        .setStartEpochNanos(millis(0))
        .setEndEpochNanos(millis(1))
        .setHasEnded(true);
  }

  /** The {@code n}th distinct span of {@link #TRACE_ID}, for tests that only count spans. */
  static SpanData numbered(int n) {
    return span(spanId(n), null).setName("span " + n).build();
  }

  static String spanId(int n) {
    return String.format("%016x", n + 1);
  }

  static String traceId(int n) {
    return String.format("%032x", n + 1);
  }

  static long millis(double millis) {
    return EPOCH_NANOS + Math.round(millis * 1_000_000);
  }

  static Resource service(String name) {
    return Resource.create(Attributes.of(AttributeKey.stringKey("service.name"), name));
  }
}
