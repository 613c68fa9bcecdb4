package io.periscope.bench;

import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.periscope.agent.pipeline.ConnectionTracker;
import io.periscope.agent.pipeline.PipelineStats;
import io.periscope.exporter.SpanSink;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

/** The spans the agent makes of recorded nginx traffic: what the exporter is given under load. */
public final class RecordedSpans {
  private RecordedSpans() {}

  public static List<SpanData> nginx(Resource process, int count) {
    List<SpanData> spans = new ArrayList<>();
    SpanSink collect = new CollectingSink(spans);
    try (Arena arena = Arena.ofConfined()) {
      RecordedTraffic traffic = RecordedTraffic.nginxKeepAlive(32, count / 32 + 2, arena);
      ConnectionTracker tracker = AgentPipeline.tracker(process, collect, new PipelineStats());
      for (int i = 0; i < traffic.offsets.length; i++) {
        tracker.onRecord(traffic.records, traffic.offsets[i], traffic.lengths[i]);
      }
    }
    if (spans.size() < count) {
      throw new IllegalStateException("recorded traffic made " + spans.size() + " spans, not " + count);
    }
    return List.copyOf(spans.subList(0, count));
  }
}
