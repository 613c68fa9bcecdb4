package io.periscope.agent.testing;

import io.opentelemetry.sdk.trace.data.SpanData;
import io.periscope.exporter.ExportStats;
import io.periscope.exporter.SpanSink;
import java.util.ArrayList;
import java.util.List;

/**
 * A span sink for unit tests: every span offered goes into the given list, none is dropped; those
 * offered as parents ({@link #offerParent}) go into a second list as well, when one is given.
 */
public final class CollectingSpanSink implements SpanSink {
  private final List<SpanData> spans;
  private final List<SpanData> parents;

  public CollectingSpanSink(List<SpanData> spans) {
    this(spans, new ArrayList<>());
  }

  public CollectingSpanSink(List<SpanData> spans, List<SpanData> parents) {
    this.spans = spans;
    this.parents = parents;
  }

  @Override
  public boolean offer(SpanData span) {
    return spans.add(span);
  }

  @Override
  public boolean offerParent(SpanData span) {
    parents.add(span);
    return spans.add(span);
  }

  @Override
  public ExportStats stats() {
    return ExportStats.NONE;
  }

  @Override
  public void close() {}
}
