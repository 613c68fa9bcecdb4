package io.periscope.bench;

import io.opentelemetry.sdk.trace.data.SpanData;
import io.periscope.exporter.ExportStats;
import io.periscope.exporter.SpanSink;
import java.util.List;
import java.util.Map;

/** Stands in for the export queue: every span offered goes into the given list, none is dropped. */
final class CollectingSink implements SpanSink {
  private final List<SpanData> spans;

  CollectingSink(List<SpanData> spans) {
    this.spans = spans;
  }

  @Override
  public boolean offer(SpanData span) {
    return spans.add(span);
  }

  @Override
  public ExportStats stats() {
    return new ExportStats(spans.size(), 0, spans.size(), 0, 0, Map.of());
  }

  @Override
  public void close() {}
}
