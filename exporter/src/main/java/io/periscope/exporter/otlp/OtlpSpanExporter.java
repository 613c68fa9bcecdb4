package io.periscope.exporter.otlp;

import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.util.Collection;
import java.util.function.LongConsumer;

/**
 * An OTLP span exporter that also says when the collector took a request but rejected some of its
 * spans (OTLP, "Partial Success": HTTP 200 or gRPC OK with {@code partial_success.rejected_spans}).
 * The export still succeeds, as the specification has it: the request must not be sent again. The
 * rejected spans are lost all the same, and whoever counts exported spans must not count them.
 */
public interface OtlpSpanExporter extends SpanExporter {
  /**
   * Exports {@code spans} as {@link #export(Collection)} does; when the collector's answer says it
   * rejected some of them, calls {@code rejectedSpans} with how many (more than zero) before the
   * result completes, at most once.
   */
  CompletableResultCode export(Collection<SpanData> spans, LongConsumer rejectedSpans);

  @Override
  default CompletableResultCode export(Collection<SpanData> spans) {
    return export(spans, rejected -> {});
  }
}
