package io.periscope.bench;

import static org.assertj.core.api.Assertions.assertThat;

import io.periscope.agent.pipeline.ConnectionTracker;
import io.periscope.agent.pipeline.HttpExchange;
import io.periscope.agent.pipeline.PipelineStats;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The benchmark's gRPC traffic decodes to what it stands for, replay after replay: or its figure means nothing. */
class GrpcTrafficTest {

  @Test
  void everyCallIsOneExchangeOnEveryReplay() {
    try (Arena arena = Arena.ofConfined()) {
      GrpcTraffic traffic = GrpcTraffic.unaryCalls(3, 10, arena);
      List<HttpExchange> exchanges = new ArrayList<>();
      PipelineStats stats = new PipelineStats();
      ConnectionTracker tracker = new ConnectionTracker(exchanges::add, stats);
      for (int replay = 1; replay <= 2; replay++) {
        for (int i = 0; i < traffic.offsets.length; i++) {
          tracker.onRecord(traffic.records, traffic.offsets[i], traffic.lengths[i]);
        }
        assertThat(exchanges).hasSize(30 * replay);
      }
      assertThat(stats.snapshot().http2ParseFailures()).isZero();
      assertThat(stats.snapshot().http2Resyncs()).isZero();
      assertThat(exchanges).allSatisfy(e -> {
        assertThat(e.request().target()).isEqualTo("/demo.Echo/Unary");
        assertThat(e.request().isGrpc()).isTrue();
        assertThat(e.request().traceparent()).startsWith("00-");
        assertThat(e.response().grpcStatus()).isZero();
        assertThat(e.headersIncomplete()).isFalse();
      });
    }
  }
}
