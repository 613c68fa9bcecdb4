package io.periscope.bench;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.periscope.agent.pipeline.ConnectionTracker;
import io.periscope.agent.pipeline.PipelineStats;
import io.periscope.exporter.SpanSink;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Through the agent's stages, the linker included, every recorded exchange is one span at once: none is held. */
class AgentPipelineTest {
  private final List<SpanData> spans = new ArrayList<>();
  private final SpanSink sink = new CollectingSink(spans);

  @Test
  void http1TrafficIsOneSpanPerExchangeOnEveryReplay() {
    try (Arena arena = Arena.ofConfined()) {
      RecordedTraffic traffic = RecordedTraffic.nginxKeepAlive(4, 8, arena);
      ConnectionTracker tracker = AgentPipeline.tracker(Resource.empty(), sink, new PipelineStats());
      for (int replay = 1; replay <= 2; replay++) {
        replay(tracker, traffic.records, traffic.offsets, traffic.lengths);
        assertThat(spans).hasSize(4 * 8 * replay);
      }
      assertThat(spans).allSatisfy(s -> assertThat(s.getParentSpanContext().isValid()).isFalse());
    }
  }

  @Test
  void grpcTrafficIsOneSpanPerCallInTheCallersTrace() {
    try (Arena arena = Arena.ofConfined()) {
      GrpcTraffic traffic = GrpcTraffic.unaryCalls(3, 10, arena);
      ConnectionTracker tracker = AgentPipeline.tracker(Resource.empty(), sink, new PipelineStats());
      for (int replay = 1; replay <= 2; replay++) {
        replay(tracker, traffic.records, traffic.offsets, traffic.lengths);
        assertThat(spans).hasSize(30 * replay);
      }
      assertThat(spans).allSatisfy(s -> assertThat(s.getName()).isEqualTo("demo.Echo/Unary"));
      // The first connection's first call sends an all-zero trace id, which is no parent (W3C).
      assertThat(spans).filteredOn(s -> !s.getParentSpanContext().isValid()).hasSize(2);
      assertThat(spans).filteredOn(s -> s.getParentSpanContext().isRemote()).hasSize(58);
    }
  }

  private static void replay(ConnectionTracker tracker, MemorySegment records, long[] offsets, int[] lengths) {
    for (int i = 0; i < offsets.length; i++) {
      tracker.onRecord(records, offsets[i], lengths[i]);
    }
  }
}
